//! Weight quantization for deployment: HQQ (half-quadratic quantization, mobiusml/hqq; see
//! METHODS.md section 5) and its round-to-nearest baseline.
//!
//! - [`hqq`]: the quantizer (affine, per group, the half-quadratic solver for the zero point).
//! - [`pack`]: bit packing of the integer codes (8/4/2/1 bits into bytes, 3 bits ten per word).
//! - [`checkpoint`]: the quantized safetensors file (format in `FORMAT.md` next to this file).
//! - [`linear`]: [`QuantizedLinear`], a `tch::nn::Module` that dequantizes on the fly.
//! - [`model`]: a whole [`crate::model::Model`] with quantized linear layers
//!   (`Model::quantize`, `Model::save_quantized`, `Model::load_quantized`).
//!
//! All maths is f32 with tch tensor operations, so the same code runs on CPU and CUDA tensors.

pub mod checkpoint;
pub mod hqq;
pub mod linear;
pub mod model;
pub mod pack;

use std::path::PathBuf;

pub use checkpoint::{
    QuantizedFile, RawTensor, StoredTensor, read_quantized, read_safetensors, write_quantized,
};
pub use hqq::{
    GroupAxis, MetaDtype, Method, Nbits, QuantConfig, QuantizedTensor, ReconstructionError,
    SolverConfig, SolverReport, quantize, reconstruction_error,
};
pub use linear::{DequantMode, QuantizedLinear};
pub use model::{LayerReport, MODEL_CONFIG_KEY, ModelQuantOptions, ModelQuantReport, Targets};
pub use safetensors::Dtype;

/// Version of the quantized checkpoint format written by this crate; files of any other
/// version are refused on load.
pub const FORMAT_VERSION: u32 = 1;

/// The version written into checkpoints as `tool_version`: this crate's version.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Errors of the quantization path.
#[derive(Debug, thiserror::Error)]
pub enum QuantError {
    /// A quantizer setting out of its range (bit width, group size, solver parameter).
    #[error("invalid quantization setting `{field}`: {reason}")]
    InvalidConfig { field: &'static str, reason: String },
    /// A weight that the quantizer cannot take (shape, kind, non-finite values).
    #[error("cannot quantize this weight: {reason}")]
    InvalidWeight { reason: String },
    /// A quantized checkpoint that is malformed, mismatched or of an unknown version.
    #[error("quantized checkpoint {}: tensor `{tensor}`: {reason}", file.display())]
    Checkpoint { file: PathBuf, tensor: String, reason: String },
    /// A safetensors file that does not parse.
    #[error("reading safetensors file {}: {source}", file.display())]
    Safetensors {
        file: PathBuf,
        #[source]
        source: safetensors::SafeTensorError,
    },
    /// Reading or writing a file failed.
    #[error("{action} {}: {source}", file.display())]
    Io {
        action: &'static str,
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A torch operation failed (device, memory, dtype).
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// Building or running the model failed.
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
}

impl QuantError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        QuantError::InvalidConfig { field, reason: reason.into() }
    }
}
