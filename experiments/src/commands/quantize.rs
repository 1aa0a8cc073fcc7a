//! `icrl quantize`: HQQ-quantize the 2-D weights of any safetensors file, report HQQ against
//! round-to-nearest per tensor, and write a quantized checkpoint (agent/src/quant/FORMAT.md).

use std::path::PathBuf;
use std::time::Instant;

use agent::quant::{
    DequantMode, GroupAxis, MetaDtype, Method, Nbits, QuantConfig, QuantizedFile, QuantizedLinear,
    QuantizedTensor, RawTensor, ReconstructionError, SolverConfig, StoredTensor, quantize,
    reconstruction_error,
};
use anyhow::{Context, Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tch::{Cuda, Device, Kind, Tensor};

#[derive(Args, Debug)]
pub struct QuantizeArgs {
    /// The safetensors file to quantize (any producer; 2-D float tensors are quantized).
    #[arg(long = "in", value_name = "FILE")]
    pub input: PathBuf,

    /// Where to write the quantized checkpoint (written atomically).
    #[arg(long = "out", value_name = "FILE")]
    pub output: PathBuf,

    /// Bits per weight code: 8, 4, 3, 2 or 1.
    #[arg(long, value_parser = parse_nbits)]
    pub nbits: Nbits,

    /// Weights per group sharing one scale and zero (a multiple of 8).
    #[arg(long, default_value_t = 64)]
    pub group: i64,

    /// Group direction: 1 = consecutive input channels, 0 = down the columns (better at low bits).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub axis: u8,

    /// The method whose result is written to --out (both are always measured).
    #[arg(long, value_enum, default_value_t = MethodArg::Hqq)]
    pub method: MethodArg,

    /// HQQ solver: growth of beta per iteration (METHODS.md: 1.01; the reference package's
    /// default solver keeps beta fixed, i.e. 1).
    #[arg(long, default_value_t = 1.01)]
    pub kappa: f64,

    /// HQQ solver: the most zero-point updates.
    #[arg(long, default_value_t = 20)]
    pub iters: usize,

    /// Also quantize the scales and zeros to 8 bits (groups of 128).
    #[arg(long)]
    pub quant_meta: bool,

    /// Storage type of scales and zeros when --quant-meta is off.
    #[arg(long, value_enum, default_value_t = MetaArg::F16)]
    pub meta_dtype: MetaArg,

    /// Tensors with fewer values than this stay in full precision.
    #[arg(long, default_value_t = 4096)]
    pub min_numel: i64,

    /// Where to run: cpu, cuda, or auto (cuda when available).
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// Run only the method written to --out (skip the other; its columns are left empty).
    #[arg(long)]
    pub no_baseline: bool,

    /// Torch intra-op threads on the CPU (default: torch's own choice).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: Option<i32>,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,

    /// Also time QuantizedLinear on each quantized matrix with a batch of this many inputs:
    /// dequantize per call against cached dequantized weights (median of 20 calls).
    #[arg(long, value_name = "BATCH")]
    pub bench_linear: Option<i64>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MethodArg {
    Hqq,
    Rtn,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum MetaArg {
    F16,
    Bf16,
    F32,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

fn parse_nbits(s: &str) -> Result<Nbits, String> {
    let bits: u8 = s.parse().map_err(|_| format!("expected 8, 4, 3, 2 or 1, got `{s}`"))?;
    Nbits::try_from(bits).map_err(|e| e.to_string())
}

/// One method's result on one tensor.
#[derive(Serialize)]
struct MethodReport {
    rel_frobenius: f64,
    mean_abs: f64,
    seconds: f64,
}

#[derive(Serialize)]
struct TensorReport {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    hqq: Option<MethodReport>,
    rtn: Option<MethodReport>,
    bits_per_weight: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    linear: Option<LinearTiming>,
}

#[derive(Serialize)]
struct KeptReport {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    reason: String,
}

#[derive(Serialize)]
struct LinearTiming {
    batch: i64,
    per_call_ms: f64,
    cached_ms: f64,
}

#[derive(Serialize)]
struct Totals {
    quantized_params: i64,
    kept_params: i64,
    hqq_seconds: f64,
    rtn_seconds: f64,
    input_bytes: u64,
    output_bytes: u64,
    /// Output file bits per quantized weight (kept tensors and the header excluded).
    bits_per_weight: f64,
}

#[derive(Serialize)]
struct Report {
    input: PathBuf,
    output: PathBuf,
    device: String,
    threads: i32,
    config: QuantConfig,
    tensors: Vec<TensorReport>,
    kept: Vec<KeptReport>,
    totals: Totals,
}

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let device = match args.device {
        DeviceArg::Cpu => Device::Cpu,
        DeviceArg::Cuda if !Cuda::is_available() => {
            bail!("--device cuda: no CUDA device is available")
        }
        DeviceArg::Cuda => Device::Cuda(0),
        DeviceArg::Auto => Device::cuda_if_available(),
    };
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let config = QuantConfig {
        nbits: args.nbits,
        group_size: args.group,
        axis: GroupAxis::try_from(args.axis)?,
        method: match args.method {
            MethodArg::Hqq => Method::Hqq,
            MethodArg::Rtn => Method::Rtn,
        },
        solver: SolverConfig { kappa: args.kappa, iters: args.iters, ..SolverConfig::default() },
        quant_meta: args.quant_meta,
        meta_dtype: match args.meta_dtype {
            MetaArg::F16 => MetaDtype::F16,
            MetaArg::Bf16 => MetaDtype::Bf16,
            MetaArg::F32 => MetaDtype::F32,
        },
    };
    config.validate().context("checking --group, --kappa and --iters")?;
    let entries = agent::quant::read_safetensors(&args.input)?;
    if entries.is_empty() {
        bail!("{}: holds no tensors", args.input.display());
    }

    let _guard = tch::no_grad_guard();
    let mut file = QuantizedFile::new();
    let mut tensors = Vec::new();
    let mut kept = Vec::new();
    let mut totals = Totals {
        quantized_params: 0,
        kept_params: 0,
        hqq_seconds: 0.0,
        rtn_seconds: 0.0,
        input_bytes: std::fs::metadata(&args.input).map(|m| m.len()).unwrap_or(0),
        output_bytes: 0,
        bits_per_weight: 0.0,
    };
    let mut quantized_bytes = 0i64;
    for (name, raw) in entries {
        let dtype = format!("{:?}", raw.dtype);
        if let Some(reason) = keep_reason(&raw, &config, args.min_numel) {
            totals.kept_params += raw.numel() as i64;
            kept.push(KeptReport { name: name.clone(), shape: raw.shape.clone(), dtype, reason });
            file.tensors.insert(name, StoredTensor::Full(raw));
            continue;
        }
        let weight = raw
            .to_tensor()
            .and_then(|t| Ok(t.f_to_device(device)?))
            .with_context(|| format!("{}: loading tensor `{name}`", args.input.display()))?;
        let run = |method: Method| -> Result<Option<(MethodReport, QuantizedTensor)>> {
            if args.no_baseline && method != config.method {
                return Ok(None);
            }
            let result = measure(&weight, &QuantConfig { method, ..config.clone() })
                .with_context(|| format!("{method} on tensor `{name}`"))?;
            Ok(Some(result))
        };
        let hqq = run(Method::Hqq)?;
        let rtn = run(Method::Rtn)?;
        let (hqq, hqq_q) = hqq.unzip();
        let (rtn, rtn_q) = rtn.unzip();
        let chosen = match config.method {
            Method::Hqq => hqq_q,
            Method::Rtn => rtn_q,
        }
        .context("the written method always runs")?;
        let linear = match args.bench_linear {
            Some(batch) => Some(
                time_linear(&chosen, batch, device)
                    .with_context(|| format!("timing QuantizedLinear on `{name}`"))?,
            ),
            None => None,
        };
        totals.quantized_params += chosen.numel();
        totals.hqq_seconds += hqq.as_ref().map_or(0.0, |r| r.seconds);
        totals.rtn_seconds += rtn.as_ref().map_or(0.0, |r| r.seconds);
        quantized_bytes += chosen.bytes();
        tensors.push(TensorReport {
            name: name.clone(),
            shape: raw.shape.clone(),
            dtype: dtype.clone(),
            hqq,
            rtn,
            bits_per_weight: chosen.bits_per_weight(),
            linear,
        });
        let weight = chosen.to_device(Device::Cpu)?;
        file.tensors.insert(name, StoredTensor::Quantized { weight, dtype: raw.dtype });
    }
    agent::quant::write_quantized(&args.output, &file)?;
    totals.output_bytes = std::fs::metadata(&args.output)
        .with_context(|| format!("reading the size of {}", args.output.display()))?
        .len();
    if totals.quantized_params > 0 {
        totals.bits_per_weight = 8.0 * quantized_bytes as f64 / totals.quantized_params as f64;
    }
    let report = Report {
        input: args.input.clone(),
        output: args.output.clone(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        config,
        tensors,
        kept,
        totals,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_table(&report);
    }
    Ok(())
}

/// Why a tensor stays in full precision, if it does.
fn keep_reason(raw: &RawTensor, config: &QuantConfig, min_numel: i64) -> Option<String> {
    use agent::quant::Dtype;
    let numel = raw.numel() as i64;
    if !matches!(raw.dtype, Dtype::F64 | Dtype::F32 | Dtype::F16 | Dtype::BF16) {
        Some(format!("{:?} is not a float type", raw.dtype))
    } else if raw.shape.len() != 2 {
        Some(format!("{}-D, not a matrix", raw.shape.len()))
    } else if numel < min_numel {
        Some(format!("{numel} values < --min-numel {min_numel}"))
    } else if numel % config.group_size != 0 {
        Some(format!("{numel} values not a multiple of --group {}", config.group_size))
    } else {
        None
    }
}

/// Quantizes once, timing it, and measures the reconstruction error.
fn measure(weight: &Tensor, config: &QuantConfig) -> Result<(MethodReport, QuantizedTensor)> {
    let start = Instant::now();
    let q = quantize(weight, config)?;
    sync(weight.device());
    let seconds = start.elapsed().as_secs_f64();
    let ReconstructionError { rel_frobenius, mean_abs } =
        reconstruction_error(weight, &q.dequantize()?)?;
    Ok((MethodReport { rel_frobenius, mean_abs, seconds }, q))
}

/// Median milliseconds of a QuantizedLinear forward in each mode.
fn time_linear(weight: &QuantizedTensor, batch: i64, device: Device) -> Result<LinearTiming> {
    if batch < 1 {
        bail!("--bench-linear must be at least 1, got {batch}");
    }
    let copy = |w: &QuantizedTensor| w.to_device(device);
    let inputs = weight.shape[1];
    let xs = Tensor::f_randn([batch, inputs], (Kind::Float, device))?;
    let per_call = QuantizedLinear::new(copy(weight)?, None, DequantMode::PerCall, Kind::Float)?;
    let cached = QuantizedLinear::new(copy(weight)?, None, DequantMode::Cached, Kind::Float)?;
    let median_ms = |layer: &QuantizedLinear| -> Result<f64> {
        for _ in 0..3 {
            let _ = layer.f_forward(&xs)?;
        }
        sync(device);
        let mut times = Vec::with_capacity(20);
        for _ in 0..20 {
            let start = Instant::now();
            let ys = layer.f_forward(&xs)?;
            sync(device);
            times.push(start.elapsed().as_secs_f64() * 1e3);
            drop(ys);
        }
        times.sort_by(f64::total_cmp);
        Ok(times[times.len() / 2])
    };
    Ok(LinearTiming { batch, per_call_ms: median_ms(&per_call)?, cached_ms: median_ms(&cached)? })
}

fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        Cuda::synchronize(i as i64);
    }
}

fn print_table(report: &Report) {
    let c = &report.config;
    println!(
        "{} -> {}: {}-bit, group {}, axis {}, written: {}{}, on {} ({} threads)",
        report.input.display(),
        report.output.display(),
        c.nbits,
        c.group_size,
        u8::from(c.axis),
        c.method,
        if c.quant_meta { ", 8-bit scales/zeros" } else { "" },
        report.device,
        report.threads
    );
    println!(
        "{:<40} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6}",
        "tensor", "shape", "hqq rel", "rtn rel", "hqq mae", "rtn mae", "hqq s", "rtn s", "bits"
    );
    let cell = |r: &Option<MethodReport>, f: fn(&MethodReport) -> String| {
        r.as_ref().map_or_else(|| "-".to_string(), f)
    };
    for t in &report.tensors {
        println!(
            "{:<40} {:>12} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>6.3}",
            t.name,
            format!("{}x{}", t.shape[0], t.shape[1]),
            cell(&t.hqq, |r| format!("{:.5}", r.rel_frobenius)),
            cell(&t.rtn, |r| format!("{:.5}", r.rel_frobenius)),
            cell(&t.hqq, |r| format!("{:.3e}", r.mean_abs)),
            cell(&t.rtn, |r| format!("{:.3e}", r.mean_abs)),
            cell(&t.hqq, |r| format!("{:.3}", r.seconds)),
            cell(&t.rtn, |r| format!("{:.3}", r.seconds)),
            t.bits_per_weight
        );
    }
    if report.tensors.iter().any(|t| t.linear.is_some()) {
        println!("\nQuantizedLinear forward, median of 20 (ms):");
        println!("{:<40} {:>8} {:>12} {:>12}", "tensor", "batch", "per call", "cached");
        for t in &report.tensors {
            if let Some(l) = &t.linear {
                println!(
                    "{:<40} {:>8} {:>12.3} {:>12.3}",
                    t.name, l.batch, l.per_call_ms, l.cached_ms
                );
            }
        }
    }
    for k in &report.kept {
        println!("kept in full precision: {} {:?} {} ({})", k.name, k.shape, k.dtype, k.reason);
    }
    let t = &report.totals;
    println!(
        "quantized {} weights ({} kept): HQQ {:.2} s, RTN {:.2} s; {:.3} bits/weight; file {} -> {} bytes",
        t.quantized_params,
        t.kept_params,
        t.hqq_seconds,
        t.rtn_seconds,
        t.bits_per_weight,
        t.input_bytes,
        t.output_bytes
    );
}
