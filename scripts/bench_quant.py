#!/usr/bin/env python3
"""Quantization benchmark on the weight shapes of the `vintix-300m` preset's backbone.

Writes random heavy-tailed (Student-t, 3 degrees of freedom) bf16 matrices with the shapes
of the preset's linear layers -- per layer q, k, v, o 1024x1024, FFN up 4096x1024 and down
1024x4096 -- to a safetensors file, runs `icrl quantize --json` on it at each bit width, and
prints the quantization time and the bytes of the quantized files against f32 and bf16.
Needs only torch (the project's .venv has it):

    .venv/bin/python scripts/bench_quant.py --icrl $CARGO_TARGET_DIR/debug/icrl --layers 20
"""

import argparse
import json
import resource
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import torch

SHAPES = {
    "attn.q": (1024, 1024),
    "attn.k": (1024, 1024),
    "attn.v": (1024, 1024),
    "attn.o": (1024, 1024),
    "ffn.up": (4096, 1024),
    "ffn.down": (1024, 4096),
}
# Columns: hqq s / rtn s: quantization time summed over the matrices (wall clock, as icrl
# reports it); 1024x4096 hqq s: mean per FFN down matrix; wall s / cpu s: the whole icrl run
# (reading, both methods, errors, writing) in wall-clock and CPU seconds (user + system; on
# a shared machine the wall clock also counts other people's work); file B: the quantized
# file's size; hqq rel / rtn rel: relative Frobenius error averaged over the matrices.


def student_t(shape, generator, dof=3.0, scale=0.02):
    z = torch.randn(shape, generator=generator)
    chi2 = torch.randn((int(dof),) + shape, generator=generator).square().sum(0)
    return z / (chi2 / dof).sqrt() * scale


def write_matrices(path, layers, seed):
    """A safetensors file written tensor by tensor (no safetensors package needed)."""
    names = [f"layers.{i}.{part}.weight" for i in range(layers) for part in SHAPES]
    header, offset = {}, 0
    for name in names:
        rows, cols = SHAPES[name.split(".", 2)[2].rsplit(".", 1)[0]]
        size = rows * cols * 2
        header[name] = {"dtype": "BF16", "shape": [rows, cols], "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    generator = torch.Generator().manual_seed(seed)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(blob)) + blob)
        for name in names:
            t = student_t(tuple(header[name]["shape"]), generator).to(torch.bfloat16)
            f.write(t.view(torch.int16).numpy().tobytes())
    return offset // 2  # parameters


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icrl", required=True, help="path of the icrl binary")
    parser.add_argument("--layers", type=int, default=20)
    parser.add_argument("--nbits", default="8,4,3,2")
    parser.add_argument("--group", type=int, default=64)
    parser.add_argument("--axis", type=int, default=1)
    parser.add_argument("--quant-meta", action="store_true", help="also run with 8-bit scales/zeros")
    parser.add_argument("--no-baseline", action="store_true", help="skip the RTN runs")
    parser.add_argument("--threads", type=int, help="torch threads for icrl (default: torch's)")
    parser.add_argument("--method", default="hqq", help="method written (hqq or rtn)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer", action="store_true",
                        help="also time the reference package (PyPI hqq, in this Python) on the "
                             "same matrices, HQQ at each bit width, with --threads torch threads")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "vintix300m_backbone.safetensors"
        params = write_matrices(src, args.layers, args.seed)
        print(f"threads: {args.threads or 'torch default'}; written: {args.method}")
        print(f"{args.layers} layers, {params} weights: f32 {4 * params} B, bf16 {2 * params} B "
              f"(input file {src.stat().st_size} B)")
        print(f"{'nbits':>5} {'meta':>5} {'hqq s':>8} {'rtn s':>8} {'1024x4096 hqq s':>16} "
              f"{'wall s':>7} {'cpu s':>7} {'file B':>12} {'vs f32':>7} {'vs bf16':>8} {'bits/w':>7} "
              f"{'hqq rel':>8} {'rtn rel':>8}")
        variants = [(int(b), False) for b in args.nbits.split(",")]
        if args.quant_meta:
            variants += [(int(b), True) for b in args.nbits.split(",") if int(b) < 8]
        for nbits, quant_meta in variants:
            out = Path(tmp) / f"q{nbits}.safetensors"
            cmd = [args.icrl, "quantize", "--in", str(src), "--out", str(out), "--nbits", str(nbits),
                   "--group", str(args.group), "--axis", str(args.axis), "--device", "cpu", "--json"]
            if quant_meta:
                cmd.append("--quant-meta")
            if args.no_baseline:
                cmd.append("--no-baseline")
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            cmd += ["--method", args.method]
            start = time.perf_counter()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            report = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            wall = time.perf_counter() - start
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            tot = report["totals"]
            ffn = [t["hqq"]["seconds"] for t in report["tensors"]
                   if t["shape"] == [1024, 4096] and t["hqq"]] or [float("nan")]
            n = len(report["tensors"])
            hqq_rel = sum((t["hqq"] or {"rel_frobenius": float("nan")})["rel_frobenius"]
                          for t in report["tensors"]) / n
            rtn_rel = sum((t["rtn"] or {"rel_frobenius": float("nan")})["rel_frobenius"]
                          for t in report["tensors"]) / n
            size = out.stat().st_size
            print(f"{nbits:>5} {'8-bit' if quant_meta else 'f16':>5} {tot['hqq_seconds']:>8.1f} "
                  f"{tot['rtn_seconds']:>8.1f} {sum(ffn) / len(ffn):>16.3f} {wall:>7.1f} {cpu:>7.1f} {size:>12} "
                  f"{size / (4 * params):>7.3f} {size / (2 * params):>8.3f} "
                  f"{8 * size / params:>7.3f} {hqq_rel:>8.4f} {rtn_rel:>8.4f}")
            out.unlink()
            if args.peer and not quant_meta:
                print(f"{nbits:>5} {'hqq package':>14} {time_peer(src, nbits, args):>8.1f} s "
                      f"(HQQ, the same matrices, {args.threads or 'default'} torch threads)")


def time_peer(src, nbits, args):
    """Seconds the reference package's `Quantizer.quantize` (optimize=True, the same group and
    axis, unpacked codes, f32 on the CPU) takes over every matrix of `src`, summed."""
    from hqq.core.quantize import Quantizer
    from safetensors.torch import load_file

    if args.threads:
        torch.set_num_threads(args.threads)
    total = 0.0
    for weight in load_file(str(src)).values():
        weight = weight.float()
        start = time.perf_counter()
        Quantizer.quantize(weight, nbits=nbits, channel_wise=True, group_size=args.group,
                           optimize=True, round_zero=False, axis=args.axis, bitpack=False,
                           device="cpu")
        total += time.perf_counter() - start
    return total


if __name__ == "__main__":
    main()
