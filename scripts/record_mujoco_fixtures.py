#!/usr/bin/env python3
"""Record Gymnasium's v5 MuJoCo episodes as JSON fixtures for the `envs` crate.

Usage (in a scratch virtual environment with the same MuJoCo as the project):

    python3 -m venv /tmp/mjvenv
    /tmp/mjvenv/bin/pip install "gymnasium==1.4.0" "mujoco==3.17.0" imageio
    /tmp/mjvenv/bin/python scripts/record_mujoco_fixtures.py [--out envs/fixtures/mujoco]

For each env it writes `<id>.json` holding whole episodes (the time limit included): the
seed, the exact start state after reset (qpos and qvel as Python `repr` strings, so they
parse back bit for bit), the actions (seeded uniform in the action box), and per step the
observation, reward, terminated and truncated flags returned by `gymnasium.make(id)`.
`envs/tests/mujoco_fixtures.rs` replays every episode from its start state.
"""

import argparse
import json
import os

import gymnasium as gym
import numpy as np

ENVS = {"HalfCheetah-v5": 1}  # id -> episodes


def record(env_id, episodes):
    env = gym.make(env_id)
    out = []
    for e in range(episodes):
        seed = 1000 + e
        obs, _ = env.reset(seed=seed)
        u = env.unwrapped
        rng = np.random.default_rng(seed)
        episode = {
            "seed": seed,
            "qpos": [repr(float(x)) for x in u.data.qpos],
            "qvel": [repr(float(x)) for x in u.data.qvel],
            "first_obs": [float(x) for x in obs],
            "actions": [],
            "obs": [],
            "rewards": [],
            "terminated": [],
            "truncated": [],
        }
        low, high = env.action_space.low, env.action_space.high
        while True:
            action = rng.uniform(low, high).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            episode["actions"].append([float(a) for a in action])
            episode["obs"].append([float(f"{x:.10g}") for x in obs])
            episode["rewards"].append(float(reward))
            episode["terminated"].append(bool(terminated))
            episode["truncated"].append(bool(truncated))
            if terminated or truncated:
                break
        out.append(episode)
    return {"env": env_id, "gymnasium": gym.__version__, "episodes": out}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="envs/fixtures/mujoco")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for env_id, episodes in ENVS.items():
        data = record(env_id, episodes)
        path = os.path.join(args.out, env_id + ".json")
        with open(path, "w") as f:
            json.dump(data, f, separators=(",", ":"))
        print(path, sum(len(e["rewards"]) for e in data["episodes"]), "steps")


if __name__ == "__main__":
    main()
