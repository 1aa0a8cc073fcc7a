#!/usr/bin/env python3
"""Compare `icrl quantize` with the reference HQQ package (PyPI `hqq`) on the same matrices.

Writes test matrices to a safetensors file, quantizes them with `icrl quantize --json` and
with `hqq.core.quantize.Quantizer` at the same nbits / group / axis, and prints the relative
Frobenius error and mean absolute error of both, HQQ and round-to-nearest, side by side.

Matrices:
  - heavy-tailed random: Student-t with 3 degrees of freedom (scaled by 0.02), numpy seed;
  - real trained weights: with --silero, the Silero VAD model that the PyPI package
    `silero-vad` ships (silero_vad/data/silero_vad_16k.safetensors: the two LSTM matrices
    512x128 and the four convolutions flattened to [out, in * kernel]; the fixed STFT basis is
    left out); with --real FILE, the 2-D float tensors of any safetensors file.

Run it with a Python that has `hqq`, `torch`, `numpy` and `safetensors` (a scratch venv, not
the project's .venv), for example:

    python3 -m venv /tmp/hqqvenv && /tmp/hqqvenv/bin/pip install torch==2.11.0 hqq safetensors numpy
    /tmp/hqqvenv/bin/pip install --no-deps silero-vad     # for --silero
    /tmp/hqqvenv/bin/python scripts/compare_hqq.py --icrl $CARGO_TARGET_DIR/debug/icrl --silero

Scales and zeros are kept in f32 on both sides (`--meta-dtype f32`), so the comparison is of
the algorithms, not of the metadata's storage type. The reference's default solver
(`optimize_weights_proximal_legacy` in hqq 0.2.8.post1) never grows beta, so ours runs twice:
with `--kappa 1` (the reference's effective settings; the pass/fail check) and with the
METHODS.md default `--kappa 1.01`. Exits non-zero if our HQQ error at the reference's
settings is more than --tolerance (default 2%) above the reference's anywhere.
"""

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from hqq.core.quantize import Quantizer


def student_t(rng, rows, cols, dof=3.0, scale=0.02):
    return (rng.standard_t(dof, size=(rows, cols)) * scale).astype(np.float32)


def silero_weights():
    """Trained weights shipped inside the `silero-vad` wheel, as 2-D matrices."""
    from importlib.resources import files

    path = files("silero_vad") / "data" / "silero_vad_16k.safetensors"
    out = {}
    for name, t in load_file(str(path)).items():
        if name.startswith("stft") or not name.endswith("weight") and "weight_" not in name:
            continue  # the STFT basis is fixed, not trained; biases are 1-D
        if t.dim() == 3:
            t = t.reshape(t.shape[0], -1)  # convolution [out, in, k] -> [out, in * k]
        if t.shape[0] > 1:
            out["silero." + name] = t.float().contiguous().numpy()
    return out


def reference_errors(weight, nbits, group, axis, optimize):
    """The reference package's quantize -> dequantize round trip, errors against `weight`.

    Unpacked codes (`bitpack=False`): its packers need the group count to be a multiple of
    the codes per byte, which the real matrices are not; the errors do not depend on it.
    """
    w_q, meta = Quantizer.quantize(
        weight, nbits=nbits, channel_wise=True, group_size=group, optimize=optimize,
        round_zero=False, axis=axis, bitpack=False, device="cpu",
    )
    meta["compute_dtype"] = torch.float32
    rebuilt = Quantizer.dequantize(w_q, meta).float()
    diff = weight - rebuilt
    return {
        "rel_frobenius": float(diff.norm() / weight.norm()),
        "mean_abs": float(diff.abs().mean()),
    }


def ours(icrl, path, out, nbits, group, axis, kappa):
    cmd = [
        str(icrl), "quantize", "--in", str(path), "--out", str(out), "--nbits", str(nbits),
        "--group", str(group), "--axis", str(axis), "--meta-dtype", "f32", "--device", "cpu",
        "--kappa", str(kappa), "--json",
    ]
    done = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return {t["name"]: t for t in json.loads(done.stdout)["tensors"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--icrl", required=True, help="path of the icrl binary")
    parser.add_argument("--real", help="safetensors file of real trained 2-D weights")
    parser.add_argument("--silero", action="store_true",
                        help="add the trained weights shipped in the silero-vad package")
    parser.add_argument("--nbits", default="4,3,2", help="comma-separated bit widths")
    parser.add_argument("--group", type=int, default=64)
    parser.add_argument("--axes", default="0,1", help="comma-separated axes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("--json", help="also write all figures to this JSON file")
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    matrices = {
        "student_t.1024x1024": student_t(rng, 1024, 1024),
        "student_t.4096x1024": student_t(rng, 4096, 1024),
    }
    if args.real:
        for name, t in load_file(args.real).items():
            if t.dim() == 2 and t.is_floating_point() and t.numel() % args.group == 0:
                matrices["real." + name] = t.float().contiguous().numpy()

    if args.silero:
        matrices.update(silero_weights())

    rows = []
    worst = 0.0
    worst_spec = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "matrices.safetensors"
        save_file({k: torch.from_numpy(v) for k, v in matrices.items()}, str(path))
        for axis in [int(a) for a in args.axes.split(",")]:
            for nbits in [int(b) for b in args.nbits.split(",")]:
                out = Path(tmp) / "out.safetensors"
                got = ours(args.icrl, path, out, nbits, args.group, axis, kappa=1.0)
                spec = ours(args.icrl, path, out, nbits, args.group, axis, kappa=1.01)
                for name, array in matrices.items():
                    if name not in got:
                        continue  # kept in full precision by icrl (too small)
                    w = torch.from_numpy(array)
                    ref_hqq = reference_errors(w, nbits, args.group, axis, optimize=True)
                    ref_rtn = reference_errors(w, nbits, args.group, axis, optimize=False)
                    ratio = got[name]["hqq"]["rel_frobenius"] / ref_hqq["rel_frobenius"]
                    spec_ratio = spec[name]["hqq"]["rel_frobenius"] / ref_hqq["rel_frobenius"]
                    worst = max(worst, ratio)
                    worst_spec = max(worst_spec, spec_ratio)
                    rows.append({
                        "matrix": name, "shape": list(array.shape), "nbits": nbits, "axis": axis,
                        "group": args.group, "ours_hqq": got[name]["hqq"], "ref_hqq": ref_hqq,
                        "ours_rtn": got[name]["rtn"], "ref_rtn": ref_rtn, "ratio": ratio,
                        "ours_hqq_spec": spec[name]["hqq"], "ratio_spec": spec_ratio,
                    })

    print(f"hqq {getattr(sys.modules.get('hqq'), '__version__', '?')}, torch {torch.__version__}, "
          f"group {args.group}; relative Frobenius error (mean abs error below)")
    print("ours: kappa 1 (beta fixed, as the reference's default solver runs); "
          "spec: kappa 1.01 (METHODS.md, icrl's default); ratio = ours / ref")
    head = f"{'matrix':<32} {'bits':>4} {'axis':>4} {'ours hqq':>9} {'ref hqq':>9} {'ratio':>7} " \
           f"{'spec hqq':>9} {'ratio':>7} {'ours rtn':>9} {'ref rtn':>9}"
    print(head)
    for r in rows:
        print(f"{r['matrix']:<32} {r['nbits']:>4} {r['axis']:>4} "
              f"{r['ours_hqq']['rel_frobenius']:>9.5f} {r['ref_hqq']['rel_frobenius']:>9.5f} "
              f"{r['ratio']:>7.4f} {r['ours_hqq_spec']['rel_frobenius']:>9.5f} "
              f"{r['ratio_spec']:>7.4f} {r['ours_rtn']['rel_frobenius']:>9.5f} "
              f"{r['ref_rtn']['rel_frobenius']:>9.5f}")
        print(f"{'':<32} {'':>4} {'':>4} {r['ours_hqq']['mean_abs']:>9.3e} "
              f"{r['ref_hqq']['mean_abs']:>9.3e} {'':>7} {r['ours_hqq_spec']['mean_abs']:>9.3e} "
              f"{'':>7} {r['ours_rtn']['mean_abs']:>9.3e} {r['ref_rtn']['mean_abs']:>9.3e}")
    print(f"worst ours/reference HQQ Frobenius ratio: {worst:.4f} at the reference's settings "
          f"(tolerance {1 + args.tolerance}); {worst_spec:.4f} with kappa 1.01")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1))
    if worst > 1 + args.tolerance:
        sys.exit(f"ours is more than {args.tolerance:.0%} worse than the reference somewhere")


if __name__ == "__main__":
    main()
