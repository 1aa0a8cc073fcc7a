//! What several `icrl` commands share: the `--device` choice, torch's thread count, timing
//! (the median of timed calls, CUDA synchronised) and number formatting for tables.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::Args;
use serde::Serialize;
use tch::{Cuda, Device};

/// The flags every command that runs torch shares, with one meaning and one default:
/// `--device`, `--threads` and `--quiet` (README, "Common flags").
#[derive(Args, Clone, Debug)]
pub struct ComputeArgs {
    /// Where torch runs: `auto` (the first CUDA device when there is one, else the CPU),
    /// `cpu`, `cuda` (the first CUDA device) or `cuda:N`.
    #[arg(long, default_value = "auto", value_parser = DeviceArg::parse)]
    pub device: DeviceArg,

    /// Torch intra-op threads on the CPU (absent or 0: torch's own choice, one per core). On
    /// a machine shared with other jobs 1 avoids threads spinning while they wait for a busy
    /// core (measured on 2 cores under load: 650 tokens/s of training with two, 8,900 with 1).
    #[arg(long, value_parser = clap::value_parser!(i32).range(0..=1024))]
    pub threads: Option<i32>,

    /// No progress output (results and errors are still printed).
    #[arg(long)]
    pub quiet: bool,
}

impl ComputeArgs {
    /// Sets torch's threads and returns the device.
    pub fn apply(&self) -> Result<Device> {
        set_threads(self.threads);
        self.device.device()
    }
}

/// `--device`: `auto`, `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceArg {
    /// The flag's value, checked (clap names the flag in the message).
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(DeviceArg::Auto),
            "cpu" => Ok(DeviceArg::Cpu),
            "cuda" => Ok(DeviceArg::Cuda(0)),
            _ => text
                .strip_prefix("cuda:")
                .and_then(|n| n.parse::<usize>().ok())
                .filter(|&n| n < 1024)
                .map(DeviceArg::Cuda)
                .ok_or_else(|| format!("expected auto, cpu, cuda or cuda:N, got `{text}`")),
        }
    }

    /// The device; a CUDA device that is not there is an error.
    pub fn device(self) -> Result<Device> {
        Ok(match self {
            DeviceArg::Auto => Device::cuda_if_available(),
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda(i) if Cuda::is_available() && i < Cuda::device_count() as usize => {
                Device::Cuda(i)
            }
            DeviceArg::Cuda(i) => {
                bail!(
                    "--device cuda:{i}: no such CUDA device ({} available; see `icrl doctor`)",
                    if Cuda::is_available() { Cuda::device_count() } else { 0 }
                )
            }
        })
    }
}

/// A device as a run's config.json records it: `cpu` or `cuda:N`.
pub fn device_name(device: Device) -> String {
    match device {
        Device::Cuda(i) => format!("cuda:{i}"),
        _ => "cpu".into(),
    }
}

/// Sets torch's intra-op threads to `threads` when given and positive (None or 0: torch's own
/// choice).
pub fn set_threads(threads: Option<i32>) {
    if let Some(n) = threads.filter(|&n| n > 0) {
        tch::set_num_threads(n);
    }
}

/// Waits for the work queued on `device` (CUDA runs asynchronously); nothing on the CPU.
pub fn sync(device: Device) {
    if let Device::Cuda(i) = device {
        Cuda::synchronize(i as i64);
    }
}

/// The median of timed samples: the upper of the two middle ones for an even count (NaN for
/// none). The evaluation's statistics have their own (`agent::eval`, the mean of the two).
pub fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Median seconds of `runs` calls of `call` after `warmup` untimed ones; `device` is
/// synchronised before the timing starts and inside each timed call.
pub fn median_seconds<T>(
    device: Device,
    warmup: usize,
    runs: usize,
    mut call: impl FnMut() -> Result<T>,
) -> Result<f64> {
    for _ in 0..warmup {
        call()?;
    }
    sync(device);
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let start = Instant::now();
        let out = call()?;
        sync(device);
        times.push(start.elapsed().as_secs_f64());
        drop(out);
    }
    Ok(median(&times))
}

/// Prints `report` as pretty JSON with `json`, else as `table` prints it.
pub fn print_report<T: Serialize>(report: &T, json: bool, table: impl FnOnce(&T)) -> Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(report)?);
    } else {
        table(report);
    }
    Ok(())
}

/// `1234567` -> `1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_with_their_index() {
        assert_eq!(DeviceArg::parse("auto"), Ok(DeviceArg::Auto));
        assert_eq!(DeviceArg::parse("cuda"), Ok(DeviceArg::Cuda(0)));
        assert_eq!(DeviceArg::parse("cuda:3"), Ok(DeviceArg::Cuda(3)));
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:x", "CPU"] {
            assert!(DeviceArg::parse(bad).unwrap_err().contains(bad), "{bad}");
        }
        assert_eq!(DeviceArg::Cpu.device().unwrap(), Device::Cpu);
        assert_eq!(device_name(Device::Cuda(2)), "cuda:2");
    }

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(-1234567), "-1,234,567");
    }

    #[test]
    fn median_seconds_times_every_run() {
        let mut calls = 0;
        let secs = median_seconds(Device::Cpu, 2, 5, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 7);
        assert!(secs >= 0.0 && secs.is_finite());
        assert!(median(&[]).is_nan());
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 3.0);
    }
}
