//! Errors of the model: bad configs, malformed batches, checkpoints that do not fit.

use tch::TchError;

use crate::quant::QuantError;

/// Everything that can go wrong building, running, saving or loading the model. Each
/// message names the field (or file) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model config: `{field}` {message}")]
    Config { field: &'static str, message: String },
    #[error("unknown model preset `{name}`: expected one of {expected}")]
    UnknownPreset { name: String, expected: String },
    #[error("model config: no field `{name}` can be set; settable fields: {expected}")]
    UnknownField { name: String, expected: String },
    #[error("model config: `{name}={value}`: expected {expected}")]
    BadValue { name: String, value: String, expected: &'static str },
    #[error("batch: `{field}` {message}")]
    Batch { field: &'static str, message: String },
    #[error("domain group {group} does not exist: the model has {count} groups")]
    Group { group: usize, count: usize },
    #[error("checkpoint {path}: {message}")]
    Checkpoint { path: String, message: String },
    #[error("torch: {0}")]
    Torch(#[from] TchError),
    /// Quantizing the model's weights, or reading or writing its quantized checkpoint.
    #[error(transparent)]
    Quant(#[from] QuantError),
}

/// Shorthand for a config error.
pub(crate) fn config_err(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Config { field, message: message.into() }
}

/// Shorthand for a batch error.
pub(crate) fn batch_err(field: &'static str, message: impl Into<String>) -> ModelError {
    ModelError::Batch { field, message: message.into() }
}
