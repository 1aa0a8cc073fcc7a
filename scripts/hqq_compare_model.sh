#!/usr/bin/env bash
# Quantization time and file bytes of a whole `icrl` model preset (random initialisation) at
# several bit widths, and one inference step dense / per-call / cached; prints a markdown
# table. The figures of docs/benchmarks.md ("The whole vintix-300m model") come from
#   scripts/hqq_compare_model.sh --icrl target/release/icrl --preset vintix-300m --threads 1
# Options: --icrl PATH (default: icrl on PATH), --preset NAME (vintix-300m), --bits "4 3 2 8",
# --threads N (1), --envs N (environments of the `icrl bench quant --step` timing, first bit
# width only, run after that bit width's `icrl quantize`, so not part of its wall and CPU time;
# 0 = no timing; the dense files are part of the first run's time),
# --out DIR (/tmp/hqq-model-PRESET; holds the dense and quantized files and JSON reports);
# after `--`, more `icrl quantize` arguments that `icrl bench quant` takes too (e.g.
# --include-io, --axis 0).
set -euo pipefail

icrl=icrl preset=vintix-300m bits="4 3 2 8" threads=1 envs=0 out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --icrl) icrl="$2"; shift 2 ;;
        --preset) preset="$2"; shift 2 ;;
        --bits) bits="$2"; shift 2 ;;
        --threads) threads="$2"; shift 2 ;;
        --envs) envs="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        --) shift; break ;;
        *) echo "unknown option $1 (see the header of $0)" >&2; exit 2 ;;
    esac
done
out="${out:-/tmp/hqq-model-$preset}"
mkdir -p "$out"
first=1
for b in $bits; do
    extra=()
    # The dense files and the step timing come with the first bit width only.
    if [[ $first == 1 ]]; then extra+=(--save-dense "$out/dense"); fi
    # /usr/bin/time: wall and CPU seconds of the whole command (build, quantize, write).
    /usr/bin/time -f '%e %U %S' -o "$out/time$b.txt" \
        "$icrl" quantize --preset "$preset" --out "$out/q$b.safetensors" --nbits "$b" \
        --no-baseline --threads "$threads" --json "${extra[@]}" "$@" > "$out/q$b.json"
    if [[ $first == 1 && $envs -gt 0 ]]; then
        "$icrl" bench quant --preset "$preset" --nbits "$b" --threads "$threads" \
            --step "$envs" --json "$@" > "$out/step$b.json"
    fi
    first=0
    echo "done: $b bits" >&2
done

python3 - "$out" $bits <<'PY'
import json, os, sys
out, bits = sys.argv[1], sys.argv[2:]
f32 = bf16 = None
rows = []
for b in bits:
    r = json.load(open(f"{out}/q{b}.json"))
    wall, user, sys_ = map(float, open(f"{out}/time{b}.txt").read().split())
    m = r["model"]
    f32 = m.get("dense_f32_bytes", f32)
    bf16 = m.get("dense_bf16_bytes", bf16)
    size = os.path.getsize(f"{out}/q{b}.safetensors")
    rows.append((b, r["totals"]["hqq_seconds"], wall, user + sys_, size, r["totals"]["bits_per_weight"], m))
print(f"dense f32 file: {f32:,} bytes; dense bf16 file: {bf16:,} bytes")
print("| bits | HQQ s (sum over layers) | whole command wall s | CPU s | file bytes | vs f32 | vs bf16 | bits/weight (quantized layers) |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|")
for b, hqq, wall, cpu, size, bpw, m in rows:
    print(f"| {b} | {hqq:.1f} | {wall:.1f} | {cpu:.1f} | {size:,} | {size / f32:.3f} | {size / bf16:.3f} | {bpw:.3f} |")
steps = [(b, json.load(open(f"{out}/step{b}.json"))["step"]) for b in bits
         if os.path.exists(f"{out}/step{b}.json")]
if steps:
    print("\n| bits | envs | dense ms | per call ms | cached ms |")
    print("|---:|---:|---:|---:|---:|")
    for b, s in steps:
        print(f"| {b} | {s['envs']} | {s['dense_ms']:.2f} | {s['per_call_ms']:.2f} | {s['cached_ms']:.2f} |")
PY
