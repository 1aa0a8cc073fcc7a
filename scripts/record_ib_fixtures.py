#!/usr/bin/env python3
"""Record Industrial Benchmark fixtures from the reference Python implementation.

The reference is the PyPI package `industrial-benchmark-python` 2.0 (Siemens; module
`industrial_benchmark_python.IDS`). It needs numpy < 1.24 (it calls `np.float`) and scipy:

    python3 -m venv /tmp/ibvenv
    /tmp/ibvenv/bin/pip install industrial-benchmark-python "numpy<1.24" "scipy<1.12"
    /tmp/ibvenv/bin/python scripts/record_ib_fixtures.py

Writes two files under envs/fixtures/industrial_benchmark/:

- `replay.json`: a few trajectories with, per step, the action passed, every random number
  the reference drew during the step (kind and value, in draw order) and the full state
  after the step. The Rust test replays the draws through the port and compares states.
- `stats.json`: statistics of the stochastic parts over many 250-step episodes under fixed
  policies (per-episode means of fatigue, consumption and reward, and the fraction of steps
  in which the fatigue bifurcation fired). The Rust test compares its own statistics, drawn
  from its own RNG, within a few standard errors.

Also prints the reference's single-env steps per second.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from industrial_benchmark_python import IDS as ids_module

IDS = ids_module.IDS

# --- draw recording --------------------------------------------------------------------

LOG = []  # (kind, value) of every draw while recording is on
RECORDING = [True]
_orig = {
    "exponential": np.random.exponential,
    "rand": np.random.rand,
    "binomial": np.random.binomial,
    "normal": np.random.normal,
    "randn": np.random.randn,
}


def _wrap(kind):
    def draw(*args, **kwargs):
        value = _orig[kind](*args, **kwargs)
        if RECORDING[0]:
            LOG.append([kind, float(value)])
        return value

    return draw


for _kind in _orig:
    setattr(np.random, _kind, _wrap(_kind))

_orig_define = IDS.defineNewSequence


def _define_unrecorded(self):
    # Only used by the non-stationary setpoint, which the port does not model: its draws
    # (randint, rand, rand at construction) are not part of the stationary dynamics.
    RECORDING[0] = False
    try:
        _orig_define(self)
    finally:
        RECORDING[0] = True


IDS.defineNewSequence = _define_unrecorded


def full_state(env):
    s = env.state
    return {
        "p": float(s["p"]),
        "v": float(s["v"]),
        "g": float(s["g"]),
        "h": float(s["h"]),
        "f": float(s["f"]),
        "c": float(s["c"]),
        "hv": float(s["hv"]),
        "hg": float(s["hg"]),
        "o": [float(x) for x in s["o"]],
        "gs_domain": int(s["gs_domain"]),
        "gs_sys_response": int(s["gs_sys_response"]),
        "gs_phi_idx": int(round(float(s["gs_phi_idx"]))),
        "he": float(s["he"]),
        "ve": float(s["ve"]),
        "ge": float(s["ge"]),
        "fb": float(s["fb"]),
        "oc": float(s["oc"]),
        "mc": float(s["MC"]),
    }


# --- step-by-step replay fixtures --------------------------------------------------------


def record_trajectory(setpoint, seed, steps, action_rng, scale, push=False):
    """Persistent random actions (a new one with probability 0.2, else repeat), scaled past
    [-1, 1] so that the reference's clipping and the goldstone domain changes occur. With
    `push`, velocity is driven down and gain up (beyond the clip) so that the fatigue
    bifurcation fires."""
    LOG.clear()
    env = IDS(p=setpoint, inital_seed=seed)
    traj = {
        "setpoint": setpoint,
        "seed": seed,
        "warmup": {"draws": list(LOG), "state": full_state(env)},
        "steps": [],
    }
    action = action_rng.uniform(-scale, scale, 3)
    if push:
        action[:2] = [-scale, scale]
    for _ in range(steps):
        if action_rng.rand() < 0.2:
            action = action_rng.uniform(-scale, scale, 3)
            if push:
                action[:2] = [-scale, scale]
        LOG.clear()
        env.step(action.copy())
        traj["steps"].append(
            {
                "action": [float(a) for a in action],
                "draws": list(LOG),
                "state": full_state(env),
                "reward": float(env.state["reward"]),
            }
        )
    return traj


def coverage(traj):
    normals = sum(1 for st in traj["steps"] for k, _ in st["draws"] if k == "normal")
    domains = {st["state"]["gs_domain"] for st in traj["steps"]}
    phis = {st["state"]["gs_phi_idx"] for st in traj["steps"]}
    clipped = sum(1 for st in traj["steps"] if max(abs(a) for a in st["action"]) > 1)
    return f"bifurcation draws {normals}, domains {sorted(domains)}, phi_idx {sorted(phis)}, clipped {clipped}"


# --- distribution statistics -------------------------------------------------------------

POLICIES = {
    # name -> function(rng, obs) returning an action
    "zero": lambda rng, obs: np.zeros(3),
    "uniform": lambda rng, obs: rng.uniform(-1.0, 1.0, 3),
    # drive velocity down and gain up: high effective velocity, frequent bifurcations
    "low_v_high_g": lambda rng, obs: np.array([-1.0, 1.0, rng.uniform(-1.0, 1.0)]),
}


def episode_stats(setpoint, policy, seed, policy_rng, horizon):
    LOG.clear()
    env = IDS(p=setpoint, inital_seed=seed)
    f_sum = c_sum = r_sum = 0.0
    bifurcations = 0
    for _ in range(horizon):
        LOG.clear()
        env.step(POLICIES[policy](policy_rng, env.state))
        f_sum += env.state["f"]
        c_sum += env.state["c"]
        r_sum += env.state["reward"] / 100.0
        bifurcations += sum(1 for k, _ in LOG if k == "normal")
    n = float(horizon)
    return f_sum / n, c_sum / n, r_sum / n, bifurcations / n


def record_stats(configs, episodes, horizon):
    out = []
    for setpoint, policy in configs:
        policy_rng = np.random.RandomState(1000 + setpoint)
        rows = np.array(
            [episode_stats(setpoint, policy, 10_000 + e, policy_rng, horizon) for e in range(episodes)]
        )
        entry = {"setpoint": setpoint, "policy": policy, "episodes": episodes, "horizon": horizon}
        for i, name in enumerate(["fatigue", "consumption", "reward", "bifurcation_rate"]):
            entry[name] = {"mean": float(rows[:, i].mean()), "std": float(rows[:, i].std(ddof=1))}
        out.append(entry)
        print(f"stats p={setpoint} {policy}: " + ", ".join(
            f"{k} {entry[k]['mean']:.4f}±{entry[k]['std']:.4f}"
            for k in ["fatigue", "consumption", "reward", "bifurcation_rate"]))
    return out


def steps_per_second(setpoint=50, steps=20_000):
    RECORDING[0] = False
    env = IDS(p=setpoint, inital_seed=0)
    rng = np.random.RandomState(0)
    actions = rng.uniform(-1, 1, (steps, 3))
    start = time.perf_counter()
    for a in actions:
        env.step(a)
    elapsed = time.perf_counter() - start
    RECORDING[0] = True
    return steps / elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="envs/fixtures/industrial_benchmark",
                        help="output folder")
    parser.add_argument("--episodes", type=int, default=200,
                        help="episodes per statistics configuration")
    parser.add_argument("--no-stats", action="store_true", help="skip stats.json")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    action_rng = np.random.RandomState(7)
    trajectories = []
    for setpoint, seed, steps, push in [(0, 1, 40, False), (35, 2, 40, False), (70, 3, 40, False),
                                        (100, 4, 40, False), (20, 5, 100, True), (60, 6, 100, True)]:
        traj = record_trajectory(setpoint, seed, steps, action_rng, scale=1.5, push=push)
        print(f"replay p={setpoint}: {coverage(traj)}")
        trajectories.append(traj)
    replay = {
        "reference": "industrial-benchmark-python 2.0 (PyPI), IDS(p, stationary_p=True)",
        "trajectories": trajectories,
    }
    (out / "replay.json").write_text(json.dumps(replay, separators=(",", ":")) + "\n")

    if not args.no_stats:
        configs = [(10, "zero"), (50, "uniform"), (90, "uniform"), (30, "low_v_high_g"),
                   (80, "low_v_high_g")]
        stats = {
            "reference": replay["reference"],
            "note": "per-episode means over `horizon` steps after the reference's warm-up "
                    "step; reward is -(3 f + c) / 100; std is across episodes",
            "configs": record_stats(configs, args.episodes, 250),
        }
        (out / "stats.json").write_text(json.dumps(stats, indent=1) + "\n")

    print(f"reference single-env steps/s: {steps_per_second():.0f}")


if __name__ == "__main__":
    main()
