"""Time-to-solve of a well-known Python PPO (Stable-Baselines3) with the hyper-parameters of
`icrl ppo`'s presets, for the comparison in docs/benchmarks.md ("PPO demonstrators").

Runs in a scratch virtual environment, never the project's .venv:

    python3 -m venv /tmp/ppo-ref
    /tmp/ppo-ref/bin/pip install torch stable-baselines3 gymnasium
    /tmp/ppo-ref/bin/python scripts/ppo_reference.py --env CartPole-v1 --seed 0

(docs/benchmarks.md's figures instead reused the project's torch 2.11 read-only: a `.pth` file
in the scratch venv's site-packages naming the project venv's site-packages, then only
stable-baselines3 and gymnasium installed into the scratch venv.)

Like `icrl ppo`, it evaluates the deterministic policy (20 episodes; 50 for Pendulum) every
5 rollouts and stops once the mean return reaches the solve threshold (2 checks in a row for CartPole, 3 for
Pendulum); it prints env steps, wall and CPU seconds.
SB3's PPO matches CleanRL's details (orthogonal init, Adam eps 1e-5, advantage normalisation
per minibatch, value clipping when `clip_range_vf` is set, global gradient clipping) and, like
`icrl ppo`, bootstraps truncated episodes from their final observation.
"""

import argparse
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback, EvalCallback
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import VecNormalize


class StopWhenSolved(BaseCallback):
    """Stops training after `checks` consecutive evaluations at or above `threshold` (the
    `solve_return` / `solve_checks` rule of `icrl ppo`)."""

    def __init__(self, threshold, checks):
        super().__init__()
        self.threshold, self.checks, self.passed = threshold, checks, 0

    def _on_step(self):
        self.passed = self.passed + 1 if self.parent.last_mean_reward >= self.threshold else 0
        return self.passed < self.checks


# The presets of datagen/src/ppo/config.rs: (CleanRL base, overrides, solve return).
DISCRETE = dict(learning_rate=2.5e-4, num_envs=4, num_steps=128, gamma=0.99, gae_lambda=0.95,
                num_minibatches=4, update_epochs=4, clip_coef=0.2, ent_coef=0.01, vf_coef=0.5,
                max_grad_norm=0.5, normalize=False, init_log_std=0.0, total_steps=500_000,
                solve_checks=1)
CONTINUOUS = dict(DISCRETE, learning_rate=3e-4, num_envs=1, num_steps=2048, num_minibatches=32,
                  update_epochs=10, ent_coef=0.0, normalize=True, total_steps=1_000_000)
PRESETS = {
    "CartPole-v1": (dict(DISCRETE, eval_episodes=20, solve_checks=2), 500.0),
    "Pendulum-v1": (dict(CONTINUOUS, learning_rate=1e-3, num_envs=8, num_steps=256, gamma=0.95,
                         num_minibatches=16, eval_episodes=50, solve_checks=3), -200.0),
    "MountainCarContinuous-v0": (dict(CONTINUOUS, num_envs=8, num_steps=512, ent_coef=0.01,
                                      eval_episodes=20), 90.0),
}


# rl-baselines3-zoo's tuned settings (hyperparams/ppo.yml), beside `icrl ppo --hyperparams zoo`
# (datagen/src/ppo/config.rs, PpoConfig::zoo): SB3's own defaults elsewhere (minibatches of 64,
# no value clipping, constant learning rate, log-std 0), evaluated after every rollout.
ZOO = {
    "Pendulum-v1": (dict(num_envs=4, num_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10,
                         ent_coef=0.0, learning_rate=1e-3, clip_range=0.2, use_sde=True,
                         sde_sample_freq=4, normalize=False, eval_episodes=50, solve_checks=3,
                         total_steps=100_000), -200.0),
}


def run_zoo(args):
    """SB3 with the zoo's settings; the same solve rule, evaluated after every rollout."""
    cfg, solve = ZOO[args.env]
    env = make_vec_env(args.env, n_envs=cfg["num_envs"], seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    model = PPO(
        "MlpPolicy", env, seed=args.seed, device="cpu", n_steps=cfg["num_steps"],
        gae_lambda=cfg["gae_lambda"], gamma=cfg["gamma"], n_epochs=cfg["n_epochs"],
        ent_coef=cfg["ent_coef"], learning_rate=cfg["learning_rate"],
        clip_range=cfg["clip_range"], use_sde=cfg["use_sde"],
        sde_sample_freq=cfg["sde_sample_freq"],
    )
    stop = StopWhenSolved(solve, cfg["solve_checks"])
    callback = EvalCallback(eval_env, callback_after_eval=stop, n_eval_episodes=cfg["eval_episodes"],
                            eval_freq=cfg["num_steps"], deterministic=True, verbose=0)
    start, cpu_start = time.time(), time.process_time()
    model.learn(total_timesteps=args.total_steps or cfg["total_steps"], callback=callback)
    seconds, cpu = time.time() - start, time.process_time() - cpu_start
    solved = stop.passed >= cfg["solve_checks"]
    print(f"sb3 zoo {args.env} seed {args.seed}: last eval return {callback.last_mean_reward:.2f}; "
          f"{'solved' if solved else 'not solved'} at {model.num_timesteps} env steps, "
          f"{seconds:.1f} s wall, {cpu:.1f} s CPU ({model.num_timesteps / seconds:.0f} steps/s)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, choices=sorted(PRESETS))
    parser.add_argument("--hyperparams", choices=["cleanrl", "zoo"], default="cleanrl",
                        help="the presets of icrl ppo (cleanrl) or rl-baselines3-zoo's (zoo)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--total-steps", type=int, default=None)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.hyperparams == "zoo":
        return run_zoo(args)
    cfg, solve = PRESETS[args.env]
    total = args.total_steps or cfg["total_steps"]

    env = make_vec_env(args.env, n_envs=cfg["num_envs"], seed=args.seed)
    eval_env = make_vec_env(args.env, n_envs=1, seed=args.seed + 10_000)
    if cfg["normalize"]:
        env = VecNormalize(env, norm_obs=True, norm_reward=True, clip_obs=10.0, clip_reward=10.0,
                           gamma=cfg["gamma"])
        eval_env = VecNormalize(eval_env, norm_obs=True, norm_reward=False, training=False)
    lr = cfg["learning_rate"]
    batch = cfg["num_envs"] * cfg["num_steps"]
    model = PPO(
        "MlpPolicy", env, seed=args.seed, device="cpu",
        learning_rate=lambda progress: lr * progress,  # linear annealing to 0
        n_steps=cfg["num_steps"], batch_size=batch // cfg["num_minibatches"],
        n_epochs=cfg["update_epochs"], gamma=cfg["gamma"], gae_lambda=cfg["gae_lambda"],
        clip_range=cfg["clip_coef"], clip_range_vf=cfg["clip_coef"], ent_coef=cfg["ent_coef"],
        vf_coef=cfg["vf_coef"], max_grad_norm=cfg["max_grad_norm"],
        policy_kwargs=dict(net_arch=dict(pi=[64, 64], vf=[64, 64]), activation_fn=torch.nn.Tanh,
                           ortho_init=True, log_std_init=cfg["init_log_std"]),
    )
    stop = StopWhenSolved(solve, cfg["solve_checks"])
    callback = EvalCallback(eval_env, callback_after_eval=stop, n_eval_episodes=cfg["eval_episodes"],
                            eval_freq=5 * cfg["num_steps"], deterministic=True, verbose=0)
    start, cpu_start = time.time(), time.process_time()
    model.learn(total_timesteps=total, callback=callback)
    seconds, cpu = time.time() - start, time.process_time() - cpu_start
    solved = stop.passed >= cfg["solve_checks"]
    print(f"sb3 {args.env} seed {args.seed}: last eval return {callback.last_mean_reward:.2f}; "
          f"{'solved' if solved else 'not solved'} at {model.num_timesteps} env steps, "
          f"{seconds:.1f} s wall, {cpu:.1f} s CPU ({model.num_timesteps / seconds:.0f} steps/s)")


if __name__ == "__main__":
    main()
