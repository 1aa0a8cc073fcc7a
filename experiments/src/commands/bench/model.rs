//! `icrl bench model`: the action model's cost against history length.
//!
//! Two tables: forward+backward time, throughput and peak memory for training on histories
//! of increasing length; and the time of one inference step against the length of the
//! history already consumed. Each measurement runs in a fresh child process (this binary
//! with the hidden `--one` flag), so that peak memory is that measurement's alone: on the CPU
//! the resident-set high-water mark (VmHWM) above the resident set before the timed passes;
//! on CUDA the growth of the device memory in use (cudaMemGetInfo) over the passes, i.e. what
//! torch's caching allocator reserved at its peak (it does not release memory by itself).

use agent::usage::{memory_now, memory_peak, reset_peak};
use std::process::Command;

use agent::model::block::LayerCache;
use agent::model::softmax::KvCache;
use agent::model::{ActionSpec, Batch, Config, Model};
use anyhow::{Context, Result, bail};
use clap::Args;
use rand::SeedableRng;
use rand::rngs::StdRng;
use serde::{Deserialize, Serialize};
use tch::nn::{OptimizerConfig, Sgd};
use tch::{Device, Kind, Tensor};

use crate::common::{ComputeArgs, median_seconds, sync, thousands};

#[derive(Args, Debug)]
pub struct ModelBenchArgs {
    /// Model preset (default: vintix-300m on CUDA, small on the CPU).
    #[arg(long)]
    pub preset: Option<String>,

    /// Training history lengths in steps, comma-separated (default: 1024 to 65536 on CUDA,
    /// 256 to 2048 on the CPU).
    #[arg(long, value_delimiter = ',')]
    pub lengths: Vec<i64>,

    /// Inference: lengths of the history already consumed, comma-separated (default: 1024 to
    /// 1048576 on CUDA, 1024 to 65536 on the CPU).
    #[arg(long, value_delimiter = ',')]
    pub infer_lengths: Vec<i64>,

    /// Attention kinds, comma-separated: `lightning` (every layer lightning), `softmax` (every
    /// layer softmax, window = the whole history), `preset` (the preset's own pattern and window).
    #[arg(long, value_delimiter = ',', default_value = "lightning,softmax")]
    pub kinds: Vec<String>,

    /// Sequences per training batch.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
    pub batch: i64,

    /// Environments stepped together by the inference benchmark.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(i64).range(1..))]
    pub envs: i64,

    /// Timed forward+backward passes per length (after one warm-up); the median is reported.
    #[arg(long, default_value_t = 3)]
    pub repeats: usize,

    /// Timed inference steps per length (after two warm-up steps); the median is reported.
    #[arg(long, default_value_t = 20)]
    pub steps: usize,

    #[command(flatten)]
    pub compute: ComputeArgs,

    /// Skip inference lengths whose KV caches would exceed this many GiB (default 40 on CUDA,
    /// 4 on the CPU).
    #[arg(long)]
    pub max_cache_gib: Option<f64>,

    /// Only the training table.
    #[arg(long)]
    pub skip_infer: bool,

    /// Only the inference table.
    #[arg(long)]
    pub skip_train: bool,

    /// Also a table of the token mixers alone: forward+backward of the attention kernel on
    /// random (batch, heads, length, head_dim) q, k, v (lightning's chunked form; softmax's
    /// windowed form with the window covering the length), without projections, FFN or
    /// encoders: the figure a fused kernel such as fla's is compared with.
    #[arg(long)]
    pub mixer: bool,

    /// Internal: run the single measurement `train:KIND:LENGTH` or `infer:KIND:LENGTH` in this
    /// process and print it as one JSON line.
    #[arg(long, hide = true)]
    pub one: Option<String>,
}

/// One measurement, as a child process reports it.
#[derive(Debug, Serialize, Deserialize)]
struct Measured {
    /// Median milliseconds per pass (training) or per step (inference).
    ms: f64,
    /// Timesteps per second (training: B * T per pass; inference: environments per step).
    per_s: f64,
    /// Peak memory above the level before the timed passes, bytes (None: not measurable).
    peak: Option<i64>,
    /// Inference: bytes held by the model state (lightning states, KV caches).
    state: Option<i64>,
    /// Why the measurement was skipped, if it was.
    skipped: Option<String>,
}

pub fn run(args: &ModelBenchArgs) -> Result<()> {
    let device = args.compute.apply()?;
    for kind in &args.kinds {
        if !["lightning", "softmax", "preset"].contains(&kind.as_str()) {
            bail!("--kinds: expected lightning, softmax or preset, got `{kind}`");
        }
    }
    if let Some(spec) = &args.one {
        let measured = measure_one(args, device, spec)?;
        println!("{}", serde_json::to_string(&measured)?);
        return Ok(());
    }
    let cuda = device.is_cuda();
    let preset = args
        .preset
        .clone()
        .unwrap_or_else(|| if cuda { "vintix-300m" } else { "small" }.to_string());
    let cfg = Config::preset(&preset).context("--preset")?;
    let (lengths, infer) = bench_lengths(args, cuda)?;
    let place = if cuda { "cuda:0, bf16" } else { "cpu, f32" };
    println!(
        "model {preset}: {} layers, hidden {}, {} heads; {place}; torch threads {}",
        cfg.layers,
        cfg.hidden,
        cfg.heads,
        tch::get_num_threads()
    );
    let memory = if cuda {
        "device memory reserved by torch's caching allocator over the passes (cudaMemGetInfo)"
    } else {
        "resident-set high-water mark (VmHWM) above the resident set before the passes"
    };
    if !args.skip_train {
        println!();
        println!(
            "forward + backward, batch {}, median of {} (peak: {memory})",
            args.batch, args.repeats
        );
        println!(
            "{:<10} {:>9} {:>11} {:>13} {:>12}",
            "kind", "length", "ms/pass", "steps/s", "peak MiB"
        );
        for kind in &args.kinds {
            for &len in &lengths {
                let m = child(&format!("train:{kind}:{len}"))?;
                print_row(kind, len, &m, m.peak);
            }
        }
    }
    if args.mixer {
        println!();
        println!(
            "token mixer alone (one layer, {} heads x {}), forward + backward, batch {}, median of {}",
            cfg.heads,
            cfg.head_dim(),
            args.batch,
            args.repeats
        );
        println!(
            "{:<10} {:>9} {:>11} {:>13} {:>12}",
            "kind", "length", "ms/pass", "steps/s", "peak MiB"
        );
        for kind in args.kinds.iter().filter(|k| *k != "preset") {
            for &len in &lengths {
                let m = child(&format!("mixer:{kind}:{len}"))?;
                print_row(kind, len, &m, m.peak);
            }
        }
    }
    if !args.skip_infer {
        println!();
        println!(
            "inference step, {} environment(s), median of {} steps, against the history already consumed",
            args.envs, args.steps
        );
        println!(
            "(caches filled to that length with random contents: the cost of a step depends on their size, not their values)"
        );
        println!(
            "{:<10} {:>9} {:>11} {:>13} {:>12}",
            "kind", "history", "ms/step", "steps/s", "state MiB"
        );
        for kind in &args.kinds {
            for &len in &infer {
                let m = child(&format!("infer:{kind}:{len}"))?;
                print_row(kind, len, &m, m.state);
            }
        }
    }
    Ok(())
}

/// The training and inference lengths to measure: the flags', or powers of two up to 64K
/// training steps and 1M inference steps on CUDA (2K and 64K on the CPU).
fn bench_lengths(args: &ModelBenchArgs, cuda: bool) -> Result<(Vec<i64>, Vec<i64>)> {
    let pow2 =
        |from: i64, to: i64| (0..).map(|i| from << i).take_while(|&x| x <= to).collect::<Vec<_>>();
    let lengths = if args.lengths.is_empty() {
        if cuda { pow2(1024, 65536) } else { pow2(256, 2048) }
    } else {
        args.lengths.clone()
    };
    let infer = if args.infer_lengths.is_empty() {
        let top = if cuda { 1 << 20 } else { 65536 };
        pow2(1024, top).into_iter().step_by(2).collect()
    } else {
        args.infer_lengths.clone()
    };
    if lengths.iter().chain(&infer).any(|&l| l <= 0) {
        bail!("--lengths and --infer-lengths must be positive");
    }
    Ok((lengths, infer))
}

fn print_row(kind: &str, len: i64, m: &Measured, bytes: Option<i64>) {
    if let Some(why) = &m.skipped {
        println!("{kind:<10} {len:>9} skipped: {why}");
        return;
    }
    let mib = bytes.map_or("n/a".to_string(), |b| format!("{:.1}", b as f64 / (1 << 20) as f64));
    println!(
        "{kind:<10} {len:>9} {:>11.3} {:>13} {:>12}",
        m.ms,
        thousands(m.per_s.round() as i64),
        mib
    );
}

/// Runs one measurement in a fresh copy of this binary with the same arguments.
fn child(spec: &str) -> Result<Measured> {
    let exe = std::env::current_exe().context("locating the icrl binary")?;
    let out = Command::new(exe)
        .args(std::env::args().skip(1))
        .args(["--one", spec])
        .output()
        .with_context(|| format!("running the measurement {spec}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    match stdout.lines().last().map(serde_json::from_str::<Measured>) {
        Some(Ok(m)) if out.status.success() => Ok(m),
        _ => {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            let why =
                format!("failed ({}): {}", out.status, last.chars().take(120).collect::<String>());
            Ok(Measured { ms: 0.0, per_s: 0.0, peak: None, state: None, skipped: Some(why) })
        }
    }
}

/// The config of one measurement: the preset with every layer lightning, every layer softmax
/// (its window covering `window` steps), or unchanged.
fn bench_config(args: &ModelBenchArgs, device: Device, kind: &str, window: i64) -> Result<Config> {
    let preset = args
        .preset
        .clone()
        .unwrap_or_else(|| if device.is_cuda() { "vintix-300m" } else { "small" }.into());
    let mut cfg = Config::preset(&preset)?;
    match kind {
        "lightning" => cfg.pattern = "L".into(),
        "softmax" => {
            cfg.pattern = "S".into();
            cfg.softmax_window = window;
        }
        _ => {}
    }
    Ok(cfg)
}

fn build(cfg: &Config, device: Device) -> Result<Model> {
    let mut model = Model::new(cfg, device, &mut StdRng::seed_from_u64(0))?;
    if device.is_cuda() {
        model.set_kind(Kind::BFloat16);
    }
    Ok(model)
}

fn measure_one(args: &ModelBenchArgs, device: Device, spec: &str) -> Result<Measured> {
    let parts: Vec<&str> = spec.split(':').collect();
    let [phase, kind, len] = parts.as_slice() else {
        bail!("--one: expected PHASE:KIND:LENGTH, got `{spec}`")
    };
    let len: i64 = len.parse().with_context(|| format!("--one: length in `{spec}`"))?;
    tch::manual_seed(0);
    match *phase {
        "train" => measure_train(args, device, kind, len),
        "infer" => measure_infer(args, device, kind, len),
        "mixer" => measure_mixer(args, device, kind, len),
        _ => bail!("--one: phase must be train, infer or mixer, got `{phase}`"),
    }
}

/// Random inputs of group 0 for `b` sequences of `t` steps, with episodes of 100 steps.
pub(crate) fn random_batch(cfg: &Config, device: Device, b: i64, t: i64) -> Batch {
    let spec = &cfg.groups[0];
    let opts = (Kind::Float, device);
    let actions = || match spec.action {
        ActionSpec::Continuous { dim } => Tensor::randn([b, t, dim], opts),
        ActionSpec::Discrete { n } => Tensor::randint(n, [b, t], (Kind::Int64, device)),
    };
    let start = Tensor::arange(t, (Kind::Int64, device))
        .remainder(100)
        .eq(0)
        .unsqueeze(0)
        .expand([b, t], false)
        .copy();
    Batch {
        group: 0,
        obs: Tensor::randn([b, t, spec.obs_dim], opts),
        prev_actions: actions(),
        prev_rewards: Tensor::randn([b, t], opts),
        episode_start: start,
        target_actions: Some(actions()),
        loss_mask: None,
    }
}

fn measure_train(args: &ModelBenchArgs, device: Device, kind: &str, len: i64) -> Result<Measured> {
    let cfg = bench_config(args, device, kind, len)?;
    let model = build(&cfg, device)?;
    let mut opt = Sgd::default().build(model.var_store(), 0.0)?;
    let batch = random_batch(&cfg, device, args.batch, len);
    let pass = |opt: &mut tch::nn::Optimizer| -> Result<()> {
        opt.zero_grad();
        let out = model.forward(&batch)?;
        out.loss.context("the benchmark batch has targets")?.backward();
        Ok(())
    };
    sync(device);
    let base = memory_now(device);
    reset_peak();
    let secs = median_seconds(device, 1, args.repeats.max(1), || pass(&mut opt))?;
    let peak = match (base, memory_peak(device)) {
        (Some(b), Some(p)) => Some(p - b),
        _ => None,
    };
    // A fast pass that computes NaN is no result: the loss of one more forward must be finite.
    let loss = tch::no_grad(|| model.forward(&batch))?
        .loss
        .context("the benchmark batch has targets")?
        .double_value(&[]);
    let skipped = (!loss.is_finite())
        .then(|| format!("the loss is {loss} ({:.3} ms/pass): no result", secs * 1e3));
    Ok(Measured {
        ms: secs * 1e3,
        per_s: (args.batch * len) as f64 / secs,
        peak,
        state: None,
        skipped,
    })
}

/// One layer's token mixing alone: `q, k, v (batch, heads, len, head_dim)` through the
/// training form of `kind`, forward and backward (the gradient of the output's sum).
fn measure_mixer(args: &ModelBenchArgs, device: Device, kind: &str, len: i64) -> Result<Measured> {
    use agent::model::lightning::{decay_rates, lightning_block};
    use agent::model::softmax::{alibi_slopes, softmax_attention};
    let cfg = bench_config(args, device, kind, len)?;
    let elt = if device.is_cuda() { Kind::BFloat16 } else { Kind::Float };
    let (h, d) = (cfg.heads, cfg.head_dim());
    let input = || Tensor::randn([args.batch, h, len, d], (elt, device)).set_requires_grad(true);
    let (q, k, v) = (input(), input(), input());
    let rates =
        Tensor::from_slice(&decay_rates(h, 0, cfg.layers)).to_kind(Kind::Float).to_device(device);
    let slopes = Tensor::from_slice(&alibi_slopes(h)).to_kind(Kind::Float).to_device(device);
    let pass = || -> Result<()> {
        let out = match kind {
            "lightning" => lightning_block(&q, &k, &v, &rates, cfg.lightning_block, None, false).0,
            _ => softmax_attention(&q, &k, &v, &slopes, cfg.softmax_window, cfg.softmax_chunk),
        };
        out.to_kind(Kind::Float).sum(Kind::Float).backward();
        Ok(())
    };
    sync(device);
    let base = memory_now(device);
    reset_peak();
    let secs = median_seconds(device, 1, args.repeats.max(1), pass)?;
    let peak = match (base, memory_peak(device)) {
        (Some(b), Some(p)) => Some(p - b),
        _ => None,
    };
    Ok(Measured {
        ms: secs * 1e3,
        per_s: (args.batch * len) as f64 / secs,
        peak,
        state: None,
        skipped: None,
    })
}

fn measure_infer(args: &ModelBenchArgs, device: Device, kind: &str, len: i64) -> Result<Measured> {
    let steps = args.steps.max(1) as i64;
    let capacity = len + steps + 8;
    let cfg = bench_config(args, device, kind, capacity)?;
    let elt = if device.is_cuda() { 2 } else { 4 };
    let softmax_layers =
        cfg.layer_kinds().iter().filter(|k| **k == agent::model::AttentionKind::Softmax).count()
            as i64;
    let kept = capacity.min(cfg.softmax_window);
    let cache_bytes = 2 * softmax_layers * args.envs * cfg.hidden * kept * elt;
    let limit = args.max_cache_gib.unwrap_or(if device.is_cuda() { 40.0 } else { 4.0 });
    if cache_bytes as f64 > limit * (1u64 << 30) as f64 {
        let why = format!(
            "KV caches would take {:.1} GiB > --max-cache-gib {limit}",
            cache_bytes as f64 / (1u64 << 30) as f64
        );
        return Ok(Measured { ms: 0.0, per_s: 0.0, peak: None, state: None, skipped: Some(why) });
    }
    let model = build(&cfg, device)?;
    let kind_t = model.kind();
    let mut state = model.new_state(0, args.envs)?;
    let n = args.envs;
    let (h, dh) = (cfg.heads, cfg.head_dim());
    for layer in state.layers.iter_mut() {
        match layer {
            LayerCache::Lightning(s) => {
                *s = Tensor::randn([n, h, dh, dh], (Kind::Float, device)) * 0.01
            }
            LayerCache::Softmax(kv) => {
                let history = len.min(cfg.softmax_window);
                let buffer = || Tensor::randn([n, h, history + steps + 8, dh], (kind_t, device));
                *kv = KvCache::new(buffer(), buffer(), history);
            }
            LayerCache::Compressed(_) => {}
        }
    }
    let spec = &cfg.groups[0];
    let obs = Tensor::randn([n, spec.obs_dim], (Kind::Float, device));
    let prev = match spec.action {
        ActionSpec::Continuous { dim } => Tensor::zeros([n, dim], (Kind::Float, device)),
        ActionSpec::Discrete { .. } => Tensor::zeros([n], (Kind::Int64, device)),
    };
    let reward = Tensor::zeros([n], (Kind::Float, device));
    let start = Tensor::zeros([n], (Kind::Bool, device));
    // Reading the action back waits for the step on any device.
    let step = || -> Result<()> {
        let out = model.step(&mut state, &obs, &prev, &reward, &start)?;
        let _ = out.action.sum(Kind::Float).double_value(&[]);
        Ok(())
    };
    let secs = median_seconds(device, 2, steps as usize, step)?;
    Ok(Measured {
        ms: secs * 1e3,
        per_s: n as f64 / secs,
        peak: None,
        state: Some(state.bytes()),
        skipped: None,
    })
}
