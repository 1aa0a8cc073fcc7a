//! `icrl eval`: in-context evaluation of a trained agent, with a JSON report, a markdown
//! summary and PNG curves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use agent::eval::{
    Control, EvalOptions, EvalReport, TaskRef, TaskResult, TaskSet, curve, evaluate, exploitation,
    families, first_and_last, select_tasks,
};
use agent::model::Model;
use agent::model::kv::{KvBudget, KvOptions, KvPolicy, Pooling};
use agent::quant::{DequantMode, Nbits};
use agent::train::{TrainConfig, checkpoint};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use histories::dataset::Dataset;
use histories::manifest::Manifest;
use rand::SeedableRng;
use tch::Device;

use super::quantize::TRAIN_CONFIG_KEY;
use crate::plot::{Panel, Series, save_panels};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The training run folder (holds config.json and checkpoint/).
    #[arg(long, required_unless_present_any = ["quantized", "model"])]
    pub run: Option<PathBuf>,

    /// Evaluate this model file instead of the run's checkpoint: a checkpoint's
    /// model.safetensors, alone (it carries the model and run configs in its metadata; with
    /// --run the run's config.json is used and must describe the same model). Output default:
    /// beside the file.
    #[arg(long, value_name = "FILE", conflicts_with = "quantized")]
    pub model: Option<PathBuf>,

    /// Evaluate this quantized model instead of the run's checkpoint: a file written by
    /// `icrl quantize --in RUN` (it carries the model and run configs; with --run the run's
    /// config.json is used and must describe the same model). Weights are dequantized once
    /// at load (the same outputs as per call). Output default: beside the file.
    #[arg(long, value_name = "FILE")]
    pub quantized: Option<PathBuf>,

    /// Tasks: train (the run's own training tasks), heldout (the families' held-out splits),
    /// shifted (gravity 10% beyond the run's training range), or FAMILY:JSON[;FAMILY:JSON...].
    #[arg(long, default_value = "heldout")]
    pub tasks: String,

    /// Evaluate only these families of the run (repeatable or comma-separated), e.g. to give
    /// each family its own --episodes; default: every family the run trained on.
    #[arg(long = "family", value_name = "FAMILY", value_delimiter = ',')]
    pub families: Vec<String>,

    /// At most this many tasks per family: a family with more (Key-to-Door has 1,312
    /// held-out key and door pairs) is evaluated on this many evenly spaced through its list
    /// (tasks 0, k, 2k, ...), the same ones every time; default: every task.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_tasks: Option<u64>,

    /// Consecutive episodes per task and seed, from an empty context.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=100000))]
    pub episodes: u64,

    /// Seeds per task.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub seeds: u64,

    /// Base seed of the env resets.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// A dataset of the evaluated tasks (e.g. `icrl datagen` on the held-out split) whose
    /// statistics and demonstrator returns are used for tasks absent from the training data.
    #[arg(long)]
    pub reference: Option<PathBuf>,

    /// The run's dataset, where it has moved since training (default: the folder the run's
    /// config.json names). Its manifest must be the one the run trained on (checked against
    /// the run's data.json where there is one).
    #[arg(long)]
    pub data: Option<PathBuf>,

    /// Output folder (default: RUN/eval-TASKS).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// The most likely action (a discrete group's arg-max, a Gaussian head's mean) instead of
    /// sampling from the predicted distribution.
    #[arg(long)]
    pub greedy: bool,

    /// Also write the normalised return per episode into the run's TensorBoard folder, as the
    /// TensorBoard run `RUN/tb/incontext-TASKS-stepN` (N: the checkpoint's step): tags
    /// `incontext/normalized_return` (every family) and `incontext/normalized_return_FAMILY`,
    /// and `incontext/CONTROL/...` for each control, at step = episode (1-based).
    #[arg(long, requires = "run", conflicts_with_all = ["model", "quantized"])]
    pub tensorboard: bool,

    /// Controls run beside the evaluation with the same tasks, seeds and env resets:
    /// `zero-reward` (rewards zeroed in the agent's context), `other-task` (the first half
    /// of the context on another task of the family, the second half scored),
    /// `random-reward` (every reward in the context is the random policy's mean reward per
    /// step on the task: the neutral control where rewards are dense and negative, as in
    /// Pendulum, whose zero reads as an expert's), a comma-separated list, or `none`.
    #[arg(long, default_value = "zero-reward,other-task,random-reward")]
    pub controls: String,

    /// Compress the softmax layers' KV caches to this average budget per layer, in entries
    /// per sequence and head: N entries, or P% of the history length seen so far (not of the
    /// model's window; 100% keeps the whole history uncompressed). Any --kv-* flag replaces
    /// the model's sliding window (the last softmax_window steps) by a cache of the whole
    /// history, compressed at every step at which a layer holds more than its budget (once
    /// the history is longer than the average budget), with
    /// the ALiBi distance of each kept entry's own position. Default with other --kv-*
    /// flags: 100%.
    #[arg(long, value_name = "N|P%")]
    pub kv_budget: Option<KvBudget>,

    /// Which entries a layer over budget drops: `pyramid` (PyramidKV: budgets in an
    /// arithmetic progression over the softmax layers, lower layers more, beta 20; the last 8
    /// steps kept; the rest chosen per head by the attention of the last 8 steps' queries,
    /// pooled over 7 neighbours), `snap` (the same selection, the same budget in every
    /// layer) or `window` (StreamingLLM: the first 4 steps as attention sinks and the most
    /// recent ones). Default with other --kv-* flags: pyramid.
    #[arg(long, value_name = "POLICY")]
    pub kv_policy: Option<KvPolicy>,

    /// Hold the kept entries as HQQ codes of 8, 4 or 2 bits (groups of 64 values, or one
    /// group per head and entry where heads are narrower; f16 scales and zeros), except a
    /// recent full-precision buffer quantized in batches (--kv-residual). Default: full
    /// precision.
    #[arg(long, value_name = "B", value_parser = ["8", "4", "2"])]
    pub kv_bits: Option<String>,

    /// Pooling of the selection scores over neighbouring entries: max or avg.
    #[arg(long, value_name = "max|avg")]
    pub kv_pooling: Option<Pooling>,

    /// With --kv-bits: recent entries kept in full precision, quantized in batches of this
    /// many (or of the layer's budget where that is smaller).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i64).range(1..=1_000_000))]
    pub kv_residual: Option<i64>,

    /// --device, --threads, --quiet.
    #[command(flatten)]
    pub compute: crate::common::ComputeArgs,

    /// Print one JSON document instead of the summary: `out` (the output folder), `seconds`,
    /// `targets` (each `what`, `value`, `target`, `met`) and `report` (report.json's content:
    /// `episodes`, `seeds`, `seed`, `tasks`, `controls`, `memory`: the KV caches' and the
    /// whole inference state's bytes per run).
    #[arg(long)]
    pub json: bool,
}

/// The run's config.json.
fn read_run_config(run: &Path) -> Result<TrainConfig> {
    let config_path = run.join("config.json");
    if !config_path.exists() {
        bail!("--run {}: no config.json there; is it a run folder of `icrl train`?", run.display());
    }
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", config_path.display()))
}

/// The quantized model of `file` and the training config: the run's, or the one in the file.
fn load_quantized(
    file: &Path,
    run: Option<&Path>,
    device: tch::Device,
) -> Result<(TrainConfig, Model)> {
    let qfile = agent::quant::read_quantized(file, device)?;
    let hint = " (it was quantized from a model file or a preset)";
    let cfg = train_config("--quantized", file, run, &qfile.metadata, hint)?;
    let model = Model::from_quantized_file(file, qfile, DequantMode::Cached)?;
    if model.config() != &cfg.model {
        bail!(
            "--quantized {} holds another model than the run's config.json describes",
            file.display()
        );
    }
    let (backbone, io) = model.quantized_counts();
    eprintln!(
        "eval: quantized model {}: {backbone} backbone and {io} encoder/decoder linear layers \
         quantized",
        file.display()
    );
    Ok((cfg, model))
}

/// A model file written by `icrl train` and the training config: the run's, or the one the
/// file carries.
fn load_model_file(
    file: &Path,
    run: Option<&Path>,
    device: tch::Device,
) -> Result<(TrainConfig, Model)> {
    let (model_cfg, metadata) = agent::model::read_model_file(file)?;
    let cfg = train_config("--model", file, run, &metadata, "")?;
    if cfg.model != model_cfg {
        bail!(
            "--model {} holds another model than the run's config.json describes",
            file.display()
        );
    }
    Ok((cfg, model_with_weights(&model_cfg, device, file)?))
}

/// The training config of a model or quantized `file` given with `flag`: the run's
/// config.json with --run, else the one the file carries in its metadata.
fn train_config(
    flag: &str,
    file: &Path,
    run: Option<&Path>,
    metadata: &std::collections::BTreeMap<String, String>,
    hint: &str,
) -> Result<TrainConfig> {
    if let Some(run) = run {
        return read_run_config(run);
    }
    let text = metadata.get(TRAIN_CONFIG_KEY).ok_or_else(|| {
        anyhow!(
            "{flag} {}: the file does not carry a run's config.json{hint}; add --run RUN",
            file.display()
        )
    })?;
    serde_json::from_str(text)
        .with_context(|| format!("{flag} {}: parsing its `{TRAIN_CONFIG_KEY}`", file.display()))
}

/// A model of `cfg` with the weights of `path` (written by `icrl train`).
fn model_with_weights(cfg: &agent::model::Config, device: Device, path: &Path) -> Result<Model> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut model = Model::new(cfg, device, &mut rng)?;
    model.load(path)?;
    Ok(model)
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let device = args.compute.apply()?;
    let (mut cfg, model, label) = load_agent(args, device)?;
    if let Some(dir) = &args.data {
        check_moved_data(args.run.as_deref(), dir)?;
        cfg.data = dir.display().to_string();
    }
    let data =
        cfg.open_data().with_context(|| format!("opening the run's dataset {}", cfg.data))?;
    let reference = match &args.reference {
        Some(dir) => {
            Some(Dataset::open(dir).with_context(|| format!("--reference {}", dir.display()))?)
        }
        None => None,
    };
    let tasks = selected_tasks(args, &data.manifest)?;
    let controls = Control::parse_list(&args.controls).map_err(|e| anyhow!("--controls {e}"))?;
    let opts = EvalOptions {
        episodes: args.episodes as usize,
        seeds: args.seeds as usize,
        seed: args.seed,
        reference_episodes: 20,
        greedy: args.greedy,
        obs_norm: cfg.obs_norm,
        controls,
        progress: !args.compute.quiet,
        kv: kv_options(args)?,
    };
    let start = std::time::Instant::now();
    eprintln!(
        "eval: {} tasks x {} seeds x {} episodes, {} control(s) ...",
        tasks.len(),
        opts.seeds,
        opts.episodes,
        opts.controls.len()
    );
    let report =
        evaluate(&model, &data, reference.as_ref(), &tasks, &opts).map_err(|e| anyhow!(e))?;
    let secs = start.elapsed().as_secs_f64();
    let out = out_dir(args, &label);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(&out.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    let summary = summary(&report, &label, secs);
    write_atomic(&out.join("summary.md"), summary.as_bytes())?;
    plot(&report, &out.join("curves.png"))?;
    if let (true, Some(run)) = (args.tensorboard, &args.run) {
        write_tensorboard(run, &args.tasks, &report)?;
    }
    if args.json {
        let doc = serde_json::json!({"out": out.display().to_string(), "seconds": secs,
            "targets": targets(&report), "report": report});
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("{summary}");
    println!(
        "report: {}  figures: {}",
        out.join("report.json").display(),
        out.join("curves.png").display()
    );
    Ok(())
}

/// The compressed-cache settings of the --kv-* flags; `None` when none is given.
fn kv_options(args: &EvalArgs) -> Result<Option<KvOptions>> {
    if args.kv_budget.is_none()
        && args.kv_policy.is_none()
        && args.kv_bits.is_none()
        && args.kv_pooling.is_none()
        && args.kv_residual.is_none()
    {
        return Ok(None);
    }
    let d = KvOptions::default();
    let bits = match &args.kv_bits {
        Some(b) => Some(
            Nbits::try_from(b.parse::<u8>().context("--kv-bits")?)
                .map_err(|e| anyhow!("--kv-bits: {e}"))?,
        ),
        None => None,
    };
    Ok(Some(KvOptions {
        budget: args.kv_budget.unwrap_or(d.budget),
        policy: args.kv_policy.unwrap_or(d.policy),
        bits,
        pooling: args.kv_pooling.unwrap_or(d.pooling),
        residual: args.kv_residual.unwrap_or(d.residual),
    }))
}

/// `--tensorboard`: the report's normalised return per episode as a TensorBoard run inside
/// `run/tb` (see the flag).
fn write_tensorboard(run: &Path, tasks: &str, report: &EvalReport) -> Result<()> {
    let ckpt = checkpoint::find(run).context("--tensorboard: the run has no checkpoint")?;
    let state_path = ckpt.join(checkpoint::STATE_FILE);
    let state: checkpoint::TrainState = serde_json::from_str(
        &std::fs::read_to_string(&state_path)
            .with_context(|| format!("reading {}", state_path.display()))?,
    )
    .with_context(|| format!("parsing {}", state_path.display()))?;
    let name = format!("incontext-{}-step{}", histories::names::safe_name(tasks), state.step);
    let dir = run.join("tb").join(name);
    let mut tb = histories::events::EventLog::create(&dir, 1)?;
    // Per tag, the mean over tasks and seeds of each episode's normalised return.
    let mut curves: Vec<(String, Vec<f64>)> = Vec::new();
    let splits: std::collections::BTreeSet<&str> =
        report.tasks.iter().map(|t| t.split.as_str()).collect();
    let families: std::collections::BTreeSet<&str> =
        report.tasks.iter().map(|t| t.family.as_str()).collect();
    for split in &splits {
        // One split (the usual case): plain tags; several: each tag ends with `@SPLIT`.
        let at = if splits.len() > 1 { format!("@{split}") } else { String::new() };
        let mut add = |prefix: &str, tasks: &[TaskResult], episodes: usize| {
            let means = |family: Option<&str>| -> Vec<f64> {
                curve(tasks, episodes, split, family).iter().map(|p| p.0).collect()
            };
            curves.push((format!("{prefix}/normalized_return{at}"), means(None)));
            for family in &families {
                let tag = format!("{prefix}/normalized_return_{family}{at}");
                curves.push((tag, means(Some(family))));
            }
        };
        add("incontext", &report.tasks, report.episodes);
        for c in &report.controls {
            add(&format!("incontext/{}", c.control.name()), &c.tasks, c.episodes);
        }
    }
    for (tag, points) in curves {
        for (episode, mean) in points.iter().enumerate() {
            tb.scalar(&tag, *mean as f32, episode + 1)?;
        }
    }
    tb.flush()?;
    eprintln!("eval: TensorBoard run {}", dir.display());
    Ok(())
}

/// The agent to evaluate, from --quantized, --model or the checkpoint of --run: its training
/// config, the model, and the file or run folder it came from.
fn load_agent(args: &EvalArgs, device: Device) -> Result<(TrainConfig, Model, PathBuf)> {
    Ok(match (&args.quantized, &args.run) {
        (Some(file), run) => {
            let (cfg, model) = load_quantized(file, run.as_deref(), device)?;
            (cfg, model, file.clone())
        }
        (None, run) if args.model.is_some() => {
            let file = args.model.clone().unwrap_or_default();
            let (cfg, model) = load_model_file(&file, run.as_deref(), device)?;
            (cfg, model, file)
        }
        (None, Some(run)) => {
            let cfg = read_run_config(run)?;
            let ckpt = checkpoint::find(run).ok_or_else(|| {
                anyhow!("--run {}: no checkpoint yet (train it first)", run.display())
            })?;
            let model = model_with_weights(&cfg.model, device, &ckpt.join(checkpoint::MODEL_FILE))?;
            (cfg, model, run.clone())
        }
        (None, None) => bail!("give --run RUN or --quantized FILE"),
    })
}

/// The tasks of --tasks in the run's dataset, restricted to --family if given.
fn selected_tasks(args: &EvalArgs, manifest: &Manifest) -> Result<Vec<TaskRef>> {
    let set = TaskSet::parse(&args.tasks).map_err(|e| anyhow!(e))?;
    let mut tasks = select_tasks(&set, manifest).map_err(|e| anyhow!(e))?;
    if !args.families.is_empty() {
        let trained = families(manifest);
        if let Some(f) = args.families.iter().find(|f| !trained.contains(f)) {
            bail!("--family {f}: not a family the agent was trained on ({})", trained.join(", "));
        }
        tasks.retain(|t| args.families.contains(&t.family));
    }
    if let Some(max) = args.max_tasks {
        tasks = evenly_per_family(tasks, max as usize);
    }
    if tasks.is_empty() {
        bail!(
            "--tasks {}: no such tasks in the families {}",
            args.tasks,
            families(manifest).join(", ")
        );
    }
    Ok(tasks)
}

/// At most `max` tasks of each family, evenly spaced through the family's tasks in their
/// order (task `i * n / max` of the family's `n`), the families in their order.
fn evenly_per_family(tasks: Vec<TaskRef>, max: usize) -> Vec<TaskRef> {
    let mut by_family: Vec<(String, Vec<TaskRef>)> = Vec::new();
    for t in tasks {
        match by_family.iter_mut().find(|(f, _)| *f == t.family) {
            Some((_, list)) => list.push(t),
            None => by_family.push((t.family.clone(), vec![t])),
        }
    }
    by_family
        .into_iter()
        .flat_map(|(_, list)| {
            let n = list.len();
            let keep: Vec<usize> =
                if n <= max { (0..n).collect() } else { (0..max).map(|i| i * n / max).collect() };
            list.into_iter().enumerate().filter(move |(i, _)| keep.contains(i)).map(|(_, t)| t)
        })
        .collect()
}

/// Where the report goes: --out, or next to the evaluated file or in the run folder.
fn out_dir(args: &EvalArgs, label: &Path) -> PathBuf {
    args.out.clone().unwrap_or_else(|| match args.quantized.as_ref().or(args.model.as_ref()) {
        Some(file) => {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
            let name =
                format!("eval-{}-{}", sanitize(&stem.unwrap_or_default()), sanitize(&args.tasks));
            file.with_file_name(name)
        }
        None => label.join(format!("eval-{}", sanitize(&args.tasks))),
    })
}

/// `--data DIR` for a run whose dataset moved: DIR must hold the dataset the run trained on
/// (the fingerprint in the run's data.json, where the run has one).
fn check_moved_data(run: Option<&Path>, dir: &Path) -> Result<()> {
    let Some(run) = run else { return Ok(()) };
    let Some(old) = agent::train::trainer::read_data_record(run)? else { return Ok(()) };
    let record = run.join(agent::train::trainer::DATA_FILE);
    let now = agent::train::trainer::data_fingerprint(dir)
        .map_err(|e| anyhow!("--data {}: {e}", dir.display()))?;
    if now != old.data_fingerprint {
        bail!(
            "--data {}: its manifest's fingerprint {now} is not the {} of the dataset the run \
             trained on ({}, recorded in {})",
            dir.display(),
            old.data_fingerprint,
            old.data,
            record.display()
        );
    }
    Ok(())
}

fn sanitize(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s.chars().take(40).collect()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    histories::fsio::write_atomic(path, bytes).map_err(|e| anyhow!(e))
}

/// One of the in-context targets, checked on an evaluation.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct TargetCheck {
    /// What is measured, e.g. `DarkRoom-v0 heldout: first episode`.
    pub what: String,
    pub value: f64,
    /// The target, e.g. `<= 0.4`.
    pub target: String,
    pub met: bool,
}

/// The in-context targets on held-out tasks. Dark Room (ADε's rise): the first
/// episode's mean normalised return at most 0.4 and the last 5's at least 0.8; a goal
/// exploited within a median of 3 episodes of first reaching it; with rewards zeroed in the
/// context, the last 5 episodes stay within 0.2 of the agent's first episode. Every other
/// family: the last 5 episodes at least 0.2 above the first. Families without normalised
/// scores are skipped.
pub fn targets(report: &EvalReport) -> Vec<TargetCheck> {
    let split = "heldout";
    let mut families: Vec<String> = report
        .tasks
        .iter()
        .filter(|t| t.split == split && t.normalized.is_some())
        .map(|t| t.family.clone())
        .collect();
    families.sort();
    families.dedup();
    let mut checks = Vec::new();
    let mut check = |what: String, value: f64, target: &str, met: bool| {
        checks.push(TargetCheck { what, value, target: target.into(), met })
    };
    for family in families {
        let Some((first, last, k)) = report.first_and_last(split, Some(&family)) else {
            continue;
        };
        let name = |what: &str| format!("{family} {split}: {what}");
        let last_name = name(&format!("last {k} of {} episodes", report.episodes));
        if family != "DarkRoom-v0" {
            check(
                format!("{last_name} minus first episode"),
                last - first,
                ">= 0.2",
                last - first >= 0.2,
            );
            continue;
        }
        check(name("first episode"), first, "<= 0.4", first <= 0.4);
        check(last_name, last, ">= 0.8", last >= 0.8);
        if let Some(delay) =
            exploitation(&report.tasks, split, &family).and_then(|s| s.median_delay)
        {
            check(
                name("median episodes from first reward to exploitation"),
                delay,
                "<= 3",
                delay <= 3.0,
            );
        }
        if let Some(c) = report.control(Control::ZeroReward)
            && let Some((_, zero_last, _)) =
                first_and_last(&c.tasks, c.episodes, split, Some(&family))
        {
            check(
                name("rewards zeroed in context, last 5 minus the agent's first episode"),
                zero_last - first,
                "<= 0.2",
                zero_last - first <= 0.2,
            );
        }
    }
    checks
}

/// A score as `0.123`, or `n/a`.
fn fmt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into())
}

/// The (family, split) pairs of some results, sorted.
fn family_splits(tasks: &[TaskResult]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> =
        tasks.iter().map(|t| (t.family.clone(), t.split.clone())).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The agent and each control, as (name, context episodes before scoring, scored episodes,
/// results).
fn conditions(report: &EvalReport) -> Vec<(String, usize, usize, &[TaskResult])> {
    let mut out = vec![("agent".to_string(), 0, report.episodes, report.tasks.as_slice())];
    for c in &report.controls {
        out.push((c.control.name().to_string(), c.first_scored, c.episodes, c.tasks.as_slice()));
    }
    out
}

/// First-episode and last-5 normalised returns per family and split, the controls, the
/// exploitation measure and the targets, as markdown.
pub fn summary(report: &EvalReport, run: &Path, secs: f64) -> String {
    let mut s = String::new();
    let normalised = report.tasks.iter().filter(|t| t.normalized.is_some()).count();
    let _ = writeln!(s, "# In-context evaluation of {}\n", run.display());
    let _ = writeln!(
        s,
        "{normalised} tasks with a normalised score (of {} evaluated), {} seeds, {} episodes \
         each, cold start; {:.1} s.\n",
        report.tasks.len(),
        report.seeds,
        report.episodes,
        secs
    );
    let _ = writeln!(
        s,
        "| family | split | tasks scored | first episode | last 5 episodes | raw last 5 | references |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let k = report.episodes.min(5);
    for (family, split) in family_splits(&report.tasks) {
        let rows: Vec<_> =
            report.tasks.iter().filter(|t| t.family == family && t.split == split).collect();
        let scored = rows.iter().filter(|t| t.normalized.is_some()).count();
        let scores = report.first_and_last(&split, Some(&family));
        let raw: f64 = rows
            .iter()
            .map(|t| {
                t.returns
                    .iter()
                    .map(|r| r[r.len() - k..].iter().sum::<f64>() / k as f64)
                    .sum::<f64>()
                    / t.returns.len() as f64
            })
            .sum::<f64>()
            / rows.len() as f64;
        let mut sources: Vec<&str> = rows.iter().map(|t| t.reference_source.as_str()).collect();
        sources.sort();
        sources.dedup();
        let count = if scored == rows.len() {
            scored.to_string()
        } else {
            format!("{scored} of {}", rows.len())
        };
        let _ = writeln!(
            s,
            "| {family} | {split} | {count} | {} | {} | {raw:.3} | {} |",
            fmt(scores.map(|s| s.0)),
            fmt(scores.map(|s| s.1)),
            sources.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nNormalised return: (return - random) / (demonstrator - random), mean over tasks then seeds."
    );
    for h in &report.hidden_rewards {
        let _ = writeln!(
            s,
            "\n**This agent cannot see the rewards of domain group `{}`.** Its reward encoder \
             (`leaky_relu`, from before the linear one) has every unit below zero at every \
             reward its context held ({:.4} to {:.4}, scaled as in training), where a reward \
             moves the token by at most 1% of the encoder's weights. No control can show \
             adaptation to reward in this group.",
            h.group, h.lowest, h.highest
        );
    }
    memory_section(&mut s, report);
    controls_section(&mut s, report);
    exploitation_section(&mut s, report);
    let checks = targets(report);
    if !checks.is_empty() {
        let _ = writeln!(s, "\n| in-context target (held-out tasks) | value | target | met |");
        let _ = writeln!(s, "|---|---|---|---|");
        for c in &checks {
            let met = if c.met { "yes" } else { "**no**" };
            let _ = writeln!(s, "| {} | {:.3} | {} | {met} |", c.what, c.value, c.target);
        }
        let missed = checks.iter().filter(|c| !c.met).count();
        let _ = if missed == 0 {
            writeln!(s, "\nEvery target is met.")
        } else {
            writeln!(s, "\n{missed} of {} targets are not met by this run.", checks.len())
        };
    }
    s
}

/// The memory the inference state held, per (task, seed) run.
fn memory_section(s: &mut String, report: &EvalReport) {
    let Some(m) = &report.memory else { return };
    let kib = |b: f64| format!("{:.1} KiB", b / 1024.0);
    let _ = write!(
        s,
        "\nKV caches of the softmax layers ({}): {} at most, {} on average per run over {} \
         steps",
        m.kv_cache,
        kib(m.kv_peak_bytes),
        kib(m.kv_mean_bytes),
        m.steps
    );
    if let Some(full) = m.kv_full_bytes.filter(|f| *f > 0.0) {
        let _ = write!(
            s,
            " ({:.1}% of the {} a full-precision cache of the whole history holds)",
            100.0 * m.kv_peak_bytes / full,
            kib(full)
        );
    }
    let _ = writeln!(s, "; whole inference state {} at most.", kib(m.state_peak_bytes));
}

/// The agent beside each control: first scored episode and last 5, per family and split.
fn controls_section(s: &mut String, report: &EvalReport) {
    if report.controls.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## Controls\n");
    for c in &report.controls {
        let _ = writeln!(s, "- `{}`: {}.", c.control.name(), c.description);
    }
    let _ = writeln!(
        s,
        "\n| family | split | condition | episodes in context before scoring | first scored episode | last 5 |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|");
    for (family, split) in family_splits(&report.tasks) {
        for (name, before, episodes, tasks) in conditions(report) {
            let Some((first, last, _)) = first_and_last(tasks, episodes, &split, Some(&family))
            else {
                continue;
            };
            let _ =
                writeln!(s, "| {family} | {split} | {name} | {before} | {first:.3} | {last:.3} |");
        }
    }
}

/// Episodes from first reward to exploitation, for the sparse-reward families.
fn exploitation_section(s: &mut String, report: &EvalReport) {
    let mut rows = Vec::new();
    for (family, split) in family_splits(&report.tasks) {
        for (name, before, _, tasks) in conditions(report) {
            if let Some(st) = exploitation(tasks, &split, &family) {
                rows.push((family.clone(), split.clone(), name, before, st));
            }
        }
    }
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(s, "\n## From first reward to exploitation\n");
    let _ = writeln!(
        s,
        "Per run (task and seed): the first scored episode with a reward, and the first from \
         then on that starts {} consecutive episodes at a normalised return of at least {}; \
         episodes counted from the first scored one.\n",
        agent::eval::EXPLOIT_RUN,
        agent::eval::EXPLOIT_THRESHOLD
    );
    let _ = writeln!(
        s,
        "| family | split | condition | runs | never found | found, not exploited | median found | median exploited | median delay | delay when found in 1-10 / 11-20 / 21+ (runs) |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|");
    let f1 = |v: Option<f64>| v.map(|x| format!("{x:.1}")).unwrap_or_else(|| "n/a".into());
    for (family, split, name, _, st) in rows {
        let buckets: Vec<String> =
            st.delay_by_found.iter().map(|(_, _, n, m)| format!("{} ({n})", f1(*m))).collect();
        let _ = writeln!(
            s,
            "| {family} | {split} | {name} | {} | {} | {} | {} | {} | {} | {} |",
            st.runs,
            st.never_found,
            st.not_exploited,
            f1(st.median_found),
            f1(st.median_exploited),
            f1(st.median_delay),
            buckets.join(" / ")
        );
    }
}

fn plot(report: &EvalReport, path: &Path) -> Result<()> {
    let mut families: Vec<String> = report.tasks.iter().map(|t| t.family.clone()).collect();
    families.sort();
    families.dedup();
    let mut panels = Vec::new();
    for family in &families {
        let mut series = Vec::new();
        let mut splits: Vec<String> =
            report.tasks.iter().filter(|t| &t.family == family).map(|t| t.split.clone()).collect();
        splits.sort();
        splits.dedup();
        let mut color = 0;
        for split in &splits {
            for (name, before, episodes, tasks) in conditions(report) {
                let c = agent::eval::curve(tasks, episodes, split, Some(family));
                if c.is_empty() {
                    continue;
                }
                let x = |e: usize| (before + e + 1) as f64;
                let agent = name == "agent";
                series.push(Series {
                    name: if agent {
                        format!("agent, {split} tasks (mean, min-max over seeds)")
                    } else {
                        format!("control {name}, {split} tasks")
                    },
                    points: c.iter().enumerate().map(|(e, v)| (x(e), v.0)).collect(),
                    band: if agent {
                        c.iter().enumerate().map(|(e, v)| (x(e), v.1, v.2)).collect()
                    } else {
                        vec![]
                    },
                    color,
                    dashed: !agent,
                });
                color += 1;
                if color == 2 {
                    color = 3; // 2 is the demonstrator's.
                }
            }
        }
        let x1 = report.episodes as f64;
        series.push(Series {
            name: "demonstrator".into(),
            points: vec![(1.0, 1.0), (x1, 1.0)],
            color: 2,
            dashed: true,
            ..Default::default()
        });
        series.push(Series {
            name: "random".into(),
            points: vec![(1.0, 0.0), (x1, 0.0)],
            color: 7,
            dashed: true,
            ..Default::default()
        });
        panels.push(Panel {
            title: family.clone(),
            x_label: "episode in context (cold start, context kept across episodes)".into(),
            y_label: "normalised return".into(),
            series,
            y_range: None,
            legend_upper: true,
        });
    }
    save_panels(path, "In-context adaptation", &panels, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(family: &str, i: usize) -> TaskRef {
        let mut t = envs::Task::new();
        t.insert("i".into(), serde_json::json!(i));
        TaskRef { family: family.into(), task: t, split: histories::split::Split::Heldout }
    }

    #[test]
    fn max_tasks_keeps_evenly_spaced_tasks_of_each_family() {
        let mut tasks: Vec<TaskRef> = (0..10).map(|i| task("A", i)).collect();
        tasks.extend((0..3).map(|i| task("B", i)));
        let kept = evenly_per_family(tasks, 4);
        let of = |f: &str| -> Vec<u64> {
            kept.iter().filter(|t| t.family == f).map(|t| t.task["i"].as_u64().unwrap()).collect()
        };
        assert_eq!(of("A"), [0, 2, 5, 7]);
        assert_eq!(of("B"), [0, 1, 2], "a family with fewer tasks keeps them all");
        assert_eq!(kept.len(), 7);
    }
}
