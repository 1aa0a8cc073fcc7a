//! `icrl bench quant`: what quantized weights cost at inference. Quantizes what `icrl
//! quantize` would (the same `--in`/`--preset` and quantizer flags; nothing is written) and
//! times, in memory:
//!
//! - `--linear BATCH`: a [`QuantizedLinear`] forward on each quantized matrix with a batch of
//!   BATCH inputs, dequantizing per call against cached dequantized weights (median of
//!   [`LINEAR_TIMED`] calls after [`LINEAR_WARMUP`]);
//! - `--step ENVS` (models): one inference step (`Model::step`) for ENVS environments of the
//!   first domain group on the dense model, then quantized dequantizing per call, then
//!   quantized with cached dense weights (median of [`STEP_TIMED`] steps after
//!   [`STEP_HISTORY`] steps of history). The model runs on the CPU, as `icrl quantize` builds
//!   it; the quantizer runs on `--device`.

use std::collections::BTreeMap;

use agent::model::{ActionSpec, Model};
use agent::quant::{DequantMode, QuantConfig, QuantizedLinear, QuantizedTensor, quantize};
use anyhow::{Context, Result, bail};
use clap::Args;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::commands::quantize::{
    QuantizerArgs, Source, SourceArgs, build_model, keep_reason, settings_line,
};
use crate::common::{ComputeArgs, median_seconds, print_report, sync};

/// Untimed and timed forwards of `--linear`.
const LINEAR_WARMUP: usize = 3;
const LINEAR_TIMED: usize = 20;

/// Steps of history fed before the timed steps of `--step`.
const STEP_HISTORY: usize = 8;

/// Timed steps of `--step` (the median is reported).
const STEP_TIMED: usize = 12;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "preset"])))]
#[command(group(clap::ArgGroup::new("timing").required(true).multiple(true).args(["linear", "step"])))]
pub struct QuantBenchArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    #[command(flatten)]
    pub quantizer: QuantizerArgs,

    // Quantizing and the QuantizedLinear forwards run on --device; `Model::step` on the CPU.
    #[command(flatten)]
    pub compute: ComputeArgs,

    /// Time QuantizedLinear on each quantized matrix with a batch of this many inputs:
    /// dequantize per call against cached dequantized weights (median of 20 calls).
    #[arg(long, value_name = "BATCH", value_parser = clap::value_parser!(i64).range(1..))]
    pub linear: Option<i64>,

    /// Models: time one inference step (`Model::step`, on the CPU) for this many environments
    /// of the first domain group: dense, quantized dequantizing per call, quantized cached
    /// (median of 12 steps after 8 steps of history).
    #[arg(long, value_name = "ENVS", value_parser = clap::value_parser!(i64).range(1..))]
    pub step: Option<i64>,

    /// Print the timings as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Milliseconds of one QuantizedLinear forward (median) in each mode.
#[derive(Serialize)]
struct LinearTiming {
    name: String,
    shape: Vec<i64>,
    batch: i64,
    per_call_ms: f64,
    cached_ms: f64,
}

/// Milliseconds of one `Model::step` (median) in each form.
#[derive(Serialize)]
struct StepTiming {
    envs: i64,
    /// Steps of history before the timed ones.
    history: usize,
    dense_ms: f64,
    per_call_ms: f64,
    cached_ms: f64,
}

#[derive(Serialize)]
struct Report {
    /// What was quantized (file, run, checkpoint or preset).
    source: String,
    device: String,
    threads: i32,
    config: QuantConfig,
    linear: Vec<LinearTiming>,
    #[serde(skip_serializing_if = "Option::is_none")]
    step: Option<StepTiming>,
}

pub fn run(args: &QuantBenchArgs) -> Result<()> {
    let device = args.compute.apply()?;
    let config = args.quantizer.config()?;
    let source = Source::detect(&args.source)?;
    if matches!(source, Source::Tensors(_)) && (args.source.include_io || args.step.is_some()) {
        bail!(
            "--include-io and --step apply to models: give --in a run folder, a model \
             checkpoint with its config, or --preset"
        );
    }
    let _guard = tch::no_grad_guard();
    let mut linear = Vec::new();
    let mut timed = |name: &str, weight: &Tensor| -> Result<QuantizedTensor> {
        let q = quantize(&weight.f_to_device(device)?, &config)
            .with_context(|| format!("quantizing tensor `{name}`"))?;
        if let Some(batch) = args.linear {
            let (per_call_ms, cached_ms) = time_linear(&q, batch, device)
                .with_context(|| format!("timing QuantizedLinear on `{name}`"))?;
            let (name, shape) = (name.to_string(), q.shape.clone());
            linear.push(LinearTiming { name, shape, batch, per_call_ms, cached_ms });
        }
        Ok(q)
    };
    let (source, step) = match source {
        Source::Tensors(path) => {
            for (name, raw) in agent::quant::read_safetensors(&path)? {
                if keep_reason(&raw, &config, args.quantizer.min_numel).is_none() {
                    let weight = raw
                        .to_tensor()
                        .with_context(|| format!("{}: loading tensor `{name}`", path.display()))?;
                    timed(&name, &weight)?;
                }
            }
            (format!("file {}", path.display()), None)
        }
        Source::Model { cfg, weights, label, .. } => {
            let mut model = build_model(&cfg, args.source.seed, weights.as_deref())?;
            let dense_ms = args.step.map(|envs| time_step(&model, envs)).transpose()?;
            let targets =
                model.quantization_targets(args.source.include_io, config.group_size).quantize;
            let mut quantized = BTreeMap::new();
            for (name, weight) in targets {
                let q = timed(&name, &weight)?;
                quantized.insert(name, q.to_device(Device::Cpu)?);
            }
            let mut step = None;
            if let (Some(envs), Some(dense_ms)) = (args.step, dense_ms) {
                model.install_quantized(quantized, DequantMode::PerCall)?;
                let per_call_ms = time_step(&model, envs)?;
                model.set_dequant_mode(DequantMode::Cached)?;
                let cached_ms = time_step(&model, envs)?;
                let history = STEP_HISTORY;
                step = Some(StepTiming { envs, history, dense_ms, per_call_ms, cached_ms });
            }
            (label, step)
        }
    };
    let report = Report {
        source,
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        config,
        linear,
        step,
    };
    print_report(&report, args.json, print_table)
}

/// Median milliseconds of a QuantizedLinear forward dequantizing per call, and with cached
/// dequantized weights.
fn time_linear(weight: &QuantizedTensor, batch: i64, device: Device) -> Result<(f64, f64)> {
    let copy = |w: &QuantizedTensor| w.to_device(device);
    let inputs = weight.shape[1];
    let xs = Tensor::f_randn([batch, inputs], (Kind::Float, device))?;
    let per_call = QuantizedLinear::new(copy(weight)?, None, DequantMode::PerCall, Kind::Float)?;
    let cached = QuantizedLinear::new(copy(weight)?, None, DequantMode::Cached, Kind::Float)?;
    let median_ms = |layer: &QuantizedLinear| -> Result<f64> {
        let forward = || Ok(layer.f_forward(&xs)?);
        Ok(median_seconds(device, LINEAR_WARMUP, LINEAR_TIMED, forward)? * 1e3)
    };
    Ok((median_ms(&per_call)?, median_ms(&cached)?))
}

/// Median milliseconds of one `Model::step` for `envs` environments of the first domain
/// group, after [`STEP_HISTORY`] steps of history (the median of [`STEP_TIMED`] steps).
fn time_step(model: &Model, envs: i64) -> Result<f64> {
    let spec = &model.config().groups[0];
    let device = model.device();
    let opts = (Kind::Float, device);
    let mut state = model.new_state(0, envs)?;
    let obs = Tensor::f_randn([envs, spec.obs_dim], opts)?;
    let action = match spec.action {
        ActionSpec::Continuous { dim } => Tensor::f_zeros([envs, dim], opts)?,
        ActionSpec::Discrete { .. } => Tensor::f_zeros([envs], (Kind::Int64, device))?,
    };
    let reward = Tensor::f_zeros([envs], opts)?;
    let start = |first: bool| Tensor::f_full([envs], first as i64, (Kind::Bool, device));
    for i in 0..STEP_HISTORY {
        model.step(&mut state, &obs, &action, &reward, &start(i == 0)?)?;
        sync(device);
    }
    let going = start(false)?;
    let step = || Ok(model.step(&mut state, &obs, &action, &reward, &going)?);
    Ok(median_seconds(device, 0, STEP_TIMED, step)? * 1e3)
}

fn print_table(report: &Report) {
    let settings = settings_line(&report.config, "", &report.device, report.threads);
    println!("{}: {settings}", report.source);
    if !report.linear.is_empty() {
        println!("\nQuantizedLinear forward, median of {LINEAR_TIMED} (ms):");
        println!("{:<40} {:>8} {:>12} {:>12}", "tensor", "batch", "per call", "cached");
        for l in &report.linear {
            println!("{:<40} {:>8} {:>12.3} {:>12.3}", l.name, l.batch, l.per_call_ms, l.cached_ms);
        }
    }
    if let Some(s) = &report.step {
        println!(
            "Model::step, {} envs after {} steps, median of {STEP_TIMED} (ms): dense {:.3}, \
             quantized per call {:.3}, quantized cached {:.3}",
            s.envs, s.history, s.dense_ms, s.per_call_ms, s.cached_ms
        );
    }
}
