//! The training loop, top to bottom: data and split, model, optimizer, then per step:
//! accumulate micro-batches (each from one domain group), clip, AdamW, ReMoE controller
//! update, log, validate, checkpoint. Data-parallel (`RunOptions::dist`), every rank runs the
//! loop on its share of each batch, gradients are averaged after the backward passes, and
//! rank 0 alone reads and writes the run folder (`parallel.rs`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use histories::dataset::{Dataset, DatasetError};
use histories::events::{EventLog, EventLogError};
use histories::fsio::WriteError;
use histories::names::safe_name;
use histories::progress::Progress;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use tch::{Device, Kind};

use super::checkpoint::{self, CheckpointError, TrainState};
use super::config::{ConfigError, TrainConfig};
use super::data::{Sampler, group_specs, split, to_batch};
use super::events::{MetricsError, truncate_metrics};
use super::memory::TooBig;
use super::optim::AdamW;
use super::parallel;
use crate::dist::{Backend, DistError, ProcessGroup};
use crate::model::autocast::autocast_bf16;
use crate::model::{Config, Model, ModelError, RouterTally, flops_per_token};
use crate::usage::{PeakRate, memory_peak};

/// A failure of a training run; the message names the file, field or flag. Variants that
/// wrap another error print its whole message (file and cause) and leave `source` empty, so
/// a caller printing the chain (`icrl: {e:#}`) says it once.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A flag or a run folder that does not fit (the message names it).
    #[error("{0}")]
    Invalid(String),
    /// The training config cannot run or be written (names the field).
    #[error("{0}")]
    Config(ConfigError),
    /// The run would not fit in memory (names the flags to lower).
    #[error("{0}")]
    Memory(TooBig),
    /// A file of the run or dataset folder could not be read or written.
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    /// A JSON file of the run folder that does not parse, or a record that does not print.
    #[error("{}: {error}", path.display())]
    Json { path: PathBuf, error: serde_json::Error },
    /// An atomic write (config.json, data.json) failed.
    #[error("{0}")]
    Write(WriteError),
    /// The model could not be built, run, saved or loaded.
    #[error("{0}")]
    Model(ModelError),
    /// The dataset could not give a batch.
    #[error("{0}")]
    Data(DatasetError),
    /// The TensorBoard event log could not be written.
    #[error("{0}")]
    Events(EventLogError),
    /// The checkpoint could not be saved or loaded; names the file or folder.
    #[error("{0}")]
    Checkpoint(CheckpointError),
    /// A checkpoint's optimizer moments or sampler state do not fit the run.
    #[error("{}: {error}", dir.display())]
    Resume { dir: PathBuf, error: CheckpointError },
    /// `metrics.jsonl` could not be cut back to the checkpoint's step; names the file.
    #[error("{0}")]
    Metrics(MetricsError),
    /// Data-parallel training failed: a peer rank failed or vanished, or the ranks disagree
    /// (names the rank, the collective and the timeout).
    #[error("{0}")]
    Dist(DistError),
}

fn invalid(message: impl Into<String>) -> TrainError {
    TrainError::Invalid(message.into())
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> TrainError + '_ {
    move |error| TrainError::Io { path: path.to_path_buf(), error }
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> TrainError + '_ {
    move |error| TrainError::Json { path: path.to_path_buf(), error }
}

/// One logged optimizer step (a line of `metrics.jsonl`).
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    /// Mean task loss of the step's micro-batches.
    pub loss: f64,
    /// Task loss per domain group sampled in this step.
    pub group_loss: BTreeMap<String, f64>,
    pub lr: f64,
    pub grad_norm: f64,
    pub tokens_per_sec: f64,
    /// Model TFLOP/s achieved: the step's training FLOPs ([`flops_per_token`] at each
    /// micro-batch's length, times its tokens) over its wall time.
    #[serde(default)]
    pub model_tflops: f64,
    /// Model FLOPs utilisation: `model_tflops` over [`RunOptions::peak`] (None without one).
    #[serde(default)]
    pub mfu: Option<f64>,
    /// Peak memory so far in this invocation, bytes: host resident set (VmHWM) on the CPU,
    /// device memory reserved on CUDA (see [`crate::usage`]).
    #[serde(default)]
    pub peak_memory: Option<i64>,
    /// `(layer, sparsity, lambda)` of every ReMoE layer.
    pub remoe: Vec<(usize, f64, f64)>,
    /// `(layer, load of each expert)` of every ReMoE layer over this step's whole batch: the
    /// fraction of its tokens on which the expert's router output was positive (their mean is
    /// `1 - sparsity`; a balanced layer gives each expert `k/E`).
    #[serde(default)]
    pub remoe_load: Vec<(usize, Vec<f64>)>,
    /// Validation loss per group, on evaluation steps.
    pub val_loss: BTreeMap<String, f64>,
    /// Data-parallel ranks that trained this step, each on `batch_size` windows of every
    /// micro-batch (1: one process). A run resumed on another number of ranks shows it here.
    #[serde(default = "one_rank")]
    pub ranks: usize,
}

fn one_rank() -> usize {
    1
}

/// Where and how long to run.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The run folder (created; must not hold another run unless resuming).
    pub run_dir: PathBuf,
    /// Show a progress bar and a summary.
    pub progress: bool,
    /// Stop after this many optimizer steps in this invocation (tests simulate a kill).
    pub stop_after: Option<usize>,
    /// Resume even if the dataset's fingerprint differs from the one the run started on
    /// (`--allow-data-change`).
    pub allow_data_change: bool,
    /// Train even if the estimated peak memory exceeds the available memory (`--force`).
    pub force: bool,
    /// The memory a CPU run may use, in bytes; `None`: `MemAvailable` of `/proc/meminfo`.
    pub memory_limit: Option<u64>,
    /// The peak arithmetic rate MFU is stated against (None: no MFU is logged).
    pub peak: Option<PeakRate>,
    /// Data-parallel: this rank's process group (None: one process). Rank 0 alone reads and
    /// writes the run folder; `tokens_per_sec` and `model_tflops` count every rank, MFU is
    /// against `peak` times the number of ranks.
    pub dist: Option<Arc<ProcessGroup>>,
}

/// The metadata key of a checkpoint's model file (and of a quantized file) that holds the
/// run's config.json.
pub const TRAIN_CONFIG_KEY: &str = "train_config";

/// The run folder's record of its dataset, beside `config.json`.
pub const DATA_FILE: &str = "data.json";

/// A run's per-step metrics, one JSON record a line.
const METRICS_FILE: &str = "metrics.jsonl";

/// What `data.json` holds: the dataset folder and the fingerprint of its manifest.
#[derive(Clone, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct DataRecord {
    pub data: String,
    pub data_fingerprint: String,
}

/// The fingerprint of a dataset folder: `sha256:` and the SHA-256 of its `manifest.json`
/// bytes (the manifest lists every task file with its histories and transitions, so another
/// dataset, or a regenerated one with other content, has another fingerprint).
pub fn data_fingerprint(dir: &Path) -> Result<String, TrainError> {
    use sha2::Digest as _;
    let path = histories::manifest::Manifest::path(dir);
    let bytes = std::fs::read(&path).map_err(io_err(&path))?;
    Ok(format!("sha256:{:x}", sha2::Sha256::digest(&bytes)))
}

/// The dataset record of a run (`run/data.json`), if it has one.
pub fn read_data_record(run: &Path) -> Result<Option<DataRecord>, TrainError> {
    let path = run.join(DATA_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    serde_json::from_str(&text).map(Some).map_err(json_err(&path))
}

/// Record the dataset of a run starting afresh in `run/data.json`; on a resume, refuse a
/// dataset whose fingerprint differs from the recorded one unless `allow_change` (then the
/// record is updated). Runs from before the record existed resume unchecked.
fn check_data_record(
    run: &Path,
    data: &Dataset,
    resuming: bool,
    allow_change: bool,
) -> Result<(), TrainError> {
    let path = run.join(DATA_FILE);
    let record = DataRecord {
        data: data.dir.display().to_string(),
        data_fingerprint: data_fingerprint(&data.dir)?,
    };
    if let Some(old) = read_data_record(run)? {
        if old == record {
            return Ok(());
        }
        // The same manifest at a new place (a moved dataset) only updates the record.
        if old.data_fingerprint != record.data_fingerprint && !allow_change {
            return Err(invalid(format!(
                "{}: the run trained on dataset {} with fingerprint {}, but {} now has \
                 fingerprint {} (another dataset, or a changed one); resume on it anyway with \
                 --allow-data-change",
                path.display(),
                old.data,
                old.data_fingerprint,
                record.data,
                record.data_fingerprint
            )));
        }
    } else if resuming {
        return Ok(());
    }
    let text = serde_json::to_string_pretty(&record).map_err(json_err(&path))?;
    histories::fsio::write_atomic(&path, text.as_bytes()).map_err(TrainError::Write)
}

/// The run name: `{suite}__{preset}__{seed}__{unix_time}`, suite and preset as
/// [`histories::names::safe_name`]s, so it is one folder inside the runs folder.
pub fn run_name(cfg: &TrainConfig) -> String {
    let time = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (suite, preset) = (safe_name(&cfg.suite), safe_name(&cfg.preset));
    format!("{suite}__{preset}__{}__{time}", cfg.seed)
}

/// Build a config from a preset and a dataset (the dataset's groups become the model's).
pub fn config_for(preset: &str, data: &Dataset) -> Result<Config, TrainError> {
    let mut model = Config::preset(preset).map_err(TrainError::Model)?;
    model.groups = group_specs(data);
    Ok(model)
}

pub fn device_of(name: &str) -> Result<Device, TrainError> {
    let cuda = |i: usize| {
        if tch::Cuda::is_available() && i < tch::Cuda::device_count() as usize {
            Ok(Device::Cuda(i))
        } else {
            Err(invalid(format!(
                "device {name}: no such CUDA device on this machine (see `icrl doctor`)"
            )))
        }
    };
    match name {
        "cpu" => Ok(Device::Cpu),
        "cuda" => cuda(0),
        _ => match name.strip_prefix("cuda:").and_then(|n| n.parse::<usize>().ok()) {
            Some(i) => cuda(i),
            None => Err(invalid(format!("device {name}: expected `cpu`, `cuda` or `cuda:N`"))),
        },
    }
}

/// Train (or resume, when `run_dir` holds a checkpoint) as `cfg` says. Returns every step's
/// metrics of this invocation.
pub fn train(
    cfg: &TrainConfig,
    data: &Dataset,
    opts: &RunOptions,
) -> Result<Vec<StepMetrics>, TrainError> {
    cfg.validate().map_err(TrainError::Config)?;
    let pg = opts.dist.as_deref();
    let main = pg.is_none_or(ProcessGroup::is_main);
    let world = pg.map_or(1, ProcessGroup::world_size);
    // NCCL: one process per GPU, this rank's (LOCAL_RANK) whatever CUDA device the config names.
    let device = match pg {
        Some(pg) if pg.backend() == Backend::Nccl => pg.device(),
        _ => device_of(&cfg.device)?,
    };
    if device == Device::Cpu && !opts.force {
        if let Some(available) = opts.memory_limit.or_else(super::memory::available_memory) {
            super::memory::check_fits(cfg, available).map_err(TrainError::Memory)?;
        }
    }
    let run = &opts.run_dir;
    let text = if main {
        open_run_dir(cfg, data, opts)?
    } else {
        cfg.to_json().map_err(TrainError::Config)?
    };
    if let Some(pg) = pg {
        parallel::check_config(pg, &text)?;
        parallel::check_data(pg, &data_fingerprint(&data.dir)?)?;
    }

    // The checkpoint's model file carries the run's config, so that it can be evaluated or
    // quantized alone, out of its run folder.
    let file_metadata: std::collections::BTreeMap<String, String> =
        [(TRAIN_CONFIG_KEY.to_string(), text.clone())].into();

    let batches = Batches::new(cfg, data)?;
    // Only rank 0 reads the checkpoint; the others take its state (a fresh run's too, so the
    // ranks start from one set of weights whatever their torch builds do with the seed).
    let (mut model, mut opt, mut rng, mut start) = model_and_optimizer(cfg, run, device, main)?;
    if let Some(pg) = pg {
        parallel::sync_state(pg, &mut model, &mut opt, &mut rng, &mut start)?;
    }
    // Steps after the checkpoint, logged by an invocation that was killed, are dropped: from
    // metrics.jsonl here, even when nothing is trained (so that curves drawn from it show the
    // run as it stands), and in TensorBoard by the new event file's SessionLog START.
    if main {
        truncate_metrics(&run.join(METRICS_FILE), start).map_err(TrainError::Metrics)?;
    }
    let end = opts.stop_after.map(|s| (start + s).min(cfg.steps)).unwrap_or(cfg.steps);
    if start >= end {
        // Nothing to train (a finished run resumed, or `stop_after` 0): no new TensorBoard
        // event file.
        return Ok(Vec::new());
    }

    let mut logs = if main { Some(RunLogs::open(run, start, &text)?) } else { None };
    let bar = Progress::new(opts.progress && main, (end - start) as u64, "train", "steps");
    let mut out = Vec::new();
    for step in start..end {
        let mut m = train_step(cfg, &mut model, &mut opt, &batches, &mut rng, step, device, pg)?;
        m.mfu = opts.peak.as_ref().map(|p| m.model_tflops / (p.tflops * world as f64));
        m.peak_memory = memory_peak(device);
        // Validation at fixed steps of the run (not of this invocation), so a resumed run logs
        // exactly what an uninterrupted one does.
        let final_step = step + 1 == cfg.steps;
        if !batches.val_sampler.is_empty()
            && (final_step || (cfg.eval_every > 0 && (step + 1) % cfg.eval_every == 0))
        {
            m.val_loss = validate(&model, cfg, &batches, device, pg)?;
        }
        let Some(logs) = logs.as_mut() else {
            out.push(m);
            continue;
        };
        logs.write(&m)?;
        bar.set_message(format!("loss {:.4}", m.loss));
        bar.inc(1);
        if cfg.snapshot_every > 0 && (step + 1) % cfg.snapshot_every == 0 {
            checkpoint::save_snapshot(run, step + 1, |p| {
                model.save_with_metadata(p, &file_metadata)
            })
            .map_err(TrainError::Checkpoint)?;
        }
        if step + 1 == end || (cfg.checkpoint_every > 0 && (step + 1) % cfg.checkpoint_every == 0) {
            let state = TrainState::new(step + 1, &rng);
            checkpoint::save(
                run,
                |p| model.save_with_metadata(p, &file_metadata),
                opt.state(),
                &state,
            )
            .map_err(TrainError::Checkpoint)?;
        }
        out.push(m);
    }
    if let Some(logs) = logs.as_mut() {
        logs.tb.flush().map_err(TrainError::Events)?;
    }
    bar.finish_and_clear();
    // Every rank leaves together, after rank 0's last checkpoint.
    if let Some(pg) = pg {
        pg.barrier("end of training").map_err(TrainError::Dist)?;
    }
    Ok(out)
}

/// Rank 0's logs of a run: TensorBoard events and `metrics.jsonl`.
struct RunLogs {
    tb: EventLog,
    metrics_path: PathBuf,
    metrics_file: std::fs::File,
}

impl RunLogs {
    /// Open the logs of a run starting (or resuming) at `start`, with the config's JSON `text`;
    /// metrics.jsonl is already cut back to `start`.
    fn open(run: &Path, start: usize, text: &str) -> Result<Self, TrainError> {
        let metrics_path = run.join(METRICS_FILE);
        let mut tb = EventLog::create(&run.join("tb"), start + 1).map_err(TrainError::Events)?;
        // The config as TensorBoard text (markdown: a fenced block), at this invocation's
        // first step.
        tb.text("config", &format!("```json\n{text}\n```"), start + 1)
            .map_err(TrainError::Events)?;
        let metrics_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&metrics_path)
            .map_err(io_err(&metrics_path))?;
        Ok(RunLogs { tb, metrics_path, metrics_file })
    }

    fn write(&mut self, m: &StepMetrics) -> Result<(), TrainError> {
        log(&mut self.tb, m).map_err(TrainError::Events)?;
        let line = serde_json::to_string(m).map_err(json_err(&self.metrics_path))?;
        writeln!(self.metrics_file, "{line}").map_err(io_err(&self.metrics_path))
    }
}

/// Creates the run folder and its config.json, or checks that an existing one holds this
/// config, and checks the dataset against the model's groups and the run's data record.
/// Returns the config's JSON text.
fn open_run_dir(
    cfg: &TrainConfig,
    data: &Dataset,
    opts: &RunOptions,
) -> Result<String, TrainError> {
    let run = &opts.run_dir;
    std::fs::create_dir_all(run).map_err(io_err(run))?;
    let config_path = run.join("config.json");
    let text = cfg.to_json().map_err(TrainError::Config)?;
    if config_path.exists() {
        let old = std::fs::read_to_string(&config_path).map_err(io_err(&config_path))?;
        let old: TrainConfig = serde_json::from_str(&old).map_err(json_err(&config_path))?;
        if &old != cfg {
            return Err(invalid(format!("{} holds a run with another config", run.display())));
        }
    } else {
        // Atomic: a run folder never holds a half-written config.json.
        histories::fsio::write_atomic(&config_path, text.as_bytes()).map_err(TrainError::Write)?;
    }
    check_groups(cfg, data)?;
    check_data_record(run, data, checkpoint::find(run).is_some(), opts.allow_data_change)?;
    Ok(text)
}

/// The run's data: a fixed split (its own RNG stream) and the samplers over its two halves.
struct Batches {
    split: super::data::Split,
    sampler: Sampler,
    val_sampler: Sampler,
}

impl Batches {
    fn new(cfg: &TrainConfig, data: &Dataset) -> Result<Self, TrainError> {
        let mut split = split(
            data,
            cfg.val_fraction,
            cfg.episode_sparsity,
            &mut ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x5_9117),
        );
        split.train.apply_obs_norm(cfg.obs_norm);
        split.val.apply_obs_norm(cfg.obs_norm);
        let groups = &cfg.model.groups;
        let weights: Vec<f64> = groups
            .iter()
            .map(|g| {
                cfg.group_weights
                    .iter()
                    .find(|(n, _)| n == &g.name)
                    .map(|(_, w)| *w)
                    .unwrap_or_else(|| {
                        split
                            .train
                            .tasks_of_group(&g.name)
                            .iter()
                            .map(|&t| split.train.tasks[t].transitions())
                            .sum::<usize>() as f64
                    })
            })
            .collect();
        let sampler = Sampler::new(&split.train, groups, &weights);
        if sampler.is_empty() {
            return Err(invalid(format!(
                "dataset {} has no training data for the model's groups",
                data.dir.display()
            )));
        }
        let val_sampler = Sampler::new(&split.val, groups, &vec![1.0; groups.len()]);
        Ok(Batches { split, sampler, val_sampler })
    }
}

/// Model and optimizer, fresh or (if `load`) from the run's checkpoint, with the batch stream
/// and the step to start from.
fn model_and_optimizer(
    cfg: &TrainConfig,
    run: &Path,
    device: Device,
    load: bool,
) -> Result<(Model, AdamW, ChaCha8Rng, usize), TrainError> {
    let mut model = Model::new(&cfg.model, device, &mut ChaCha8Rng::seed_from_u64(cfg.seed))
        .map_err(TrainError::Model)?;
    let vars: BTreeMap<String, tch::Tensor> = model.var_store().variables().into_iter().collect();
    let mut opt = AdamW::new(vars);
    let (rng, start) = match checkpoint::find(run).filter(|_| load) {
        Some(dir) => {
            model.load(&dir.join(checkpoint::MODEL_FILE)).map_err(TrainError::Model)?;
            let (moments, state) = checkpoint::load(&dir).map_err(TrainError::Checkpoint)?;
            let in_dir = |error| TrainError::Resume { dir: dir.clone(), error };
            opt.load_state(&moments, state.step).map_err(in_dir)?;
            (state.rng().map_err(in_dir)?, state.step)
        }
        None => (ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xba7c4), 0),
    };
    Ok((model, opt, rng, start))
}

/// One optimizer step: accumulate micro-batches (each from one domain group), clip, AdamW,
/// ReMoE controller update; data-parallel (`pg`), on this rank's share of each micro-batch,
/// with gradients and losses averaged over the ranks before the update. Returns the step's
/// metrics, without validation losses.
#[allow(clippy::too_many_arguments)]
fn train_step(
    cfg: &TrainConfig,
    model: &mut Model,
    opt: &mut AdamW,
    batches: &Batches,
    rng: &mut ChaCha8Rng,
    step: usize,
    device: Device,
    pg: Option<&ProcessGroup>,
) -> Result<StepMetrics, TrainError> {
    let groups = &cfg.model.groups;
    let use_bf16 = device.is_cuda();
    let share = pg.map_or((0, 1), |pg| (pg.rank(), pg.world_size()));
    let t0 = Instant::now();
    // (group, task loss) of each micro-batch.
    let mut micro: Vec<(usize, f64)> = Vec::with_capacity(cfg.optim.accumulation);
    let mut router = RouterTally::default();
    let mut tokens = 0;
    let mut flops = 0.0;
    for _ in 0..cfg.optim.accumulation {
        let g = batches.sampler.pick_group(rng);
        let (batch_size, len) = cfg.batch_shape(&groups[g].name);
        let windows = batches
            .sampler
            .rank_windows(&batches.split.train, g, batch_size, len, share, rng)
            .map_err(TrainError::Data)?;
        // Every rank's tokens: the step's throughput is the whole run's.
        let all = batch_size * len * share.1;
        tokens += all;
        flops += all as f64 * flops_per_token(&cfg.model, len as i64).per_token();
        let target = cfg.target_of(&groups[g].name);
        let batch = to_batch(&windows, g, &groups[g], target, device);
        let fwd = autocast_bf16(use_bf16, || model.forward(&batch)).map_err(TrainError::Model)?;
        let (Some(loss), Some(task)) = (fwd.loss, fwd.task_loss) else {
            return Err(invalid("the model returned no loss for a batch with targets"));
        };
        (loss / cfg.optim.accumulation as f64).backward();
        micro.push((g, task.double_value(&[])));
        router.add(&fwd.aux);
    }
    if let Some(pg) = pg {
        let mut losses: Vec<f64> = micro.iter().map(|m| m.1).collect();
        parallel::reduce_step(pg, opt, &mut losses, &mut router)?;
        micro.iter_mut().zip(losses).for_each(|(m, l)| m.1 = l);
    }
    let mut group_loss: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for (g, l) in micro {
        let e = group_loss.entry(groups[g].name.clone()).or_insert((0.0, 0));
        e.0 += l;
        e.1 += 1;
    }
    let grad_norm = opt.clip_grad_norm(cfg.optim.grad_clip);
    let lr = cfg.optim.lr_at(step, cfg.steps);
    opt.apply(&cfg.optim, lr);
    opt.zero_grad();
    model.update_remoe(&router);
    if device.is_cuda() {
        tch::Cuda::synchronize(device_index(device));
    }
    let seconds = t0.elapsed().as_secs_f64().max(1e-9);
    let n: usize = group_loss.values().map(|v| v.1).sum();
    let loss = group_loss.values().map(|v| v.0).sum::<f64>() / n.max(1) as f64;
    if !loss.is_finite() {
        return Err(invalid(format!("loss became {loss} at step {step}; lower --lr")));
    }
    Ok(StepMetrics {
        step: step + 1,
        loss,
        group_loss: group_loss.into_iter().map(|(k, v)| (k, v.0 / v.1 as f64)).collect(),
        lr,
        grad_norm,
        tokens_per_sec: tokens as f64 / seconds,
        model_tflops: flops / seconds / 1e12,
        mfu: None,
        peak_memory: None,
        remoe: model
            .remoe_state()
            .into_iter()
            .map(|(l, c)| (l, c.sparsity.unwrap_or(f64::NAN), c.lambda))
            .collect(),
        remoe_load: router.load(),
        val_loss: BTreeMap::new(),
        ranks: share.1,
    })
}

/// Every domain group of the model is one of the dataset's, with the same observation width
/// and action space, so no shape mismatch reaches a tensor operation.
fn check_groups(cfg: &TrainConfig, data: &Dataset) -> Result<(), TrainError> {
    let specs = group_specs(data);
    for g in &cfg.model.groups {
        match specs.iter().find(|s| s.name == g.name) {
            None => {
                return Err(invalid(format!(
                    "the model's domain group `{}` is not in dataset {}",
                    g.name,
                    data.dir.display()
                )));
            }
            Some(s) if s != g => {
                return Err(invalid(format!(
                    "the model's domain group `{}` has obs_dim {} and action {:?}, dataset {} \
                     has obs_dim {} and action {:?} (config.json's `model.groups` and the \
                     dataset's manifest must agree)",
                    g.name,
                    g.obs_dim,
                    g.action,
                    data.dir.display(),
                    s.obs_dim,
                    s.action
                )));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Mean task loss per group over `eval_batches` batches drawn from a fixed stream (the same
/// windows at every evaluation, so validation curves are comparable). Data-parallel (`pg`),
/// each rank evaluates its share of every batch, as in training, and the means are averaged.
fn validate(
    model: &Model,
    cfg: &TrainConfig,
    batches: &Batches,
    device: Device,
    pg: Option<&ProcessGroup>,
) -> Result<BTreeMap<String, f64>, TrainError> {
    let (val, sampler) = (&batches.split.val, &batches.val_sampler);
    let share = pg.map_or((0, 1), |pg| (pg.rank(), pg.world_size()));
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed ^ 0x7a1);
    // (group, summed batch losses, batches); every rank evaluates the same batches.
    let mut sums: Vec<(usize, f64, usize)> = Vec::new();
    for (g, spec) in cfg.model.groups.iter().enumerate() {
        let mut total = 0.0;
        let mut n = 0;
        let (batch_size, len) = cfg.batch_shape(&spec.name);
        for _ in 0..cfg.eval_batches {
            let Ok(windows) = sampler.rank_windows(val, g, batch_size, len, share, &mut rng) else {
                break;
            };
            if windows.is_empty() {
                break;
            }
            let batch = to_batch(&windows, g, spec, cfg.target_of(&spec.name), device);
            let fwd = tch::no_grad(|| autocast_bf16(device.is_cuda(), || model.forward(&batch)))
                .map_err(TrainError::Model)?;
            if let Some(l) = fwd.task_loss {
                total += l.to_kind(Kind::Double).double_value(&[]);
                n += 1;
            }
        }
        if n > 0 {
            sums.push((g, total, n));
        }
    }
    if let Some(pg) = pg {
        let mut totals: Vec<f64> = sums.iter().map(|s| s.1).collect();
        parallel::average(pg, &mut totals, "the validation losses")?;
        sums.iter_mut().zip(totals).for_each(|(s, t)| s.1 = t);
    }
    Ok(sums
        .into_iter()
        .map(|(g, total, n)| (cfg.model.groups[g].name.clone(), total / n as f64))
        .collect())
}

const GIB: f64 = (1u64 << 30) as f64;

fn device_index(device: Device) -> i64 {
    match device {
        Device::Cuda(i) => i as i64,
        _ => 0,
    }
}

/// One step's scalars into the event file, flushed, so a killed run loses no logged step.
///
/// The tags follow the Hugging Face Trainer's scheme: `train/loss`, `train/learning_rate`,
/// `train/grad_norm`, `eval/loss` (validation, the mean over domain groups), with
/// `train/loss_GROUP` and `eval/loss_GROUP` per domain group; throughput under `perf/`
/// (`tokens_per_sec`, `model_tflops`, `mfu`, `peak_memory_gib`); ReMoE's controller under
/// `remoe/` (`sparsity_layerL`, `lambda_layerL`) with its experts' load (`load_min_layerL`,
/// `load_max_layerL`: the least and most used expert's fraction of the step's tokens). The
/// run's config.json is the text `config`.
fn log(tb: &mut EventLog, m: &StepMetrics) -> Result<(), EventLogError> {
    let mut scalars = vec![
        ("train/loss".to_string(), m.loss),
        ("train/learning_rate".to_string(), m.lr),
        ("train/grad_norm".to_string(), m.grad_norm),
        ("perf/tokens_per_sec".to_string(), m.tokens_per_sec),
        ("perf/model_tflops".to_string(), m.model_tflops),
    ];
    scalars.extend(m.mfu.map(|v| ("perf/mfu".to_string(), v)));
    scalars.extend(m.peak_memory.map(|b| ("perf/peak_memory_gib".to_string(), b as f64 / GIB)));
    scalars.extend(m.group_loss.iter().map(|(g, l)| (format!("train/loss_{g}"), *l)));
    for (l, s, lambda) in &m.remoe {
        scalars.push((format!("remoe/sparsity_layer{l}"), *s));
        scalars.push((format!("remoe/lambda_layer{l}"), *lambda));
    }
    for (l, load) in &m.remoe_load {
        let (min, max) = histories::stats::min_max(load.iter().copied());
        scalars.push((format!("remoe/load_min_layer{l}"), min));
        scalars.push((format!("remoe/load_max_layer{l}"), max));
    }
    if !m.val_loss.is_empty() {
        let mean = m.val_loss.values().sum::<f64>() / m.val_loss.len() as f64;
        scalars.push(("eval/loss".to_string(), mean));
    }
    scalars.extend(m.val_loss.iter().map(|(g, l)| (format!("eval/loss_{g}"), *l)));
    for (tag, value) in scalars {
        tb.scalar(&tag, value as f32, m.step)?;
    }
    tb.flush()
}

/// Read a run's `metrics.jsonl` (for plots and tests).
pub fn read_metrics(run: &Path) -> Result<Vec<StepMetrics>, TrainError> {
    let path = run.join(METRICS_FILE);
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).map_err(json_err(&path)))
        .collect()
}
