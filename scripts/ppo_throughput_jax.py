"""PPO training throughput of a PureJaxRL-style JAX implementation: the peer of `icrl ppo`
in the PPO-throughput comparison.

Runs in a scratch virtual environment, never the project's .venv (pins used for the figures:
jax==0.10.2, jaxlib==0.10.2, optax==0.2.8, Python 3.11):

    python3 -m venv /tmp/icrl-peers-jax
    /tmp/icrl-peers-jax/bin/pip install jax==0.10.2 optax==0.2.8
    taskset -c 1 /tmp/icrl-peers-jax/bin/python scripts/ppo_throughput_jax.py --env CartPole-v1

What it measures: env steps per second of the *whole* PPO training loop (rollout, GAE, epochs
of shuffled minibatch updates), after compilation. As in PureJaxRL (luchris429/purejaxrl,
`ppo.py` / `ppo_continuous_action.py`) the entire training run is ONE `jax.jit`-compiled
function: an outer `lax.scan` over updates, inside it a `lax.scan` over rollout steps of
`vmap`ped envs, a reverse `lax.scan` for GAE, and `lax.scan`s over epochs and minibatches.
It is compiled with `jax.jit(train).lower(key).compile()` (timed as compile_seconds), then run
once and timed to `block_until_ready` (train_seconds). One seed, no `vmap` over seeds.
It prints one JSON line: env, total_steps (env steps actually trained: whole updates),
compile_seconds, train_seconds, steps_per_second, final_return (mean undiscounted return of
the episodes that ended in the last 2 updates, or further back until one ended),
return_curve (the same mean over each tenth of training), jax_version, threads, seeds.

Threads: unless XLA_FLAGS is already set, the script sets (before importing jax)
XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" and
JAX_PLATFORMS=cpu, i.e. a single CPU thread like `icrl ppo --threads 1`; `--threads 0` leaves
XLA's defaults. Pin the process too (`taskset -c 1`).

Envs are written in pure JAX here and follow Gymnasium's CartPole-v1 and Pendulum-v1
(dynamics, termination, TimeLimit truncation at 500 / 200 steps, reset distributions).
Episodes auto-reset inside the step, as PureJaxRL's gymnax/LogWrapper envs do. Like
PureJaxRL, `done = terminated or truncated` is treated as terminal: truncated episodes are
NOT bootstrapped from their final observation (icrl ppo and SB3 do bootstrap them), and the
reward normaliser's discounted return also restarts at `done`.

Hyper-parameters are the presets of `icrl ppo` (datagen/src/ppo/config.rs; see PRESETS):
separate actor/critic MLPs obs-64-tanh-64-tanh-out, orthogonal init (sqrt 2 hidden, 0.01
actor output, 1.0 critic output), zero biases, Adam eps 1e-5, global-norm clip 0.5, learning
rate annealed linearly to 0 per update (CleanRL's), per-minibatch advantage normalisation,
clip 0.2, CleanRL's clipped value loss, vf_coef 0.5, GAE lambda 0.95. Pendulum: Gaussian
policy with a state-independent log_std (init 0), unclipped samples (log-prob of those)
clipped to [-2, 2] for the env, running observation normalisation and reward scaling by the
running std of the discounted return: PureJaxRL's NormalizeVecObservation/NormalizeVecReward
(batched running mean/var, count 1e-4, eps 1e-8) plus the preset's clipping to +-10, which
PureJaxRL's wrappers do not have.
"""

import argparse
import json
import os
import time

PRESETS = {
    "CartPole-v1": dict(num_envs=4, num_steps=128, num_minibatches=4, update_epochs=4, lr=2.5e-4,
                        gamma=0.99, ent_coef=0.01, normalize=False, total_steps=500_000),
    "Pendulum-v1": dict(num_envs=8, num_steps=256, num_minibatches=16, update_epochs=10, lr=1e-3,
                        gamma=0.95, ent_coef=0.0, normalize=True, total_steps=1_000_000),
}
COMMON = dict(gae_lambda=0.95, clip_coef=0.2, vf_coef=0.5, max_grad_norm=0.5, hidden=64)

parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
parser.add_argument("--env", choices=sorted(PRESETS), default="CartPole-v1")
parser.add_argument("--total-steps", type=int, default=None, help="default: the preset's")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--threads", type=int, default=1, help="1: one XLA CPU thread; 0: XLA default")
ARGS = parser.parse_args()

SINGLE_THREAD_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
if "XLA_FLAGS" in os.environ:
    THREADS = f"XLA_FLAGS from the environment: {os.environ['XLA_FLAGS']}"
elif ARGS.threads == 1:
    os.environ["XLA_FLAGS"] = SINGLE_THREAD_FLAGS
    THREADS = f"1 (XLA_FLAGS={SINGLE_THREAD_FLAGS})"
else:
    THREADS = "XLA default"
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402  (after XLA_FLAGS is set)
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402


# ----------------------------------------------------------------------------- envs
class CartPole:
    """Gymnasium CartPole-v1: state (x, x_dot, theta, theta_dot) is the observation."""
    obs_dim, num_actions, discrete, max_steps = 4, 2, True, 500
    gravity, masscart, masspole, length, force_mag, tau = 9.8, 1.0, 0.1, 0.5, 10.0, 0.02
    theta_threshold, x_threshold = 12 * 2 * np.pi / 360, 2.4

    @staticmethod
    def reset(key):
        return jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)

    @staticmethod
    def obs(state):
        return state

    @classmethod
    def step(cls, state, action):
        x, x_dot, theta, theta_dot = state
        force = jnp.where(action == 1, cls.force_mag, -cls.force_mag)
        total_mass, polemass_length = cls.masspole + cls.masscart, cls.masspole * cls.length
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + polemass_length * theta_dot**2 * sin) / total_mass
        thetaacc = (cls.gravity * sin - cos * temp) / (
            cls.length * (4.0 / 3.0 - cls.masspole * cos**2 / total_mass))
        xacc = temp - polemass_length * thetaacc * cos / total_mass
        x, x_dot = x + cls.tau * x_dot, x_dot + cls.tau * xacc  # euler
        theta, theta_dot = theta + cls.tau * theta_dot, theta_dot + cls.tau * thetaacc
        state = jnp.stack([x, x_dot, theta, theta_dot])
        terminated = (jnp.abs(x) > cls.x_threshold) | (jnp.abs(theta) > cls.theta_threshold)
        return state, jnp.float32(1.0), terminated


class Pendulum:
    """Gymnasium Pendulum-v1: state (th, thdot), observation (cos th, sin th, thdot)."""
    obs_dim, num_actions, discrete, max_steps = 3, 1, False, 200
    max_speed, max_torque, dt, g, m, l = 8.0, 2.0, 0.05, 10.0, 1.0, 1.0

    @staticmethod
    def reset(key):
        return jax.random.uniform(key, (2,), minval=jnp.array([-np.pi, -1.0]),
                                  maxval=jnp.array([np.pi, 1.0]))

    @staticmethod
    def obs(state):
        return jnp.stack([jnp.cos(state[0]), jnp.sin(state[0]), state[1]])

    @classmethod
    def step(cls, state, action):
        th, thdot = state
        u = jnp.clip(action[0], -cls.max_torque, cls.max_torque)
        th_norm = ((th + np.pi) % (2 * np.pi)) - np.pi
        cost = th_norm**2 + 0.1 * thdot**2 + 0.001 * u**2
        newthdot = thdot + (3 * cls.g / (2 * cls.l) * jnp.sin(th) + 3.0 / (cls.m * cls.l**2) * u) * cls.dt
        newthdot = jnp.clip(newthdot, -cls.max_speed, cls.max_speed)
        newth = th + newthdot * cls.dt
        return jnp.stack([newth, newthdot]), -cost, jnp.bool_(False)


def make_vec_env(env, num_envs, normalize, gamma):
    """vmapped envs with TimeLimit, auto-reset and episode logging (gymnax + PureJaxRL's
    LogWrapper/VecEnv), then ClipAction and NormalizeVecObservation/NormalizeVecReward."""

    def single_reset(key):
        return dict(phys=env.reset(key), t=jnp.int32(0), ep_ret=jnp.float32(0.0))

    def single_step(key, s, action):
        phys, reward, terminated = env.step(s["phys"], action)
        t, ep_ret = s["t"] + 1, s["ep_ret"] + reward
        done = terminated | (t >= env.max_steps)
        phys = jnp.where(done, env.reset(key), phys)
        new = dict(phys=phys, t=jnp.where(done, 0, t), ep_ret=jnp.where(done, 0.0, ep_ret))
        return new, env.obs(phys), reward, done, ep_ret

    def rms_init(shape):
        return dict(mean=jnp.zeros(shape), var=jnp.ones(shape), count=jnp.float32(1e-4))

    def rms_update(rms, x):  # parallel mean/var merge, as Gymnasium's RunningMeanStd
        n, b_mean, b_var = x.shape[0], x.mean(0), x.var(0)
        delta, tot = b_mean - rms["mean"], rms["count"] + n
        m2 = rms["var"] * rms["count"] + b_var * n + delta**2 * rms["count"] * n / tot
        return dict(mean=rms["mean"] + delta * n / tot, var=m2 / tot, count=tot)

    def norm_obs(vs, obs):
        obs_rms = rms_update(vs["obs_rms"], obs)
        obs = jnp.clip((obs - obs_rms["mean"]) / jnp.sqrt(obs_rms["var"] + 1e-8), -10, 10)
        return dict(vs, obs_rms=obs_rms), obs

    def reset(key):
        envs = jax.vmap(single_reset)(jax.random.split(key, num_envs))
        vs, obs = dict(envs=envs), jax.vmap(env.obs)(envs["phys"])
        if normalize:
            vs.update(obs_rms=rms_init(env.obs_dim), ret=jnp.zeros(num_envs), ret_rms=rms_init(()))
            vs, obs = norm_obs(vs, obs)
        return vs, obs

    def step(key, vs, action):
        if not env.discrete:
            action = jnp.clip(action, -env.max_torque, env.max_torque)  # ClipAction
        envs, obs, reward, done, ep_ret = jax.vmap(single_step)(
            jax.random.split(key, num_envs), vs["envs"], action)
        vs = dict(vs, envs=envs)
        if normalize:
            vs, obs = norm_obs(vs, obs)
            ret = vs["ret"] * gamma * (1 - done) + reward
            ret_rms = rms_update(vs["ret_rms"], ret)
            reward = jnp.clip(reward / jnp.sqrt(ret_rms["var"] + 1e-8), -10, 10)
            vs = dict(vs, ret=ret, ret_rms=ret_rms)
        return vs, obs, reward, done, ep_ret

    return reset, step


# ---------------------------------------------------------------------- network/policy
def init_mlp(key, sizes, out_gain):
    layers, keys = [], jax.random.split(key, len(sizes) - 1)
    for i, (k, n_in, n_out) in enumerate(zip(keys, sizes[:-1], sizes[1:])):
        gain = out_gain if i == len(sizes) - 2 else np.sqrt(2)
        layers.append((jax.nn.initializers.orthogonal(gain)(k, (n_in, n_out)), jnp.zeros(n_out)))
    return layers


def mlp(layers, x):
    for w, b in layers[:-1]:
        x = jnp.tanh(x @ w + b)
    w, b = layers[-1]
    return x @ w + b


def init_params(key, env, hidden):
    k_actor, k_critic = jax.random.split(key)
    params = dict(actor=init_mlp(k_actor, [env.obs_dim, hidden, hidden, env.num_actions], 0.01),
                  critic=init_mlp(k_critic, [env.obs_dim, hidden, hidden, 1], 1.0))
    if not env.discrete:
        params["log_std"] = jnp.zeros(env.num_actions)
    return params


def value(params, obs):
    return mlp(params["critic"], obs)[..., 0]


def sample(params, obs, key, discrete):
    out = mlp(params["actor"], obs)
    if discrete:
        action = jax.random.categorical(key, out)
    else:  # unclipped Gaussian sample; the env wrapper clips it
        action = out + jnp.exp(params["log_std"]) * jax.random.normal(key, out.shape)
    return action, log_prob_entropy(params, obs, action, discrete)[0]


def log_prob_entropy(params, obs, action, discrete):
    out = mlp(params["actor"], obs)
    if discrete:
        logp = jax.nn.log_softmax(out)
        entropy = -(jnp.exp(logp) * logp).sum(-1)
        return jnp.take_along_axis(logp, action[..., None], -1)[..., 0], entropy
    log_std = params["log_std"]
    z = (action - out) / jnp.exp(log_std)
    logp = (-0.5 * z**2 - log_std - 0.5 * np.log(2 * np.pi)).sum(-1)
    entropy = jnp.broadcast_to((0.5 + 0.5 * np.log(2 * np.pi) + log_std).sum(), logp.shape)
    return logp, entropy


# ------------------------------------------------------------------------------ train
def make_train(env, cfg):
    n_envs, n_steps, n_mb, epochs = cfg["num_envs"], cfg["num_steps"], cfg["num_minibatches"], cfg["update_epochs"]
    batch = n_envs * n_steps
    mb_size, num_updates = batch // n_mb, cfg["total_steps"] // batch
    gamma, lam, clip, discrete = cfg["gamma"], cfg["gae_lambda"], cfg["clip_coef"], env.discrete
    env_reset, env_step = make_vec_env(env, n_envs, cfg["normalize"], gamma)

    # CleanRL's anneal: lr * (1 - (update - 1) / num_updates), constant within an update.
    def schedule(count):  # count = optimizer steps so far
        return cfg["lr"] * (1.0 - (count // (n_mb * epochs)) / num_updates)
    tx = optax.chain(optax.clip_by_global_norm(cfg["max_grad_norm"]), optax.adam(schedule, eps=1e-5))

    def loss_fn(params, mb):
        obs, action, old_logp, old_value, adv, target = mb
        logp, entropy = log_prob_entropy(params, obs, action, discrete)
        v = value(params, obs)
        v_clipped = old_value + jnp.clip(v - old_value, -clip, clip)
        v_loss = 0.5 * jnp.maximum((v - target) ** 2, (v_clipped - target) ** 2).mean()
        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
        ratio = jnp.exp(logp - old_logp)
        pg_loss = -jnp.minimum(ratio * adv, jnp.clip(ratio, 1 - clip, 1 + clip) * adv).mean()
        return pg_loss + cfg["vf_coef"] * v_loss - cfg["ent_coef"] * entropy.mean()

    def update_minibatch(carry, mb):
        params, opt_state = carry
        loss, grads = jax.value_and_grad(loss_fn)(params, mb)
        updates, opt_state = tx.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state), loss

    def update(runner, _):
        def rollout_step(carry, _):
            params, vs, obs, key = carry
            key, k_act, k_env = jax.random.split(key, 3)
            action, logp = sample(params, obs, k_act, discrete)
            v = value(params, obs)
            vs, next_obs, reward, done, ep_ret = env_step(k_env, vs, action)
            return (params, vs, next_obs, key), (obs, action, logp, v, reward, done, ep_ret)

        params, opt_state, vs, obs, key = runner
        (_, vs, obs, key), traj = jax.lax.scan(rollout_step, (params, vs, obs, key), None, n_steps)
        t_obs, t_action, t_logp, t_value, t_reward, t_done, t_ep_ret = traj

        def gae_step(carry, tr):  # PureJaxRL's _get_advantages: done masks the bootstrap
            gae, next_value = carry
            done, v, reward = tr
            delta = reward + gamma * next_value * (1 - done) - v
            gae = delta + gamma * lam * (1 - done) * gae
            return (gae, v), gae

        last_value = value(params, obs)
        _, adv = jax.lax.scan(gae_step, (jnp.zeros_like(last_value), last_value),
                              (t_done, t_value, t_reward), reverse=True)
        data = (t_obs, t_action, t_logp, t_value, adv, adv + t_value)

        def epoch(carry, _):
            params, opt_state, key = carry
            key, k_perm = jax.random.split(key)
            perm = jax.random.permutation(k_perm, batch)
            mbs = jax.tree_util.tree_map(
                lambda x: x.reshape((batch,) + x.shape[2:])[perm].reshape((n_mb, mb_size) + x.shape[2:]),
                data)
            (params, opt_state), losses = jax.lax.scan(update_minibatch, (params, opt_state), mbs)
            return (params, opt_state, key), losses

        (params, opt_state, key), losses = jax.lax.scan(epoch, (params, opt_state, key), None, epochs)
        metrics = dict(return_sum=(t_ep_ret * t_done).sum(), episodes=t_done.sum(), loss=losses.mean())
        return (params, opt_state, vs, obs, key), metrics

    def train(key):
        key, k_params, k_env = jax.random.split(key, 3)
        params = init_params(k_params, env, cfg["hidden"])
        vs, obs = env_reset(k_env)
        runner = (params, tx.init(params), vs, obs, key)
        runner, metrics = jax.lax.scan(update, runner, None, num_updates)
        return runner[0], metrics

    return train, num_updates * batch


def mean_return(metrics, lo, hi):
    eps = metrics["episodes"][lo:hi].sum()
    return float(metrics["return_sum"][lo:hi].sum() / eps) if eps else None


def main():
    env = {"CartPole-v1": CartPole, "Pendulum-v1": Pendulum}[ARGS.env]
    cfg = dict(COMMON, **PRESETS[ARGS.env])
    if ARGS.total_steps is not None:
        cfg["total_steps"] = ARGS.total_steps
    train, total_steps = make_train(env, cfg)
    key = jax.random.key(ARGS.seed)

    start = time.perf_counter()
    compiled = jax.jit(train).lower(key).compile()
    compile_seconds = time.perf_counter() - start

    start = time.perf_counter()
    out = jax.block_until_ready(compiled(key))
    train_seconds = time.perf_counter() - start

    metrics = jax.tree_util.tree_map(np.asarray, out[1])
    n = len(metrics["episodes"])
    lo = max(n - 2, 0)
    while lo > 0 and metrics["episodes"][lo:].sum() == 0:
        lo -= 1
    tenths = [mean_return(metrics, n * i // 10, n * (i + 1) // 10) for i in range(10)]
    print(json.dumps({
        "env": ARGS.env, "total_steps": total_steps, "compile_seconds": round(compile_seconds, 3),
        "train_seconds": round(train_seconds, 3), "steps_per_second": round(total_steps / train_seconds, 1),
        "final_return": mean_return(metrics, lo, n),
        "final_return_episodes": int(metrics["episodes"][lo:].sum()),
        "return_curve": [None if r is None else round(r, 1) for r in tenths],
        "jax_version": jax.__version__, "optax_version": optax.__version__, "threads": THREADS,
        "seeds": f"1 (seed {ARGS.seed}; single seed, no vmap over seeds)",
        "implementation": "PureJaxRL-style: whole training loop in one jax.jit (lax.scan)",
    }))


if __name__ == "__main__":
    main()
