//! `icrl`: the in-context RL platform's command-line tool.

mod commands;
mod common;
mod plot;

use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

/// In-context reinforcement learning: learning-history datasets, generalist agents, and
/// evaluation of in-context adaptation on held-out tasks.
#[derive(Parser, Debug)]
#[command(name = "icrl", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Report the torch and HDF5 libraries, CUDA and threads; optionally a matmul rate.
    Doctor(commands::doctor::DoctorArgs),
    /// Task families: list them and their train/held-out tasks, roll out an env.
    Env(commands::env::EnvArgs),
    /// Generate a learning-history dataset (demonstrators, noise distillation, HDF5).
    Datagen(commands::datagen::DatagenArgs),
    /// Inspect a learning-history dataset: `info` and `plot`.
    Dataset(commands::dataset::DatasetArgs),
    /// Train an in-context agent on a learning-history dataset.
    Train(Box<commands::train::TrainArgs>),
    /// Evaluate a trained agent in context (cold start, many episodes); JSON, markdown, PNG.
    Eval(commands::eval::EvalArgs),
    /// Several evaluations side by side: one table, one figure per family.
    Compare(commands::compare::CompareArgs),
    /// The action model: parameter tables of its presets.
    Model(commands::model::ModelArgs),
    /// Train one PPO demonstrator for one task; save it and print its evaluated return.
    Ppo(commands::ppo::PpoArgs),
    /// Quantize a safetensors file's 2-D weights (HQQ, RTN baseline); report errors per tensor.
    Quantize(commands::quantize::QuantizeArgs),
    /// Benchmarks that print tables (envs: steps per second beside gymnasium; the model;
    /// quantized weights).
    Bench(commands::bench::BenchArgs),
}

/// Errors end the tool as `icrl: <message>: <cause>: ...` and status 1: the message names the
/// file, field or flag, so no backtrace is printed, even where `RUST_BACKTRACE` is set (as
/// anyhow would for an error returned from `main`).
fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("icrl: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    // `icrl ... | head`: end quietly when the reader goes away, as Unix tools do, instead of
    // panicking in `println!` on the broken pipe (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restores the default disposition of one signal before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor(args) => commands::doctor::run(&args),
        Command::Env(args) => commands::env::run(&args),
        Command::Datagen(args) => commands::datagen::run(&args),
        Command::Dataset(args) => commands::dataset::run(&args),
        Command::Train(args) => commands::train::run(&args),
        Command::Eval(args) => commands::eval::run(&args),
        Command::Compare(args) => commands::compare::run(&args),
        Command::Model(args) => commands::model::run(&args),
        Command::Ppo(args) => commands::ppo::run(&args),
        Command::Quantize(args) => commands::quantize::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
    }
}
