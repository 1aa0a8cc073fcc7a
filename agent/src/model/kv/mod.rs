//! KV-cache compression and quantization for the softmax layers during inference.
//!
//! - PyramidKV (arXiv 2406.02069; Zefan-Cai/KVCache-Factory; METHODS.md section 6): per-layer
//!   budgets in an arithmetic progression (lower layers keep more), the last `alpha` steps
//!   always kept, the rest chosen per head by how much the recent window's queries attend to
//!   them (summed, then max- or avg-pooled over neighbouring entries).
//! - SnapKV-style uniform budgets: the same selection with the same budget in every layer.
//! - StreamingLLM (sliding window with attention sinks): the first [`SINKS`] steps of the
//!   history and the most recent ones.
//! - HQQ-quantized entries (METHODS.md section 5): the kept entries older than a recent
//!   full-precision buffer are held as 8/4/2-bit codes, quantized in batches by
//!   [`crate::quant::quantize`].
//!
//! Unlike the uncompressed [`super::softmax::KvCache`], which keeps the last
//! `softmax_window` steps, a compressed cache keeps entries from the whole history (the
//! budget bounds its size, not the training window): each entry carries its absolute
//! position, per head, for the ALiBi distance and for masking a sequence's reset history.
//! Histories grow one step at a time, so compression runs at every step at which a layer
//! holds more than its budget (not once after a prompt, as in the papers), from the step at
//! which the history outgrows the average budget (KVCache-Factory leaves a prompt shorter
//! than the budget whole, so a budget covering the history changes nothing in any layer).

mod cache;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::quant::Nbits;

pub use cache::CompressedKv;

/// Steps always kept at the end of the history (PyramidKV's window, `alpha`).
pub const ALPHA: i64 = 8;

/// Ratio of the bottom layer's selected budget to the top layer's (PyramidKV's `beta`).
pub const BETA: f64 = 20.0;

/// Pooling kernel over neighbouring entries' scores.
pub const KERNEL: i64 = 7;

/// Attention sinks kept by the sliding-window policy (StreamingLLM keeps 4).
pub const SINKS: i64 = 4;

/// Largest quantization group; smaller head widths use one group per head and entry, so
/// that a group never straddles two entries and eviction moves codes without re-quantizing.
pub const GROUP: i64 = 64;

/// Which entries a full layer drops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvPolicy {
    /// PyramidKV: arithmetic per-layer budgets, selection by the window's attention.
    Pyramid,
    /// SnapKV-style: the same selection, the same budget in every layer.
    Snap,
    /// StreamingLLM: the first [`SINKS`] steps and the most recent ones.
    Window,
}

impl KvPolicy {
    pub fn name(self) -> &'static str {
        match self {
            KvPolicy::Pyramid => "pyramid",
            KvPolicy::Snap => "snap",
            KvPolicy::Window => "window",
        }
    }
}

impl FromStr for KvPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "pyramid" => Ok(KvPolicy::Pyramid),
            "snap" => Ok(KvPolicy::Snap),
            "window" => Ok(KvPolicy::Window),
            other => Err(format!("`{other}`: expected pyramid, snap or window")),
        }
    }
}

/// Pooling of the selection scores over neighbouring entries (kernel [`KERNEL`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Max,
    Avg,
}

impl FromStr for Pooling {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "max" => Ok(Pooling::Max),
            "avg" => Ok(Pooling::Avg),
            other => Err(format!("`{other}`: expected max or avg")),
        }
    }
}

/// The average budget per softmax layer, in entries per sequence and head.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KvBudget {
    /// A fixed number of entries.
    Entries(i64),
    /// A percentage of the history length seen so far (100 or more: nothing is dropped).
    Percent(f64),
}

impl KvBudget {
    /// The average budget per layer when the history holds `t` steps.
    pub fn average(self, t: i64) -> i64 {
        match self {
            KvBudget::Entries(n) => n,
            KvBudget::Percent(p) if p >= 100.0 => t,
            KvBudget::Percent(p) => (p / 100.0 * t as f64).ceil() as i64,
        }
    }
}

impl fmt::Display for KvBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KvBudget::Entries(n) => write!(f, "{n}"),
            KvBudget::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for KvBudget {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(p) = s.strip_suffix('%') {
            let p: f64 = p.trim().parse().map_err(|_| format!("`{s}`: expected N or P%"))?;
            if !(p > 0.0 && p.is_finite()) {
                return Err(format!("`{s}`: the percentage must be positive"));
            }
            return Ok(KvBudget::Percent(p));
        }
        let n: i64 = s.parse().map_err(|_| format!("`{s}`: expected N or P%"))?;
        if n < 1 {
            return Err(format!("`{s}`: the budget must be at least 1 entry"));
        }
        Ok(KvBudget::Entries(n))
    }
}

/// Settings of the compressed softmax caches of one evaluation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KvOptions {
    /// Average entries kept per softmax layer (per sequence and head).
    pub budget: KvBudget,
    pub policy: KvPolicy,
    /// Bits of the quantized entries; `None`: full precision (the model's kind).
    pub bits: Option<Nbits>,
    /// Pooling of the selection scores (PyramidKV and SnapKV-style).
    pub pooling: Pooling,
    /// Recent entries kept in full precision when quantizing (flushed to codes in batches
    /// of this many, or of the layer's budget where that is smaller).
    pub residual: i64,
}

impl Default for KvOptions {
    fn default() -> Self {
        KvOptions {
            budget: KvBudget::Percent(100.0),
            policy: KvPolicy::Pyramid,
            bits: None,
            pooling: Pooling::Max,
            residual: 128,
        }
    }
}

impl KvOptions {
    /// The budget of softmax layer `l` (0 = lowest) of `m` when the average is `avg`: the
    /// window [`ALPHA`] plus a selected part. PyramidKV (as KVCache-Factory computes it)
    /// spreads the selected part `S = avg - alpha` over the layers in an arithmetic
    /// progression from `2 S - S / beta` (bottom) to `S / beta` (top), so the layers keep
    /// `m avg` in all; with one softmax layer it is `avg`. Every layer keeps at least the
    /// window.
    pub fn layer_budget(&self, avg: i64, l: usize, m: usize) -> i64 {
        let b = match self.policy {
            KvPolicy::Pyramid if m > 1 => {
                let s = (avg - ALPHA).max(0) as f64;
                let top = s / BETA;
                let bottom = 2.0 * s - top;
                let sel = bottom - (bottom - top) * l as f64 / (m - 1) as f64;
                ALPHA + sel.floor() as i64
            }
            _ => avg,
        };
        b.max(ALPHA)
    }

    /// One line for reports, e.g. `pyramid, budget 12%, 4-bit`.
    pub fn describe(&self) -> String {
        let bits = match self.bits {
            Some(b) => format!("{b}-bit HQQ (group <= {GROUP}, residual {})", self.residual),
            None => "full precision".into(),
        };
        format!("{}, budget {} per layer on average, {bits}", self.policy.name(), self.budget)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pyramid_budgets_are_arithmetic_and_average_to_the_budget() {
        let opts = KvOptions { budget: KvBudget::Entries(128), ..Default::default() };
        let b: Vec<i64> = (0..4).map(|l| opts.layer_budget(128, l, 4)).collect();
        // S = 120: top 6, bottom 234, step 76.
        assert_eq!(b, vec![8 + 234, 8 + 158, 8 + 82, 8 + 6]);
        assert_eq!(b.iter().sum::<i64>(), 4 * 128);
        assert_eq!(opts.layer_budget(128, 0, 1), 128);
        let snap = KvOptions { policy: KvPolicy::Snap, ..opts };
        assert_eq!(snap.layer_budget(128, 3, 4), 128);
        assert_eq!(snap.layer_budget(3, 0, 4), ALPHA);
    }

    #[test]
    fn budgets_parse_as_entries_or_percent() {
        assert_eq!("64".parse::<KvBudget>().unwrap(), KvBudget::Entries(64));
        assert_eq!("12%".parse::<KvBudget>().unwrap(), KvBudget::Percent(12.0));
        assert!("0".parse::<KvBudget>().is_err() && "x%".parse::<KvBudget>().is_err());
        assert_eq!(KvBudget::Percent(3.0).average(1000), 30);
        assert_eq!(KvBudget::Percent(100.0).average(1000), 1000);
    }
}
