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
/// anyhow would for an error returned from `main`). A panic ends it the same way: tch turns
/// a libtorch error (CUDA out of memory, say) into one; its message is printed without
/// libtorch's C++ backtrace, with the place that panicked.
fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        let place = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        *PANIC_PLACE.lock().unwrap_or_else(|e| e.into_inner()) = place;
    }));
    match std::panic::catch_unwind(run) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(e)) => {
            eprintln!("icrl: {e:#}");
            ExitCode::FAILURE
        }
        Err(payload) => {
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(no message)");
            let place = PANIC_PLACE.lock().unwrap_or_else(|e| e.into_inner()).take();
            eprintln!(
                "icrl: failed inside libtorch or the program ({}): {}",
                place.as_deref().unwrap_or("unknown place"),
                first_lines(message)
            );
            ExitCode::FAILURE
        }
    }
}

/// Where the last panic happened (the hook records it; `main` prints it).
static PANIC_PLACE: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);

/// A panic message without libtorch's C++ backtrace (it starts at "Exception raised from").
fn first_lines(message: &str) -> String {
    let cut = message.find("Exception raised from").unwrap_or(message.len());
    message[..cut].lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ")
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

#[cfg(test)]
mod tests {
    #[test]
    fn a_torch_panic_message_loses_its_cpp_backtrace() {
        let message = "called `Result::unwrap()` on an `Err` value: Torch(\"CUDA out of memory. \
                       Tried to allocate 2.00 GiB.\\n\nException raised from malloc at \
                       /pytorch/c10/cuda/CUDACachingAllocator.cpp:1 (most recent call first):\n\
                       frame #0: c10::Error::Error(...)\")";
        let short = super::first_lines(message);
        assert!(short.contains("CUDA out of memory") && !short.contains("frame #0"), "{short}");
    }
}
