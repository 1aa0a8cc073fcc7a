#!/usr/bin/env python3
"""Write a small dataset in Vintix's published layout (the test fixture of
`icrl dataset import --from vintix`), following the dataset description and loader of
dunnolab/vintix (`vintix/data/torch_dataloaders.py`):

    OUT/TASK/TASK.json                 metadata, with "task_name"
    OUT/TASK/trajectory_K.h5           one learning history each, read in name order
        START-END/                     groups of GROUP rows (END inclusive), the last fewer
            proprio_observation (N, obs_dim) float32
            action              (N, act_dim) float32
            reward              (N,) float32
            step_num            (N,) int32   (0 at each episode start)
            demonstrator_action (N, act_dim) float32   (only in some files here)

Two tasks with different observation/action widths (so two domain groups). Prints, as JSON,
per task: trajectories, rows, episodes, and the sums of observations, actions and rewards,
for the test to compare with what icrl imported.

Usage: vintix_fixture.py OUT [--group ROWS]
"""
import argparse
import json
import os

import h5py
import numpy as np

TASKS = [
    # name, obs_dim, act_dim, trajectories, rows per trajectory, episode length
    ("toy-reach-v0", 3, 2, 2, 57, 8),
    ("toy-lift-v0", 5, 1, 1, 33, 11),
]


def write_task(out, name, obs_dim, act_dim, trajectories, rows, episode, group, rng):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name + ".json"), "w") as f:
        json.dump({"task_name": name, "random_score": -1.0, "expert_score": 5.0}, f)
    summary = {"trajectories": trajectories, "rows": 0, "episodes": 0, "obs": 0.0, "act": 0.0, "rew": 0.0}
    for k in range(trajectories):
        obs = rng.normal(size=(rows, obs_dim)).astype(np.float32)
        act = rng.uniform(-1, 1, size=(rows, act_dim)).astype(np.float32)
        rew = rng.normal(size=rows).astype(np.float32)
        step = (np.arange(rows) % episode).astype(np.int32)
        with h5py.File(os.path.join(folder, f"trajectory_{k}.h5"), "w") as f:
            for start in range(0, rows, group):
                end = min(start + group, rows) - 1
                g = f.create_group(f"{start}-{end}")
                g["proprio_observation"] = obs[start : end + 1]
                g["action"] = act[start : end + 1]
                g["reward"] = rew[start : end + 1]
                g["step_num"] = step[start : end + 1]
                if k == 0:
                    g["demonstrator_action"] = np.clip(act[start : end + 1] * 0.5, -1, 1)
        summary["rows"] += rows
        summary["episodes"] += int((step == 0).sum())
        summary["obs"] += float(obs.astype(np.float64).sum())
        summary["act"] += float(act.astype(np.float64).sum())
        summary["rew"] += float(rew.astype(np.float64).sum())
    return summary


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out")
    p.add_argument("--group", type=int, default=10, help="rows per group (Vintix: 10,000)")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    summary = {
        name: write_task(args.out, name, od, ad, n, rows, ep, args.group, rng)
        for name, od, ad, n, rows, ep in TASKS
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
