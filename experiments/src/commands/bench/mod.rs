//! `icrl bench`: benchmarks that print tables (one subcommand per subject).

pub mod envs;

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Env steps per second per family, single and vectorized, beside Python gymnasium.
    Envs(envs::EnvBenchArgs),
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.command {
        BenchCommand::Envs(a) => envs::run(a),
    }
}
