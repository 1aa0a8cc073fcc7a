//! Basic layers (Linear, LayerNorm, Embedding) whose construction returns errors instead of
//! panicking, and which put Linear weights in their own optimizer group so that weight decay
//! applies to matrices only (Vintix: weight decay on Linear weights only). A Linear's weight
//! may be swapped for a quantized one ([`Linear::set_quantized`], used by
//! `Model::quantize` and `Model::load_quantized`).

use tch::nn::{self, Init, Path};
use tch::{Kind, Tensor};

use super::error::{ModelError, config_err};
use crate::quant::QuantizedLinear;

/// Optimizer group of Linear weights (decayed); everything else is in group 0 (not decayed).
pub const DECAY_GROUP: usize = 1;

/// nanoGPT's initialisation: N(0, 0.02) for weights.
pub const INIT_STD: f64 = 0.02;

/// The weight of a [`Linear`]: a dense matrix (a parameter of the model's `VarStore`) or a
/// quantized one ([`QuantizedLinear`], which holds the bias too).
#[derive(Debug)]
pub enum LinearWeight {
    Dense(Tensor),
    /// Boxed: a quantized layer is several times the size of a tensor handle.
    Quantized(Box<QuantizedLinear>),
}

/// `y = x W^T + b`, with `W` dense or quantized (see [`crate::quant`]).
#[derive(Debug)]
pub struct Linear {
    /// The weight's name in the `VarStore` (`blocks.0.mixer.q.weight`); a quantized
    /// checkpoint stores the quantized weight under the same name.
    name: String,
    weight: LinearWeight,
    bias: Option<Tensor>,
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
        Ok(Linear { name: p.path("weight"), weight: LinearWeight::Dense(weight), bias })
    }

    /// PyTorch's default Linear initialisation (Kaiming-uniform weight and uniform bias with
    /// bound 1/sqrt(in)): used by the small encoder and decoder MLPs, as Vintix does.
    pub fn new_default(p: &Path, d_in: i64, d_out: i64) -> Result<Self, ModelError> {
        let bound = 1.0 / (d_in as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        let weight = p.set_group(DECAY_GROUP).f_var("weight", &[d_out, d_in], init)?;
        let bias = Some(p.f_var("bias", &[d_out], init)?);
        Ok(Linear { name: p.path("weight"), weight: LinearWeight::Dense(weight), bias })
    }

    pub fn forward(&self, x: &Tensor) -> Tensor {
        match &self.weight {
            LinearWeight::Dense(w) => x.linear(w, self.bias.as_ref()),
            LinearWeight::Quantized(q) => nn::Module::forward(q.as_ref(), x),
        }
    }

    /// The `VarStore` name of the weight.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn weight(&self) -> &LinearWeight {
        &self.weight
    }

    /// The quantized layer, when the weight is quantized (to change its mode).
    pub fn quantized_mut(&mut self) -> Option<&mut QuantizedLinear> {
        match &mut self.weight {
            LinearWeight::Quantized(q) => Some(q.as_mut()),
            LinearWeight::Dense(_) => None,
        }
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// `[out, in]`, from the dense or the quantized weight.
    pub fn shape(&self) -> [i64; 2] {
        match &self.weight {
            LinearWeight::Dense(w) => {
                let s = w.size();
                [s[0], s[1]]
            }
            LinearWeight::Quantized(q) => [q.weight().shape[0], q.weight().shape[1]],
        }
    }

    pub fn out_features(&self) -> i64 {
        self.shape()[0]
    }

    pub fn is_quantized(&self) -> bool {
        matches!(self.weight, LinearWeight::Quantized(_))
    }

    /// Replaces the weight by a quantized one of the same shape, whose layer holds this
    /// layer's bias; returns the dense weight it replaces (or the previous quantized layer).
    pub fn set_quantized(&mut self, layer: QuantizedLinear) -> Result<LinearWeight, ModelError> {
        if layer.weight().shape != self.shape() {
            return Err(config_err(
                "quantized weight",
                format!(
                    "`{}` is {:?}, the quantized weight {:?}",
                    self.name,
                    self.shape(),
                    layer.weight().shape
                ),
            ));
        }
        Ok(std::mem::replace(&mut self.weight, LinearWeight::Quantized(Box::new(layer))))
    }

    /// The compute kind of a quantized weight (dense weights follow the `VarStore`).
    pub fn set_kind(&mut self, kind: Kind) -> Result<(), ModelError> {
        if let LinearWeight::Quantized(q) = &mut self.weight {
            q.set_kind(kind).map_err(|e| config_err("kind", e.to_string()))?;
        }
        Ok(())
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
