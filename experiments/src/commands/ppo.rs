//! `icrl ppo`: train one PPO demonstrator for one task, save it (safetensors + JSON) and print
//! its evaluated return.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};
use clap::Args;
use datagen::ppo::{Backend, Hyperparams, PpoConfig, TrainSpec, evaluate, train};
use envs::{Space, Task};
use rand::SeedableRng;
use rand::rngs::StdRng;

use crate::common::{DeviceArg, set_threads};

#[derive(Args, Debug)]
pub struct PpoArgs {
    /// Versioned env id, e.g. CartPole-v1 (see `icrl env list`).
    #[arg(long)]
    pub env: String,

    /// Task parameters as a JSON object, e.g. '{"gravity": 9.0}'; missing keys take the
    /// family's defaults.
    #[arg(long, default_value = "{}")]
    pub task: String,

    /// Seed for every random choice of the run (weights, actions, env resets, minibatches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Override the preset's total env steps (per attempt).
    #[arg(long)]
    pub total_steps: Option<usize>,

    /// Override the preset's attempts: independent runs, each with a new seed, until one is
    /// solved (the best final evaluation is kept if none is).
    #[arg(long)]
    pub attempts: Option<usize>,

    /// A JSON file with a full PPO config (every field of `PpoConfig`) instead of the
    /// env's preset.
    #[arg(long, conflicts_with = "hyperparams")]
    pub config: Option<PathBuf>,

    /// The env's preset from `cleanrl` (CleanRL's defaults, tuned here where measured) or
    /// `zoo` (rl-baselines3-zoo's tuned settings: Pendulum-v1 with gSDE, CartPole-v1,
    /// MountainCarContinuous-v0, Acrobot-v1).
    #[arg(long, default_value = "cleanrl")]
    pub hyperparams: Hyperparams,

    /// Where the networks are computed, overriding the preset's or --config's `backend`:
    /// `auto` (the default: native), `torch` (libtorch ops) or `native` (plain Rust, several
    /// times faster for these small MLPs). Both draw the same random numbers; they differ in
    /// float rounding only.
    #[arg(long)]
    pub backend: Option<Backend>,

    /// Train to the end even when the periodic evaluation reaches the preset's solve return
    /// (one attempt).
    #[arg(long)]
    pub no_early_stop: bool,

    /// Output folder for the policy, `config.json` and TensorBoard events (default
    /// runs/ppo/{env}__ppo__{seed}__{unix_time}).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// --device (PPO's small MLPs run on the CPU: `auto` means the CPU here, and a CUDA
    /// device is refused), --threads (1 is fastest for these 64x64 MLPs on a small CPU),
    /// --quiet.
    #[command(flatten)]
    pub compute: crate::common::ComputeArgs,

    /// Print the summary as one JSON document: `env`, `task`, `seed`, `attempt`,
    /// `eval_mean_return`, `eval_std_return`, `eval_episodes`, `train_steps`, `train_seconds`,
    /// `random_mean_return`, `random_std_return`, `solved_at_steps` (null when not solved)
    /// and `out`.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &PpoArgs) -> Result<()> {
    let family = envs::family(&args.env)?;
    let task: Task = serde_json::from_str(&args.task)
        .with_context(|| format!("--task: expected a JSON object, got `{}`", args.task))?;
    // Build one env up front so that a bad task is reported before anything is written.
    let probe = family.make(&task).with_context(|| format!("--task for {}", args.env))?;
    let discrete = matches!(probe.action_space(), Space::Discrete { .. });
    let config = ppo_config(args, discrete)?;
    if let DeviceArg::Cuda(i) = args.compute.device {
        bail!("--device cuda:{i}: PPO runs on the CPU (use auto or cpu)");
    }
    set_threads(args.compute.threads);

    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => {
            let unix =
                SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            PathBuf::from("runs/ppo").join(format!("{}__ppo__{}__{unix}", args.env, args.seed))
        }
    };
    let spec = TrainSpec {
        env_id: &args.env,
        task: &task,
        config: &config,
        seed: args.seed,
        run_dir: Some(&out),
        progress: !args.compute.quiet,
    };
    let outcome = train(&spec, &|| family.make(&task))
        .with_context(|| format!("training PPO on {}", args.env))?;
    outcome.policy.save(&out).with_context(|| format!("saving the policy to {}", out.display()))?;
    let meta = &outcome.policy.meta;
    // The uniform random policy on the same number of episodes, for scale.
    let mut env = family.make(&task)?;
    let space = env.action_space().clone();
    let mut rng = StdRng::seed_from_u64(args.seed);
    let random =
        evaluate(env.as_mut(), &mut |_| space.sample(&mut rng), meta.eval_episodes, args.seed)
            .context("evaluating the random policy")?;
    if args.json {
        let doc = serde_json::json!({
            "env": meta.env_id, "task": task, "seed": args.seed, "attempt": meta.attempt,
            "eval_mean_return": meta.eval_mean_return, "eval_std_return": meta.eval_std_return,
            "eval_episodes": meta.eval_episodes, "train_steps": meta.train_steps,
            "train_seconds": meta.train_seconds, "random_mean_return": random.mean(),
            "random_std_return": random.std(),
            "solved_at_steps": outcome.solved.as_ref().map(|s| s.env_steps),
            "out": out.display().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!(
        "{} seed {}{}: eval return {:.2} +- {:.2} over {} episodes after {} env steps ({:.1} s)",
        meta.env_id,
        args.seed,
        match meta.attempt {
            1 => String::new(),
            k => format!(" (attempt {k} of {}, seed {})", config.attempts, meta.seed),
        },
        meta.eval_mean_return,
        meta.eval_std_return,
        meta.eval_episodes,
        meta.train_steps,
        meta.train_seconds
    );
    println!("random policy: return {:.2} +- {:.2}", random.mean(), random.std());
    if let Some(solved) = outcome.solved {
        println!(
            "solved (periodic eval >= {}) at {} env steps, {:.1} s",
            config.solve_return.unwrap_or(f64::NAN),
            solved.env_steps,
            solved.seconds
        );
    }
    println!("policy written to {}", out.display());
    Ok(())
}

/// The PPO config of --config or of the env's preset, with the flags' overrides, validated.
fn ppo_config(args: &PpoArgs, discrete: bool) -> Result<PpoConfig> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("reading --config {}", path.display()))?;
            serde_json::from_str::<PpoConfig>(&text)
                .with_context(|| format!("--config {}: not a PPO config", path.display()))?
        }
        None => PpoConfig::preset_in(&args.env, discrete, args.hyperparams)
            .map_err(|e| anyhow::anyhow!("--hyperparams zoo: {e}"))?,
    };
    if let Some(steps) = args.total_steps {
        config.total_steps = steps;
    }
    if let Some(backend) = args.backend {
        config.backend = backend;
    }
    if let Some(attempts) = args.attempts {
        if args.no_early_stop && attempts > 1 {
            bail!("--attempts {attempts} needs the early stop; --no-early-stop trains one run");
        }
        config.attempts = attempts;
    }
    if args.no_early_stop {
        config.solve_return = None;
        config.attempts = 1;
    }
    if let Err(e) = config.validate() {
        bail!("PPO config for {}: {e}", args.env);
    }
    Ok(config)
}
