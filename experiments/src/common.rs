//! What several `icrl` commands share: the `--device` choice, torch's thread count, timing
//! (the median of timed calls, CUDA synchronised) and number formatting for tables.

use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Args, ValueEnum};
use serde::Serialize;
use tch::{Cuda, Device};

/// `--device` and `--threads` of the commands that choose where torch runs.
#[derive(Args, Debug)]
pub struct ComputeArgs {
    /// Where to run: cpu, cuda, or auto (cuda when available).
    #[arg(long, value_enum, default_value_t = DeviceArg::Auto)]
    pub device: DeviceArg,

    /// Torch intra-op threads on the CPU (default: torch's own choice).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..=1024))]
    pub threads: Option<i32>,
}

impl ComputeArgs {
    /// Sets torch's threads and returns the device.
    pub fn apply(&self) -> Result<Device> {
        set_threads(self.threads);
        self.device.device()
    }
}

/// `--device` of the commands that may choose the device themselves (`auto`: CUDA when
/// available).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DeviceArg {
    Auto,
    Cpu,
    Cuda,
}

impl DeviceArg {
    /// The device; `cuda` without a CUDA device is an error.
    pub fn device(self) -> Result<Device> {
        Ok(match self {
            DeviceArg::Auto => Device::cuda_if_available(),
            DeviceArg::Cpu => Device::Cpu,
            DeviceArg::Cuda if Cuda::is_available() => Device::Cuda(0),
            DeviceArg::Cuda => {
                bail!("--device cuda: no CUDA device is available (see `icrl doctor`)")
            }
        })
    }
}

/// Sets torch's intra-op threads to `threads` when given (None: torch's own choice).
pub fn set_threads(threads: Option<i32>) {
    if let Some(n) = threads {
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
