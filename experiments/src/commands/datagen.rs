//! `icrl datagen`: generate a learning-history dataset from a suite.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use datagen::generate::{GenerateOptions, generate};
use datagen::suite::{MAX_HISTORIES_PER_TASK, MAX_TRANSITIONS_PER_HISTORY, Suite};

#[derive(Args, Debug)]
pub struct DatagenArgs {
    /// A suite: a JSON file, or a preset (dark-room, key-to-door, classic-control,
    /// industrial-benchmark, dark-room-benchmark, benchmark, quickstart, heldout-reference).
    #[arg(long)]
    pub suite: String,

    /// Output folder; an unfinished run in it is resumed (finished task files are kept).
    #[arg(long)]
    pub out: PathBuf,

    /// Seed of the whole dataset (overrides the suite's).
    #[arg(long)]
    pub seed: Option<u64>,

    /// Transitions per history for every entry (overrides the suite's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_TRANSITIONS_PER_HISTORY as u64))]
    pub transitions: Option<u64>,

    /// Learning histories per task for every entry (overrides the suite's).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_HISTORIES_PER_TASK as u64))]
    pub histories: Option<u64>,

    /// Worker threads, one task each (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,

    /// Print the suite as JSON (presets and overrides applied) and exit.
    #[arg(long)]
    pub print_suite: bool,

    /// --device (PPO demonstrators train on the CPU: `auto` is the CPU here, CUDA is
    /// refused), --threads (torch threads of each worker; absent or 0: 1, since --jobs
    /// workers already fill the cores), --quiet (no progress bar or per-task lines).
    #[command(flatten)]
    pub compute: crate::common::ComputeArgs,
}

/// Resolve `--suite` (file or preset) and apply the overrides.
pub fn resolve_suite(args: &DatagenArgs) -> Result<Suite> {
    let mut suite = if let Some(preset) = Suite::preset(&args.suite) {
        preset
    } else {
        let path = PathBuf::from(&args.suite);
        if !path.exists() {
            bail!(
                "--suite {}: neither a suite file nor a preset (presets: {})",
                args.suite,
                Suite::PRESETS.join(", ")
            );
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading suite {}", path.display()))?;
        Suite::from_json(&text, &path.display().to_string())?
    };
    if let Some(seed) = args.seed {
        suite.seed = seed;
    }
    for e in &mut suite.entries {
        if let Some(t) = args.transitions {
            e.transitions_per_history = t as usize;
        }
        if let Some(h) = args.histories {
            e.histories_per_task = h as usize;
        }
    }
    suite.validate()?;
    Ok(suite)
}

pub fn run(args: &DatagenArgs) -> Result<()> {
    let suite = resolve_suite(args)?;
    if args.print_suite {
        println!("{}", serde_json::to_string_pretty(&suite)?);
        return Ok(());
    }
    if let crate::common::DeviceArg::Cuda(i) = args.compute.device {
        bail!("--device cuda:{i}: datagen's PPO demonstrators run on the CPU (use auto or cpu)");
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let opts = GenerateOptions {
        out: args.out.clone(),
        jobs: args.jobs.map(|j| j as usize).unwrap_or(cores),
        threads: args.compute.threads.filter(|&t| t > 0).unwrap_or(1) as usize,
        progress: !args.compute.quiet,
    };
    let manifest = generate(&suite, &opts)?;
    if !args.compute.quiet {
        println!(
            "{}",
            super::dataset::summary_table(&manifest, &manifest.suite.name, manifest.suite.seed)
        );
    }
    Ok(())
}
