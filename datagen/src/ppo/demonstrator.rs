//! A trained PPO policy as a [`Demonstrator`]: observation normalisation with the saved
//! statistics, then the deterministic action (Gaussian mean clipped to the bounds, or the
//! arg-max logit). The actor's weights are copied out of torch into plain vectors: for one
//! observation at a time a 64x64 MLP in plain Rust is several times faster than a libtorch
//! call, and data generation acts one step at a time. The arithmetic is the native PPO
//! engine's ([`super::native::kernels`]: vectorised dot products and `tanh`).

use envs::{Action, Space};

use super::native::kernels;
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

    /// `out = W x + b` for one input row.
    fn forward(&self, x: &[f32], out: &mut Vec<f32>) {
        out.clear();
        out.resize(self.bias.len(), 0.0);
        kernels::matmul_nt((1, self.inputs, self.bias.len()), x, &self.weight, out);
        out.iter_mut().zip(&self.bias).for_each(|(o, b)| *o += b);
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
        kernels::tanh_in_place(b);
        self.layers[1].forward(b, a);
        kernels::tanh_in_place(a);
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
