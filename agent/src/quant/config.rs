//! The quantizer's settings: bit width, group direction, method, storage type of the scales
//! and zeros, the half-quadratic solver's parameters, and [`QuantConfig`] that gathers them.
//! Shared by the quantizer ([`super::hqq`]) and the bit packing ([`super::pack`]).

use std::fmt;

use serde::{Deserialize, Serialize};
use tch::Kind;

use super::QuantError;

/// Bits per weight code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum Nbits {
    B1,
    B2,
    B3,
    B4,
    B8,
}

impl Nbits {
    pub const ALL: [Nbits; 5] = [Nbits::B8, Nbits::B4, Nbits::B3, Nbits::B2, Nbits::B1];

    pub fn bits(self) -> u8 {
        match self {
            Nbits::B1 => 1,
            Nbits::B2 => 2,
            Nbits::B3 => 3,
            Nbits::B4 => 4,
            Nbits::B8 => 8,
        }
    }

    /// The largest code, `2^b - 1`.
    pub fn max_code(self) -> u8 {
        ((1u16 << self.bits()) - 1) as u8
    }
}

impl TryFrom<u8> for Nbits {
    type Error = QuantError;

    fn try_from(bits: u8) -> Result<Self, QuantError> {
        match bits {
            1 => Ok(Nbits::B1),
            2 => Ok(Nbits::B2),
            3 => Ok(Nbits::B3),
            4 => Ok(Nbits::B4),
            8 => Ok(Nbits::B8),
            other => {
                Err(QuantError::config("nbits", format!("expected 8, 4, 3, 2 or 1, got {other}")))
            }
        }
    }
}

impl From<Nbits> for u8 {
    fn from(nbits: Nbits) -> u8 {
        nbits.bits()
    }
}

impl fmt::Display for Nbits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.bits())
    }
}

/// Which way groups run; see the module header for the exact layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum GroupAxis {
    /// Flat weight viewed as `[group, numel / group]`, one group per column (better at low bits).
    Zero,
    /// Groups of consecutive values along the rows (consecutive input channels).
    One,
}

impl GroupAxis {
    /// The dimension of the grouped view that a group runs along.
    pub(crate) fn dim(self) -> i64 {
        match self {
            GroupAxis::Zero => 0,
            GroupAxis::One => 1,
        }
    }
}

impl TryFrom<u8> for GroupAxis {
    type Error = QuantError;

    fn try_from(axis: u8) -> Result<Self, QuantError> {
        match axis {
            0 => Ok(GroupAxis::Zero),
            1 => Ok(GroupAxis::One),
            other => Err(QuantError::config("axis", format!("expected 0 or 1, got {other}"))),
        }
    }
}

impl From<GroupAxis> for u8 {
    fn from(axis: GroupAxis) -> u8 {
        axis.dim() as u8
    }
}

/// How the zero point is chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Half-quadratic solver for the zero point.
    Hqq,
    /// Round to nearest from the min/max zero (no solver).
    Rtn,
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Method::Hqq => "hqq",
            Method::Rtn => "rtn",
        })
    }
}

/// Storage type of the per-group scales and zeros (when not quantized to 8 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetaDtype {
    F32,
    F16,
    Bf16,
}

impl MetaDtype {
    pub fn kind(self) -> Kind {
        match self {
            MetaDtype::F32 => Kind::Float,
            MetaDtype::F16 => Kind::Half,
            MetaDtype::Bf16 => Kind::BFloat16,
        }
    }

    pub fn bytes(self) -> i64 {
        match self {
            MetaDtype::F32 => 4,
            MetaDtype::F16 | MetaDtype::Bf16 => 2,
        }
    }
}

/// The half-quadratic solver's parameters (defaults from the reference).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SolverConfig {
    /// Exponent p of the sparsity-promoting loss |x|^p, in (0, 1].
    pub lp_norm: f64,
    /// Initial half-quadratic penalty beta (> 0).
    pub beta: f64,
    /// Growth of beta per iteration (>= 1). METHODS.md's 1.01; the reference package's
    /// default solver (hqq 0.2.8) never grows beta, which is kappa = 1.
    pub kappa: f64,
    /// Maximum number of iterations (>= 1).
    pub iters: usize,
    /// Stop at the first iteration whose mean absolute error does not fall.
    pub early_stop: bool,
}

impl Default for SolverConfig {
    fn default() -> Self {
        SolverConfig { lp_norm: 0.7, beta: 10.0, kappa: 1.01, iters: 20, early_stop: true }
    }
}

/// Everything that decides how a weight is quantized.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QuantConfig {
    /// Bits per weight code: 8, 4, 3, 2 or 1.
    pub nbits: Nbits,
    /// Values per group sharing one scale and zero (a multiple of 8; must divide numel).
    pub group_size: i64,
    /// Direction of the groups.
    pub axis: GroupAxis,
    /// HQQ (solver) or RTN (baseline).
    pub method: Method,
    /// Solver parameters (unused by RTN).
    pub solver: SolverConfig,
    /// Quantize the scales and zeros themselves to 8 bits in groups of 128.
    pub quant_meta: bool,
    /// Storage type of scales and zeros when `quant_meta` is off.
    pub meta_dtype: MetaDtype,
}

impl Default for QuantConfig {
    fn default() -> Self {
        QuantConfig {
            nbits: Nbits::B4,
            group_size: 64,
            axis: GroupAxis::One,
            method: Method::Hqq,
            solver: SolverConfig::default(),
            quant_meta: false,
            meta_dtype: MetaDtype::F16,
        }
    }
}

impl QuantConfig {
    pub fn validate(&self) -> Result<(), QuantError> {
        if self.group_size < 8 || self.group_size % 8 != 0 {
            return Err(QuantError::config(
                "group_size",
                format!("expected a positive multiple of 8, got {}", self.group_size),
            ));
        }
        let s = &self.solver;
        if !(s.lp_norm > 0.0 && s.lp_norm <= 1.0) {
            return Err(QuantError::config(
                "lp_norm",
                format!("expected in (0, 1], got {}", s.lp_norm),
            ));
        }
        if !(s.beta > 0.0 && s.beta.is_finite()) {
            return Err(QuantError::config("beta", format!("expected > 0, got {}", s.beta)));
        }
        if !(s.kappa >= 1.0 && s.kappa.is_finite()) {
            return Err(QuantError::config("kappa", format!("expected >= 1, got {}", s.kappa)));
        }
        if s.iters == 0 {
            return Err(QuantError::config("iters", "expected at least 1 iteration"));
        }
        Ok(())
    }
}
