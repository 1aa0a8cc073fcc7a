//! Dense feed-forward layers: Linear-GELU-Linear (Vintix, GPT-2) and SwiGLU (Shazeer 2020).

use tch::Tensor;
use tch::nn::Path;

use super::config::{Config, FfnKind};
use super::error::ModelError;
use super::layers::{INIT_STD, Linear};

/// A dense FFN of width `hidden -> inner -> hidden`.
#[derive(Debug)]
pub enum DenseFfn {
    /// `W2 GELU(W1 x + b1) + b2`.
    Gelu { up: Linear, down: Linear },
    /// `W2 (SiLU(W1 x) * W3 x)`, no biases (LLaMA).
    Swiglu { up: Linear, gate: Linear, down: Linear },
}

impl DenseFfn {
    /// `kind` must be GELU or SwiGLU (ReMoE experts are GELU FFNs built with `Gelu`).
    pub fn new(p: &Path, cfg: &Config, kind: FfnKind, inner: i64) -> Result<Self, ModelError> {
        let d = cfg.hidden;
        // The down projection feeds the residual stream: scaled by 1/sqrt(2 L) (GPT-2).
        let out_std = INIT_STD / (2.0 * cfg.layers as f64).sqrt();
        Ok(match kind {
            FfnKind::Swiglu => DenseFfn::Swiglu {
                up: Linear::new(&(p / "up"), d, inner, false, INIT_STD)?,
                gate: Linear::new(&(p / "gate"), d, inner, false, INIT_STD)?,
                down: Linear::new(&(p / "down"), inner, d, false, out_std)?,
            },
            FfnKind::Gelu | FfnKind::Remoe => DenseFfn::Gelu {
                up: Linear::new(&(p / "up"), d, inner, true, INIT_STD)?,
                down: Linear::new(&(p / "down"), inner, d, true, out_std)?,
            },
        })
    }

    /// Parameters of one FFN of this kind.
    pub fn count(hidden: i64, inner: i64, kind: FfnKind) -> i64 {
        match kind {
            FfnKind::Swiglu => 3 * Linear::count(hidden, inner, false),
            FfnKind::Gelu | FfnKind::Remoe => {
                Linear::count(hidden, inner, true) + Linear::count(inner, hidden, true)
            }
        }
    }

    /// The linear layers: up, (gate,) down.
    pub fn linears(&self) -> Vec<&Linear> {
        match self {
            DenseFfn::Gelu { up, down } => vec![up, down],
            DenseFfn::Swiglu { up, gate, down } => vec![up, gate, down],
        }
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        match self {
            DenseFfn::Gelu { up, down } => vec![up, down],
            DenseFfn::Swiglu { up, gate, down } => vec![up, gate, down],
        }
    }

    /// `x (..., hidden)` -> `(..., hidden)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        match self {
            DenseFfn::Gelu { up, down } => down.forward(&up.forward(x).gelu("none")),
            DenseFfn::Swiglu { up, gate, down } => {
                down.forward(&(gate.forward(x).silu() * up.forward(x)))
            }
        }
    }
}
