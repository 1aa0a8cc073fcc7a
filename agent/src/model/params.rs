//! Exact parameter counts per module, computed from the config alone (no weights built), so
//! that `icrl model info` can print the 300M preset instantly. A test checks them against the
//! built model's VarStore.

use serde::Serialize;

use super::block::Block;
use super::config::{AttentionKind, Config, FfnKind};
use super::encoders::GroupHead;
use super::ffn::DenseFfn;
use super::layers::{LayerNorm, Linear};

/// One row of the parameter table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParamRow {
    /// The module, as a VarStore name prefix (`blocks.3.mixer`).
    pub module: String,
    /// What it is (`lightning attention`, `ReMoE 8 x 512`, `encoders: mujoco-17-6`).
    pub what: String,
    /// Every parameter of the module.
    pub total: i64,
    /// Parameters one token uses: a group's modules count for its own tokens; a ReMoE layer
    /// counts the router and k of its E experts (the expected number at the target sparsity).
    pub active: i64,
}

/// The table: per group (encoders, decoder), per block (mixer, FFN, norms), final norm.
pub fn param_table(cfg: &Config) -> Vec<ParamRow> {
    let mut rows = Vec::new();
    for (g, spec) in cfg.groups.iter().enumerate() {
        let enc = GroupHead::encoder_count(cfg, spec);
        let dec = GroupHead::decoder_count(cfg, spec);
        rows.push(row(format!("groups.{g}.encoder"), format!("encoders: {}", spec.name), enc, enc));
        rows.push(row(
            format!("groups.{g}.decoder"),
            format!("action decoder: {}", spec.name),
            dec,
            dec,
        ));
    }
    for (l, kind) in cfg.layer_kinds().into_iter().enumerate() {
        let count = Block::count(cfg, kind);
        let mixer = match kind {
            AttentionKind::Lightning => "lightning attention",
            AttentionKind::Softmax => "softmax attention (ALiBi)",
        };
        rows.push(row(format!("blocks.{l}.mixer"), mixer.into(), count.mixer, count.mixer));
        let (what, active) = match cfg.ffn {
            FfnKind::Gelu => (format!("FFN GELU {}", cfg.ffn_hidden), count.ffn),
            FfnKind::Swiglu => (format!("FFN SwiGLU {}", cfg.ffn_hidden), count.ffn),
            FfnKind::Remoe => (
                format!("ReMoE {} x {} (k = {})", cfg.experts, cfg.ffn_hidden, cfg.active_experts),
                Linear::count(cfg.hidden, cfg.experts, false)
                    + cfg.active_experts
                        * DenseFfn::count(cfg.hidden, cfg.ffn_hidden, FfnKind::Gelu),
            ),
        };
        rows.push(row(format!("blocks.{l}.ffn"), what, count.ffn, active));
        rows.push(row(format!("blocks.{l}.norm"), "2 LayerNorms".into(), count.norms, count.norms));
    }
    let norm = LayerNorm::count(cfg.hidden);
    rows.push(row("final_norm".into(), "LayerNorm".into(), norm, norm));
    rows
}

fn row(module: String, what: String, total: i64, active: i64) -> ParamRow {
    ParamRow { module, what, total, active }
}

/// Totals of a table: `(all parameters, active per token)`. Active counts the backbone's
/// active parameters plus the largest group's encoders and decoder.
pub fn totals(cfg: &Config, rows: &[ParamRow]) -> (i64, i64) {
    let total = rows.iter().map(|r| r.total).sum();
    let backbone: i64 =
        rows.iter().filter(|r| !r.module.starts_with("groups.")).map(|r| r.active).sum();
    let group = (0..cfg.groups.len())
        .map(|g| {
            let prefix = format!("groups.{g}.");
            rows.iter().filter(|r| r.module.starts_with(&prefix)).map(|r| r.active).sum::<i64>()
        })
        .max()
        .unwrap_or(0);
    (total, backbone + group)
}

/// Training FLOPs per token, nanoGPT's estimate (PaLM appendix B) adapted to the layer kinds:
/// `6 x active parameters` (forward and backward through every weight a token uses), plus
/// per layer the attention's token mixing, `12 x heads x head_dim x span`, where `span` is
/// what one query mixes with: for softmax the window (at most the context), for lightning
/// the intra-block part (`lightning_block`) plus the recurrent state (`head_dim` columns).
/// nanoGPT counts the whole causal span (not half of it); so does this.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct FlopCount {
    /// `6 x active parameters`.
    pub weights: f64,
    /// The attention's token mixing, summed over layers.
    pub attention: f64,
}

impl FlopCount {
    pub fn per_token(&self) -> f64 {
        self.weights + self.attention
    }
}

/// [`FlopCount`] of `cfg` at a training context of `context` steps.
pub fn flops_per_token(cfg: &Config, context: i64) -> FlopCount {
    let (_, active) = totals(cfg, &param_table(cfg));
    let (heads, head_dim) = (cfg.heads as f64, cfg.head_dim() as f64);
    let attention = cfg
        .layer_kinds()
        .iter()
        .map(|kind| {
            let span = match kind {
                AttentionKind::Softmax => cfg.softmax_window.min(context).max(1) as f64,
                AttentionKind::Lightning => {
                    cfg.lightning_block.min(context).max(1) as f64 + head_dim
                }
            };
            12.0 * heads * head_dim * span
        })
        .sum();
    FlopCount { weights: 6.0 * active as f64, attention }
}
