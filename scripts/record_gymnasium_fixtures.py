#!/usr/bin/env python3
"""Record Gymnasium classic-control episodes as JSON fixtures for the `envs` crate.

Usage (in a scratch virtual environment, not the project's .venv):

    python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install "gymnasium==1.*"
    /tmp/gymvenv/bin/python scripts/record_gymnasium_fixtures.py [--out envs/fixtures/gymnasium]

For each of CartPole-v1, Pendulum-v1, MountainCarContinuous-v0 and Acrobot-v1 it writes
`<id>.json` holding a few short episodes: the seed, the exact start state (Python `repr`
strings, so that they parse back bit for bit), the task (physical constants; `{}` for
Gymnasium's defaults), the actions, and per step the observation,
reward, terminated and truncated flags, as returned by `gymnasium.make(id)` (time limit
included). `envs/tests/gymnasium_fixtures.rs` replays every episode from its start state.

Policies: seeded random actions (out-of-range values for the continuous envs, to exercise
clipping) and one simple controller per env that reaches the end of an episode (truncation for
CartPole and Pendulum, termination for MountainCarContinuous and Acrobot).
"""

import argparse
import json
import os

import gymnasium as gym
import numpy as np


def start_state(env):
    """The unwrapped state right after reset, as exact repr strings."""
    return [repr(float(x)) for x in np.asarray(env.unwrapped.state).ravel()]


def f32(x):
    """A float32 value in the 9 significant digits that identify it."""
    return float(f"{float(x):.9g}")


def set_task(env_id, u, task):
    """Set the physical constants of the unwrapped env `u` to `task` (the Rust task names)."""
    if env_id == "CartPole-v1":
        for name, value in task.items():
            setattr(u, name, value)
        # Derived in __init__, so recomputed here.
        u.total_mass = u.masspole + u.masscart
        u.polemass_length = u.masspole * u.length
    elif env_id == "Pendulum-v1":
        for name, value in task.items():
            setattr(u, name, value)
    elif env_id == "MountainCarContinuous-v0":
        u.power = task["power"]  # the hill coefficient 0.0025 is a literal in step()
    elif env_id == "Acrobot-v1":
        for name, value in task.items():  # gravity 9.8 is a literal in _dsdt()
            setattr(u, name.upper(), value)


# One non-default task per env (only constants Gymnasium exposes as attributes).
TASKS = {
    "CartPole-v1": {"gravity": 12.0, "masscart": 1.5, "masspole": 0.2, "length": 0.7, "force_mag": 8.0},
    "Pendulum-v1": {"g": 7.5, "m": 1.3, "l": 0.8},
    "MountainCarContinuous-v0": {"power": 0.0018},
    "Acrobot-v1": {
        "link_length_1": 1.1,
        "link_mass_1": 0.8,
        "link_mass_2": 1.3,
        "link_com_pos_1": 0.45,
        "link_com_pos_2": 0.6,
        "link_moi": 0.9,
    },
}


def record_episode(env_id, seed, policy, max_steps, task=None):
    env = gym.make(env_id)
    if task:
        set_task(env_id, env.unwrapped, task)
    rng = np.random.default_rng(seed + 1000)
    obs, _ = env.reset(seed=seed)
    episode = {
        "seed": seed,
        "task": task or {},
        "start_state": start_state(env),
        "reset_obs": [f32(x) for x in obs],
        "actions": [],
        "obs": [],
        "rewards": [],
        "terminated": [],
        "truncated": [],
    }
    for _ in range(max_steps):
        action = policy(obs, rng)
        obs, reward, terminated, truncated, _ = env.step(action)
        if isinstance(action, np.ndarray):
            episode["actions"].append([f32(a) for a in action])
        else:
            episode["actions"].append(int(action))
        episode["obs"].append([f32(x) for x in obs])
        episode["rewards"].append(float(reward))
        episode["terminated"].append(bool(terminated))
        episode["truncated"].append(bool(truncated))
        if terminated or truncated:
            break
    env.close()
    return episode


def discrete_random(n):
    return lambda obs, rng: int(rng.integers(n))


def box_random(scale):
    return lambda obs, rng: rng.uniform(-scale, scale, size=(1,)).astype(np.float32)


def cartpole_balance(obs, rng):
    # Push towards the side the pole falls to; balances for the full 500 steps.
    return int(obs[2] + 0.5 * obs[3] > 0)


def pendulum_pump(obs, rng):
    # Torque along the angular velocity, beyond the bounds (clipped to +-2).
    return np.array([3.0 if obs[2] >= 0 else -3.0], dtype=np.float32)


def car_pump(obs, rng):
    # Push along the velocity: rocks the car up the hill.
    return np.array([1.0 if obs[1] >= 0 else -1.0], dtype=np.float32)


def acrobot_pump(obs, rng):
    # Torque along the second joint's velocity: pumps energy until the tip is high.
    return 2 if obs[5] >= 0 else 0


EPISODES = {
    "CartPole-v1": [
        (0, discrete_random(2), 60, False),
        (1, discrete_random(2), 60, False),
        (2, cartpole_balance, 500, False),
        (3, cartpole_balance, 100, True),
    ],
    "Pendulum-v1": [
        (0, box_random(3.0), 60, False),
        (1, pendulum_pump, 200, False),
        (2, pendulum_pump, 60, True),
    ],
    "MountainCarContinuous-v0": [
        (0, box_random(1.5), 100, False),
        (1, car_pump, 300, False),
        (2, car_pump, 100, True),
    ],
    "Acrobot-v1": [
        (0, discrete_random(3), 100, False),
        (1, acrobot_pump, 300, False),
        (2, acrobot_pump, 60, True),
    ],
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="envs/fixtures/gymnasium", help="output folder")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for env_id, episodes in EPISODES.items():
        fixture = {
            "env_id": env_id,
            "gymnasium_version": gym.__version__,
            "numpy_version": np.__version__,
            "episodes": [
                record_episode(env_id, s, p, n, TASKS[env_id] if with_task else None)
                for s, p, n, with_task in episodes
            ],
        }
        path = os.path.join(args.out, f"{env_id}.json")
        with open(path, "w") as f:
            json.dump(fixture, f, separators=(",", ":"))
            f.write("\n")
        steps = [len(e["rewards"]) for e in fixture["episodes"]]
        ends = [
            "terminated" if e["terminated"][-1] else "truncated" if e["truncated"][-1] else "cut"
            for e in fixture["episodes"]
        ]
        print(f"{path}: episodes of {steps} steps ({', '.join(ends)})")


if __name__ == "__main__":
    main()
