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
}

pub fn run(args: &DoctorArgs) -> Result<()> {
    println!("icrl {}", env!("CARGO_PKG_VERSION"));
    println!("torch (libtorch)     {}", env!("ICRL_TORCH_VERSION"));
    println!("torch library folder {}", env!("ICRL_TORCH_LIB"));
    let cuda = Cuda::is_available();
    println!("cuda available       {}", if cuda { "yes" } else { "no" });
    if cuda {
        println!("cuda devices         {}", Cuda::device_count());
        println!("cudnn available      {}", if Cuda::cudnn_is_available() { "yes" } else { "no" });
        for (i, name) in gpu_names().iter().enumerate() {
            println!("device {i}             {name}");
        }
    }
    let (major, minor, patch) = hdf5::library_version();
    println!("hdf5 library         {major}.{minor}.{patch}");
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("cpu cores            {cores}");
    println!(
        "torch threads        {} intra-op, {} inter-op",
        tch::get_num_threads(),
        tch::get_num_interop_threads()
    );
    if args.bench {
        let device = if cuda { Device::Cuda(0) } else { Device::Cpu };
        let size = args.size.unwrap_or(if cuda { 4096 } else { 1024 });
        let rate = matmul_rate(device, size)?;
        let kind = if cuda { "bf16" } else { "f32" };
        let place = if cuda { "cuda:0" } else { "cpu" };
        println!("matmul {kind} {size}^3 on {place}: {rate:.1} TFLOP/s (median of 10)");
    }
    Ok(())
}

/// GPU model names, read from the NVIDIA driver's proc files (no CUDA call needed).
fn gpu_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc/driver/nvidia/gpus") {
        let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if let Ok(info) = std::fs::read_to_string(dir.join("information")) {
                if let Some(model) = info.lines().find_map(|l| l.strip_prefix("Model:")) {
                    names.push(model.trim().to_string());
                }
            }
        }
    }
    if names.is_empty() {
        if let Ok(out) = std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader"])
            .output()
        {
            names = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .collect();
        }
    }
    if names.is_empty() {
        names.push("(name unavailable: no /proc/driver/nvidia and no nvidia-smi)".into());
    }
    names
}

/// Median TFLOP/s of `size`^3 matmuls (2 n^3 flops each) after a warm-up.
fn matmul_rate(device: Device, size: i64) -> Result<f64> {
    let kind = if device.is_cuda() { Kind::BFloat16 } else { Kind::Float };
    let a = Tensor::f_randn([size, size], (kind, device))
        .context("allocating the benchmark matrices")?;
    let b = Tensor::f_randn([size, size], (kind, device))?;
    let median = median_seconds(device, 3, 10, || Ok(a.f_matmul(&b)?))?;
    Ok(2.0 * (size as f64).powi(3) / median / 1e12)
}
