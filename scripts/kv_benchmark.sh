#!/usr/bin/env bash
# KV-cache compression benchmark (issue #24): trains a hybrid (two softmax layers among four,
# pattern LS) and a pure-lightning model (pattern L) of the same size on the same Dark Room
# learning histories, with a 200-step training context (10 episodes), then evaluates both
# on the held-out goals over EPISODES consecutive episodes (default 100: 2000 steps, ten
# times the training window) with the hybrid's softmax caches
#   - as trained (sliding window of 200 steps),
#   - compressed to 100%, 12%, 3% and 1% of the history by pyramid, snap and window,
#   - HQQ-quantized to 8, 4 and 2 bits (whole history, and pyramid at 12%),
# and writes OUT/table.md: normalised score (first 10, last 10 and all episodes) and the
# KV memory held per run against the budget.
#
#     source scripts/setup.sh && scripts/kv_benchmark.sh
#
# Environment: OUT (benchmark/kv), STEPS (2500 training steps per model), EPISODES (100),
# SEEDS (2), THREADS (1), ICRL (the icrl binary; built in release mode when unset).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${OUT:-$ROOT/benchmark/kv}"
STEPS="${STEPS:-2500}"
EPISODES="${EPISODES:-100}"
SEEDS="${SEEDS:-2}"
THREADS="${THREADS:-1}"
if [ -z "${ICRL:-}" ]; then
    cargo build --release -q -p experiments
    ICRL="${CARGO_TARGET_DIR:-$ROOT/target}/release/icrl"
fi
mkdir -p "$OUT/evals"

"$ICRL" datagen --suite "$ROOT/scripts/suites/kv-benchmark.json" --out "$OUT/data" --jobs 1 --quiet

# Same size and data for both; only the attention pattern differs.
MODEL=(--preset small --model hidden=64 --model heads=1 --model layers=4 --model ffn_hidden=256
    --model softmax_window=200 --model softmax_chunk=200 --model lightning_block=50)
train() { # NAME PATTERN
    local run="$OUT/runs/$1"
    if [ -f "$run/checkpoint/model.safetensors" ] || compgen -G "$run/checkpoint*/model.safetensors" >/dev/null; then
        return
    fi
    "$ICRL" train --data "$OUT/data" "${MODEL[@]}" --model "pattern=$2" --target demonstrator \
        --steps "$STEPS" --batch-size 16 --context 200 --lr 1e-3 --warmup-fraction 0.02 \
        --eval-every "$STEPS" --checkpoint-every "$STEPS" --threads "$THREADS" \
        --runs-dir "$OUT/runs" --name "$1" --quiet
}
train hybrid LS
train lightning L

evaluate() { # RUN LABEL [--kv-* flags]
    local run="$1" label="$2"
    shift 2
    [ -f "$OUT/evals/$label.json" ] && return
    "$ICRL" eval --run "$OUT/runs/$run" --tasks heldout --episodes "$EPISODES" --seeds "$SEEDS" \
        --controls none --threads "$THREADS" --quiet --json --out "$OUT/evals/$label" "$@" \
        >"$OUT/evals/$label.json.tmp"
    mv "$OUT/evals/$label.json.tmp" "$OUT/evals/$label.json"
}
evaluate lightning lightning
evaluate hybrid hybrid-window200
evaluate hybrid full --kv-budget 100%
for budget in 12 3 1; do
    for policy in pyramid snap window; do
        evaluate hybrid "$policy-$budget" --kv-budget "$budget%" --kv-policy "$policy"
    done
done
# Fixed budgets (entries per layer on average, as PyramidKV's KV sizes): 240, 60 and 20 are
# 12%, 3% and 1% of the final 2,000-step history, but bind from that many steps on.
for budget in 240 60 20; do
    for policy in pyramid snap window; do
        evaluate hybrid "$policy-n$budget" --kv-budget "$budget" --kv-policy "$policy"
    done
done
for bits in 8 4 2; do
    evaluate hybrid "full-${bits}bit" --kv-budget 100% --kv-bits "$bits"
    evaluate hybrid "pyramid-12-${bits}bit" --kv-budget 12% --kv-policy pyramid --kv-bits "$bits"
done

python3 - "$OUT" "$EPISODES" <<'PY' | tee "$OUT/table.md"
import json, os, sys
out, episodes = sys.argv[1], int(sys.argv[2])
order = ["lightning", "hybrid-window200", "full"] + [f"{p}-{b}" for b in (12, 3, 1) for p in ("pyramid", "snap", "window")] \
    + [f"{p}-n{b}" for b in (240, 60, 20) for p in ("pyramid", "snap", "window")] \
    + [f"full-{b}bit" for b in (8, 4, 2)] + [f"pyramid-12-{b}bit" for b in (8, 4, 2)]
def mean(xs): return sum(xs) / len(xs) if xs else float("nan")
def runs(label):
    rep = json.load(open(os.path.join(out, "evals", label + ".json")))["report"]
    return [s for t in rep["tasks"] if t.get("normalized") for s in t["normalized"]]
base = runs("full") if os.path.exists(os.path.join(out, "evals", "full.json")) else None
def paired(rows, sl):
    # Mean and standard error over runs of the difference from the full cache (the same env
    # resets and sampling stream: common random numbers).
    if base is None:
        return "-"
    d = [mean(a[sl]) - mean(b[sl]) for a, b in zip(rows, base)]
    mu = mean(d)
    se = (sum((x - mu) ** 2 for x in d) / max(len(d) - 1, 1) / len(d)) ** 0.5
    return f"{mu:+.3f} ± {se:.3f}"
print(f"| run | KV cache | first 10 | last 10 | all {episodes} | first 10 - full | all - full | KV KiB per run (peak) | of full history | state KiB per run (peak) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for label in order:
    path = os.path.join(out, "evals", label + ".json")
    if not os.path.exists(path):
        continue
    doc = json.load(open(path))
    rep = doc["report"]
    rows = runs(label)
    first = mean([mean(r[:10]) for r in rows])
    last = mean([mean(r[-10:]) for r in rows])
    allm = mean([mean(r) for r in rows])
    m = rep.get("memory") or {}
    full = m.get("kv_full_bytes")
    frac = f"{100 * m['kv_peak_bytes'] / full:.1f}%" if full else "-"
    print(f"| {label} | {m.get('kv_cache', '')} | {first:.3f} | {last:.3f} | {allm:.3f} | "
          f"{paired(rows, slice(0, 10))} | {paired(rows, slice(None))} | "
          f"{m.get('kv_peak_bytes', 0) / 1024:.1f} | {frac} | {m.get('state_peak_bytes', 0) / 1024:.1f} |")
PY
