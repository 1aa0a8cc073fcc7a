#!/usr/bin/env bash
# The platform beside its Python peers, each pair measured on this machine one after the other
# (issue "Performance"), printed as one table with the targets:
#   1. MountainCarContinuous-v0, one env, env steps/s: icrl against gymnasium (the project's
#      .venv), on one pinned core;
#   2. HQQ 4-bit, group 64, of the 251.7M weights of the vintix-300m backbone's shapes, on
#      2 threads: `icrl quantize` against the PyPI `hqq` package on the same matrices;
#   3. PPO env steps to solve Pendulum-v1 (-200, 3 checks in a row of 50 episodes, after every
#      rollout): `icrl ppo --hyperparams zoo` against Stable-Baselines3 with the same
#      rl-baselines3-zoo settings (scripts/ppo_reference.py --hyperparams zoo), median over
#      the seeds, one pinned core each;
#   4. PPO training throughput (env steps/s including updates, CleanRL presets of CartPole-v1
#      and Pendulum-v1, one thread, one pinned core): `icrl ppo` (its default native engine)
#      against a PureJaxRL-style JAX PPO compiled as one XLA program
#      (scripts/ppo_throughput_jax.py; its compile time is reported apart, not counted);
#   5. training tokens/s of the `small` model with softmax layers (pattern SSSS), Dark Room,
#      8 windows x 200 steps, one thread: `icrl train` (median of 20 steps after 3) against
#      the same model in PyTorch eager (scripts/bench_train_torch.py, the project's .venv).
#
# The peers live in a scratch venv (ICRL_PEERS_VENV, default /tmp/icrl-peers) that reads the
# project's torch and gymnasium through a .pth file and gets stable-baselines3 and hqq with
# their small dependencies from PyPI on the first run; JAX goes into a second scratch venv
# (ICRL_PEERS_JAX_VENV, default /tmp/icrl-peers-jax) with its own NumPy. Knobs: ICRL_PEERS_SEEDS (PPO seeds,
# default 5), ICRL_PEERS_LAYERS (backbone layers for HQQ, default 20), ICRL_PEERS_CORE (the
# core single-threaded pairs are pinned to, default 0), ICRL_PEERS_PPO_STEPS (env steps of
# each PPO throughput run, default 500000 for CartPole and 1000000 for Pendulum).
set -euo pipefail
source "$(dirname "$0")/setup.sh"
cd "$ICRL_ROOT"

PEERS="${ICRL_PEERS_VENV:-/tmp/icrl-peers}"
SEEDS="${ICRL_PEERS_SEEDS:-5}"
LAYERS="${ICRL_PEERS_LAYERS:-20}"
CORE="${ICRL_PEERS_CORE:-0}"
PIN=(taskset -c "$CORE")
command -v taskset > /dev/null || PIN=()

echo "== building icrl (release)"
cargo build --release -q -p experiments
ICRL="${CARGO_TARGET_DIR:-$ICRL_ROOT/target}/release/icrl"

if [ ! -x "$PEERS/bin/python" ]; then
    echo "== the peers' scratch venv: $PEERS (first run only)"
    python3 -m venv "$PEERS"
    site="$(compgen -G "$PEERS/lib/python3*/site-packages" | head -1)"
    compgen -G "$ICRL_VENV/lib/python3*/site-packages" | head -1 > "$site/icrl-project.pth"
    "$PEERS/bin/pip" install -q --disable-pip-version-check --no-deps \
        stable-baselines3==2.7.0 hqq==0.2.8.post1
    "$PEERS/bin/pip" install -q --disable-pip-version-check \
        cloudpickle matplotlib pandas termcolor tqdm einops safetensors
fi
JAX_PEERS="${ICRL_PEERS_JAX_VENV:-/tmp/icrl-peers-jax}"
if [ ! -x "$JAX_PEERS/bin/python" ]; then
    echo "== the JAX peer's scratch venv: $JAX_PEERS (first run only)"
    python3 -m venv "$JAX_PEERS"
    "$JAX_PEERS/bin/pip" install -q --disable-pip-version-check jax==0.10.2 optax==0.2.8
fi
"$JAX_PEERS/bin/python" -c "import jax, optax" ||
    icrl_die "the JAX peer's venv $JAX_PEERS lacks a package; remove it and rerun"
PY="$PEERS/bin/python"
"$PY" -c "import stable_baselines3, hqq.core.quantize, gymnasium, torch" ||
    icrl_die "the peers' venv $PEERS lacks a package; remove it and rerun"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

echo "== 1/5 MountainCarContinuous-v0, one env (icrl, then gymnasium, core $CORE)"
"${PIN[@]}" "$ICRL" bench envs --envs MountainCarContinuous-v0 --python "$ICRL_VENV/bin/python" \
    > "$OUT/envs.txt"
grep "MountainCarContinuous" "$OUT/envs.txt" | head -1

echo "== 2/5 HQQ 4-bit of $LAYERS backbone layers on 2 threads (icrl, then the hqq package)"
"$PY" scripts/bench_quant.py --icrl "$ICRL" --layers "$LAYERS" --nbits 4 --no-baseline \
    --threads 2 --peer > "$OUT/quant.txt"
tail -2 "$OUT/quant.txt"

echo "== 3/5 PPO env steps to solve Pendulum-v1, $SEEDS seeds (icrl, then SB3, core $CORE)"
for seed in $(seq 0 $((SEEDS - 1))); do
    "${PIN[@]}" "$ICRL" ppo --env Pendulum-v1 --hyperparams zoo --seed "$seed" --threads 1 \
        --json --quiet --out "$OUT/ppo-$seed" > "$OUT/icrl-ppo-$seed.json"
    "${PIN[@]}" "$PY" scripts/ppo_reference.py --env Pendulum-v1 --hyperparams zoo \
        --seed "$seed" > "$OUT/sb3-ppo-$seed.txt"
    echo "   seed $seed: icrl $(grep -o '"solved_at_steps": [0-9a-z]*' "$OUT/icrl-ppo-$seed.json"), $(tail -1 "$OUT/sb3-ppo-$seed.txt")"
done

echo "== 4/5 PPO throughput, CleanRL presets, 1 thread (icrl, then JAX, core $CORE)"
for env in CartPole-v1 Pendulum-v1; do
    steps=1000000
    [ "$env" = CartPole-v1 ] && steps=500000
    steps="${ICRL_PEERS_PPO_STEPS:-$steps}"
    "${PIN[@]}" "$ICRL" ppo --env "$env" --total-steps "$steps" --no-early-stop --threads 1 \
        --json --quiet --out "$OUT/throughput-$env" > "$OUT/icrl-throughput-$env.json"
    "${PIN[@]}" "$JAX_PEERS/bin/python" scripts/ppo_throughput_jax.py --env "$env" \
        --total-steps "$steps" > "$OUT/jax-throughput-$env.json"
    echo "   $env: icrl $(grep -o '"train_seconds": [0-9.]*' "$OUT/icrl-throughput-$env.json"), JAX $(grep -o '"steps_per_second": [0-9.]*' "$OUT/jax-throughput-$env.json")"
done

echo "== 5/5 training tokens/s, small model, softmax layers, 8 x 200, 1 thread (icrl, then PyTorch, core $CORE)"
"$ICRL" datagen --suite dark-room --out "$OUT/dark-room" --quiet > /dev/null
"${PIN[@]}" "$ICRL" train --data "$OUT/dark-room" --preset small --model pattern=SSSS --steps 23 \
    --batch-size 8 --context 200 --eval-every 0 --threads 1 --runs-dir "$OUT/train" --name small \
    --quiet > /dev/null
"${PIN[@]}" "$ICRL_VENV/bin/python" scripts/bench_train_torch.py --warmup 3 --steps 20 \
    > "$OUT/torch-train.txt"
tail -1 "$OUT/torch-train.txt"

echo "== the table"
"$ICRL_VENV/bin/python" - "$OUT" "$SEEDS" "$LAYERS" <<'PY'
import glob, json, re, statistics, sys

out, seeds, layers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rows = []

def number(text):
    """A figure of `icrl bench envs` (12.3M, 456.7k, 89) as a float."""
    scale = {"M": 1e6, "k": 1e3}.get(text[-1], 1)
    return float(text.rstrip("Mk")) * scale

line = next(l for l in open(f"{out}/envs.txt") if l.startswith("| MountainCarContinuous"))
cells = [c.strip() for c in line.strip().strip("|").split("|")]
ours, theirs = number(cells[1]), number(cells[3])
rows.append(("MountainCarContinuous single env, steps/s", f"{ours / 1e6:.1f}M",
             f"gymnasium {theirs / 1e3:.0f}K", ours / theirs, ">= 100x", ours / theirs >= 100))

quant = open(f"{out}/quant.txt").read().splitlines()
icrl_row = next(l for l in quant if re.match(r"\s*4\s+f16", l))
icrl_hqq = float(icrl_row.split()[2])
peer = float(re.search(r"hqq package\s+([\d.]+) s", "\n".join(quant)).group(1))
# The target is for the whole backbone (20 layers, 251.7M weights).
rows.append((f"HQQ 4-bit g64 of {layers} backbone layers, 2 threads, s", f"{icrl_hqq:.1f}",
             f"hqq package {peer:.1f}", icrl_hqq / peer, "<= 15 s at 20 layers",
             icrl_hqq <= 15 if layers == 20 else "n/a"))

ours = []
for path in sorted(glob.glob(f"{out}/icrl-ppo-*.json")):
    solved = json.load(open(path))["solved_at_steps"]
    ours.append(solved if solved is not None else float("inf"))
theirs = []
for path in sorted(glob.glob(f"{out}/sb3-ppo-*.txt")):
    m = re.search(r"(not solved|solved) at (\d+) env steps", open(path).read())
    theirs.append(float(m.group(2)) if m.group(1) == "solved" else float("inf"))
o, t = statistics.median(ours), statistics.median(theirs)
rows.append((f"PPO env steps to solve Pendulum (-200), median of {seeds} seeds", f"{o:,.0f}",
             f"SB3, rl-zoo settings {t:,.0f}", o / t, "<= 1.5x", o / t <= 1.5))

for env in ["CartPole-v1", "Pendulum-v1"]:
    icrl = json.load(open(f"{out}/icrl-throughput-{env}.json"))
    jax = json.loads(open(f"{out}/jax-throughput-{env}.json").read().strip().splitlines()[-1])
    ours = icrl["train_steps"] / icrl["train_seconds"]
    theirs = jax["steps_per_second"]
    rows.append((f"PPO throughput {env}, env steps/s with updates, 1 thread", f"{ours / 1e3:.0f}K",
                 f"PureJaxRL-style JAX {theirs / 1e3:.0f}K (+{jax['compile_seconds']:.1f} s compile)",
                 ours / theirs, ">= 1.0x", ours / theirs >= 1.0))

tps = [json.loads(l)["tokens_per_sec"] for l in open(f"{out}/train/small/metrics.jsonl")][3:]
ours = statistics.median(tps)
theirs = json.loads(open(f"{out}/torch-train.txt").read().strip().splitlines()[-1])["tokens_per_second"]
rows.append(("training tokens/s, `small`, softmax, 8x200, 1 thread", f"{ours:,.0f}",
             f"PyTorch eager {theirs:,.0f}", ours / theirs, ">= 1.1x", ours / theirs >= 1.1))

print("| measure | icrl | Python peer | ratio | target | met |")
print("|---|---|---|---|---|---|")
for name, a, b, ratio, target, met in rows:
    met = met if isinstance(met, str) else ("yes" if met else "no")
    print(f"| {name} | {a} | {b} | {ratio:.2f} | {target} | {met} |")
PY
