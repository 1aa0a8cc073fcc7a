#!/usr/bin/env bash
# The in-context score of a trained agent in full precision and HQQ-quantized at several bit
# widths, with the same evaluation (`icrl eval` against `icrl eval --quantized`); prints a
# markdown table of normalised returns. docs/benchmarks.md ("The quickstart agent quantized")
# comes from
#   scripts/hqq_compare_eval.sh --icrl target/release/icrl --run RUN -- --tasks heldout --episodes 10 --seeds 2
# Options: --icrl PATH (default: icrl on PATH), --run RUN (a training run folder),
# --bits "8 4 3 2", --group G (64), --axis A (1), --out DIR (RUN/hqq-compare); after `--`,
# the arguments passed to every `icrl eval` (tasks, episodes, seeds, ...).
set -euo pipefail

icrl=icrl run="" bits="8 4 3 2" group=64 axis=1 out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --icrl) icrl="$2"; shift 2 ;;
        --run) run="$2"; shift 2 ;;
        --bits) bits="$2"; shift 2 ;;
        --group) group="$2"; shift 2 ;;
        --axis) axis="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
[[ -n "$run" ]] || { echo "--run RUN is required" >&2; exit 2; }
out="${out:-$run/hqq-compare}"
mkdir -p "$out"

"$icrl" eval --run "$run" --out "$out/eval-full" "$@" > "$out/eval-full.log"
echo "done: full precision" >&2
for b in $bits; do
    "$icrl" quantize --in "$run" --out "$out/q$b.safetensors" --nbits "$b" --group "$group" \
        --axis "$axis" --json > "$out/q$b.json"
    "$icrl" eval --quantized "$out/q$b.safetensors" --out "$out/eval-q$b" "$@" > "$out/eval-q$b.log"
    echo "done: $b bits" >&2
done

python3 - "$out" $bits <<'PY'
import json, sys
out, bits = sys.argv[1], sys.argv[2:]

def scores(path):
    """Per family: the mean normalised return of the first episode and of the last 5 (over
    tasks, then seeds; None where the family has no demonstrator reference) and the raw
    return of the last 5."""
    r = json.load(open(path))
    k = min(5, r["episodes"])
    res = {}
    for family in sorted({t["family"] for t in r["tasks"]}):
        rows = [t for t in r["tasks"] if t["family"] == family]
        mean = lambda xs: sum(xs) / len(xs)
        raw = mean([mean([mean(s[-k:]) for s in t["returns"]]) for t in rows])
        norm = [t["normalized"] for t in rows if t["normalized"]]
        first = mean([mean([s[0] for s in n]) for n in norm]) if norm else None
        last = mean([mean([mean(s[-k:]) for s in n]) for n in norm]) if norm else None
        res[family] = (len(rows), first, last, raw)
    return res

fmt = lambda x: "n/a" if x is None else f"{x:.3f}"
full = scores(f"{out}/eval-full/report.json")
print("| weights | bits/weight | mean rel. error | family | tasks | first episode | last 5 episodes | last 5 vs full | raw return, last 5 |")
print("|---|---:|---:|---|---:|---:|---:|---:|---:|")
for family, (n, first, last, raw) in full.items():
    print(f"| full precision (f32) | 32 | 0 | {family} | {n} | {fmt(first)} | {fmt(last)} | - | {raw:.3f} |")
for b in bits:
    try:
        q = json.load(open(f"{out}/q{b}.json"))
        res = scores(f"{out}/eval-q{b}/report.json")
    except (OSError, ValueError):
        continue
    errs = [t["hqq"]["rel_frobenius"] for t in q["tensors"] if t.get("hqq")]
    err = sum(errs) / len(errs)
    for family, (n, first, last, raw) in res.items():
        delta = None if last is None else last - full[family][2]
        sign = "n/a" if delta is None else f"{delta:+.3f}"
        print(f"| HQQ {b}-bit | {q['totals']['bits_per_weight']:.3f} | {err:.4f} | {family} | {n} | {fmt(first)} | {fmt(last)} | {sign} | {raw:.3f} |")
PY
