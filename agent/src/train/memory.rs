//! A training run's estimated peak memory, stated in `icrl train`'s start line and checked
//! against the memory the machine has available (CPU runs), so that a batch that cannot fit
//! is refused with the flag to lower instead of the kernel killing the process.
//!
//! The estimate, in bytes (f32 everywhere):
//!
//! - parameters, gradients and the two AdamW moments: `16 x parameters`;
//! - activations kept for the backward pass: `4 x tokens x layers x (ACTIVATION_FACTOR x
//!   hidden + 2 x ffn_hidden x max(active_experts, 1))`, with `tokens` the largest
//!   micro-batch (`batch_size x context`, or a group's `--group-context` shape).
//!
//! It is a lower bound in spirit (allocator slack, libtorch's workspace and the dataset
//! itself come on top), so a run it refuses clearly cannot fit.

use super::config::TrainConfig;

/// Floats per token, per layer and per hidden unit the backward pass keeps (norm inputs and
/// outputs, query/key/value, attention output and projection, residuals).
pub const ACTIVATION_FACTOR: u64 = 16;

/// The parts of a run's estimated peak memory, in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryEstimate {
    /// Parameters, gradients and AdamW moments.
    pub state: u64,
    /// Activations of the largest micro-batch.
    pub activations: u64,
    /// Tokens of the largest micro-batch.
    pub tokens: u64,
}

impl MemoryEstimate {
    pub fn total(&self) -> u64 {
        self.state.saturating_add(self.activations)
    }
}

/// GiB with one decimal, for messages.
pub fn gib(bytes: u64) -> String {
    format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The estimate of `cfg` (see the module's documentation).
pub fn estimate_peak(cfg: &TrainConfig) -> MemoryEstimate {
    let m = &cfg.model;
    let (params, _) = crate::model::totals(m, &crate::model::param_table(m));
    let tokens = m
        .groups
        .iter()
        .map(|g| cfg.batch_shape(&g.name))
        .chain([(cfg.batch_size, cfg.context)])
        .map(|(b, l)| (b as u64).saturating_mul(l as u64))
        .max()
        .unwrap_or(0);
    let pos = |x: i64| x.max(0) as u64;
    let per_token_layer = ACTIVATION_FACTOR
        .saturating_mul(pos(m.hidden))
        .saturating_add(2 * pos(m.ffn_hidden).saturating_mul(pos(m.active_experts).max(1)));
    let activations =
        4u64.saturating_mul(tokens).saturating_mul(pos(m.layers)).saturating_mul(per_token_layer);
    MemoryEstimate { state: 16u64.saturating_mul(pos(params)), activations, tokens }
}

/// `MemAvailable` of `/proc/meminfo` in bytes, where there is one (Linux).
pub fn available_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib.saturating_mul(1024))
}

/// Refuse `cfg` if its estimate exceeds `available` bytes, naming the flags to lower.
pub fn check_fits(cfg: &TrainConfig, available: u64) -> Result<MemoryEstimate, TooBig> {
    let estimate = estimate_peak(cfg);
    if estimate.total() <= available {
        return Ok(estimate);
    }
    Err(TooBig { estimate, available })
}

/// A run whose estimated peak memory exceeds what is available; the message names the flags
/// to lower.
#[derive(Debug, thiserror::Error)]
#[error(
    "estimated peak memory {} ({} of activations for {} tokens per micro-batch, {} of \
     parameters, gradients and optimizer state) exceeds the {} available; lower \
     --batch-size or --context (or --group-context, or the model with --model \
     hidden=/layers=), or pass --force to try anyway",
    gib(estimate.total()),
    gib(estimate.activations),
    estimate.tokens,
    gib(estimate.state),
    gib(*available)
)]
pub struct TooBig {
    pub estimate: MemoryEstimate,
    /// Bytes available.
    pub available: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(batch: usize, context: usize) -> TrainConfig {
        serde_json::from_value(serde_json::json!({
            "model": crate::model::Config::preset("tiny").unwrap(), "preset": "tiny",
            "optim": super::super::OptimConfig::default(),
            "data": "d", "suite": "s", "steps": 1, "batch_size": batch, "context": context,
            "episode_sparsity": 1, "val_fraction": 0.1, "obs_norm": "task", "eval_every": 0,
            "eval_batches": 1, "checkpoint_every": 0, "group_weights": [], "seed": 0,
            "device": "cpu"
        }))
        .unwrap()
    }

    #[test]
    fn the_estimate_follows_its_formula() {
        let cfg = config(8, 100);
        let m = &cfg.model;
        let (params, _) = crate::model::totals(m, &crate::model::param_table(m));
        let e = estimate_peak(&cfg);
        assert_eq!(e.tokens, 800);
        assert_eq!(e.state, 16 * params as u64);
        let per = ACTIVATION_FACTOR * m.hidden as u64
            + 2 * m.ffn_hidden as u64 * (m.active_experts.max(1) as u64);
        assert_eq!(e.activations, 4 * 800 * m.layers as u64 * per);
        // Activations grow with the tokens of a micro-batch, the state does not.
        let big = estimate_peak(&config(16, 100));
        assert_eq!(big.activations, 2 * e.activations);
        assert_eq!(big.state, e.state);
        // The flag sizes of the report: 65536 x 400 tokens do not saturate to nonsense.
        let huge = estimate_peak(&config(65536, 400));
        assert!(huge.total() > 100 << 30 && huge.total() < u64::MAX, "{huge:?}");
    }

    #[test]
    fn a_run_beyond_the_available_memory_is_refused_naming_the_flags() {
        let cfg = config(8, 100);
        let need = estimate_peak(&cfg).total();
        assert!(check_fits(&cfg, need).is_ok());
        let e = check_fits(&cfg, need - 1).unwrap_err().to_string();
        assert!(e.contains("--batch-size") && e.contains("--context") && e.contains("--force"));
    }
}
