//! The PPO objective (Schulman et al. 2017, "Proximal Policy Optimization Algorithms") and
//! its diagnostics, each a small function so that the maths is tested on its own.

use tch::Tensor;

use super::config::PpoConfig;
use super::policy::ActorCritic;

/// One minibatch of the rollout as tensors: rows of observations and actions, and the
/// log-probabilities, advantages, returns and values recorded with them.
pub struct TensorMinibatch {
    pub obs: Tensor,
    pub actions: Tensor,
    pub old_log_probs: Tensor,
    pub advantages: Tensor,
    pub returns: Tensor,
    pub old_values: Tensor,
}

/// One minibatch's loss terms and diagnostics, as CleanRL logs them.
#[derive(Clone, Copy, Debug, Default)]
pub struct MinibatchLosses {
    pub policy_loss: f64,
    pub value_loss: f64,
    pub entropy: f64,
    pub old_approx_kl: f64,
    pub approx_kl: f64,
    pub clipfrac: f64,
}

/// PPO's loss on one minibatch (to minimise): clipped surrogate - `ent_coef` entropy +
/// `vf_coef` value loss, with its terms. The native engine computes the same loss and its
/// gradient by hand ([`super::native`]).
pub fn ppo_loss(
    net: &ActorCritic,
    mb: &TensorMinibatch,
    cfg: &PpoConfig,
) -> (Tensor, MinibatchLosses) {
    let (new_log_prob, entropy, new_value) = net.evaluate(&mb.obs, &mb.actions);
    let log_ratio = new_log_prob - &mb.old_log_probs;
    let ratio = log_ratio.exp();
    let advantages = if cfg.norm_adv {
        normalize_advantages(&mb.advantages)
    } else {
        mb.advantages.shallow_clone()
    };
    let pg_loss = clipped_policy_loss(&ratio, &advantages, cfg.clip_coef);
    let v_loss = value_loss(
        &new_value,
        &mb.old_values,
        &mb.returns,
        cfg.clip_vloss.then_some(cfg.clip_coef),
    );
    let entropy_loss = entropy.mean(None);
    let total = &pg_loss - &entropy_loss * cfg.ent_coef + &v_loss * cfg.vf_coef;
    let value = |t: &Tensor| f64::try_from(t).unwrap_or(f64::NAN);
    let losses = MinibatchLosses {
        policy_loss: value(&pg_loss),
        value_loss: value(&v_loss),
        entropy: value(&entropy_loss),
        old_approx_kl: tch::no_grad(|| value(&(-&log_ratio).mean(None))),
        approx_kl: approx_kl(&log_ratio),
        clipfrac: clip_fraction(&ratio, cfg.clip_coef),
    };
    (total, losses)
}

/// Clipped surrogate loss (to minimise): `mean(max(-A r, -A clip(r, 1 - eps, 1 + eps)))` with
/// `r = exp(new_logprob - old_logprob)`. Where the clipped side is active the gradient is zero.
pub fn clipped_policy_loss(ratio: &Tensor, advantages: &Tensor, clip_coef: f64) -> Tensor {
    let unclipped = -advantages * ratio;
    let clipped = -advantages * ratio.clamp(1.0 - clip_coef, 1.0 + clip_coef);
    unclipped.maximum(&clipped).mean(None)
}

/// Value loss `0.5 * mean((V - R)^2)`; with `clip` the pessimistic maximum of that and the
/// error of `V_old + clip(V - V_old, -eps, eps)` (as PPO2 and CleanRL do).
pub fn value_loss(
    values: &Tensor,
    old_values: &Tensor,
    returns: &Tensor,
    clip: Option<f64>,
) -> Tensor {
    let unclipped = (values - returns).square();
    match clip {
        None => unclipped.mean(None) * 0.5,
        Some(eps) => {
            let clipped_values = old_values + (values - old_values).clamp(-eps, eps);
            let clipped = (clipped_values - returns).square();
            unclipped.maximum(&clipped).mean(None) * 0.5
        }
    }
}

/// Advantages shifted to mean 0 and scaled to std 1 (std + 1e-8 as CleanRL).
pub fn normalize_advantages(advantages: &Tensor) -> Tensor {
    (advantages - advantages.mean(None)) / (advantages.std(true) + 1e-8)
}

/// The low-variance KL estimator `mean((r - 1) - log r)` (Schulman, "Approximating KL
/// Divergence", 2020), always >= 0.
pub fn approx_kl(log_ratio: &Tensor) -> f64 {
    tch::no_grad(|| {
        f64::try_from((log_ratio.exp() - 1.0 - log_ratio).mean(None)).unwrap_or(f64::NAN)
    })
}

/// Fraction of samples whose ratio lies outside `[1 - eps, 1 + eps]`.
pub fn clip_fraction(ratio: &Tensor, clip_coef: f64) -> f64 {
    tch::no_grad(|| {
        let outside = (ratio - 1.0).abs().gt(clip_coef).to_kind(tch::Kind::Float);
        f64::try_from(outside.mean(None)).unwrap_or(f64::NAN)
    })
}

/// `1 - Var(target - prediction) / Var(target)`: 1 is a perfect value function, 0 no better
/// than a constant; NaN when the targets have no variance.
pub fn explained_variance(prediction: &[f32], target: &[f32]) -> f64 {
    let variance = |xs: &mut dyn Iterator<Item = f64>| {
        let v: Vec<f64> = xs.collect();
        let n = v.len().max(1) as f64;
        let mean = v.iter().sum::<f64>() / n;
        v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n
    };
    let var_target = variance(&mut target.iter().map(|&y| y as f64));
    if var_target == 0.0 {
        return f64::NAN;
    }
    let var_residual =
        variance(&mut target.iter().zip(prediction).map(|(&y, &p)| y as f64 - p as f64));
    1.0 - var_residual / var_target
}
