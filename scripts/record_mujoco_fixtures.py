#!/usr/bin/env python3
"""Record Gymnasium's v5 MuJoCo episodes as JSON fixtures for the `envs` crate.

Usage (the project's environment has gymnasium 1.4.0, mujoco 3.17.0 and imageio after
`source scripts/setup.sh`):

    .venv/bin/python scripts/record_mujoco_fixtures.py [--out envs/fixtures/mujoco]

For each env it writes `<id>.json.gz` holding whole episodes (to termination or the time
limit): the task (the physics, as the `envs` crate's task parameters; applied to the model
the way `envs::mujoco` applies them), the seed, the exact start state after reset (qpos and
qvel as Python `repr` strings, so they parse back bit for bit), the actions (seeded uniform
in the action box), and per step the observation, reward, terminated and truncated flags
returned by `gymnasium.make(id)`. Each env has episodes with the default physics and with
changed physics (lighter gravity, a viscous medium, heavier bodies, less friction).
`envs/tests/mujoco_fixtures.rs` replays every episode from its start state.
"""

import argparse
import gzip
import json
import os

import gymnasium as gym
import numpy as np

# id -> episodes per physics. Episode e draws its actions uniformly in the action box scaled
# by ACTION_SCALES[e], so that the envs that full-range random actions end within a few dozen
# steps (Hopper, Walker2d, Ant, the pendulums) also have longer episodes.
ACTION_SCALES = [1.0, 0.3, 0.1, 0.03, 0.01]
ENVS = {
    "HalfCheetah-v5": 1,
    "Hopper-v5": 3,
    "Walker2d-v5": 3,
    "Ant-v5": 2,
    "Swimmer-v5": 1,
    "Reacher-v5": 3,
    "InvertedPendulum-v5": 5,
    "InvertedDoublePendulum-v5": 5,
    "Humanoid-v5": 3,
}

# The default task (no parameters) and a changed one. Swimmer's model sets viscosity 0.1; its
# changed task halves it.
CHANGED = {"gravity_scale": 0.85, "viscosity": 0.05, "mass_scale": 1.15, "friction_scale": 0.8}
TASKS = [{}, CHANGED]


def apply_physics(model, task):
    """The task's physics on the compiled model, as `envs::mujoco::Physics::apply`."""
    model.opt.gravity[:] *= task.get("gravity_scale", 1.0)
    if "viscosity" in task:
        model.opt.viscosity = task["viscosity"]
    model.body_mass[:] *= task.get("mass_scale", 1.0)
    model.body_inertia[:] *= task.get("mass_scale", 1.0)
    model.geom_friction[:] *= task.get("friction_scale", 1.0)


def record(env_id, episodes):
    out = []
    for t, task in enumerate(TASKS):
        env = gym.make(env_id)
        apply_physics(env.unwrapped.model, task)
        out.extend(record_task(env, task, 1000 + 100 * t, episodes))
    return {"env": env_id, "gymnasium": gym.__version__, "episodes": out}


def record_task(env, task, first_seed, episodes):
    out = []
    for e in range(episodes):
        seed = first_seed + e
        obs, _ = env.reset(seed=seed)
        u = env.unwrapped
        rng = np.random.default_rng(seed)
        episode = {
            "task": task,
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
            action = (ACTION_SCALES[e] * rng.uniform(low, high)).astype(np.float32)
            obs, reward, terminated, truncated, _ = env.step(action)
            episode["actions"].append([float(a) for a in action])
            episode["obs"].append([float(f"{x:.9g}") for x in obs])
            episode["rewards"].append(float(reward))
            episode["terminated"].append(bool(terminated))
            episode["truncated"].append(bool(truncated))
            if terminated or truncated:
                break
        out.append(episode)
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="envs/fixtures/mujoco")
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for env_id, episodes in ENVS.items():
        data = record(env_id, episodes)
        path = os.path.join(args.out, env_id + ".json.gz")
        # mtime 0: the same episodes give the same bytes.
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(json.dumps(data, separators=(",", ":")).encode())
        print(path, sum(len(e["rewards"]) for e in data["episodes"]), "steps")


if __name__ == "__main__":
    main()
