//! A linear layer over a quantized weight, a drop-in `tch::nn::Module` for `nn::Linear`.
//!
//! Two modes: [`DequantMode::PerCall`] keeps only the packed codes, scales and zeros in
//! memory and rebuilds the weight at every forward (the memory saving, paid in time);
//! [`DequantMode::Cached`] rebuilds it once and keeps the dense weight (the speed of a plain
//! linear layer, none of the memory saving; useful to measure the cost of the former).

use tch::{Kind, Tensor, nn};

use super::QuantError;
use super::config::QuantConfig;
use super::hqq::{QuantizedTensor, quantize};

/// When the dense weight is rebuilt from the quantized one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DequantMode {
    /// Unpack and dequantize at every forward.
    PerCall,
    /// Dequantize once and keep the dense weight.
    Cached,
}

/// `y = x W_r^T + b` with `W_r` the dequantized `[out, in]` weight; the bias stays dense.
#[derive(Debug)]
pub struct QuantizedLinear {
    weight: QuantizedTensor,
    bias: Option<Tensor>,
    /// The kind the dense weight is rebuilt in (the layer's compute kind).
    kind: Kind,
    cached: Option<Tensor>,
}

impl QuantizedLinear {
    /// Wraps a quantized `[out, in]` weight and an optional dense `[out]` bias on the same
    /// device; `kind` is the compute kind of the rebuilt weight (f32, or bf16 on a GPU).
    pub fn new(
        weight: QuantizedTensor,
        bias: Option<Tensor>,
        mode: DequantMode,
        kind: Kind,
    ) -> Result<Self, QuantError> {
        if weight.shape.len() != 2 {
            return Err(QuantError::InvalidWeight {
                reason: format!("a linear weight must be [out, in], got shape {:?}", weight.shape),
            });
        }
        if let Some(bias) = &bias {
            if bias.size() != [weight.shape[0]] {
                return Err(QuantError::InvalidWeight {
                    reason: format!(
                        "bias of shape {:?} does not match {} output features",
                        bias.size(),
                        weight.shape[0]
                    ),
                });
            }
        }
        // Dequantize once now so a malformed weight fails here, not inside `forward`.
        let dense = weight.dequantize()?.f_to_kind(kind)?;
        let bias = bias.map(|b| b.f_to_kind(kind)).transpose()?;
        let cached = (mode == DequantMode::Cached).then_some(dense);
        Ok(QuantizedLinear { weight, bias, kind, cached })
    }

    /// Quantizes a trained `nn::Linear` (its weight; the bias stays dense).
    pub fn from_linear(
        linear: &nn::Linear,
        config: &QuantConfig,
        mode: DequantMode,
    ) -> Result<Self, QuantError> {
        let weight = tch::no_grad(|| quantize(&linear.ws, config))?;
        let bias = linear.bs.as_ref().map(|b| b.detach());
        QuantizedLinear::new(weight, bias, mode, linear.ws.kind())
    }

    pub fn mode(&self) -> DequantMode {
        if self.cached.is_some() { DequantMode::Cached } else { DequantMode::PerCall }
    }

    /// Switches mode: building or dropping the cached dense weight.
    pub fn set_mode(&mut self, mode: DequantMode) -> Result<(), QuantError> {
        self.cached = match mode {
            DequantMode::Cached => Some(self.dense_weight()?),
            DequantMode::PerCall => None,
        };
        Ok(())
    }

    /// The compute kind of the rebuilt weight, the bias and the output.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Changes the compute kind (e.g. bf16 on a GPU), rebuilding a cached weight.
    pub fn set_kind(&mut self, kind: Kind) -> Result<(), QuantError> {
        self.kind = kind;
        self.bias = self.bias.as_ref().map(|b| b.f_to_kind(kind)).transpose()?;
        if self.cached.is_some() {
            self.cached = Some(self.weight.dequantize()?.f_to_kind(kind)?);
        }
        Ok(())
    }

    pub fn weight(&self) -> &QuantizedTensor {
        &self.weight
    }

    pub fn bias(&self) -> Option<&Tensor> {
        self.bias.as_ref()
    }

    /// The dequantized weight `[out, in]` in the compute kind.
    pub fn dense_weight(&self) -> Result<Tensor, QuantError> {
        match &self.cached {
            Some(dense) => Ok(dense.shallow_clone()),
            None => Ok(self.weight.dequantize()?.f_to_kind(self.kind)?),
        }
    }

    /// The forward pass with errors returned instead of raised.
    pub fn f_forward(&self, xs: &Tensor) -> Result<Tensor, QuantError> {
        let weight = self.dense_weight()?;
        Ok(xs.f_linear(&weight, self.bias.as_ref())?)
    }
}

impl nn::Module for QuantizedLinear {
    fn forward(&self, xs: &Tensor) -> Tensor {
        // The weight was dequantized once in `new`, so only a bad input (shape, device) can
        // fail here, as it would in `nn::Linear`.
        match self.f_forward(xs) {
            Ok(ys) => ys,
            Err(e) => panic!("QuantizedLinear::forward: {e}"),
        }
    }
}
