//! `icrl`: the in-context RL platform's command-line tool.

mod commands;

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
    /// Benchmarks that print tables (envs: steps per second beside gymnasium).
    Bench(commands::bench::BenchArgs),
    /// The action model: parameter tables of its presets.
    Model(commands::model::ModelArgs),
    /// Train one PPO demonstrator for one task; save it and print its evaluated return.
    Ppo(commands::ppo::PpoArgs),
    /// Quantize a safetensors file's 2-D weights (HQQ, RTN baseline); report errors per tensor.
    Quantize(commands::quantize::QuantizeArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Doctor(args) => commands::doctor::run(&args),
        Command::Env(args) => commands::env::run(&args),
        Command::Bench(args) => commands::bench::run(&args),
        Command::Model(args) => commands::model::run(&args),
        Command::Ppo(args) => commands::ppo::run(&args),
        Command::Quantize(args) => commands::quantize::run(&args),
    }
}
