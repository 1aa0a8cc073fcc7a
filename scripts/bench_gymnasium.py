#!/usr/bin/env python3
"""Steps per second of Gymnasium envs, single and vectorized; run by `icrl bench envs`.

    python3 scripts/bench_gymnasium.py --envs CartPole-v1,Pendulum-v1 --steps 20000 --num-envs 64

Prints one JSON object on stdout:
    {"gymnasium_version": ..., "numpy_version": ..., "python_version": ...,
     "results": {id: {"single": steps/s, "vector": env-steps/s, "vector_mode": mode}}}

Single env: `gymnasium.make(id)` (with its default wrappers), actions pre-sampled from the
action space (1024, cycled), `reset()` when an episode ends. Vectorized: `gymnasium.make_vec`
with the env's own vector entry point when it has one (CartPole), else `sync`, counting
env-steps (batched steps x num_envs). Each figure is the best of `--repeats` timed runs after a
warm-up. Exits with status 3 and a message on stderr when gymnasium is not importable.
"""

import argparse
import json
import platform
import sys
import time

try:
    import gymnasium as gym
    import numpy as np
except ImportError as e:
    print(f"gymnasium not installed: {e}", file=sys.stderr)
    sys.exit(3)


def time_single(env_id, steps, seed):
    env = gym.make(env_id)
    env.action_space.seed(seed)
    actions = [env.action_space.sample() for _ in range(1024)]
    env.reset(seed=seed)
    start = time.perf_counter()
    for i in range(steps):
        _, _, terminated, truncated, _ = env.step(actions[i % 1024])
        if terminated or truncated:
            env.reset()
    elapsed = time.perf_counter() - start
    env.close()
    return steps / elapsed


def time_vector(env_id, steps, num_envs, seed):
    mode = "vector_entry_point" if gym.spec(env_id).vector_entry_point else "sync"
    envs = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    envs.action_space.seed(seed)
    actions = [envs.action_space.sample() for _ in range(16)]
    envs.reset(seed=seed)
    batches = max(1, steps // num_envs)
    start = time.perf_counter()
    for i in range(batches):
        envs.step(actions[i % 16])
    elapsed = time.perf_counter() - start
    envs.close()
    return batches * num_envs / elapsed, mode


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--envs", required=True, help="comma-separated Gymnasium ids")
    parser.add_argument("--steps", type=int, default=20000, help="env-steps per timed run")
    parser.add_argument("--num-envs", type=int, default=64, help="copies in the vectorized env")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    results = {}
    for env_id in args.envs.split(","):
        time_single(env_id, min(args.steps, 1000), args.seed)  # warm-up
        single = max(time_single(env_id, args.steps, args.seed) for _ in range(args.repeats))
        runs = [time_vector(env_id, args.steps, args.num_envs, args.seed) for _ in range(args.repeats)]
        vector, mode = max(runs)
        results[env_id] = {"single": single, "vector": vector, "vector_mode": mode}
    print(
        json.dumps(
            {
                "gymnasium_version": gym.__version__,
                "numpy_version": np.__version__,
                "python_version": platform.python_version(),
                "results": results,
            }
        )
    )


if __name__ == "__main__":
    main()
