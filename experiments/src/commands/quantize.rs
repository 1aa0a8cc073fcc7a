//! `icrl quantize`: HQQ-quantize the 2-D weights of any safetensors file, or the linear
//! layers of an `icrl` model (a training run, a model checkpoint or a preset), report HQQ
//! against round-to-nearest per tensor, and write a quantized checkpoint
//! (agent/src/quant/FORMAT.md). A model's checkpoint carries its config and loads with
//! `Model::load_quantized` (`icrl eval --quantized`). What the quantized weights cost at
//! inference is `icrl bench quant`, which shares the source and quantizer flags
//! ([`SourceArgs`], [`QuantizerArgs`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use agent::model::{Config, Model};
use agent::quant::{
    DequantMode, GroupAxis, MetaDtype, Method, Nbits, QuantConfig, QuantizedFile, QuantizedTensor,
    RawTensor, ReconstructionError, SolverConfig, StoredTensor, quantize, reconstruction_error,
};
use agent::train::{TrainConfig, checkpoint};
use anyhow::{Context, Result, anyhow, bail};
use clap::{Args, ValueEnum};
use rand::SeedableRng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::common::{ComputeArgs, print_report, sync};

/// The header key holding a training run's `config.json` (so `icrl eval --quantized` finds
/// the run's data without the run folder).
pub use agent::train::trainer::TRAIN_CONFIG_KEY;

#[derive(Args, Debug)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["input", "preset"])))]
pub struct QuantizeArgs {
    #[command(flatten)]
    pub source: SourceArgs,

    /// Models: also write the dense model before quantization as DIR/model.f32.safetensors
    /// and DIR/model.bf16.safetensors (to compare file sizes).
    #[arg(long, value_name = "DIR")]
    pub save_dense: Option<PathBuf>,

    /// Where to write the quantized checkpoint (written atomically).
    #[arg(long = "out", value_name = "FILE")]
    pub output: PathBuf,

    #[command(flatten)]
    pub quantizer: QuantizerArgs,

    #[command(flatten)]
    pub compute: ComputeArgs,

    /// Run only the method written to --out (skip the other; its columns are left empty).
    #[arg(long)]
    pub no_baseline: bool,

    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// What to quantize: `--in` or `--preset` (one of the two is required; the command's own
/// `source` group says so).
#[derive(Args, Debug)]
pub struct SourceArgs {
    /// What to quantize: any safetensors file (its 2-D float tensors are quantized), a
    /// training run folder (its model: backbone linear layers), or a run's model checkpoint
    /// `RUN/checkpoint/model.safetensors` (likewise; with --config for a model file
    /// elsewhere). A model's file carries its config and loads in `icrl eval --quantized`.
    #[arg(long = "in", value_name = "FILE|RUN")]
    pub input: Option<PathBuf>,

    /// Quantize a freshly initialised model of this preset instead (random weights, --seed;
    /// for measuring time and bytes).
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,

    /// Seed of the random initialisation of --preset.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// The config of a model checkpoint given to --in: a run's config.json or a model
    /// config JSON (found automatically for RUN/checkpoint/model.safetensors).
    #[arg(long, value_name = "JSON")]
    pub config: Option<PathBuf>,

    /// Models: also quantize the encoder and decoder linear layers (by default only the
    /// backbone's: attention projections, FFN, ReMoE router and experts).
    #[arg(long)]
    pub include_io: bool,
}

/// How to quantize: the quantizer's settings.
#[derive(Args, Debug)]
pub struct QuantizerArgs {
    /// Bits per weight code: 8, 4, 3, 2 or 1.
    #[arg(long, value_parser = parse_nbits)]
    pub nbits: Nbits,

    /// Weights per group sharing one scale and zero (a multiple of 8).
    #[arg(long, default_value_t = 64)]
    pub group: i64,

    /// Group direction: 1 = consecutive input channels, 0 = down the columns (better at low bits).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=1))]
    pub axis: u8,

    /// The method: `icrl quantize` writes its result to --out (and measures both unless
    /// --no-baseline); `icrl bench quant` times its result.
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
}

impl QuantizerArgs {
    /// The quantizer's config, validated.
    pub fn config(&self) -> Result<QuantConfig> {
        let config = QuantConfig {
            nbits: self.nbits,
            group_size: self.group,
            axis: GroupAxis::try_from(self.axis)?,
            method: match self.method {
                MethodArg::Hqq => Method::Hqq,
                MethodArg::Rtn => Method::Rtn,
            },
            solver: SolverConfig {
                kappa: self.kappa,
                iters: self.iters,
                ..SolverConfig::default()
            },
            quant_meta: self.quant_meta,
            meta_dtype: match self.meta_dtype {
                MetaArg::F16 => MetaDtype::F16,
                MetaArg::Bf16 => MetaDtype::Bf16,
                MetaArg::F32 => MetaDtype::F32,
            },
        };
        config.validate().context("checking --group, --kappa and --iters")?;
        Ok(config)
    }
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
}

#[derive(Serialize)]
struct KeptReport {
    name: String,
    shape: Vec<usize>,
    dtype: String,
    reason: String,
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

/// What a model's quantization adds to the report.
#[derive(Serialize)]
struct ModelSummary {
    /// Where the model came from (run folder, checkpoint or preset).
    source: String,
    backbone_quantized: usize,
    io_quantized: usize,
    /// Bytes of the dense f32 / bf16 model files written by --save-dense.
    #[serde(skip_serializing_if = "Option::is_none")]
    dense_f32_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dense_bf16_bytes: Option<u64>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<ModelSummary>,
}

/// What --in (or --preset) names.
pub enum Source {
    /// Any safetensors file of loose tensors.
    Tensors(PathBuf),
    /// An `icrl` model: its config, the run's config.json text if any, and its weights
    /// (None: a fresh initialisation).
    Model {
        cfg: Box<Config>,
        train_config: Option<String>,
        weights: Option<PathBuf>,
        label: String,
    },
}

impl Source {
    pub fn detect(args: &SourceArgs) -> Result<Source> {
        if let Some(name) = &args.preset {
            let cfg = Box::new(Config::preset(name)?);
            return Ok(Source::Model {
                cfg,
                train_config: None,
                weights: None,
                label: format!("preset {name}, random initialisation (seed {})", args.seed),
            });
        }
        let input = args.input.clone().context("--in or --preset is required")?;
        if input.is_dir() {
            let ckpt = checkpoint::find(&input).ok_or_else(|| {
                anyhow!(
                    "--in {}: a folder without a checkpoint; expected a training run folder",
                    input.display()
                )
            })?;
            let (cfg, text) = read_config(&input.join("config.json"))?;
            return Ok(Source::Model {
                cfg: Box::new(cfg),
                train_config: text,
                weights: Some(ckpt.join(checkpoint::MODEL_FILE)),
                label: format!("run {}", input.display()),
            });
        }
        let config = args.config.clone().or_else(|| {
            let run = input.parent()?.parent()?;
            let beside = run.join("config.json");
            (input.file_name()? == checkpoint::MODEL_FILE && beside.exists()).then_some(beside)
        });
        match config {
            Some(path) => {
                let (cfg, text) = read_config(&path)?;
                Ok(Source::Model {
                    cfg: Box::new(cfg),
                    train_config: text,
                    weights: Some(input.clone()),
                    label: format!("model {} (config {})", input.display(), path.display()),
                })
            }
            None => Ok(Source::Tensors(input)),
        }
    }
}

/// Whether `a` and `b` name the same file (after resolving links and `..`); a `b` that does
/// not exist yet is resolved through its folder.
fn same_file(a: &Path, b: &Path) -> bool {
    let resolve = |p: &Path| {
        p.canonicalize().ok().or_else(|| {
            let dir = p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Some(dir.canonicalize().ok()?.join(p.file_name()?))
        })
    };
    matches!((resolve(a), resolve(b)), (Some(x), Some(y)) if x == y)
}

/// A run's config.json (TrainConfig: the model config and the text to carry) or a bare
/// model config.
fn read_config(path: &Path) -> Result<(Config, Option<String>)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    if let Ok(train) = serde_json::from_str::<TrainConfig>(&text) {
        let compact = serde_json::to_string(&train)?;
        return Ok((train.model, Some(compact)));
    }
    let cfg: Config = serde_json::from_str(&text).with_context(|| {
        format!("{}: neither a run's config.json nor a model config", path.display())
    })?;
    Ok((cfg, None))
}

/// The input and output are usable: not the same file, not already quantized, and the model
/// options only for models.
fn check_source(args: &QuantizeArgs, source: &Source) -> Result<()> {
    let read_from = match source {
        Source::Tensors(path) => Some(path),
        Source::Model { weights, .. } => weights.as_ref(),
    };
    if let Some(input) = read_from {
        if same_file(input, &args.output) {
            bail!(
                "--out {} is the input file {}: writing it would replace the original; choose \
                 another --out",
                args.output.display(),
                input.display()
            );
        }
        if let Some(version) = agent::quant::checkpoint::quantized_format_of(input)? {
            bail!(
                "--in {}: already a quantized checkpoint (format `{}` version {version}); \
                 quantize the original weights instead",
                input.display(),
                agent::quant::checkpoint::FORMAT_NAME
            );
        }
    }
    if matches!(source, Source::Tensors(_)) && (args.source.include_io || args.save_dense.is_some())
    {
        bail!(
            "--include-io and --save-dense apply to models: give --in a run folder, a model \
             checkpoint with its config, or --preset"
        );
    }
    Ok(())
}

pub fn run(args: &QuantizeArgs) -> Result<()> {
    let device = args.compute.apply()?;
    let config = args.quantizer.config()?;
    let source = Source::detect(&args.source)?;
    check_source(args, &source)?;

    let _guard = tch::no_grad_guard();
    let mut work = Work {
        args,
        config: &config,
        device,
        tensors: Vec::new(),
        kept: Vec::new(),
        totals: Totals {
            quantized_params: 0,
            kept_params: 0,
            hqq_seconds: 0.0,
            rtn_seconds: 0.0,
            input_bytes: 0,
            output_bytes: 0,
            bits_per_weight: 0.0,
        },
        quantized_bytes: 0,
    };
    let (input, model) = match source {
        Source::Tensors(path) => {
            work.totals.input_bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            quantize_tensors(&mut work, &path)?;
            (path, None)
        }
        Source::Model { cfg, train_config, weights, label } => {
            let summary = quantize_model(&mut work, &cfg, train_config, weights.as_deref(), label)?;
            (weights.unwrap_or_else(|| PathBuf::from("(random initialisation)")), Some(summary))
        }
    };
    let Work { tensors, kept, mut totals, quantized_bytes, .. } = work;
    totals.output_bytes = std::fs::metadata(&args.output)
        .with_context(|| format!("reading the size of {}", args.output.display()))?
        .len();
    if totals.quantized_params > 0 {
        totals.bits_per_weight = 8.0 * quantized_bytes as f64 / totals.quantized_params as f64;
    }
    let report = Report {
        input,
        output: args.output.clone(),
        device: format!("{device:?}"),
        threads: tch::get_num_threads(),
        config,
        tensors,
        kept,
        totals,
        model,
    };
    print_report(&report, args.json, print_table)
}

/// The settings and the report as it is filled in.
struct Work<'a> {
    args: &'a QuantizeArgs,
    config: &'a QuantConfig,
    device: Device,
    tensors: Vec<TensorReport>,
    kept: Vec<KeptReport>,
    totals: Totals,
    quantized_bytes: i64,
}

impl Work<'_> {
    fn keep(&mut self, name: String, shape: Vec<usize>, dtype: String, reason: String) {
        self.totals.kept_params += shape.iter().product::<usize>() as i64;
        self.kept.push(KeptReport { name, shape, dtype, reason });
    }

    /// Quantizes one weight with the written method (and the other unless --no-baseline),
    /// records its row and returns the written result on the CPU.
    fn quantize_one(&mut self, name: &str, weight: &Tensor) -> Result<QuantizedTensor> {
        let (args, config) = (self.args, self.config);
        let weight = weight.f_to_device(self.device)?;
        let run = |method: Method| -> Result<Option<(MethodReport, QuantizedTensor)>> {
            if args.no_baseline && method != config.method {
                return Ok(None);
            }
            let result = measure(&weight, &QuantConfig { method, ..config.clone() })
                .with_context(|| format!("{method} on tensor `{name}`"))?;
            Ok(Some(result))
        };
        let (hqq, hqq_q) = run(Method::Hqq)?.unzip();
        let (rtn, rtn_q) = run(Method::Rtn)?.unzip();
        let chosen = match config.method {
            Method::Hqq => hqq_q,
            Method::Rtn => rtn_q,
        }
        .context("the written method always runs")?;
        self.totals.quantized_params += chosen.numel();
        self.totals.hqq_seconds += hqq.as_ref().map_or(0.0, |r| r.seconds);
        self.totals.rtn_seconds += rtn.as_ref().map_or(0.0, |r| r.seconds);
        self.quantized_bytes += chosen.bytes();
        self.tensors.push(TensorReport {
            name: name.to_string(),
            shape: weight.size().iter().map(|&d| d as usize).collect(),
            dtype: format!("{:?}", weight.kind()),
            hqq,
            rtn,
            bits_per_weight: chosen.bits_per_weight(),
        });
        Ok(chosen.to_device(Device::Cpu)?)
    }
}

/// Any safetensors file: 2-D float tensors quantized, the rest kept as they are.
fn quantize_tensors(work: &mut Work<'_>, input: &Path) -> Result<()> {
    let entries = agent::quant::read_safetensors(input)?;
    if entries.is_empty() {
        bail!("{}: holds no tensors", input.display());
    }
    let mut file = QuantizedFile::new();
    for (name, raw) in entries {
        let dtype = format!("{:?}", raw.dtype);
        if let Some(reason) = keep_reason(&raw, work.config, work.args.quantizer.min_numel) {
            work.keep(name.clone(), raw.shape.clone(), dtype, reason);
            file.tensors.insert(name, StoredTensor::Full(raw));
            continue;
        }
        let weight = raw
            .to_tensor()
            .with_context(|| format!("{}: loading tensor `{name}`", input.display()))?;
        let weight = work.quantize_one(&name, &weight)?;
        if let Some(row) = work.tensors.last_mut() {
            row.dtype = dtype;
        }
        file.tensors.insert(name, StoredTensor::Quantized { weight, dtype: raw.dtype });
    }
    agent::quant::write_quantized(&work.args.output, &file)?;
    Ok(())
}

/// An `icrl` model: its linear layers quantized (`Model::quantization_targets`), written
/// with its config (and the run's config.json) by `Model::save_quantized`.
fn quantize_model(
    work: &mut Work<'_>,
    cfg: &Config,
    train_config: Option<String>,
    weights: Option<&Path>,
    source: String,
) -> Result<ModelSummary> {
    let args = work.args;
    let mut model = build_model(cfg, args.source.seed, weights)?;
    if let Some(path) = weights {
        work.totals.input_bytes = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    }
    let mut summary = ModelSummary {
        source,
        backbone_quantized: 0,
        io_quantized: 0,
        dense_f32_bytes: None,
        dense_bf16_bytes: None,
    };
    if let Some(dir) = &args.save_dense {
        let (f32_bytes, bf16_bytes) = save_dense(&mut model, dir)?;
        summary.dense_f32_bytes = Some(f32_bytes);
        summary.dense_bf16_bytes = Some(bf16_bytes);
    }
    let targets = model.quantization_targets(args.source.include_io, work.config.group_size);
    for (name, reason) in targets.kept {
        let shape = model
            .var_store()
            .variables()
            .get(&name)
            .map(|t| t.size().iter().map(|&d| d as usize).collect())
            .unwrap_or_default();
        work.keep(name, shape, "Float".into(), reason);
    }
    let mut quantized = BTreeMap::new();
    for (name, weight) in targets.quantize {
        let q = work.quantize_one(&name, &weight)?;
        quantized.insert(name, q);
    }
    model.install_quantized(quantized, DequantMode::PerCall)?;
    (summary.backbone_quantized, summary.io_quantized) = model.quantized_counts();
    let metadata: BTreeMap<String, String> =
        train_config.into_iter().map(|text| (TRAIN_CONFIG_KEY.to_string(), text)).collect();
    model.save_quantized(&args.output, &metadata)?;
    Ok(summary)
}

/// The model of `cfg` on the CPU: `weights` loaded, or (None) initialised from `seed`.
pub fn build_model(cfg: &Config, seed: u64, weights: Option<&Path>) -> Result<Model> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut model = Model::new(cfg, Device::Cpu, &mut rng)?;
    if let Some(path) = weights {
        model
            .load(path)
            .with_context(|| format!("loading the model weights {}", path.display()))?;
    }
    Ok(model)
}

/// Writes the dense model in f32 and in bf16; returns the two file sizes. The model is
/// left in f32 with its original weights.
fn save_dense(model: &mut Model, dir: &Path) -> Result<(u64, u64)> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (f32_path, bf16_path) =
        (dir.join("model.f32.safetensors"), dir.join("model.bf16.safetensors"));
    model.save(&f32_path)?;
    model.set_kind(Kind::BFloat16);
    model.save(&bf16_path)?;
    model.set_kind(Kind::Float);
    model.load(&f32_path)?;
    let size = |p: &Path| -> Result<u64> {
        Ok(std::fs::metadata(p).with_context(|| format!("reading {}", p.display()))?.len())
    };
    Ok((size(&f32_path)?, size(&bf16_path)?))
}

/// Why a tensor stays in full precision, if it does.
pub fn keep_reason(raw: &RawTensor, config: &QuantConfig, min_numel: i64) -> Option<String> {
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

/// The settings line of a table: `4-bit, group 64, axis 1, {method}hqq, on Cpu (1 threads)`.
pub fn settings_line(c: &QuantConfig, method: &str, device: &str, threads: i32) -> String {
    format!(
        "{}-bit, group {}, axis {}, {method}{}{}, on {device} ({threads} threads)",
        c.nbits,
        c.group_size,
        u8::from(c.axis),
        c.method,
        if c.quant_meta { ", 8-bit scales/zeros" } else { "" },
    )
}

fn print_table(report: &Report) {
    println!(
        "{} -> {}: {}",
        report.input.display(),
        report.output.display(),
        settings_line(&report.config, "written: ", &report.device, report.threads)
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
    for k in &report.kept {
        println!("kept in full precision: {} {:?} {} ({})", k.name, k.shape, k.dtype, k.reason);
    }
    if let Some(m) = &report.model {
        println!(
            "model: {}; {} backbone linear layers quantized, {} encoder/decoder layers",
            m.source, m.backbone_quantized, m.io_quantized
        );
        if let (Some(f), Some(b)) = (m.dense_f32_bytes, m.dense_bf16_bytes) {
            let out = report.totals.output_bytes as f64;
            println!(
                "files: dense f32 {f} bytes, dense bf16 {b} bytes, quantized {} bytes \
                 ({:.3} of f32, {:.3} of bf16)",
                report.totals.output_bytes,
                out / f as f64,
                out / b as f64
            );
        }
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
