//! `icrl bench`: benchmarks that print tables (one subcommand per subject).

pub mod allreduce;
pub mod envs;
pub mod model;
pub mod quant;

use anyhow::Result;
use clap::{Args, Subcommand};

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub command: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Data-parallel cost: all-reduce time and bandwidth per tensor size, and a training
    /// step's overhead from its bucketed gradient all-reduce, over N ranks (started here on
    /// 127.0.0.1, or by torchrun / srun).
    Allreduce(allreduce::AllreduceBenchArgs),
    /// Env steps per second per family, single and vectorized, beside Python gymnasium.
    Envs(envs::EnvBenchArgs),
    /// The action model: forward+backward time and peak memory against history length, and
    /// inference time per step against the history already consumed (lightning vs softmax).
    Model(model::ModelBenchArgs),
    /// Quantized weights at inference: QuantizedLinear forwards and `Model::step`, dequantizing
    /// per call against cached dense weights (what `icrl quantize` would quantize; nothing
    /// written).
    Quant(quant::QuantBenchArgs),
}

pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.command {
        BenchCommand::Allreduce(a) => allreduce::run(a),
        BenchCommand::Envs(a) => envs::run(a),
        BenchCommand::Model(a) => model::run(a),
        BenchCommand::Quant(a) => quant::run(a),
    }
}
