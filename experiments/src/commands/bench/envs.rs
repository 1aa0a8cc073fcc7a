//! `icrl bench envs`: env steps per second per family, single env and vectorized, printed
//! beside Python gymnasium's figures for the same envs on the same machine.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use clap::Args;
use envs::{Action, Env, EnvRng, Family, ResetOptions, VecEnv, VecStep, families, family};
use serde::Deserialize;

#[derive(Args, Debug)]
pub struct EnvBenchArgs {
    /// Env-steps per timed run, single env and vectorized alike.
    #[arg(long, default_value_t = 1_000_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub steps: u64,

    /// Copies in the vectorized env.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=65_536))]
    pub num_envs: u64,

    /// Timed runs per figure; the best is kept (the machine may be shared).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub repeats: u64,

    /// Only these families (comma-separated ids); default: every registered family.
    #[arg(long, value_delimiter = ',')]
    pub envs: Vec<String>,

    /// Python interpreter with gymnasium for the comparison column.
    #[arg(long, default_value = "python3")]
    pub python: PathBuf,

    /// The gymnasium benchmark script (default: the repository's scripts/bench_gymnasium.py,
    /// whose text is built into icrl and written to a temporary file for the run).
    #[arg(long)]
    pub script: Option<PathBuf>,

    /// Env-steps per timed run on the Python side (it is about 1000 times slower).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1_000..))]
    pub python_steps: u64,

    /// Seed of the envs and of the pre-sampled actions.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Gymnasium's ids for the families that exist there (the same id here).
const GYMNASIUM_IDS: [&str; 13] = [
    "CartPole-v1",
    "Pendulum-v1",
    "MountainCarContinuous-v0",
    "Acrobot-v1",
    "HalfCheetah-v5",
    "Hopper-v5",
    "Walker2d-v5",
    "Ant-v5",
    "Swimmer-v5",
    "Reacher-v5",
    "InvertedPendulum-v5",
    "InvertedDoublePendulum-v5",
    "Humanoid-v5",
];

/// Actions pre-sampled per env, cycled during a timed run.
const ACTION_POOL: usize = 1024;

#[derive(Deserialize)]
struct PythonReport {
    gymnasium_version: String,
    numpy_version: String,
    python_version: String,
    results: BTreeMap<String, PythonFigures>,
}

#[derive(Deserialize)]
struct PythonFigures {
    single: f64,
    vector: f64,
    vector_mode: String,
}

pub fn run(args: &EnvBenchArgs) -> Result<()> {
    let selected: Vec<&dyn Family> = if args.envs.is_empty() {
        families().to_vec()
    } else {
        args.envs.iter().map(|id| family(id)).collect::<Result<_, _>>()?
    };
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "icrl bench envs: {} env-steps per run, best of {}, {} vectorized envs, {cores} CPU cores, one thread",
        args.steps, args.repeats, args.num_envs
    );
    let python = python_figures(args, &selected);
    match &python {
        Ok(r) => println!(
            "gymnasium {} (numpy {}, Python {}), {} env-steps per run",
            r.gymnasium_version, r.numpy_version, r.python_version, args.python_steps
        ),
        Err(reason) => println!("gymnasium: {reason}"),
    }
    println!();
    println!(
        "| {:<25} | {:>12} | {:>13} | {:>12} | {:>13} | {:>8} | {:>8} |",
        "family",
        "icrl single",
        format!("icrl vec{}", args.num_envs),
        "gym single",
        format!("gym vec{}", args.num_envs),
        "x single",
        "x vec"
    );
    println!(
        "|{:-<27}|{:->14}|{:->15}|{:->14}|{:->15}|{:->10}|{:->10}|",
        "", "", "", "", "", "", ""
    );
    let mut notes = Vec::new();
    for fam in selected {
        let single = best_of(args.repeats, || single_rate(fam, args.steps, args.seed))?;
        let vector = best_of(args.repeats, || {
            vector_rate(fam, args.steps, args.num_envs as usize, args.seed)
        })?;
        let gym = match &python {
            Ok(r) => r.results.get(fam.id()),
            Err(_) => None,
        };
        let (gym_single, gym_vector, x_single, x_vector) = match gym {
            Some(g) => {
                notes.push(format!("{}: gymnasium vectorized with {}", fam.id(), g.vector_mode));
                (rate(g.single), rate(g.vector), ratio(single, g.single), ratio(vector, g.vector))
            }
            None => {
                let na = if GYMNASIUM_IDS.contains(&fam.id()) { "n/a" } else { "-" };
                (na.to_string(), na.to_string(), na.to_string(), na.to_string())
            }
        };
        println!(
            "| {:<25} | {:>12} | {:>13} | {:>12} | {:>13} | {:>8} | {:>8} |",
            fam.id(),
            rate(single),
            rate(vector),
            gym_single,
            gym_vector,
            x_single,
            x_vector
        );
    }
    println!();
    println!("steps/s; x = icrl / gymnasium; '-' = no gymnasium counterpart");
    for note in notes {
        println!("{note}");
    }
    Ok(())
}

fn best_of(repeats: u64, mut f: impl FnMut() -> Result<f64>) -> Result<f64> {
    f()?; // warm-up
    let mut best = 0.0f64;
    for _ in 0..repeats {
        best = best.max(f()?);
    }
    Ok(best)
}

fn rate(x: f64) -> String {
    if x >= 1e6 { format!("{:.2}M", x / 1e6) } else { format!("{:.1}k", x / 1e3) }
}

/// `ours / theirs` as `Nx`, with one decimal below 10x (the MuJoCo families' ratios are
/// near 2x, where rounding to an integer would hide the difference).
fn ratio(ours: f64, theirs: f64) -> String {
    let x = ours / theirs;
    if x < 10.0 { format!("{x:.1}x") } else { format!("{x:.0}x") }
}

/// `ACTION_POOL` actions sampled from the env's action space with a seeded stream.
fn action_pool(env: &dyn Env, seed: u64) -> Vec<Action> {
    let mut rng = EnvRng::default();
    rng.reseed(Some(seed ^ 0xac7));
    (0..ACTION_POOL).map(|_| env.action_space().sample(rng.get())).collect()
}

/// Steps per second of one env of the family's default task, resetting at episode ends; the
/// observation goes into one reused buffer ([`Env::step_into`]), as a rollout loop would.
fn single_rate(fam: &dyn Family, steps: u64, seed: u64) -> Result<f64> {
    let mut env = fam.make(&fam.default_task())?;
    let actions = action_pool(env.as_ref(), seed);
    env.reset(Some(seed), &ResetOptions::default())?;
    let mut obs = Vec::new();
    let start = Instant::now();
    for i in 0..steps as usize {
        let step = env.step_into(&actions[i % ACTION_POOL], &mut obs)?;
        if step.terminated || step.truncated {
            env.reset(None, &ResetOptions::default())?;
        }
    }
    Ok(steps as f64 / start.elapsed().as_secs_f64())
}

/// Env-steps per second of a [`VecEnv`] of `num_envs` copies (same-step autoreset).
fn vector_rate(fam: &dyn Family, steps: u64, num_envs: usize, seed: u64) -> Result<f64> {
    let mut vec_env = VecEnv::from_tasks(fam, &vec![fam.default_task(); num_envs])?;
    let pool = action_pool(vec_env.env(0).context("empty VecEnv")?, seed);
    let batches: Vec<Vec<Action>> = (0..ACTION_POOL / num_envs.min(ACTION_POOL))
        .map(|b| pool.iter().cycle().skip(b * num_envs).take(num_envs).cloned().collect())
        .collect();
    vec_env.reset(Some(seed))?;
    let n_batches = (steps as usize / num_envs).max(1);
    let mut out = VecStep::default();
    let start = Instant::now();
    for i in 0..n_batches {
        vec_env.step_into(&batches[i % batches.len()], &mut out)?;
    }
    Ok((n_batches * num_envs) as f64 / start.elapsed().as_secs_f64())
}

/// Runs the gymnasium script for the selected families that exist in gymnasium; the error
/// is the reason to print instead of figures.
fn python_figures(args: &EnvBenchArgs, selected: &[&dyn Family]) -> Result<PythonReport, String> {
    let ids: Vec<&str> =
        selected.iter().map(|f| f.id()).filter(|id| GYMNASIUM_IDS.contains(id)).collect();
    if ids.is_empty() {
        return Err("not run (no selected family exists in gymnasium)".into());
    }
    // The built-in script is written to a temporary file, so a binary copied away from the
    // repository still runs it.
    let builtin;
    let script = match &args.script {
        Some(path) => path.clone(),
        None => {
            builtin = builtin_script().map_err(|e| format!("n/a ({e:#})"))?;
            builtin.path().to_path_buf()
        }
    };
    let output = Command::new(&args.python)
        .arg(&script)
        .args(["--envs", &ids.join(","), "--steps", &args.python_steps.to_string()])
        .args(["--num-envs", &args.num_envs.to_string(), "--repeats", &args.repeats.to_string()])
        .args(["--seed", &args.seed.to_string()])
        .output()
        .map_err(|e| format!("n/a (could not run {}: {e})", args.python.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().last().unwrap_or("").trim().to_string();
    if output.status.code() == Some(3) {
        return Err(format!("n/a ({last}; pass --python with a Python that has gymnasium)"));
    }
    if !output.status.success() {
        return Err(format!("n/a ({} {} failed: {last})", args.python.display(), script.display()));
    }
    parse_report(&output.stdout).map_err(|e| format!("n/a ({e:#})"))
}

/// scripts/bench_gymnasium.py, as built into the binary, in a temporary file.
fn builtin_script() -> Result<tempfile::NamedTempFile> {
    use std::io::Write as _;
    const SCRIPT: &str = include_str!("../../../../scripts/bench_gymnasium.py");
    let mut file = tempfile::Builder::new()
        .prefix("bench_gymnasium.")
        .suffix(".py")
        .tempfile()
        .context("creating a temporary file for the gymnasium script")?;
    file.write_all(SCRIPT.as_bytes()).context("writing the gymnasium script")?;
    file.flush().context("writing the gymnasium script")?;
    Ok(file)
}

fn parse_report(stdout: &[u8]) -> Result<PythonReport> {
    let text = String::from_utf8_lossy(stdout);
    let Some(line) = text.lines().rev().find(|l| l.trim_start().starts_with('{')) else {
        bail!("the gymnasium script printed no JSON report");
    };
    serde_json::from_str(line).context("parsing the gymnasium script's JSON report")
}
