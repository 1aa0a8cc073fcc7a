//! `icrl eval`: in-context evaluation of a trained agent, with a JSON report, a markdown
//! summary and PNG curves.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use agent::eval::{EvalOptions, EvalReport, TaskSet, evaluate, select_tasks};
use agent::model::Model;
use agent::quant::DequantMode;
use agent::train::{TrainConfig, checkpoint};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use datagen::dataset::Dataset;
use rand::SeedableRng;

use super::quantize::TRAIN_CONFIG_KEY;
use crate::plot::{Panel, Series, save_panels};

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// The training run folder (holds config.json and checkpoint/).
    #[arg(long, required_unless_present = "quantized")]
    pub run: Option<PathBuf>,

    /// Evaluate this quantized model instead of the run's checkpoint: a file written by
    /// `icrl quantize --in RUN` (it carries the model and run configs; with --run the run's
    /// config.json is used and must describe the same model). Weights are dequantized once
    /// at load (the same outputs as per call). Output default: beside the file.
    #[arg(long, value_name = "FILE")]
    pub quantized: Option<PathBuf>,

    /// Tasks: train, heldout, shifted (physics beyond the training ranges), or
    /// FAMILY:JSON[;FAMILY:JSON...].
    #[arg(long, default_value = "heldout")]
    pub tasks: String,

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

    /// Output folder (default: RUN/eval-TASKS).
    #[arg(long)]
    pub out: Option<PathBuf>,

    /// Device: cpu or cuda.
    #[arg(long, default_value = "cpu")]
    pub device: String,

    /// Discrete actions: arg-max instead of sampling from the predicted distribution.
    #[arg(long)]
    pub greedy: bool,
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
    let cfg = match run {
        Some(run) => read_run_config(run)?,
        None => {
            let text = qfile.metadata.get(TRAIN_CONFIG_KEY).ok_or_else(|| {
                anyhow!(
                    "--quantized {}: the file does not carry a run's config.json (it was \
                     quantized from a model file or a preset); add --run RUN",
                    file.display()
                )
            })?;
            serde_json::from_str(text).with_context(|| {
                format!("--quantized {}: parsing its `{TRAIN_CONFIG_KEY}`", file.display())
            })?
        }
    };
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

pub fn run(args: &EvalArgs) -> Result<()> {
    let device = agent::train::trainer::device_of(&args.device)?;
    let (cfg, model, label) = match (&args.quantized, &args.run) {
        (Some(file), run) => {
            let (cfg, model) = load_quantized(file, run.as_deref(), device)?;
            (cfg, model, file.clone())
        }
        (None, Some(run)) => {
            let cfg = read_run_config(run)?;
            let ckpt = checkpoint::find(run).ok_or_else(|| {
                anyhow!("--run {}: no checkpoint yet (train it first)", run.display())
            })?;
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
            let mut model = Model::new(&cfg.model, device, &mut rng)?;
            model.load(&ckpt.join(checkpoint::MODEL_FILE))?;
            (cfg, model, run.clone())
        }
        (None, None) => bail!("give --run RUN or --quantized FILE"),
    };
    let data = Dataset::open(Path::new(&cfg.data))
        .with_context(|| format!("opening the run's dataset {}", cfg.data))?;
    let reference = match &args.reference {
        Some(dir) => {
            Some(Dataset::open(dir).with_context(|| format!("--reference {}", dir.display()))?)
        }
        None => None,
    };
    let mut families: Vec<String> = data.manifest.tasks.iter().map(|t| t.family.clone()).collect();
    families.sort();
    families.dedup();
    let set = TaskSet::parse(&args.tasks).map_err(|e| anyhow!(e))?;
    let tasks = select_tasks(&set, &families).map_err(|e| anyhow!(e))?;
    if tasks.is_empty() {
        bail!("--tasks {}: no such tasks in the families {}", args.tasks, families.join(", "));
    }
    let opts = EvalOptions {
        episodes: args.episodes as usize,
        seeds: args.seeds as usize,
        seed: args.seed,
        reference_episodes: 20,
        greedy: args.greedy,
        obs_norm: cfg.obs_norm,
    };
    let start = std::time::Instant::now();
    eprintln!(
        "eval: {} tasks x {} seeds x {} episodes ...",
        tasks.len(),
        opts.seeds,
        opts.episodes
    );
    let report =
        evaluate(&model, &data, reference.as_ref(), &tasks, &opts).map_err(|e| anyhow!(e))?;
    let secs = start.elapsed().as_secs_f64();
    let out = args.out.clone().unwrap_or_else(|| match &args.quantized {
        Some(file) => {
            let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
            let name =
                format!("eval-{}-{}", sanitize(&stem.unwrap_or_default()), sanitize(&args.tasks));
            file.with_file_name(name)
        }
        None => label.join(format!("eval-{}", sanitize(&args.tasks))),
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_atomic(&out.join("report.json"), serde_json::to_string_pretty(&report)?.as_bytes())?;
    let summary = summary(&report, &label, secs);
    write_atomic(&out.join("summary.md"), summary.as_bytes())?;
    plot(&report, &out.join("curves.png"))?;
    println!("{summary}");
    println!(
        "report: {}  figures: {}",
        out.join("report.json").display(),
        out.join("curves.png").display()
    );
    Ok(())
}

fn sanitize(s: &str) -> String {
    let s: String = s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    s.chars().take(40).collect()
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    datagen::manifest::write_atomic(path, bytes).map_err(|e| anyhow!(e))
}

/// First-episode and last-5 normalised returns per family and split, as markdown.
pub fn summary(report: &EvalReport, run: &Path, secs: f64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# In-context evaluation of {}\n", run.display());
    let _ = writeln!(
        s,
        "{} tasks, {} seeds, {} episodes each, cold start; {:.1} s.\n",
        report.tasks.len(),
        report.seeds,
        report.episodes,
        secs
    );
    let _ = writeln!(
        s,
        "| family | split | tasks | first episode | last 5 episodes | raw last 5 | references |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|");
    let mut keys: Vec<(String, String)> =
        report.tasks.iter().map(|t| (t.family.clone(), t.split.clone())).collect();
    keys.sort();
    keys.dedup();
    for (family, split) in keys {
        let rows: Vec<_> =
            report.tasks.iter().filter(|t| t.family == family && t.split == split).collect();
        let k = report.episodes.min(5);
        let fmt = |v: Option<f64>| v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into());
        let scores = report.first_and_last(&split, Some(&family));
        let (first, last) = (scores.map(|s| s.0), scores.map(|s| s.1));
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
        let _ = writeln!(
            s,
            "| {family} | {split} | {} | {} | {} | {raw:.3} | {} |",
            rows.len(),
            fmt(first),
            fmt(last),
            sources.join(", ")
        );
    }
    let _ = writeln!(
        s,
        "\nNormalised return: (return - random) / (demonstrator - random), mean over tasks then seeds."
    );
    let checks = report.targets();
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
        for (i, split) in splits.iter().enumerate() {
            let c = report.curve(split, Some(family));
            if c.is_empty() {
                continue;
            }
            series.push(Series {
                name: format!("agent, {split} tasks (mean, min-max over seeds)"),
                points: c.iter().enumerate().map(|(e, v)| ((e + 1) as f64, v.0)).collect(),
                band: c.iter().enumerate().map(|(e, v)| ((e + 1) as f64, v.1, v.2)).collect(),
                color: i,
                dashed: false,
            });
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
            x_label: "episode (cold start, context kept across episodes)".into(),
            y_label: "normalised return".into(),
            series,
            y_range: None,
        });
    }
    save_panels(path, "In-context adaptation", &panels, 2)
}
