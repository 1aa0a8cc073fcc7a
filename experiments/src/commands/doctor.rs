//! `icrl doctor`: what this machine gives the platform (libraries, devices, threads).

use anyhow::{Context, Result};
use clap::Args;
use tch::{Cuda, Device, Kind, Tensor};

use crate::common::median_seconds;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Also measure a matmul rate: bf16 on CUDA when available, else f32 on the CPU.
    #[arg(long)]
    pub bench: bool,

    /// Matrix side for the benchmark (default 4096 on CUDA, 1024 on the CPU).
    #[arg(long, value_parser = clap::value_parser!(i64).range(64..=32768))]
    pub size: Option<i64>,

    /// Print one JSON document (the fields below) instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// What `icrl doctor --json` prints.
#[derive(Debug, serde::Serialize)]
pub struct DoctorReport {
    pub icrl: String,
    /// The libtorch version the binary was built against, and the folder it loads it from.
    pub torch: String,
    pub torch_lib: String,
    pub cuda: bool,
    /// CUDA devices and their names (empty without CUDA).
    pub cuda_devices: Vec<String>,
    pub cudnn: bool,
    pub hdf5: String,
    pub cpu_cores: usize,
    pub torch_threads: i32,
    pub torch_interop_threads: i32,
    /// Data-parallel backends this build has (`icrl train` under torchrun or srun): `gloo`
    /// always, `nccl` when built with the cargo feature `nccl`.
    pub distributed: Vec<String>,
    /// With --bench: the matmul rate measured.
    pub matmul: Option<MatmulRate>,
}

#[derive(Debug, serde::Serialize)]
pub struct MatmulRate {
    /// `bf16` on CUDA, `f32` on the CPU.
    pub kind: String,
    pub size: i64,
    pub device: String,
    /// Median of 10 timed calls.
    pub tflops: f64,
}

pub fn run(args: &DoctorArgs) -> Result<()> {
    let report = report(args)?;
    crate::common::print_report(&report, args.json, print_table)
}

fn report(args: &DoctorArgs) -> Result<DoctorReport> {
    let cuda = Cuda::is_available();
    let (major, minor, patch) = hdf5::library_version();
    let matmul = if args.bench {
        let device = if cuda { Device::Cuda(0) } else { Device::Cpu };
        let size = args.size.unwrap_or(if cuda { 4096 } else { 1024 });
        Some(MatmulRate {
            kind: if cuda { "bf16" } else { "f32" }.into(),
            size,
            device: if cuda { "cuda:0" } else { "cpu" }.into(),
            tflops: matmul_rate(device, size)?,
        })
    } else {
        None
    };
    Ok(DoctorReport {
        icrl: env!("CARGO_PKG_VERSION").into(),
        torch: env!("ICRL_TORCH_VERSION").into(),
        torch_lib: env!("ICRL_TORCH_LIB").into(),
        cuda,
        cuda_devices: if cuda { gpu_names() } else { vec![] },
        cudnn: cuda && Cuda::cudnn_is_available(),
        hdf5: format!("{major}.{minor}.{patch}"),
        cpu_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        torch_threads: tch::get_num_threads(),
        torch_interop_threads: tch::get_num_interop_threads(),
        distributed: if agent::dist::nccl_compiled() {
            vec!["gloo".into(), "nccl".into()]
        } else {
            vec!["gloo".into()]
        },
        matmul,
    })
}

fn print_table(r: &DoctorReport) {
    println!("icrl {}", r.icrl);
    println!("torch (libtorch)     {}", r.torch);
    println!("torch library folder {}", r.torch_lib);
    println!("cuda available       {}", if r.cuda { "yes" } else { "no" });
    if r.cuda {
        println!("cuda devices         {}", r.cuda_devices.len());
        println!("cudnn available      {}", if r.cudnn { "yes" } else { "no" });
        for (i, name) in r.cuda_devices.iter().enumerate() {
            println!("device {i}             {name}");
        }
    }
    println!("hdf5 library         {}", r.hdf5);
    println!("cpu cores            {}", r.cpu_cores);
    println!(
        "torch threads        {} intra-op, {} inter-op",
        r.torch_threads, r.torch_interop_threads
    );
    let nccl = if r.distributed.iter().any(|b| b == "nccl") {
        "NCCL (CUDA)"
    } else {
        "no NCCL: built without the cargo feature `nccl`, so no data-parallel CUDA runs"
    };
    println!("data-parallel        Gloo (CPU); {nccl}");
    if let Some(m) = &r.matmul {
        println!(
            "matmul {} {}^3 on {}: {:.1} TFLOP/s (median of 10)",
            m.kind, m.size, m.device, m.tflops
        );
    }
}

/// GPU model names, or one line saying why there are none.
fn gpu_names() -> Vec<String> {
    let names = agent::usage::gpu_names();
    if names.is_empty() {
        return vec!["(name unavailable: no /proc/driver/nvidia and no nvidia-smi)".into()];
    }
    names
}

/// Median TFLOP/s of `size`^3 matmuls (2 n^3 flops each) after a warm-up.
pub(crate) fn matmul_rate(device: Device, size: i64) -> Result<f64> {
    let kind = if device.is_cuda() { Kind::BFloat16 } else { Kind::Float };
    let a = Tensor::f_randn([size, size], (kind, device))
        .context("allocating the benchmark matrices")?;
    let b = Tensor::f_randn([size, size], (kind, device))?;
    let median = median_seconds(device, 3, 10, || Ok(a.f_matmul(&b)?))?;
    Ok(2.0 * (size as f64).powi(3) / median / 1e12)
}
