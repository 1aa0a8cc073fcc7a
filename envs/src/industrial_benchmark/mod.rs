//! Siemens' Industrial Benchmark (github siemens/industrialbenchmark), ported from the
//! reference Python package `industrial-benchmark-python` 2.0, with the setpoint as the task
//! (`IndustrialBenchmark-v0`).
//!
//! - [`dynamics`]: the full Markov state and one step (action effects, operational cost
//!   history, consumption, cost);
//! - [`fatigue`]: effective action and fatigue with its random bifurcations;
//! - [`goldstone`]: the mis-calibration dynamics;
//! - [`noise`]: the random draws behind a trait, so tests can replay the reference's draws;
//! - [`mod@env`] and [`family`]: the [`crate::Env`] and [`crate::Family`].
//!
//! The port is checked against fixtures recorded from the reference by
//! `scripts/record_ib_fixtures.py` (tests `envs/tests/industrial_benchmark_*.rs`).

pub mod dynamics;
pub mod env;
pub mod family;
pub mod fatigue;
pub mod goldstone;
pub mod noise;

pub use dynamics::{IbState, StepDetails};
pub use env::IndustrialBenchmark;
pub use family::{INDUSTRIAL_BENCHMARK, IndustrialBenchmarkFamily};
pub use noise::{Noise, RngNoise};
