//! Weight quantization for deployment: HQQ (half-quadratic quantization, mobiusml/hqq; see
//! METHODS.md section 5) and its round-to-nearest baseline.
//!
//! - [`config`]: the quantizer's settings ([`Nbits`], [`QuantConfig`] and their parts).
//! - [`hqq`]: the quantizer (affine, per group, the half-quadratic solver for the zero point).
//! - [`pack`]: bit packing of the integer codes (8/4/2/1 bits into bytes, 3 bits ten per word).
//! - [`checkpoint`]: the quantized safetensors file (format in `FORMAT.md` next to this file).
//! - [`linear`]: [`QuantizedLinear`], a `tch::nn::Module` that dequantizes on the fly.
//!
//! A leaf of the crate: nothing here knows the model. A whole model with quantized linear
//! layers (`Model::quantize`, `Model::save_quantized`, `Model::load_quantized`) is
//! in the model module (`model/quantized.rs`).
//!
//! All maths is f32 with tch tensor operations, so the same code runs on CPU and CUDA tensors.

pub mod checkpoint;
pub mod config;
pub mod hqq;
pub mod linear;
pub mod pack;

use std::path::PathBuf;

pub use checkpoint::{
    QuantizedFile, RawTensor, StoredTensor, read_quantized, read_safetensors, write_quantized,
    write_safetensors,
};
pub use config::{GroupAxis, MetaDtype, Method, Nbits, QuantConfig, SolverConfig};
pub use hqq::{QuantizedTensor, ReconstructionError, SolverReport, quantize, reconstruction_error};
pub use linear::{DequantMode, QuantizedLinear};
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
}

impl QuantError {
    pub(crate) fn config(field: &'static str, reason: impl Into<String>) -> Self {
        QuantError::InvalidConfig { field, reason: reason.into() }
    }
}
