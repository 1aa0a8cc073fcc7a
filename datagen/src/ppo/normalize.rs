//! Running observation normalisation and reward scaling, as Gymnasium's
//! `NormalizeObservation` and `NormalizeReward` wrappers (used by CleanRL's continuous PPO).

use serde::{Deserialize, Serialize};

/// Running mean and variance per dimension (Chan et al.'s parallel update), with the count
/// starting at a small epsilon as Gymnasium's `RunningMeanStd` does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunningMeanStd {
    pub mean: Vec<f64>,
    pub var: Vec<f64>,
    pub count: f64,
}

impl RunningMeanStd {
    pub fn new(dim: usize) -> Self {
        Self { mean: vec![0.0; dim], var: vec![1.0; dim], count: 1e-4 }
    }

    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Fold in a batch of rows (`rows.len()` a multiple of `dim`).
    pub fn update(&mut self, rows: &[f32]) {
        let dim = self.dim();
        let n = rows.len() / dim;
        if n == 0 {
            return;
        }
        let batch = n as f64;
        let total = self.count + batch;
        for d in 0..dim {
            let column = rows.iter().skip(d).step_by(dim).map(|&x| x as f64);
            let batch_mean = column.clone().sum::<f64>() / batch;
            let batch_var = column.map(|x| (x - batch_mean).powi(2)).sum::<f64>() / batch;
            let delta = batch_mean - self.mean[d];
            let m2 = self.var[d] * self.count
                + batch_var * batch
                + delta * delta * self.count * batch / total;
            self.mean[d] += delta * batch / total;
            self.var[d] = m2 / total;
        }
        self.count = total;
    }

    /// `clip((x - mean) / sqrt(var + 1e-8), -clip, clip)` for each row, in place.
    pub fn normalize(&self, rows: &mut [f32], clip: f64) {
        let dim = self.dim();
        for (i, x) in rows.iter_mut().enumerate() {
            let d = i % dim;
            let z = (*x as f64 - self.mean[d]) / (self.var[d] + 1e-8).sqrt();
            *x = z.clamp(-clip, clip) as f32;
        }
    }

    /// Whether the statistics are usable (finite, non-negative variance, positive count).
    pub fn is_valid(&self) -> bool {
        self.mean.len() == self.var.len()
            && self.count > 0.0
            && self.mean.iter().all(|m| m.is_finite())
            && self.var.iter().all(|v| v.is_finite() && *v >= 0.0)
    }
}

/// Scales each reward by the running std of the discounted return of its env copy. The
/// return restarts at every episode end (terminated or truncated).
pub struct RewardScaler {
    stats: RunningMeanStd,
    returns: Vec<f64>,
    gamma: f64,
    clip: f64,
}

impl RewardScaler {
    pub fn new(num_envs: usize, gamma: f64, clip: f64) -> Self {
        Self { stats: RunningMeanStd::new(1), returns: vec![0.0; num_envs], gamma, clip }
    }

    /// Scale one step's rewards (one per env copy); `ended[e]` marks episode ends.
    pub fn scale(&mut self, rewards: &[f64], ended: &[bool]) -> Vec<f32> {
        for (ret, &r) in self.returns.iter_mut().zip(rewards) {
            *ret = *ret * self.gamma + r;
        }
        let returns: Vec<f32> = self.returns.iter().map(|&r| r as f32).collect();
        self.stats.update(&returns);
        let std = (self.stats.var[0] + 1e-8).sqrt();
        for (ret, &end) in self.returns.iter_mut().zip(ended) {
            if end {
                *ret = 0.0;
            }
        }
        rewards.iter().map(|&r| (r / std).clamp(-self.clip, self.clip) as f32).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn running_stats_match_the_batch_statistics() {
        let data: Vec<f32> = (0..200).map(|i| ((i * 37) % 101) as f32 * 0.1 - 3.0).collect();
        let mut rms = RunningMeanStd::new(2);
        for chunk in data.chunks(14) {
            rms.update(chunk);
        }
        for d in 0..2 {
            let col: Vec<f64> = data.iter().skip(d).step_by(2).map(|&x| x as f64).collect();
            let mean = col.iter().sum::<f64>() / col.len() as f64;
            let var = col.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / col.len() as f64;
            assert!((rms.mean[d] - mean).abs() < 1e-3, "mean {d}");
            assert!((rms.var[d] - var).abs() / var < 1e-3, "var {d}");
        }
    }
}
