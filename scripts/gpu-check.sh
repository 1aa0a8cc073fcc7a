#!/usr/bin/env bash
# The GPU check: everything the 300M path needs measured on one GPU, as one script that
# finishes in about 10 minutes on one H100/H200. Each stage runs under its own time limit
# (a stage that runs out is stopped and says so; the next one starts) and writes one
# markdown table to the output folder; summary.md holds them all.
#
# Stages: doctor (libraries, devices, a bf16 matmul rate); bench-train and bench-infer
# (`icrl bench model`: forward+backward from 2K to 64K tokens per sequence, lightning,
# softmax and the preset's hybrid, and one layer's token mixing alone; inference steps to 1M
# steps of history); data (a Dark Room
# dataset of the oracle's 64K-step histories); train-a and train-b (the model trained at
# 8K and 32K context: tokens/s, model TFLOP/s, MFU, peak memory; run a stops after half its
# steps and resumes); train-remoe (the preset's ReMoE counterpart trained a few steps, its
# experts under bf16 autocast); quantize (HQQ 4-bit of the trained checkpoint, its
# time); eval (the checkpoint and its quantized file, a few held-out episodes).
#
# Usage:
#   scripts/gpu-check.sh --bundle [DIR]     on the build machine: release build, then the
#                                           binary and the shared libraries it needs that a
#                                           bare machine may lack (HDF5's) into DIR (.gpu)
#   scripts/gpu-check.sh [--bin PATH] [--out DIR] [--preset NAME] [--cpu] [--scale S]
#     --bin     the icrl binary (default: .gpu/icrl when there, else a release build here)
#     --out     output folder (default: gpu-check)
#     --preset  the model (default: vintix-300m; tiny with --cpu)
#     --cpu     CPU sizes: short contexts, few lengths, small time limits (CI runs this to
#               prove the script works; `--cpu --preset vintix-300m` is the 300M model's
#               end-to-end run on a CPU, docs/benchmarks.md)
#     --scale   multiply every time limit by S (default 1)
#     --stages  run only these stages (comma-separated names, e.g. data,train-a,quantize)
# On a GPU machine with no Rust toolchain, from the repository root:
#   TL=$(python3 -c 'import torch,os;print(os.path.join(os.path.dirname(torch.__file__),"lib"))')
#   LD_LIBRARY_PATH=$TL scripts/gpu-check.sh --bin .gpu/icrl --out $OUT/gpu-check
# (the script adds the bundle's lib/ folder for libraries the machine lacks).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN="" OUT="gpu-check" PRESET="" CPU=0 SCALE=1 BUNDLE="" STAGES=""
while [ $# -gt 0 ]; do
    case "$1" in
        --bundle) BUNDLE="${2:-.gpu}"; [ $# -gt 1 ] && shift ;;
        --bin) BIN="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        --preset) PRESET="$2"; shift ;;
        --cpu) CPU=1 ;;
        --scale) SCALE="$2"; shift ;;
        --stages) STAGES=",$2,"; shift ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) echo "gpu-check.sh: unknown argument \`$1\` (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# --bundle: the binary and the non-system libraries it links, for a machine without them.
if [ -n "$BUNDLE" ]; then
    source scripts/setup.sh
    cargo build --release -q -p experiments
    src="${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"
    mkdir -p "$BUNDLE/lib"
    cp "$src" "$BUNDLE/icrl"
    # Everything ldd resolves except the C runtime and torch (the GPU machine brings its own).
    ldd "$src" | awk '/=> \//{print $3}' \
        | grep -Ev '/(libc|libm|libdl|librt|libpthread|libutil|libresolv|libgcc_s|libstdc\+\+|ld-linux)[.-]' \
        | grep -Ev '/(libtorch|libc10|libgomp|libcu|libnv|libnccl)|/torch/lib/' \
        | while read -r lib; do cp -L "$lib" "$BUNDLE/lib/"; done
    du -sh "$BUNDLE"
    echo "bundled $BUNDLE/icrl and $(ls "$BUNDLE/lib" | wc -l) libraries in $BUNDLE/lib"
    exit 0
fi

if [ -z "$BIN" ]; then
    if [ -x .gpu/icrl ]; then
        BIN=.gpu/icrl
    else
        source scripts/setup.sh
        cargo build --release -q -p experiments
        BIN="${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"
    fi
fi
BIN="$(realpath "$BIN")"
# Libraries the machine lacks come from the bundle beside the binary (only those: the
# machine's own are preferred).
if [ -d "$(dirname "$BIN")/lib" ] && ldd "$BIN" | grep -q "not found"; then
    missing="$(mktemp -d)"
    trap 'rm -rf "$missing"' EXIT
    for name in $(ldd "$BIN" | awk '/not found/{print $1}'); do
        [ -e "$(dirname "$BIN")/lib/$name" ] && ln -sf "$(dirname "$BIN")/lib/$name" "$missing/$name"
    done
    export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$missing"
    # The bundled libraries' own dependencies, likewise.
    for lib in "$missing"/*; do
        for name in $(ldd "$lib" 2>/dev/null | awk '/not found/{print $1}'); do
            [ -e "$(dirname "$BIN")/lib/$name" ] && ln -sf "$(dirname "$BIN")/lib/$name" "$missing/$name"
        done
    done
fi
if ldd "$BIN" | grep -q "not found"; then
    echo "gpu-check.sh: $BIN cannot load:" >&2
    ldd "$BIN" | grep "not found" >&2
    echo "(point LD_LIBRARY_PATH at torch's lib folder; bundle HDF5 with --bundle)" >&2
    exit 1
fi

mkdir -p "$OUT"
OUT="$(realpath "$OUT")"

if [ "$CPU" = 1 ]; then
    PRESET="${PRESET:-tiny}"
    DEVICE=cpu
    TRAIN_LENGTHS=256,512 SOFTMAX_LENGTHS=256,512 INFER_LENGTHS=1024,4096
    CTX_A=256 BATCH_A=2 CTX_B=512 BATCH_B=1 STEPS=4 HISTORY=2048 EPISODES=2
    LIMITS=(60 240 240 60 600 600 300 300 300)
else
    PRESET="${PRESET:-vintix-300m}"
    DEVICE=cuda
    TRAIN_LENGTHS=2048,8192,32768,65536 SOFTMAX_LENGTHS=2048,8192 INFER_LENGTHS=1024,16384,262144,1048576
    CTX_A=8192 BATCH_A=8 CTX_B=32768 BATCH_B=2 STEPS=8 HISTORY=65536 EPISODES=3
    LIMITS=(40 130 80 40 80 70 40 60 60)
fi
read -r L_DOCTOR L_TRAIN L_INFER L_DATA L_8K L_32K L_QUANT L_EVAL L_REMOE <<< "${LIMITS[*]}"
# The ReMoE stage trains the preset's ReMoE counterpart: vintix-300m-remoe for vintix-300m,
# else the preset with ReMoE FFNs.
case "$PRESET" in
    vintix-300m) REMOE_MODEL=(--preset vintix-300m-remoe) ;;
    *) REMOE_MODEL=(--preset "$PRESET" --model ffn=remoe) ;;
esac
limit() { awk -v a="$1" -v s="$SCALE" 'BEGIN{printf "%d", a*s}'; }

SUMMARY="$OUT/summary.md"
{
    echo "# gpu-check: $PRESET on $DEVICE"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%M:%SZ), $(uname -n), binary $BIN"
} > "$SUMMARY"
FAILED=0

# stage NAME LIMIT TITLE -- COMMAND...: runs COMMAND under the time limit, its output in
# OUT/NAME.log; the stage's markdown (from the function NAME_md, given the log) to OUT/NAME.md.
stage() {
    local name="$1" secs; secs="$(limit "$2")"; local title="$3"; shift 4
    if [ -n "$STAGES" ] && [[ "$STAGES" != *",$name,"* ]]; then return 0; fi
    local log="$OUT/$name.log" status=0 start end
    echo "== $name ($title; at most $secs s)"
    start=$(date +%s.%N)
    timeout --signal=TERM --kill-after=10 "$secs" "$@" > "$log" 2>&1 || status=$?
    end=$(date +%s.%N)
    local took; took=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b-a}')
    {
        echo "## $name: $title"
        echo
        if [ "$status" = 124 ] || [ "$status" = 137 ]; then
            echo "**stopped at its limit of $secs s** (what it printed before is below)"
            echo
        elif [ "$status" != 0 ]; then
            echo "**failed (exit $status) after $took s:** \`$(grep -v '^\s*$' "$log" | tail -1 | cut -c1-200)\`"
            echo
        fi
        "${name//-/_}_md" "$log" || true
        echo
        echo "($took s wall)"
    } > "$OUT/$name.md"
    cat "$OUT/$name.md" >> "$SUMMARY"
    echo >> "$SUMMARY"
    cat "$OUT/$name.md"
    if [ "$status" != 0 ]; then FAILED=$((FAILED + 1)); fi
}

fenced() { echo '```text'; cat "$1"; echo '```'; }
doctor_md() { fenced "$1"; }
bench_train_md() { fenced "$1"; }
bench_infer_md() { fenced "$1"; }
data_md() { echo '```text'; tail -5 "$1"; echo '```'; }
quantize_md() { echo '```text'; head -1 "$1"; echo "..."; tail -2 "$1"; echo '```'; }

# The JSON summaries of a training run (one per invocation) as a markdown table.
train_table() {
    python3 - "$@" <<'EOF'
import json, sys
print("| invocation | steps | tokens/s | model TFLOP/s | MFU | peak memory GiB | FLOP/token (weights + attention) | peak against |")
print("|---|---:|---:|---:|---:|---:|---|---|")
for path in sys.argv[1:]:
    try:
        d = json.load(open(path))
    except Exception as e:
        print(f"| {path} | no summary ({type(e).__name__}) | | | | | | |")
        continue
    f, p = d["flops_per_token"], d["peak"]
    mem = d["peak_memory_bytes"]
    mem = f"{mem / 2**30:.2f}" if mem is not None else "n/a"
    print(f"| {path.rsplit('/', 1)[-1]} | {d['steps']} | {d['tokens_per_sec']:,.0f} | "
          f"{d['model_tflops']:.2f} | {100 * d['mfu']:.1f}% | {mem} | "
          f"{(f['weights'] + f['attention']) / 1e6:,.2f} M ({f['weights'] / 1e6:,.2f} + "
          f"{f['attention'] / 1e6:,.2f}) | {p['tflops']:.1f} TFLOP/s, {p['source']} |")
EOF
}
train_a_md() { train_table "$OUT"/train-a-*.json; }
train_b_md() { train_table "$OUT"/train-b.json; }
train_remoe_md() { train_table "$OUT"/train-remoe.json; }
eval_md() {
    python3 - "$OUT/eval-dense.json" "$OUT/eval-quantized.json" <<'EOF'
import json, sys
print("| model | seconds | held-out return per episode (mean over tasks) |")
print("|---|---:|---|")
for path in sys.argv[1:]:
    try:
        d = json.load(open(path))
    except Exception as e:
        print(f"| {path.rsplit('/', 1)[-1]} | no result ({type(e).__name__}) | |")
        continue
    curves = []
    for t in d["report"]["tasks"]:
        for r in t["returns"]:
            curves.append(r)
    n = len(curves[0]) if curves else 0
    mean = [sum(c[i] for c in curves) / len(curves) for i in range(n)]
    shown = " -> ".join(f"{v:.3f}" for v in mean)
    print(f"| {path.rsplit('/', 1)[-1][:-5]} | {d['seconds']:.2f} | {shown} |")
EOF
}

DATA="$OUT/data"
RUN_A="$OUT/runs/context-a"
RUN_B="$OUT/runs/context-b"
QUANT="$OUT/model.q4.safetensors"
cat > "$OUT/suite.json" <<EOF
{"name": "gpu-check", "seed": 0,
 "entries": [{"env": "DarkRoom-v0", "tasks": "train", "demonstrator": {"kind": "oracle"},
              "histories_per_task": 1, "transitions_per_history": $HISTORY,
              "noise": {"mode": "fixed", "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.3}}}]}
EOF
COMMON=(--device "$DEVICE" --quiet)
TRAIN=(--data "$DATA" --preset "$PRESET" --steps "$STEPS" --eval-every 0 --checkpoint-every 0
       --runs-dir "$OUT/runs" --lr 3e-4 --json "${COMMON[@]}")

stage doctor "$L_DOCTOR" "machine, libraries, matmul rate" -- "$BIN" doctor --bench
stage bench-train "$L_TRAIN" "forward+backward against sequence length" -- bash -c "
    '$BIN' bench model --preset '$PRESET' --kinds lightning,preset --lengths $TRAIN_LENGTHS \
        --skip-infer --repeats 3 --device $DEVICE &&
    '$BIN' bench model --preset '$PRESET' --kinds softmax --lengths $SOFTMAX_LENGTHS \
        --skip-infer --repeats 3 --device $DEVICE &&
    '$BIN' bench model --preset '$PRESET' --kinds lightning --lengths $TRAIN_LENGTHS \
        --skip-infer --skip-train --mixer --repeats 5 --device $DEVICE &&
    '$BIN' bench model --preset '$PRESET' --kinds softmax --lengths $SOFTMAX_LENGTHS \
        --skip-infer --skip-train --mixer --repeats 5 --device $DEVICE"
stage bench-infer "$L_INFER" "one inference step against the history consumed" -- \
    "$BIN" bench model --preset "$PRESET" --kinds lightning,preset,softmax \
        --infer-lengths "$INFER_LENGTHS" --skip-train --steps 10 --device "$DEVICE"
stage data "$L_DATA" "Dark Room histories of the oracle" -- \
    "$BIN" datagen --suite "$OUT/suite.json" --out "$DATA"
rm -rf "$RUN_A" "$RUN_B"
stage train-a "$L_8K" "training at context $CTX_A, batch $BATCH_A, stopped half-way and resumed" -- bash -c "
    '$BIN' train ${TRAIN[*]} --context $CTX_A --batch-size $BATCH_A --name context-a \
        --stop-after $((STEPS / 2)) > '$OUT/train-a-1.json' &&
    '$BIN' train --resume '$RUN_A' --json --quiet > '$OUT/train-a-2.json'"
stage train-b "$L_32K" "training at context $CTX_B, batch $BATCH_B" -- bash -c "
    '$BIN' train ${TRAIN[*]} --context $CTX_B --batch-size $BATCH_B --name context-b \
        > '$OUT/train-b.json'"
# ReMoE under CUDA autocast (bf16 experts beside the f32 residual stream), a quarter of
# context A's batch, half its steps.
BATCH_REMOE=$(( (BATCH_A + 3) / 4 ))
stage train-remoe "$L_REMOE" "training the ReMoE counterpart (${REMOE_MODEL[*]}) at context $CTX_A, batch $BATCH_REMOE" -- bash -c "
    '$BIN' train --data '$DATA' ${REMOE_MODEL[*]} --steps $((STEPS / 2)) --eval-every 0 \
        --checkpoint-every 0 --runs-dir '$OUT/runs' --lr 3e-4 --json ${COMMON[*]} \
        --context $CTX_A --batch-size $BATCH_REMOE --name remoe > '$OUT/train-remoe.json'"
stage quantize "$L_QUANT" "HQQ 4-bit of the context-$CTX_A checkpoint" -- \
    "$BIN" quantize --in "$RUN_A" --out "$QUANT" --nbits 4 --no-baseline "${COMMON[@]}"
stage eval "$L_EVAL" "held-out Dark Room goals, $EPISODES episodes, dense and 4-bit" -- bash -c "
    '$BIN' eval --run '$RUN_A' --episodes $EPISODES --seeds 1 --controls none --out '$OUT/eval-dense' \
        --json ${COMMON[*]} > '$OUT/eval-dense.json' &&
    '$BIN' eval --quantized '$QUANT' --episodes $EPISODES --seeds 1 --controls none \
        --out '$OUT/eval-quantized' --json ${COMMON[*]} > '$OUT/eval-quantized.json'"

echo
echo "gpu-check: $FAILED stage(s) failed or stopped; tables in $OUT (summary.md)"
[ "$FAILED" = 0 ]
