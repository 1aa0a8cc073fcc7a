//! Basic layers (Linear, LayerNorm, Embedding) whose construction returns errors instead of
//! panicking, and which put Linear weights in their own optimizer group so that weight decay
//! applies to matrices only (Vintix: weight decay on Linear weights only).

use tch::nn::{Init, Path};
use tch::{Kind, Tensor};

use super::error::ModelError;

/// Optimizer group of Linear weights (decayed); everything else is in group 0 (not decayed).
pub const DECAY_GROUP: usize = 1;

/// nanoGPT's initialisation: N(0, 0.02) for weights.
pub const INIT_STD: f64 = 0.02;

/// `y = x W^T + b`.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Option<Tensor>,
}

impl Linear {
    /// Weight `(out, in)` drawn from N(0, `std`), bias (if any) zero.
    pub fn new(p: &Path, d_in: i64, d_out: i64, bias: bool, std: f64) -> Result<Self, ModelError> {
        let weight = p.set_group(DECAY_GROUP).f_var(
            "weight",
            &[d_out, d_in],
            Init::Randn { mean: 0.0, stdev: std },
        )?;
        let bias = if bias { Some(p.f_zeros("bias", &[d_out])?) } else { None };
        Ok(Linear { weight, bias })
    }

    /// PyTorch's default Linear initialisation (Kaiming-uniform weight and uniform bias with
    /// bound 1/sqrt(in)): used by the small encoder and decoder MLPs, as Vintix does.
    pub fn new_default(p: &Path, d_in: i64, d_out: i64) -> Result<Self, ModelError> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let weight = p.set_group(DECAY_GROUP).f_var("weight", &[d_out, d_in], init)?;
        let bias = Some(p.f_var("bias", &[d_out], init)?);
        Ok(Linear { weight, bias })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, self.bias.as_ref())
    }

    /// Number of parameters of a Linear layer.
    pub fn count(d_in: i64, d_out: i64, bias: bool) -> i64 {
        d_in * d_out + if bias { d_out } else { 0 }
    }
}

/// LayerNorm over the last dimension, with weight and bias.
#[derive(Debug)]
pub struct LayerNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    dim: i64,
}

impl LayerNorm {
    pub fn new(p: &Path, dim: i64) -> Result<Self, ModelError> {
        Ok(LayerNorm { weight: p.f_ones("weight", &[dim])?, bias: p.f_zeros("bias", &[dim])?, dim })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        x.layer_norm([self.dim], Some(&self.weight), Some(&self.bias), 1e-5, true)
    }

    pub fn count(dim: i64) -> i64 {
        2 * dim
    }
}

/// A lookup table `(n, dim)`.
#[derive(Debug)]
pub struct Embedding {
    pub weight: Tensor,
}

impl Embedding {
    pub fn new(p: &Path, n: i64, dim: i64) -> Result<Self, ModelError> {
        Ok(Embedding {
            weight: p.f_var("weight", &[n, dim], Init::Randn { mean: 0.0, stdev: 1.0 })?,
        })
    }

    /// `index`: an Int64 tensor of any shape; returns `(..., dim)`.
    pub fn forward(&self, index: &Tensor) -> Tensor {
        Tensor::embedding(&self.weight, index, -1, false, false)
    }
}

/// Casts `x` to `kind` unless it already is.
pub fn to_kind(x: &Tensor, kind: Kind) -> Tensor {
    if x.kind() == kind { x.shallow_clone() } else { x.to_kind(kind) }
}
