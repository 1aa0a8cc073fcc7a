//! A trained PPO policy as a [`Demonstrator`]: observation normalisation with the saved
//! statistics, then the deterministic action (Gaussian mean clipped to the bounds, or the
//! arg-max logit). The actor's weights are copied out of torch into plain vectors: for one
//! observation at a time a 64x64 MLP in plain Rust is several times faster than a libtorch
//! call, and data generation acts one step at a time.

use envs::{Action, Space};

use super::normalize::RunningMeanStd;
use super::policy::{ActorCritic, Linear, to_vec};
use super::saved::TrainedPolicy;
use histories::demonstrator::Demonstrator;

/// One dense layer in plain vectors: `weight` is (outputs, inputs) row-major.
#[derive(Clone, Debug)]
struct Dense {
    weight: Vec<f32>,
    bias: Vec<f32>,
    inputs: usize,
}

impl Dense {
    fn from_linear(layer: &Linear) -> Self {
        let inputs = layer.weight.size().get(1).copied().unwrap_or(0) as usize;
        Self { weight: to_vec(&layer.weight), bias: to_vec(&layer.bias), inputs }
    }

    fn forward(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        for (row, b) in self.weight.chunks(self.inputs).zip(&self.bias) {
            out.push(row.iter().zip(x).map(|(w, v)| w * v).sum::<f32>() + b);
        }
    }
}

/// The deterministic actor of a trained policy.
#[derive(Clone, Debug)]
pub struct PpoDemonstrator {
    layers: [Dense; 3],
    obs_norm: Option<RunningMeanStd>,
    clip_obs: f64,
    action_space: Space,
    buffers: [Vec<f32>; 2],
}

impl PpoDemonstrator {
    /// The actor of `net` with the given observation statistics.
    pub fn new(
        net: &ActorCritic,
        obs_norm: Option<RunningMeanStd>,
        clip_obs: f64,
        action_space: Space,
    ) -> Self {
        let [l0, l1, l2] = &net.actor.layers;
        Self {
            layers: [Dense::from_linear(l0), Dense::from_linear(l1), Dense::from_linear(l2)],
            obs_norm,
            clip_obs,
            action_space,
            buffers: [Vec::new(), Vec::new()],
        }
    }

    /// The actor of a loaded policy.
    pub fn from_policy(policy: &TrainedPolicy) -> Self {
        let meta = &policy.meta;
        Self::new(
            &policy.net,
            meta.obs_norm.clone(),
            meta.config.clip_obs,
            meta.action_space.clone(),
        )
    }

    /// The actor's raw output for one raw observation: the Gaussian mean or the logits.
    pub fn actor_output(&mut self, obs: &[f32]) -> Vec<f32> {
        let [a, b] = &mut self.buffers;
        a.clear();
        a.extend_from_slice(obs);
        if let Some(stats) = &self.obs_norm {
            stats.normalize(a, self.clip_obs);
        }
        self.layers[0].forward(a, b);
        b.iter_mut().for_each(|x| *x = x.tanh());
        self.layers[1].forward(b, a);
        a.iter_mut().for_each(|x| *x = x.tanh());
        let mut out = Vec::new();
        self.layers[2].forward(a, &mut out);
        out
    }
}

impl Demonstrator for PpoDemonstrator {
    fn kind(&self) -> &'static str {
        "ppo"
    }

    fn act(&mut self, obs: &[f32]) -> Action {
        let out = self.actor_output(obs);
        match &self.action_space {
            Space::Box { low, high } => Action::Continuous(
                out.iter()
                    .zip(low.iter().zip(high))
                    .map(|(a, (lo, hi))| a.clamp(*lo, *hi))
                    .collect(),
            ),
            Space::Discrete { .. } => {
                let best =
                    out.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                        if v > bv { (i, v) } else { (bi, bv) }
                    });
                Action::Discrete(best.0)
            }
        }
    }
}
