#!/usr/bin/env python3
"""Record Gymnasium classic-control episodes as JSON fixtures for the `envs` crate.

Usage (in a scratch virtual environment, not the project's .venv):

    python3 -m venv /tmp/gymvenv && /tmp/gymvenv/bin/pip install "gymnasium==1.*"
    /tmp/gymvenv/bin/python scripts/record_gymnasium_fixtures.py [--out envs/fixtures/gymnasium]

For each of CartPole-v1, Pendulum-v1, MountainCarContinuous-v0 and Acrobot-v1 it writes
`<id>.json` holding a few short episodes: the seed, the exact start state (Python `repr`
strings, so that they parse back bit for bit), the actions, and per step the observation,
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


def record_episode(env_id, seed, policy, max_steps):
    env = gym.make(env_id)
    rng = np.random.default_rng(seed + 1000)
    obs, _ = env.reset(seed=seed)
    episode = {
        "seed": seed,
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
        (0, discrete_random(2), 60),
        (1, discrete_random(2), 60),
        (2, cartpole_balance, 500),
    ],
    "Pendulum-v1": [
        (0, box_random(3.0), 60),
        (1, pendulum_pump, 200),
    ],
    "MountainCarContinuous-v0": [
        (0, box_random(1.5), 100),
        (1, car_pump, 300),
    ],
    "Acrobot-v1": [
        (0, discrete_random(3), 100),
        (1, acrobot_pump, 300),
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
            "episodes": [record_episode(env_id, s, p, n) for s, p, n in episodes],
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
