//! `icrl train`: train an in-context agent on a learning-history dataset.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use agent::dist::{Backend, ProcessGroup, Rendezvous};

use agent::train::memory::{estimate_peak, gib};
use agent::train::{
    ActionTarget, OptimConfig, RunOptions, StepMetrics, TrainConfig, config_for, read_metrics,
    run_name, train,
};
use agent::usage::PeakRate;
use anyhow::{Context, Result, bail};
use clap::Args;
use histories::dataset::{Dataset, ObsNorm};
use histories::lock::FolderLock;
use histories::names::{MAX_NAME_LEN, is_safe_name, safe_name};
use tch::Device;

use crate::plot::{Panel, Series, save_panels};

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// Dataset folder (an `icrl datagen --out` folder); with --config, it replaces the
    /// config's; with --resume, it is where the run's dataset has moved (its manifest must be
    /// the one the run trained on, unless --allow-data-change), and config.json is updated.
    #[arg(long, required_unless_present_any = ["resume", "config"])]
    pub data: Option<PathBuf>,

    /// Start a new run from this training config: a run's config.json (to repeat the run) or
    /// a hand-written one with the same fields. The model, data and training flags are then
    /// the file's (--data may point it at a dataset); --runs-dir, --name and the common flags
    /// still apply (the device recorded is the file's).
    #[arg(long, value_name = "FILE", conflicts_with = "resume")]
    pub config: Option<PathBuf>,

    /// Train on these families of the dataset only (repeatable or comma-separated), e.g. a
    /// specialist on one family of a many-family dataset; default: every family.
    #[arg(long = "family", value_name = "FAMILY", value_delimiter = ',')]
    pub families: Vec<String>,

    /// Model preset: tiny, small, vintix-300m, vintix-300m-remoe.
    #[arg(long, default_value = "small")]
    pub preset: String,

    /// Override a field of the preset's model config, as KEY=VALUE (repeatable), e.g.
    /// `--model hidden=128 --model pattern=LS --model action_head=gaussian`; `icrl model info`
    /// lists the fields.
    #[arg(long = "model", value_name = "KEY=VALUE")]
    pub model_overrides: Vec<String>,

    /// Resume the run in this folder from its last checkpoint (its config.json is used; the
    /// other flags are ignored, but for --data, --stop-after and the common flags).
    #[arg(long)]
    pub resume: Option<PathBuf>,

    /// With --resume: continue even if the dataset's manifest differs from the one the run
    /// started on (its fingerprint is in the run's data.json).
    #[arg(long, requires = "resume")]
    pub allow_data_change: bool,

    /// Train even if the estimated peak memory exceeds the machine's available memory.
    #[arg(long)]
    pub force: bool,

    /// Stop after this many optimizer steps of this invocation, with a checkpoint (for time
    /// slices of a shared machine); `--resume RUN` continues where it stopped.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub stop_after: Option<u64>,

    /// Folder under which the run folder `{suite}__{preset}__{seed}__{time}` is created.
    #[arg(long, default_value = "runs")]
    pub runs_dir: PathBuf,

    /// Name of the run folder instead of the generated one.
    #[arg(long)]
    pub name: Option<String>,

    /// Optimizer steps.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..))]
    pub steps: u64,

    /// Sequences per micro-batch.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=65536))]
    pub batch_size: u64,

    /// Context: timesteps per training sequence.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1048576))]
    pub context: u64,

    /// Peak learning rate (AdamW).
    #[arg(long, default_value_t = 3e-4, value_parser = super::finite_f64)]
    pub lr: f64,

    /// Decoupled weight decay on matrices.
    #[arg(long, default_value_t = 0.1, value_parser = super::finite_f64)]
    pub weight_decay: f64,

    /// Fraction of steps spent in linear warmup.
    #[arg(long, default_value_t = 0.005, value_parser = super::finite_f64)]
    pub warmup_fraction: f64,

    /// Gradient-norm clipping (0: off).
    #[arg(long, default_value_t = 1.0, value_parser = grad_clip)]
    pub grad_clip: f64,

    /// Micro-batches accumulated per optimizer step.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=4096))]
    pub accumulation: u64,

    /// Keep only every k-th episode of each history.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub episode_sparsity: u64,

    /// Fraction of histories held out for validation.
    #[arg(long, default_value_t = 0.1, value_parser = super::finite_f64)]
    pub val_fraction: f64,

    /// Observation normalisation: `family` (pooled over the family's tasks, so an observation
    /// means the same in every task, held-out ones included) or `task` (each task's own
    /// dataset statistics, Vintix's choice; they can reveal the task, as Dark Room's mean
    /// position reveals the goal).
    #[arg(long, default_value = "family", value_parser = ["task", "family"])]
    pub obs_norm: String,

    /// Training target: `taken` (the action the noisy policy took, Algorithm Distillation) or
    /// `demonstrator` (the demonstrator's action at that step, DPT / Vintix II); the context
    /// holds the actions taken either way.
    #[arg(long, default_value = "taken", value_parser = ["taken", "demonstrator"])]
    pub target: String,

    /// Training target of a domain group, as NAME=taken|demonstrator (repeatable), where it
    /// differs from --target.
    #[arg(long = "group-target")]
    pub group_target: Vec<String>,

    /// Validate every N steps (0: at the end only).
    #[arg(long, default_value_t = 200)]
    pub eval_every: u64,

    /// Checkpoint every N steps (0: at the end only).
    #[arg(long, default_value_t = 500)]
    pub checkpoint_every: u64,

    /// Also keep the model of every N-th step as RUN/snapshots/model-stepN.safetensors (the
    /// checkpoint keeps only the latest; each file is evaluable alone with `icrl eval
    /// --model`); 0: none. Choose among snapshots on the run's training tasks (`icrl eval
    /// --tasks train`), never on held-out ones.
    #[arg(long, default_value_t = 0)]
    pub snapshot_every: u64,

    /// Sampling weight of a domain group, as NAME=WEIGHT (repeatable); default: by size.
    #[arg(long = "group-weight")]
    pub group_weights: Vec<String>,

    /// Window length of a domain group, as NAME=STEPS (repeatable), for groups evaluated over
    /// longer horizons than --context (e.g. whole histories); its micro-batches hold
    /// batch-size x context / STEPS windows (at least 1). Default: --context for every group.
    #[arg(long = "group-context")]
    pub group_context: Vec<String>,

    /// Seed of the whole run (initialisation, split, batches).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// --device (bf16 autocast on CUDA; a run resumes on the device its config.json names),
    /// --threads, --quiet.
    #[command(flatten)]
    pub compute: crate::common::ComputeArgs,

    /// The peak rate, TFLOP/s, that model FLOPs utilisation (MFU) is stated against. Default:
    /// the datasheet dense bf16 peak of a known GPU (H100/H200 989, A100 312), else the matmul
    /// rate measured at the start (bf16 on CUDA, f32 on the CPU: `icrl doctor --bench`'s).
    #[arg(long, value_parser = positive_f64)]
    pub peak_tflops: Option<f64>,

    /// Data-parallel runs (started by torchrun or srun, which set RANK, WORLD_SIZE, ...; see
    /// the README): how long, in seconds, a rank waits for its peers to join and for each
    /// collective before it stops with an error naming the peer or collective. Rank 0
    /// validates and checkpoints while the others wait, so keep it above the time that takes.
    #[arg(long, default_value_t = agent::dist::DEFAULT_TIMEOUT_SECS, value_parser = clap::value_parser!(u64).range(1..))]
    pub dist_timeout: u64,

    /// Print the final summary as one JSON document: `run`, `steps` (the run's last step),
    /// `parameters`, `first_loss`, `last_loss`, `val_loss` (per domain group, the last
    /// validation), `tokens_per_sec` (mean over this invocation's steps after the first; of
    /// every rank, data-parallel), `model_tflops` and `mfu` (likewise; MFU against the peak
    /// times the ranks), `flops_per_token` (`weights`, `attention`),
    /// `peak` (`tflops`, `source`), `peak_memory_bytes`, `curves` (the PNG).
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &TrainArgs) -> Result<()> {
    // The device a new run records (a resumed run keeps its own).
    let device = args.compute.apply()?;
    if let Some(name) = args.name.as_deref().filter(|n| !is_safe_name(n)) {
        bail!(
            "--name {name:?}: expected a folder name of ASCII letters, digits, `-`, `_` and `.` \
             (not first), at most {MAX_NAME_LEN} characters (e.g. {:?})",
            safe_name(name)
        );
    }
    // Data-parallel when launched as one rank of several: rank 0 alone touches the run folder.
    let rendezvous = Rendezvous::from_env(Duration::from_secs(args.dist_timeout))?;
    let main = rendezvous.as_ref().is_none_or(|r| r.rank == 0);
    let (cfg, run_dir) = match &args.resume {
        Some(run) => {
            (resumed_config(run, args.data.as_deref(), args.allow_data_change, main)?, run.clone())
        }
        None => {
            let cfg = match &args.config {
                Some(path) => config_from_file(path, args)?,
                None => config_from_flags(args, device)?,
            };
            // The other ranks never create it (with a generated name theirs may differ).
            let dir = if main { new_run_dir(args, &cfg)? } else { PathBuf::new() };
            (cfg, dir)
        }
    };
    let dist = match &rendezvous {
        Some(rv) => Some(Arc::new(join(rv, &cfg, args.compute.quiet)?)),
        None => None,
    };
    // One run per folder: a second `train` on it (a resume, or the same --name) is refused
    // while this one runs.
    let _lock = if main {
        std::fs::create_dir_all(&run_dir)
            .with_context(|| format!("creating {}", run_dir.display()))?;
        Some(FolderLock::acquire(&run_dir)?)
    } else {
        None
    };
    let data = cfg.open_data().with_context(|| format!("opening dataset {}", cfg.data))?;
    // Counted from the config (exact; equal to the built model's count, a tested identity).
    let (params, _) = agent::model::totals(&cfg.model, &agent::model::param_table(&cfg.model));
    if !main {
        // The others' share of the work: no folder, no logs, no summary.
        let opts = RunOptions { run_dir, dist, force: args.force, ..Default::default() };
        train(&cfg, &data, &opts)?;
        return Ok(());
    }
    if !args.compute.quiet {
        eprintln!(
            "train: {} ({} parameters) on {} ({} groups), {} steps of {}x{}x{} tokens, \
             estimated peak memory {} -> {}",
            cfg.preset,
            params,
            cfg.data,
            cfg.model.groups.len(),
            cfg.steps,
            cfg.optim.accumulation,
            cfg.batch_size,
            cfg.context,
            gib(estimate_peak(&cfg).total()),
            run_dir.display()
        );
    }
    let peak = peak_rate(args.peak_tflops, &cfg.device)?;
    let flops = agent::model::flops_per_token(&cfg.model, cfg.context as i64);
    if !args.compute.quiet {
        eprintln!(
            "train: {:.3} MFLOP per token at context {} (6 x active parameters {:.3} + \
             attention {:.3}); MFU against {:.3} TFLOP/s, {}",
            flops.per_token() / 1e6,
            cfg.context,
            flops.weights / 1e6,
            flops.attention / 1e6,
            peak.tflops,
            peak.source
        );
    }
    let opts = RunOptions {
        run_dir: run_dir.clone(),
        progress: !args.compute.quiet,
        stop_after: args.stop_after.map(|n| n as usize),
        allow_data_change: args.allow_data_change,
        force: args.force,
        memory_limit: None,
        peak: Some(peak.clone()),
        dist,
    };
    let metrics = train(&cfg, &data, &opts)?;
    let all = read_metrics(&run_dir)?;
    plot_curves(&run_dir, &all, cfg.model.remoe_target_sparsity())?;
    match metrics.last() {
        Some(last) => {
            let speed = Speed::of(&metrics, flops, peak);
            print_summary(args, &run_dir, params, &speed, &all, last)?;
        }
        None => println!(
            "{}: no step trained (the run is at step {} of {}); curves redrawn: {}",
            run_dir.display(),
            all.last().map_or(0, |m| m.step),
            cfg.steps,
            run_dir.join("curves.png").display()
        ),
    }
    Ok(())
}

/// Join the process group of a data-parallel run: Gloo for a CPU run, NCCL (one GPU per
/// rank, LOCAL_RANK's) for a CUDA run.
fn join(rv: &Rendezvous, cfg: &TrainConfig, quiet: bool) -> Result<ProcessGroup> {
    let backend = if cfg.device.starts_with("cuda") { Backend::Nccl } else { Backend::Gloo };
    if !quiet && rv.rank == 0 {
        eprintln!(
            "train: data-parallel over {} ranks ({backend:?}, store at {}:{}{}), batch {} per rank, \
             {} in all",
            rv.world_size,
            rv.master_addr,
            rv.master_port,
            if rv.agent_store { ", torchrun's" } else { "" },
            cfg.batch_size,
            cfg.batch_size * rv.world_size
        );
    }
    Ok(ProcessGroup::new(rv, backend)?)
}

fn positive_f64(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        _ => Err(format!("expected a positive number, got `{s}`")),
    }
}

/// The rate MFU is stated against: --peak-tflops, a known GPU's datasheet peak, else the
/// matmul rate measured here (bf16 4096^3 on CUDA, f32 1024^3 on the CPU).
fn peak_rate(flag: Option<f64>, device: &str) -> Result<PeakRate> {
    if let Some(tflops) = flag {
        return Ok(PeakRate { tflops, source: "--peak-tflops".into() });
    }
    let device = agent::train::device_of(device)?;
    if device.is_cuda() {
        let names = agent::usage::gpu_names();
        if let Some(peak) = names.first().and_then(|name| agent::usage::datasheet_peak(name)) {
            return Ok(peak);
        }
    }
    let (size, what) = if device.is_cuda() { (4096, "bf16 4096^3") } else { (1024, "f32 1024^3") };
    let tflops = crate::commands::doctor::matmul_rate(device, size)?;
    Ok(PeakRate {
        tflops,
        source: format!("measured {what} matmul here (no datasheet peak known)"),
    })
}

/// What the summary says of this invocation's speed: means over its steps after the first
/// (the first pays for allocation and, on CUDA, kernel selection).
struct Speed {
    tokens_per_sec: f64,
    model_tflops: f64,
    mfu: f64,
    peak_memory: Option<i64>,
    flops: agent::model::FlopCount,
    peak: PeakRate,
}

impl Speed {
    fn of(metrics: &[StepMetrics], flops: agent::model::FlopCount, peak: PeakRate) -> Self {
        let timed = if metrics.len() > 1 { &metrics[1..] } else { metrics };
        let mean =
            |f: fn(&StepMetrics) -> f64| timed.iter().map(f).sum::<f64>() / timed.len() as f64;
        let model_tflops = mean(|m| m.model_tflops);
        // Data-parallel: the throughput is every rank's, the peak one device's.
        let ranks = metrics.last().map_or(1, |m| m.ranks.max(1)) as f64;
        Speed {
            tokens_per_sec: mean(|m| m.tokens_per_sec),
            model_tflops,
            mfu: model_tflops / (peak.tflops * ranks),
            peak_memory: metrics.iter().filter_map(|m| m.peak_memory).max(),
            flops,
            peak,
        }
    }
}

/// The config of the run in folder `run` (--resume). With `data` (--data), the run's dataset
/// has moved there: its manifest must have the fingerprint recorded in the run's data.json
/// (unless `allow_change`), and config.json is rewritten to point at it.
///
/// Only rank 0 (`write`) rewrites config.json; the other ranks of a data-parallel run read it.
fn resumed_config(
    run: &Path,
    data: Option<&Path>,
    allow_change: bool,
    write: bool,
) -> Result<TrainConfig> {
    let path = run.join("config.json");
    if !path.exists() {
        bail!(
            "--resume {}: no config.json there; is it a run folder of `icrl train`?",
            run.display()
        );
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut cfg: TrainConfig =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    if let Some(data) = data {
        let data =
            std::path::absolute(data).with_context(|| format!("--data {}", data.display()))?;
        let found = agent::train::data_fingerprint(&data)
            .with_context(|| format!("--data {}: not a dataset folder", data.display()))?;
        if let Some(record) = agent::train::read_data_record(run)? {
            if record.data_fingerprint != found && !allow_change {
                bail!(
                    "--data {}: its manifest has fingerprint {found}, but the run trained on \
                     {} with fingerprint {} (see {}); resume on it anyway with \
                     --allow-data-change",
                    data.display(),
                    record.data,
                    record.data_fingerprint,
                    run.join(agent::train::DATA_FILE).display()
                );
            }
        }
        cfg.data = data.display().to_string();
        let text = cfg.to_json().map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        if write {
            histories::fsio::write_atomic(&path, text.as_bytes())
                .with_context(|| format!("updating {}", path.display()))?;
        }
    }
    Ok(cfg)
}

/// The config in file `path` (--config), its dataset repointed by --data if given.
fn config_from_file(path: &Path, args: &TrainArgs) -> Result<TrainConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("--config {}: reading", path.display()))?;
    let mut cfg: TrainConfig = serde_json::from_str(&text)
        .with_context(|| format!("--config {}: not a training config", path.display()))?;
    if let Some(data) = &args.data {
        cfg.data = std::path::absolute(data)
            .with_context(|| format!("--data {}", data.display()))?
            .display()
            .to_string();
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("--config {}: {e}", path.display()))?;
    Ok(cfg)
}

/// The config of a new run from the flags.
fn config_from_flags(args: &TrainArgs, device: Device) -> Result<TrainConfig> {
    let data_dir = args.data.clone().context("--data is required")?;
    let data = Dataset::open_families(&data_dir, &args.families)
        .with_context(|| format!("--data {}", data_dir.display()))?;
    let group_weights: Vec<(String, f64)> =
        group_pairs("--group-weight", "WEIGHT", "a number", &args.group_weights, &data)?;
    let group_context: Vec<(String, usize)> = group_pairs(
        "--group-context",
        "STEPS",
        "a whole number of steps",
        &args.group_context,
        &data,
    )?;
    let group_target: Vec<(String, ActionTarget)> = group_pairs(
        "--group-target",
        "TARGET",
        "`taken` or `demonstrator`",
        &args.group_target,
        &data,
    )?;
    let mut model = config_for(&args.preset, &data)?;
    for kv in &args.model_overrides {
        let (key, value) =
            kv.split_once('=').with_context(|| format!("--model {kv}: expected KEY=VALUE"))?;
        model.set(key.trim(), value.trim()).with_context(|| format!("--model {kv}"))?;
    }
    let cfg = TrainConfig {
        model,
        preset: args.preset.clone(),
        optim: OptimConfig {
            lr: args.lr,
            weight_decay: args.weight_decay,
            warmup_fraction: args.warmup_fraction,
            grad_clip: args.grad_clip,
            accumulation: args.accumulation as usize,
            ..OptimConfig::default()
        },
        // Absolute, so that the run folder works from any directory (eval, resume).
        data: std::path::absolute(&data_dir)
            .with_context(|| format!("--data {}", data_dir.display()))?
            .display()
            .to_string(),
        families: args.families.clone(),
        suite: data.manifest.suite.name.clone(),
        steps: args.steps as usize,
        batch_size: args.batch_size as usize,
        context: args.context as usize,
        episode_sparsity: args.episode_sparsity as usize,
        val_fraction: args.val_fraction,
        obs_norm: ObsNorm::parse(&args.obs_norm).map_err(|e| anyhow::anyhow!("--obs-norm: {e}"))?,
        target: args.target.parse().map_err(|e| anyhow::anyhow!("--target: {e}"))?,
        group_target,
        eval_every: args.eval_every as usize,
        eval_batches: 4,
        checkpoint_every: args.checkpoint_every as usize,
        snapshot_every: args.snapshot_every as usize,
        group_weights,
        group_context,
        seed: args.seed,
        device: crate::common::device_name(device),
    };
    cfg.validate().map_err(|e| anyhow::anyhow!("invalid training flags: {e}"))?;
    Ok(cfg)
}

/// The closing line (or JSON document) of a run whose last step of this invocation is `last`.
fn print_summary(
    args: &TrainArgs,
    run_dir: &Path,
    params: i64,
    speed: &Speed,
    all: &[StepMetrics],
    last: &StepMetrics,
) -> Result<()> {
    let first = all.first().map(|m| m.loss).unwrap_or(f64::NAN);
    let tps = speed.tokens_per_sec;
    if args.json {
        let doc = serde_json::json!({
            "run": run_dir.display().to_string(), "steps": last.step, "parameters": params,
            "first_loss": first, "last_loss": last.loss,
            "val_loss": last.val_loss,
            "tokens_per_sec": tps, "model_tflops": speed.model_tflops, "mfu": speed.mfu,
            "flops_per_token": speed.flops, "peak": speed.peak,
            "peak_memory_bytes": speed.peak_memory,
            "remoe": last.remoe, "remoe_load": last.remoe_load,
            "curves": run_dir.join("curves.png").display().to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    let memory = match speed.peak_memory {
        Some(b) => format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64),
        None => "n/a".into(),
    };
    println!(
        "trained {} steps: loss {:.4} -> {:.4}, validation {}, {:.0} tokens/s, {:.3} model \
         TFLOP/s, MFU {:.2}% (of {:.3}), peak memory {memory}; run {} (curves: {})",
        last.step,
        first,
        last.loss,
        if last.val_loss.is_empty() {
            "n/a".to_string()
        } else {
            last.val_loss.iter().map(|(g, l)| format!("{g} {l:.4}")).collect::<Vec<_>>().join(", ")
        },
        tps,
        speed.model_tflops,
        100.0 * speed.mfu,
        speed.peak.tflops,
        run_dir.display(),
        run_dir.join("curves.png").display()
    );
    if let Some(line) = remoe_summary(last) {
        println!("{line}");
    }
    Ok(())
}

/// ReMoE's state at the last step, layer by layer: sparsity, lambda, and the least and most
/// used expert's share of the step's tokens (None without ReMoE layers).
fn remoe_summary(last: &StepMetrics) -> Option<String> {
    if last.remoe.is_empty() {
        return None;
    }
    let layers: Vec<String> = last
        .remoe
        .iter()
        .map(|(l, sparsity, lambda)| {
            let load = match last.remoe_load.iter().find(|(ll, _)| ll == l) {
                Some((_, load)) => {
                    let (lo, hi) = histories::stats::min_max(load.iter().copied());
                    format!(", expert load {lo:.3}-{hi:.3}")
                }
                None => String::new(),
            };
            format!("layer {l}: sparsity {sparsity:.3}, lambda {lambda:.2e}{load}")
        })
        .collect();
    Some(format!("ReMoE at step {}: {}", last.step, layers.join("; ")))
}

/// The folder of a new run: --name, or the generated name, under --runs-dir; refused where
/// a run already is.
fn new_run_dir(args: &TrainArgs, cfg: &TrainConfig) -> Result<PathBuf> {
    let name = args.name.clone().unwrap_or_else(|| run_name(cfg));
    let dir = args.runs_dir.join(name);
    if dir.join("config.json").exists() {
        bail!(
            "{} already holds a run; use --resume {} to continue it",
            dir.display(),
            dir.display()
        );
    }
    Ok(dir)
}

/// `--grad-clip`: a finite norm >= 0 (infinity is not "no clipping"; 0 is).
fn grad_clip(text: &str) -> Result<f64, String> {
    match super::finite_f64(text) {
        Ok(v) if v >= 0.0 => Ok(v),
        _ => Err(format!("expected a finite norm >= 0, got `{text}`; use 0 for no clipping")),
    }
}

/// `NAME=VALUE` flags keyed by a dataset's domain group (`--group-weight`, `--group-context`):
/// each name must be a group of `data`, each value parse as `T` (`expected` says what that is).
fn group_pairs<T: std::str::FromStr>(
    flag: &str,
    what: &str,
    expected: &str,
    items: &[String],
    data: &Dataset,
) -> Result<Vec<(String, T)>> {
    items
        .iter()
        .map(|item| {
            let (name, value) = item
                .split_once('=')
                .with_context(|| format!("{flag} {item}: expected NAME={what}"))?;
            let value: T = value.parse().map_err(|_| {
                anyhow::anyhow!("{flag} {item}: {what} `{value}` is not {expected}")
            })?;
            if !data.manifest.groups.contains_key(name) {
                bail!(
                    "{flag} {item}: no group `{name}` in the dataset (groups: {})",
                    data.manifest.groups.keys().cloned().collect::<Vec<_>>().join(", ")
                );
            }
            Ok((name.to_string(), value))
        })
        .collect()
}

/// Training loss per group (smoothed) and validation loss against the step; for a ReMoE
/// model also its sparsity, lambda and expert load (see [`remoe_panels`]).
fn plot_curves(
    run: &std::path::Path,
    all: &[agent::train::StepMetrics],
    target_sparsity: f64,
) -> Result<()> {
    let groups: std::collections::BTreeSet<String> = all
        .iter()
        .flat_map(|m| m.group_loss.keys().cloned().chain(m.val_loss.keys().cloned()))
        .collect();
    let mut panels = Vec::new();
    for (i, g) in groups.iter().enumerate() {
        let pts: Vec<[f64; 2]> =
            all.iter().filter_map(|m| m.group_loss.get(g).map(|l| [m.step as f64, *l])).collect();
        let smooth = xy(&chunk_means(&pts), 1);
        let val: Vec<(f64, f64)> =
            all.iter().filter_map(|m| m.val_loss.get(g).map(|l| (m.step as f64, *l))).collect();
        panels.push(Panel {
            title: g.clone(),
            x_label: "optimizer step".into(),
            y_label: "action loss".into(),
            series: vec![
                Series { name: "train".into(), points: smooth, color: i, ..Default::default() },
                Series {
                    name: "validation".into(),
                    points: val,
                    color: 3,
                    dashed: true,
                    ..Default::default()
                },
            ],
            y_range: None,
            legend_upper: false,
        });
    }
    panels.extend(remoe_panels(all, target_sparsity));
    if panels.is_empty() {
        return Ok(());
    }
    save_panels(&run.join("curves.png"), &format!("Training: {}", run.display()), &panels, 2)
}

/// Rows averaged in about 100 consecutive chunks, so that a curve of thousands of noisy
/// steps stays readable.
fn chunk_means<const N: usize>(rows: &[[f64; N]]) -> Vec<[f64; N]> {
    rows.chunks((rows.len() / 100).max(1))
        .map(|c| std::array::from_fn(|i| c.iter().map(|r| r[i]).sum::<f64>() / c.len() as f64))
        .collect()
}

/// The points `(row[0], row[col])` of a curve.
fn xy<const N: usize>(rows: &[[f64; N]], col: usize) -> Vec<(f64, f64)> {
    rows.iter().map(|r| (r[0], r[col])).collect()
}

/// ReMoE's three panels against the step (none for a dense model), averaged in chunks of
/// steps: the router sparsity (mean over layers, the band from the densest to the sparsest
/// layer) with the target `1 - k/E` dashed; log10 of the controller's one lambda; and the
/// least and most used expert's share of the step's tokens, averaged over layers, with the
/// balanced share `k/E` dashed.
fn remoe_panels(all: &[agent::train::StepMetrics], target_sparsity: f64) -> Vec<Panel> {
    let steps: Vec<&agent::train::StepMetrics> =
        all.iter().filter(|m| !m.remoe.is_empty()).collect();
    let (Some(first), Some(last)) = (steps.first(), steps.last()) else {
        return Vec::new();
    };
    let level = |name: &str, y: f64| Series {
        name: name.into(),
        points: vec![(first.step as f64, y), (last.step as f64, y)],
        color: 7,
        dashed: true,
        ..Default::default()
    };
    let sparsity = chunk_means(
        &steps
            .iter()
            .map(|m| {
                let s = m.remoe.iter().map(|r| r.1);
                let (lo, hi) = histories::stats::min_max(s.clone());
                [m.step as f64, s.sum::<f64>() / m.remoe.len() as f64, lo, hi]
            })
            .collect::<Vec<_>>(),
    );
    // One lambda drives every layer; it may underflow to 0, which has no logarithm.
    let lambda = chunk_means(
        &steps
            .iter()
            .filter(|m| m.remoe[0].2 > 0.0)
            .map(|m| [m.step as f64, m.remoe[0].2.log10()])
            .collect::<Vec<_>>(),
    );
    let load = chunk_means(
        &steps
            .iter()
            .filter(|m| !m.remoe_load.is_empty())
            .map(|m| {
                let n = m.remoe_load.len() as f64;
                let (lo, hi) = m.remoe_load.iter().fold((0.0, 0.0), |(lo, hi), (_, load)| {
                    let (a, b) = histories::stats::min_max(load.iter().copied());
                    (lo + a / n, hi + b / n)
                });
                [m.step as f64, lo, hi]
            })
            .collect::<Vec<_>>(),
    );
    let panel = |title: &str, y_label: &str, series: Vec<Series>, y_range| Panel {
        title: title.into(),
        x_label: "optimizer step".into(),
        y_label: y_label.into(),
        series,
        y_range,
        legend_upper: false,
    };
    vec![
        panel(
            "ReMoE router sparsity",
            "share of router outputs at 0",
            vec![
                Series {
                    name: "mean over layers (band: min-max layer)".into(),
                    points: xy(&sparsity, 1),
                    band: sparsity.iter().map(|r| (r[0], r[2], r[3])).collect(),
                    ..Default::default()
                },
                level("target 1 - k/E", target_sparsity),
            ],
            Some((0.0, 1.0)),
        ),
        panel(
            "ReMoE lambda",
            "log10 lambda",
            vec![Series { name: "lambda".into(), points: xy(&lambda, 1), ..Default::default() }],
            None,
        ),
        panel(
            "ReMoE expert load (mean over layers)",
            "share of the step's tokens",
            vec![
                Series {
                    name: "least used expert".into(),
                    points: xy(&load, 1),
                    ..Default::default()
                },
                Series {
                    name: "most used expert".into(),
                    points: xy(&load, 2),
                    color: 1,
                    ..Default::default()
                },
                level("balanced k/E", 1.0 - target_sparsity),
            ],
            Some((0.0, 1.0)),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: usize, remoe: &str, load: &str) -> agent::train::StepMetrics {
        serde_json::from_str(&format!(
            r#"{{"step":{step},"loss":1.0,"group_loss":{{}},"lr":0.001,"grad_norm":1.0,
            "tokens_per_sec":1.0,"remoe":{remoe},"remoe_load":{load},"val_loss":{{}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn a_dense_run_has_no_remoe_panels() {
        assert!(remoe_panels(&[step(1, "[]", "[]"), step(2, "[]", "[]")], 0.75).is_empty());
    }

    #[test]
    fn remoe_panels_plot_the_layer_mean_and_range_the_target_lambda_and_the_extreme_loads() {
        let all = [
            step(1, "[[0,0.5,1e-8],[1,0.7,1e-8]]", "[[0,[0.5,0.5]],[1,[0.2,0.4]]]"),
            // lambda underflowed to 0: no logarithm, no point.
            step(2, "[[0,0.9,0.0],[1,0.8,0.0]]", "[[0,[0.0,0.2]],[1,[0.1,0.3]]]"),
        ];
        let panels = remoe_panels(&all, 0.75);
        assert_eq!(panels.len(), 3);
        let close = |a: &[(f64, f64)], b: &[(f64, f64)]| {
            a.len() == b.len()
                && a.iter().zip(b).all(|(x, y)| x.0 == y.0 && (x.1 - y.1).abs() < 1e-12)
        };
        let sparsity = &panels[0].series;
        assert_eq!(sparsity.len(), 2, "the layers' mean and the target");
        assert!(close(&sparsity[0].points, &[(1.0, 0.6), (2.0, 0.85)]), "{:?}", sparsity[0]);
        assert_eq!(sparsity[0].band, vec![(1.0, 0.5, 0.7), (2.0, 0.8, 0.9)]);
        assert_eq!(sparsity[1].points, vec![(1.0, 0.75), (2.0, 0.75)]);
        assert!(sparsity[1].dashed);
        let lambda = &panels[1].series[0].points;
        assert_eq!(lambda.len(), 1);
        assert!((lambda[0].1 + 8.0).abs() < 1e-12);
        let load = &panels[2].series;
        assert!(close(&load[0].points, &[(1.0, 0.35), (2.0, 0.05)]), "{:?}", load[0].points);
        assert!(close(&load[1].points, &[(1.0, 0.45), (2.0, 0.25)]), "{:?}", load[1].points);
        assert!(close(&load[2].points, &[(1.0, 0.25), (2.0, 0.25)]));
    }

    #[test]
    fn chunk_means_average_about_a_hundred_chunks() {
        let rows: Vec<[f64; 2]> = (0..1000).map(|i| [i as f64, (i % 10) as f64]).collect();
        let m = chunk_means(&rows);
        assert_eq!(m.len(), 100);
        assert_eq!(m[0], [4.5, 4.5]);
        assert_eq!(chunk_means(&rows[..3]), vec![[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]]);
    }
}
