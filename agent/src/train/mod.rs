//! Multi-domain training on learning histories (see `trainer.rs` for the loop).

pub mod checkpoint;
pub mod config;
pub mod data;
pub mod events;
pub mod memory;
pub mod optim;
mod parallel;
pub mod trainer;

pub use config::{ActionTarget, OptimConfig, TrainConfig};
pub use trainer::{
    DATA_FILE, DataRecord, RunOptions, StepMetrics, TrainError, config_for, data_fingerprint,
    device_of, read_data_record, read_metrics, run_name, train,
};
