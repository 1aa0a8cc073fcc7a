//! Deterministic evaluation: the mean return of a policy's own (noise-free) actions over K
//! seeded episodes.

use envs::{Action, Env, ResetOptions};
use serde::Serialize;

use super::PpoError;

/// Returns of K evaluation episodes.
#[derive(Clone, Debug, Serialize)]
pub struct EvalResult {
    pub returns: Vec<f64>,
    pub lengths: Vec<usize>,
}

impl EvalResult {
    pub fn mean(&self) -> f64 {
        self.returns.iter().sum::<f64>() / self.returns.len().max(1) as f64
    }

    pub fn std(&self) -> f64 {
        let mean = self.mean();
        let n = self.returns.len().max(1) as f64;
        (self.returns.iter().map(|r| (r - mean).powi(2)).sum::<f64>() / n).sqrt()
    }
}

/// Episodes without a time limit are cut here so that a bad policy cannot hang evaluation.
pub const MAX_EVAL_EPISODE_STEPS: usize = 100_000;

/// Run `episodes` episodes of `env`, episode `k` reset with seed `seed + k`, acting with `act`
/// on raw observations.
pub fn evaluate(
    env: &mut dyn Env,
    act: &mut dyn FnMut(&[f32]) -> Action,
    episodes: usize,
    seed: u64,
) -> Result<EvalResult, PpoError> {
    let mut result = EvalResult { returns: Vec::with_capacity(episodes), lengths: Vec::new() };
    for k in 0..episodes {
        let (mut obs, _) =
            env.reset(Some(seed.wrapping_add(k as u64)), &ResetOptions::default())?;
        let (mut ret, mut len) = (0.0, 0);
        while len < MAX_EVAL_EPISODE_STEPS {
            let step = env.step(&act(&obs))?;
            ret += step.reward;
            len += 1;
            if step.terminated || step.truncated {
                break;
            }
            obs = step.obs;
        }
        result.returns.push(ret);
        result.lengths.push(len);
    }
    Ok(result)
}
