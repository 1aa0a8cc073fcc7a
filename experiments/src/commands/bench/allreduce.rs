//! `icrl bench allreduce`: what data-parallel training costs on this machine.
//!
//! Two tables from rank 0 of N ranks: the all-reduce (sum) of one f32 tensor per size, with
//! its bus bandwidth (NCCL's convention: `2 (N - 1) / N x bytes / time`, the bytes each rank
//! sends and receives in a ring all-reduce); and one training step of a model preset, alone
//! on one rank, with all N ranks computing at once, and its bucketed gradient all-reduce
//! (what `icrl train` does): the communication's share of a step, and the throughput of N
//! ranks over one (on a machine with fewer free cores than ranks, computing at once is
//! slower than alone, and that shows here too).
//!
//! Without torchrun or srun (no WORLD_SIZE), the command runs itself N times (`--ranks`) on
//! 127.0.0.1 at a free port and prints rank 0's tables.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use agent::dist::{Backend, GradBuckets, ProcessGroup, Rendezvous};
use agent::model::{Config, Model};
use anyhow::{Context, Result, bail};
use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::common::{ComputeArgs, median, sync};

#[derive(Args, Debug)]
pub struct AllreduceBenchArgs {
    /// Ranks to start on this machine when not launched by torchrun or srun.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u64).range(2..=64))]
    pub ranks: u64,

    /// Tensor sizes in MB (10^6 bytes of f32), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "0.01,0.1,1,10,25,100,250")]
    pub sizes_mb: Vec<f64>,

    /// Timed calls per size and per step measurement (after one warm-up); medians are reported.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub repeats: u64,

    /// Model preset of the step table (gradients of its size).
    #[arg(long, default_value = "small")]
    pub preset: String,

    /// Sequences per rank in the step table.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(i64).range(1..))]
    pub batch_size: i64,

    /// Steps per sequence in the step table.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(i64).range(1..))]
    pub context: i64,

    /// Seconds a rank waits for its peers (rendezvous and each collective).
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    pub dist_timeout: u64,

    /// Print one JSON document (`ranks`, `backend`, `allreduce`: per size `bytes`, `ms`,
    /// `algbw_gbps`, `busbw_gbps`; `step`: `preset`, `parameters`, `grad_bytes`, `buckets`,
    /// `alone_ms`, `together_ms`, `allreduce_ms`, `comm_overhead`, `speedup`) instead of the
    /// tables.
    #[arg(long)]
    pub json: bool,

    /// --device (cpu: Gloo; cuda: NCCL, one GPU per rank), --threads (per rank), --quiet.
    #[command(flatten)]
    pub compute: ComputeArgs,
}

#[derive(Debug, Serialize)]
struct Report {
    ranks: usize,
    backend: String,
    allreduce: Vec<SizeRow>,
    step: StepRow,
}

#[derive(Debug, Serialize)]
struct SizeRow {
    bytes: i64,
    ms: f64,
    /// Bytes / time, GB/s (10^9).
    algbw_gbps: f64,
    /// Algorithm bandwidth x 2 (N - 1) / N.
    busbw_gbps: f64,
}

#[derive(Debug, Serialize)]
struct StepRow {
    preset: String,
    parameters: i64,
    grad_bytes: i64,
    buckets: usize,
    /// Forward + backward on rank 0 while the others wait.
    alone_ms: f64,
    /// The same on every rank at once (they share the machine's cores and memory bandwidth).
    together_ms: f64,
    /// The bucketed gradient average (`icrl train`'s), every rank at once.
    allreduce_ms: f64,
    /// `allreduce / together`: the communication's share over the computation.
    comm_overhead: f64,
    /// `N x alone / (together + allreduce)`: training throughput of N ranks over one.
    speedup: f64,
}

pub fn run(args: &AllreduceBenchArgs) -> Result<()> {
    let device = args.compute.apply()?;
    let timeout = Duration::from_secs(args.dist_timeout);
    match Rendezvous::from_env(timeout)? {
        Some(rv) => as_rank(args, device, &rv),
        None => spawn_ranks(args),
    }
}

/// Start `--ranks` copies of this command on 127.0.0.1 and pass on rank 0's output.
fn spawn_ranks(args: &AllreduceBenchArgs) -> Result<()> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let exe = std::env::current_exe().context("finding this executable")?;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let n = args.ranks as usize;
    let children = (0..n)
        .map(|rank| {
            Command::new(&exe)
                .args(&argv)
                .env("RANK", rank.to_string())
                .env("WORLD_SIZE", n.to_string())
                .env("LOCAL_RANK", rank.to_string())
                .env("MASTER_ADDR", "127.0.0.1")
                .env("MASTER_PORT", port.to_string())
                .stdout(if rank == 0 { Stdio::inherit() } else { Stdio::null() })
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting rank {rank}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut failed = Vec::new();
    for (rank, mut child) in children.into_iter().enumerate() {
        if !child.wait()?.success() {
            failed.push(rank.to_string());
        }
    }
    if !failed.is_empty() {
        bail!("rank(s) {} failed (their errors are above)", failed.join(", "));
    }
    Ok(())
}

fn as_rank(args: &AllreduceBenchArgs, device: Device, rv: &Rendezvous) -> Result<()> {
    let backend = if device.is_cuda() { Backend::Nccl } else { Backend::Gloo };
    let pg = Arc::new(ProcessGroup::new(rv, backend)?);
    let device = pg.device();
    let repeats = args.repeats as usize;
    let mut sizes = Vec::new();
    for &mb in &args.sizes_mb {
        if !(mb > 0.0 && mb.is_finite()) {
            bail!("--sizes-mb: expected positive sizes, got {mb}");
        }
        let numel = ((mb * 1e6 / 4.0).round() as i64).max(1);
        let mut t = Tensor::ones([numel], (Kind::Float, device));
        let secs =
            timed(&pg, device, repeats, || Ok(pg.allreduce_sum(&mut t, "a benchmark tensor")?))?;
        let bytes = numel * 4;
        let n = pg.world_size() as f64;
        let algbw = bytes as f64 / secs / 1e9;
        sizes.push(SizeRow {
            bytes,
            ms: secs * 1e3,
            algbw_gbps: algbw,
            busbw_gbps: algbw * 2.0 * (n - 1.0) / n,
        });
    }
    let step = step_row(args, &pg, device, repeats)?;
    let report = Report {
        ranks: pg.world_size(),
        backend: format!("{:?}", pg.backend()),
        allreduce: sizes,
        step,
    };
    if pg.is_main() {
        crate::common::print_report(&report, args.json, print_tables)?;
    }
    pg.barrier("end of the benchmark")?;
    Ok(())
}

/// Seconds of `call` on every rank at once (a barrier before each call, one warm-up): each
/// rank's median, and of those the slowest rank's, what a data-parallel step waits for.
fn timed(
    pg: &ProcessGroup,
    device: Device,
    repeats: usize,
    mut call: impl FnMut() -> Result<()>,
) -> Result<f64> {
    let mut times = Vec::with_capacity(repeats);
    for i in 0..=repeats {
        pg.barrier("timing")?;
        let t0 = Instant::now();
        call()?;
        sync(device);
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    // Every rank's median; the table shows the slowest rank's (what a step waits for).
    let mut mine = Tensor::from_slice(&[median(&times)]).to_device(pg.device());
    let world = pg.world_size();
    let mut all = Tensor::zeros([world as i64], (Kind::Double, pg.device()));
    all.narrow(0, pg.rank() as i64, 1).copy_(&mine);
    pg.allreduce_sum(&mut all, "the timings")?;
    mine = all.max();
    Ok(mine.double_value(&[]))
}

/// One training step of `--preset` (forward, backward) alone and on every rank at once, and
/// the bucketed all-reduce of its gradients.
fn step_row(
    args: &AllreduceBenchArgs,
    pg: &ProcessGroup,
    device: Device,
    repeats: usize,
) -> Result<StepRow> {
    let cfg = Config::preset(&args.preset)?;
    tch::manual_seed(0);
    let model = Model::new(&cfg, device, &mut StdRng::seed_from_u64(0))?;
    let batch = super::model::random_batch(&cfg, device, args.batch_size, args.context);
    let params: Vec<Tensor> = {
        let mut vars: Vec<(String, Tensor)> = model.var_store().variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        vars.into_iter().map(|(_, t)| t).filter(|t| t.requires_grad()).collect()
    };
    let pass = || -> Result<()> {
        for p in &params {
            let mut g = p.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
        let out = model.forward(&batch)?;
        out.loss.context("the benchmark batch has targets")?.backward();
        Ok(())
    };
    // Alone: rank 0 computes while the others wait at the barrier after.
    let mut alone = Vec::new();
    for i in 0..=repeats {
        pg.barrier("timing")?;
        if pg.is_main() {
            let t0 = Instant::now();
            pass()?;
            sync(device);
            if i > 0 {
                alone.push(t0.elapsed().as_secs_f64());
            }
        }
    }
    pg.barrier("timing")?;
    let together = timed(pg, device, repeats, pass)?;
    let buckets = GradBuckets::default();
    let mut n = 0;
    let allreduce = timed(pg, device, repeats, || {
        n = buckets.allreduce_mean(pg, &params)?;
        Ok(())
    })?;
    let alone = if pg.is_main() { median(&alone) } else { f64::NAN };
    let parameters: i64 = params.iter().map(|p| p.numel() as i64).sum();
    Ok(StepRow {
        preset: args.preset.clone(),
        parameters,
        grad_bytes: parameters * 4,
        buckets: n,
        alone_ms: alone * 1e3,
        together_ms: together * 1e3,
        allreduce_ms: allreduce * 1e3,
        comm_overhead: allreduce / together,
        speedup: pg.world_size() as f64 * alone / (together + allreduce),
    })
}

fn print_tables(r: &Report) {
    println!(
        "all-reduce (sum, f32) over {} {} ranks; the slowest rank's median",
        r.ranks, r.backend
    );
    println!("{:>12} {:>10} {:>12} {:>12}", "size", "ms", "algbw GB/s", "busbw GB/s");
    for s in &r.allreduce {
        println!(
            "{:>12} {:>10.3} {:>12.3} {:>12.3}",
            human_bytes(s.bytes),
            s.ms,
            s.algbw_gbps,
            s.busbw_gbps
        );
    }
    let s = &r.step;
    println!();
    println!(
        "training step of `{}` ({} parameters, {} of f32 gradients in {} bucket(s) of at most 25 MB)",
        s.preset,
        crate::common::thousands(s.parameters),
        human_bytes(s.grad_bytes),
        s.buckets
    );
    println!(
        "{:>12} {:>20} {:>14} {:>14} {:>10}",
        "alone ms", "all ranks at once ms", "all-reduce ms", "comm overhead", "speed-up"
    );
    println!(
        "{:>12.1} {:>20.1} {:>14.1} {:>13.1}% {:>9.2}x",
        s.alone_ms,
        s.together_ms,
        s.allreduce_ms,
        100.0 * s.comm_overhead,
        s.speedup
    );
}

fn human_bytes(b: i64) -> String {
    let b = b as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.1} KB", b / 1e3)
    }
}
