//! PPO's actor-critic computed in plain Rust (`PpoConfig::backend = native`): the same
//! networks, losses, gradient clipping and Adam as the torch path ([`super::policy`],
//! [`super::loss`], `tch::nn::Adam`), written out by hand.
//!
//! The networks are two 64-wide MLPs: on a batch of a few hundred rows each libtorch op
//! costs more in dispatch than in arithmetic, so a rollout step or a minibatch update is
//! dominated by per-op overhead. Here the matrix products and `tanh` are vectorised loops
//! ([`kernels`]) over flat buffers allocated once.
//!
//! The weights start as the torch path's (copied from [`ActorCritic`], which draws them from
//! the run's seed) and are copied back into it for evaluation and saving, so a policy file
//! does not say which path trained it. Both paths draw the same random numbers in the same
//! order; they differ only in float rounding (the gradients agree to about 1e-6, see the
//! tests), gSDE's heads included.

pub(crate) mod kernels;

use rand::Rng;
use tch::Tensor;

use super::PpoError;
use super::config::PpoConfig;
use super::loss::MinibatchLosses;
use super::policy::{ActorCritic, Draw, Head, Linear, Sampled, SdeNoise, draw_actions, to_vec};

const LN_2PI: f32 = 1.837_877_1;

/// Layers with at least this many outputs multiply by `W^T` in [`kernels::matmul`]'s blocks;
/// narrower ones (the heads) take dot products with `W`'s rows.
const BLOCKED_OUTPUTS: usize = 16;

/// Where one dense layer's weight `(outputs, inputs)` and bias live in the flat parameters.
#[derive(Clone, Copy, Debug)]
struct Layer {
    inputs: usize,
    outputs: usize,
    weight: usize,
    bias: usize,
}

impl Layer {
    fn len(&self) -> usize {
        self.outputs * (self.inputs + 1)
    }

    /// `y (rows, outputs) = x (rows, inputs) W^T + b`; `transposed` holds `W^T` at the
    /// weight's offset ([`Layer::transpose`]).
    fn forward(&self, params: &[f32], transposed: &[f32], x: &[f32], rows: usize, y: &mut [f32]) {
        let (i, o) = (self.inputs, self.outputs);
        let bias = &params[self.bias..][..o];
        let y = &mut y[..rows * o];
        if o >= BLOCKED_OUTPUTS {
            for row in y.chunks_exact_mut(o) {
                row.copy_from_slice(bias);
            }
            let wt = &transposed[self.weight..][..o * i];
            kernels::matmul((rows, i, o), x, (i, 1), wt, y, true);
        } else {
            kernels::matmul_nt((rows, i, o), x, &params[self.weight..][..o * i], y);
            for row in y.chunks_exact_mut(o) {
                row.iter_mut().zip(bias).for_each(|(v, b)| *v += b);
            }
        }
    }

    /// Writes `W^T (inputs, outputs)` into `transposed` at the weight's offset.
    fn transpose(&self, params: &[f32], transposed: &mut [f32]) {
        let (i, o) = (self.inputs, self.outputs);
        let (w, wt) = (&params[self.weight..][..o * i], &mut transposed[self.weight..][..o * i]);
        for (r, row) in w.chunks_exact(i).enumerate() {
            for (c, v) in row.iter().enumerate() {
                wt[c * o + r] = *v;
            }
        }
    }

    /// The weight and bias gradients of `dy (rows, outputs)` for inputs `x`, written into
    /// `grads`; with `dx`, also `dx (rows, inputs) = dy W`. `scratch` holds `dW^T` when the
    /// inputs are too few for [`kernels::matmul`]'s blocks.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        dy: &[f32],
        rows: usize,
        dx: Option<&mut [f32]>,
        scratch: &mut Vec<f32>,
    ) {
        let (i, o) = (self.inputs, self.outputs);
        let dw = &mut grads[self.weight..][..o * i];
        if i >= 16 {
            // dW (o, i) = dy^T (o, rows) x (rows, i).
            kernels::matmul((o, rows, i), dy, (1, o), x, dw, false);
        } else {
            // dW^T (i, o) = x^T (i, rows) dy (rows, o), then transposed into place.
            scratch.resize(i * o, 0.0);
            kernels::matmul((i, rows, o), x, (1, i), dy, scratch, false);
            for (c, row) in scratch.chunks_exact(o).enumerate() {
                for (r, v) in row.iter().enumerate() {
                    dw[r * i + c] = *v;
                }
            }
        }
        let db = &mut grads[self.bias..][..o];
        db.fill(0.0);
        for row in dy[..rows * o].chunks_exact(o) {
            db.iter_mut().zip(row).for_each(|(g, d)| *g += d);
        }
        if let Some(dx) = dx {
            let w = &params[self.weight..][..o * i];
            kernels::matmul((rows, o, i), dy, (o, 1), w, dx, false);
        }
    }

    fn copy_from(&self, params: &mut [f32], linear: &Linear) {
        params[self.weight..self.weight + self.outputs * self.inputs]
            .copy_from_slice(&to_vec(&linear.weight));
        params[self.bias..self.bias + self.outputs].copy_from_slice(&to_vec(&linear.bias));
    }

    fn copy_into(&self, params: &[f32], linear: &Linear) {
        let (i, o) = (self.inputs, self.outputs);
        let weight = Tensor::from_slice(&params[self.weight..self.weight + o * i]);
        let bias = Tensor::from_slice(&params[self.bias..self.bias + o]);
        tch::no_grad(|| {
            let (mut w, mut b) = (linear.weight.shallow_clone(), linear.bias.shallow_clone());
            w.copy_(&weight.view([o as i64, i as i64]));
            b.copy_(&bias);
        });
    }
}

/// input -> hidden -> tanh -> hidden -> tanh -> output, as [`super::policy::Mlp`].
#[derive(Clone, Copy, Debug)]
struct Mlp {
    layers: [Layer; 3],
}

/// One MLP's activations on a batch, kept for the backward pass.
#[derive(Default)]
struct Activations {
    h1: Vec<f32>,
    h2: Vec<f32>,
    out: Vec<f32>,
}

impl Activations {
    fn fit(&mut self, rows: usize, mlp: &Mlp) {
        let [a, b, c] = mlp.layers;
        self.h1.resize(rows * a.outputs, 0.0);
        self.h2.resize(rows * b.outputs, 0.0);
        self.out.resize(rows * c.outputs, 0.0);
    }
}

impl Mlp {
    /// Lays out `sizes` from offset `start`; returns the MLP and the next free offset.
    fn at(start: usize, sizes: [usize; 4]) -> (Self, usize) {
        let mut next = start;
        let layers = [0, 1, 2].map(|l| {
            let layer = Layer {
                inputs: sizes[l],
                outputs: sizes[l + 1],
                weight: next,
                bias: next + sizes[l] * sizes[l + 1],
            };
            next += layer.len();
            layer
        });
        (Self { layers }, next)
    }

    fn forward(&self, w: &Weights, x: &[f32], rows: usize, act: &mut Activations) {
        act.fit(rows, self);
        let [l0, l1, l2] = &self.layers;
        l0.forward(&w.params, &w.transposed, x, rows, &mut act.h1);
        kernels::tanh_in_place(&mut act.h1);
        l1.forward(&w.params, &w.transposed, &act.h1, rows, &mut act.h2);
        kernels::tanh_in_place(&mut act.h2);
        l2.forward(&w.params, &w.transposed, &act.h2, rows, &mut act.out);
    }

    /// Gradients of the loss whose gradient with respect to the output is `d_out`, written
    /// into `grads`.
    #[allow(clippy::too_many_arguments)]
    fn backward(
        &self,
        params: &[f32],
        grads: &mut [f32],
        x: &[f32],
        act: &Activations,
        d_out: &[f32],
        rows: usize,
        work: &mut Scratch,
    ) {
        let [l0, l1, l2] = &self.layers;
        let (n1, n2) = (rows * l0.outputs, rows * l1.outputs);
        work.dh.resize(n1 + n2, 0.0);
        let (d1, d2) = work.dh.split_at_mut(n1);
        let dw = &mut work.dw;
        l2.backward(params, grads, &act.h2, d_out, rows, Some(d2), dw);
        // tanh' = 1 - tanh^2.
        d2.iter_mut().zip(&act.h2).for_each(|(d, h)| *d *= 1.0 - h * h);
        l1.backward(params, grads, &act.h1, d2, rows, Some(d1), dw);
        d1.iter_mut().zip(&act.h1).for_each(|(d, h)| *d *= 1.0 - h * h);
        l0.backward(params, grads, x, d1, rows, None, dw);
    }
}

/// The action head, as [`Head`]; log-stds live in the flat parameters from `log_std`.
#[derive(Clone, Debug)]
enum NativeHead {
    /// One log-std per action dimension.
    Gaussian {
        log_std: usize,
        dim: usize,
    },
    /// gSDE: a `(hidden, dim)` log-std of the exploration matrices' entries.
    Sde {
        log_std: usize,
        hidden: usize,
        dim: usize,
    },
    Categorical,
}

/// One minibatch: rows of the rollout, gathered.
pub struct Minibatch<'a> {
    pub obs: &'a [f32],
    pub actions: &'a [f32],
    pub old_log_probs: &'a [f32],
    pub advantages: &'a [f32],
    pub returns: &'a [f32],
    pub old_values: &'a [f32],
}

/// The loss settings of [`super::PpoConfig`] one update needs.
#[derive(Clone, Copy, Debug)]
pub struct LossConfig {
    pub clip_coef: f32,
    pub clip_vloss: bool,
    pub norm_adv: bool,
    pub ent_coef: f32,
    pub vf_coef: f32,
    pub max_grad_norm: f64,
}

impl LossConfig {
    pub fn of(cfg: &PpoConfig) -> Self {
        Self {
            clip_coef: cfg.clip_coef as f32,
            clip_vloss: cfg.clip_vloss,
            norm_adv: cfg.norm_adv,
            ent_coef: cfg.ent_coef as f32,
            vf_coef: cfg.vf_coef as f32,
            max_grad_norm: cfg.max_grad_norm,
        }
    }
}

/// torch's Adam (`tch::nn::Adam { eps: 1e-5 }`: betas 0.9, 0.999, no weight decay).
#[derive(Clone, Debug)]
struct Adam {
    m: Vec<f32>,
    v: Vec<f32>,
    step: i32,
    eps: f32,
}

impl Adam {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;

    fn new(len: usize, eps: f32) -> Self {
        Self { m: vec![0.0; len], v: vec![0.0; len], step: 0, eps }
    }

    fn step(&mut self, params: &mut [f32], grads: &[f32], lr: f64) {
        self.step += 1;
        let correction1 = 1.0 - f64::from(Self::BETA1).powi(self.step);
        let correction2 = 1.0 - f64::from(Self::BETA2).powi(self.step);
        let step_size = (lr / correction1) as f32;
        let root2 = correction2.sqrt() as f32;
        let (b1, b2, eps) = (Self::BETA1, Self::BETA2, self.eps);
        for (((p, g), m), v) in params.iter_mut().zip(grads).zip(&mut self.m).zip(&mut self.v) {
            *m = *m * b1 + g * (1.0 - b1);
            *v = *v * b2 + g * g * (1.0 - b2);
            *p -= step_size * *m / (v.sqrt() / root2 + eps);
        }
    }
}

/// The backward pass's buffers: the hidden layers' gradients and a transposed `dW`.
#[derive(Default)]
struct Scratch {
    dh: Vec<f32>,
    dw: Vec<f32>,
}

/// Buffers of one update, allocated once and reused.
#[derive(Default)]
struct Workspace {
    actor: Activations,
    critic: Activations,
    d_out: Vec<f32>,
    d_value: Vec<f32>,
    scratch: Scratch,
}

/// The flat parameters and, at the same offsets, each weight matrix transposed (what the
/// forward pass multiplies by), refreshed after every change.
struct Weights {
    params: Vec<f32>,
    transposed: Vec<f32>,
}

/// The actor-critic with its Adam state, in flat `f32` buffers.
pub struct NativeActorCritic {
    actor: Mlp,
    critic: Mlp,
    head: NativeHead,
    obs_dim: usize,
    weights: Weights,
    grads: Vec<f32>,
    adam: Adam,
    work: Workspace,
}

impl NativeActorCritic {
    /// A copy of `net`'s weights with a fresh Adam (eps as `tch::nn::Adam { eps }`).
    pub fn from_net(net: &ActorCritic, adam_eps: f64) -> Result<Self, PpoError> {
        let sizes = |mlp: &super::policy::Mlp| {
            let [a, _, c] = &mlp.layers;
            let (hidden, inputs) = (a.weight.size()[0] as usize, a.weight.size()[1] as usize);
            [inputs, hidden, hidden, c.weight.size()[0] as usize]
        };
        let (actor, next) = Mlp::at(0, sizes(&net.actor));
        let (critic, next) = Mlp::at(next, sizes(&net.critic));
        let (head, len) = match &net.head {
            Head::Gaussian { low, .. } => {
                (NativeHead::Gaussian { log_std: next, dim: low.len() }, next + low.len())
            }
            Head::Categorical { .. } => (NativeHead::Categorical, next),
            Head::Sde { log_std, low, .. } => {
                let (hidden, dim) = (log_std.size()[0] as usize, low.len());
                (NativeHead::Sde { log_std: next, hidden, dim }, next + hidden * dim)
            }
        };
        let mut params = vec![0f32; len];
        for (mlp, linears) in [(&actor, &net.actor), (&critic, &net.critic)] {
            for (layer, linear) in mlp.layers.iter().zip(&linears.layers) {
                layer.copy_from(&mut params, linear);
            }
        }
        if let (Some(range), Head::Gaussian { log_std, .. } | Head::Sde { log_std, .. }) =
            (head.log_std_range(), &net.head)
        {
            params[range].copy_from_slice(&to_vec(log_std));
        }
        let mut native = Self {
            actor,
            critic,
            head,
            obs_dim: net.obs_dim,
            grads: vec![0f32; len],
            adam: Adam::new(len, adam_eps as f32),
            weights: Weights { transposed: vec![0f32; len], params },
            work: Workspace::default(),
        };
        native.transpose_weights();
        Ok(native)
    }

    /// Refreshes [`Weights::transposed`] from the parameters.
    fn transpose_weights(&mut self) {
        let Weights { params, transposed } = &mut self.weights;
        // Only layers with `BLOCKED_OUTPUTS` or more outputs multiply by W^T.
        for layer in self.actor.layers.iter().chain(&self.critic.layers) {
            if layer.outputs >= BLOCKED_OUTPUTS {
                layer.transpose(params, transposed);
            }
        }
    }

    /// Writes the current weights into `net` (same shapes as it was built from).
    pub fn copy_into(&self, net: &ActorCritic) {
        for (mlp, linears) in [(&self.actor, &net.actor), (&self.critic, &net.critic)] {
            for (layer, linear) in mlp.layers.iter().zip(&linears.layers) {
                layer.copy_into(&self.weights.params, linear);
            }
        }
        if let (Some(range), Head::Gaussian { log_std, .. } | Head::Sde { log_std, .. }) =
            (self.head.log_std_range(), &net.head)
        {
            let values = Tensor::from_slice(&self.weights.params[range]);
            tch::no_grad(|| log_std.shallow_clone().copy_(&values.view_as(log_std)));
        }
    }

    fn rows(&self, obs: &[f32]) -> usize {
        obs.len() / self.obs_dim.max(1)
    }

    /// The head's log-std (empty for a categorical head).
    pub fn log_std(&self) -> &[f32] {
        self.head.log_std_range().map_or(&[], |range| &self.weights.params[range])
    }

    /// V(s) of row-major (normalised) observations.
    pub fn values(&mut self, obs: &[f32]) -> Vec<f32> {
        let rows = self.rows(obs);
        self.critic.forward(&self.weights, obs, rows, &mut self.work.critic);
        self.work.critic.out.clone()
    }

    /// Actions, log-probabilities and values for a batch of observations, drawing from `rng`
    /// exactly as [`ActorCritic::sample`] does.
    /// A gSDE head takes row `k`'s exploration matrix from `sde`, as the torch path.
    pub fn sample(&mut self, obs: &[f32], rng: &mut impl Rng, sde: Option<&SdeNoise>) -> Sampled {
        let rows = self.rows(obs);
        self.actor.forward(&self.weights, obs, rows, &mut self.work.actor);
        let values = self.values(obs);
        let log_std = self.log_std();
        let var;
        let draw = match self.head {
            NativeHead::Gaussian { .. } => Draw::Gaussian { log_std },
            NativeHead::Sde { hidden, dim, .. } => {
                let noise = sde.expect("a gSDE policy samples with its exploration matrices");
                var = sde_variance(&self.work.actor.h2, &exp2(log_std), hidden, dim);
                Draw::Sde { latent: &self.work.actor.h2, var: &var, noise }
            }
            NativeHead::Categorical => Draw::Categorical,
        };
        let (actions, log_probs) = draw_actions(&self.work.actor.out, rows, draw, rng);
        Sampled { actions, log_probs, values }
    }

    /// One gradient step on `mb` with learning rate `lr`: the loss's gradient
    /// ([`NativeActorCritic::gradients`]), the global-norm clip and Adam.
    pub fn update(&mut self, mb: &Minibatch, cfg: &LossConfig, lr: f64) -> MinibatchLosses {
        let losses = self.gradients(mb, cfg);
        self.apply_gradients(lr, cfg.max_grad_norm);
        losses
    }

    /// Clips [`NativeActorCritic::grads`] to a global norm of `max_grad_norm` and takes an
    /// Adam step with learning rate `lr` (as `tch`'s `clip_grad_norm` and `step`).
    pub fn apply_gradients(&mut self, lr: f64, max_grad_norm: f64) {
        clip_grad_norm(&mut self.grads, max_grad_norm);
        self.adam.step(&mut self.weights.params, &self.grads, lr);
        self.transpose_weights();
    }

    /// The parameters, flat: per MLP (actor, then critic) each layer's weight `(out, in)`
    /// and bias, then the Gaussian head's log-std.
    pub fn params(&self) -> &[f32] {
        &self.weights.params
    }

    /// The gradient of the last [`NativeActorCritic::gradients`], laid out as
    /// [`NativeActorCritic::params`].
    pub fn grads(&self) -> &[f32] {
        &self.grads
    }

    /// The loss of the torch path ([`super::loss::ppo_loss`]: clipped surrogate - ent_coef
    /// entropy + vf_coef value loss) on `mb`, with its gradient by hand in
    /// [`NativeActorCritic::grads`]; the weights are not changed.
    pub fn gradients(&mut self, mb: &Minibatch, cfg: &LossConfig) -> MinibatchLosses {
        let rows = mb.old_log_probs.len();
        let Self { actor, critic, weights, grads, work, head, .. } = self;
        actor.forward(weights, mb.obs, rows, &mut work.actor);
        critic.forward(weights, mb.obs, rows, &mut work.critic);
        let params = &weights.params;
        let scale = 1.0 / rows as f32;

        let mut adv = mb.advantages.to_vec();
        if cfg.norm_adv {
            normalize_advantages(&mut adv);
        }

        // Per row: log-probability and entropy of the taken action, then d(loss)/d(output).
        let out = &work.actor.out;
        let width = out.len() / rows;
        work.d_out.clear();
        work.d_out.resize(out.len(), 0.0);
        let log_std: Vec<f32> = head.log_std_range().map_or(Vec::new(), |r| params[r].to_vec());
        let mut d_log_std = vec![0f32; log_std.len()];
        // gSDE: the variance per row and dimension, from the last hidden layer (no gradient
        // flows back through it, as the torch path detaches it), and exp(2 log_std).
        let (sde_var, sde_exp2) = match head {
            NativeHead::Sde { hidden, dim, .. } => {
                let e = exp2(&log_std);
                (sde_variance(&work.actor.h2, &e, *hidden, *dim), e)
            }
            _ => (Vec::new(), Vec::new()),
        };
        let (mut pg_sum, mut ent_sum, mut old_kl, mut kl, mut clipped) = (0.0, 0.0, 0.0, 0.0, 0);
        let d_entropy = -cfg.ent_coef * scale;
        let mut probs = vec![0f32; width];
        for r in 0..rows {
            let o = &out[r * width..(r + 1) * width];
            let d = &mut work.d_out[r * width..(r + 1) * width];
            let (log_prob, entropy) = match head {
                NativeHead::Categorical => categorical(o, mb.actions[r] as usize, &mut probs),
                NativeHead::Gaussian { .. } => {
                    gaussian(o, &mb.actions[r * width..(r + 1) * width], &log_std)
                }
                NativeHead::Sde { .. } => {
                    let var = &sde_var[r * width..(r + 1) * width];
                    gaussian_var(o, &mb.actions[r * width..(r + 1) * width], var)
                }
            };
            let log_ratio = log_prob - mb.old_log_probs[r];
            let ratio = log_ratio.exp();
            old_kl += -f64::from(log_ratio);
            kl += f64::from(ratio - 1.0 - log_ratio);
            clipped += usize::from((ratio - 1.0).abs() > cfg.clip_coef);
            let (term, slope) = surrogate(ratio, adv[r], cfg.clip_coef);
            pg_sum += f64::from(term);
            ent_sum += f64::from(entropy);
            let d_log_prob = slope * ratio * scale;
            match head {
                NativeHead::Categorical => {
                    let taken = mb.actions[r] as usize;
                    for (j, (dj, &p)) in d.iter_mut().zip(&probs).enumerate() {
                        let onehot = if j == taken { 1.0 } else { 0.0 };
                        let log_p = o[j] - (o[taken] - log_prob);
                        *dj = d_log_prob * (onehot - p) + d_entropy * (-p * (log_p + entropy));
                    }
                }
                NativeHead::Gaussian { .. } => {
                    let a = &mb.actions[r * width..(r + 1) * width];
                    for j in 0..width {
                        let inv_var = (-2.0 * log_std[j]).exp();
                        let diff = a[j] - o[j];
                        d[j] = d_log_prob * diff * inv_var;
                        d_log_std[j] += d_log_prob * (diff * diff * inv_var - 1.0) + d_entropy;
                    }
                }
                NativeHead::Sde { hidden, .. } => {
                    // lp = sum_j -(a - mean)^2 / (2 var) - ln(var) / 2 - ln(2 pi) / 2 and
                    // H = sum_j ln(var) / 2 + ..., var_j = sum_h phi_h^2 exp(2 ls_hj) + 1e-6.
                    let a = &mb.actions[r * width..(r + 1) * width];
                    let var = &sde_var[r * width..(r + 1) * width];
                    let phi = &work.actor.h2[r * *hidden..(r + 1) * *hidden];
                    for j in 0..width {
                        let diff = a[j] - o[j];
                        d[j] = d_log_prob * diff / var[j];
                        let d_var = d_log_prob * (diff * diff / (2.0 * var[j] * var[j]))
                            - (d_log_prob - d_entropy) / (2.0 * var[j]);
                        for (h, p) in phi.iter().enumerate() {
                            d_log_std[h * width + j] +=
                                d_var * 2.0 * p * p * sde_exp2[h * width + j];
                        }
                    }
                }
            }
        }

        // Value loss 0.5 mean(max(unclipped, clipped)) and its gradient (ties split).
        let values = &work.critic.out;
        work.d_value.clear();
        work.d_value.resize(rows, 0.0);
        let mut v_sum = 0.0;
        let half = 0.5 * cfg.vf_coef * scale;
        let clip = cfg.clip_vloss.then_some(cfg.clip_coef);
        let targets = mb.returns.iter().zip(mb.old_values);
        for ((d, &v), (&ret, &old)) in work.d_value.iter_mut().zip(values).zip(targets) {
            let (term, grad) = value_term(v, ret, old, clip);
            v_sum += f64::from(term);
            *d = half * grad;
        }

        let scratch = &mut work.scratch;
        actor.backward(params, grads, mb.obs, &work.actor, &work.d_out, rows, scratch);
        critic.backward(params, grads, mb.obs, &work.critic, &work.d_value, rows, scratch);
        if let Some(range) = head.log_std_range() {
            grads[range].copy_from_slice(&d_log_std);
        }
        let n = rows as f64;
        MinibatchLosses {
            policy_loss: pg_sum / n,
            value_loss: 0.5 * v_sum / n,
            entropy: ent_sum / n,
            old_approx_kl: old_kl / n,
            approx_kl: kl / n,
            clipfrac: clipped as f64 / n,
        }
    }
}

impl NativeHead {
    /// Where the head's log-std lives in the flat parameters (none for a categorical head).
    fn log_std_range(&self) -> Option<std::ops::Range<usize>> {
        match *self {
            NativeHead::Gaussian { log_std, dim } => Some(log_std..log_std + dim),
            NativeHead::Sde { log_std, hidden, dim } => Some(log_std..log_std + hidden * dim),
            NativeHead::Categorical => None,
        }
    }
}

/// `exp(2 log_std)` of every entry.
fn exp2(log_std: &[f32]) -> Vec<f32> {
    log_std.iter().map(|l| (2.0 * l).exp()).collect()
}

/// gSDE's variance, `phi^2 exp(2 log_std) + 1e-6`: `phi` (rows, hidden) and `exp2`
/// (`exp(2 log_std)`, hidden x dim) -> (rows, dim), as [`super::policy`]'s.
fn sde_variance(phi: &[f32], exp2: &[f32], hidden: usize, dim: usize) -> Vec<f32> {
    let mut var = Vec::with_capacity(phi.len() / hidden.max(1) * dim);
    for row in phi.chunks_exact(hidden.max(1)) {
        for j in 0..dim {
            let v: f32 = row.iter().enumerate().map(|(h, p)| p * p * exp2[h * dim + j]).sum();
            var.push(v + 1e-6);
        }
    }
    var
}

/// Shifts `adv` to mean 0 and scales it to std 1 (unbiased std + 1e-8, as torch's `std`).
fn normalize_advantages(adv: &mut [f32]) {
    let n = adv.len() as f64;
    let mean = adv.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
    let var = adv.iter().map(|&a| (f64::from(a) - mean).powi(2)).sum::<f64>() / (n - 1.0);
    let (mean, std) = (mean as f32, var.sqrt() as f32);
    adv.iter_mut().for_each(|a| *a = (*a - mean) / (std + 1e-8));
}

/// Log-probability of action `taken` and entropy of softmax(`logits`), with the
/// probabilities written into `probs`.
fn categorical(logits: &[f32], taken: usize, probs: &mut [f32]) -> (f32, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let sum: f32 = logits.iter().map(|&l| (l - max).exp()).sum();
    let log_z = max + sum.ln();
    let mut entropy = 0.0;
    for (p, &l) in probs.iter_mut().zip(logits) {
        *p = (l - log_z).exp();
        entropy -= *p * (l - log_z);
    }
    (logits[taken] - log_z, entropy)
}

/// Log-probability of `action` and entropy of `N(mean, exp(log_std))` per dimension.
fn gaussian(mean: &[f32], action: &[f32], log_std: &[f32]) -> (f32, f32) {
    let mut log_prob = 0.0;
    for ((&m, &a), &ls) in mean.iter().zip(action).zip(log_std) {
        log_prob += -(a - m).powi(2) / (2.0 * (2.0 * ls).exp()) - ls - 0.5 * LN_2PI;
    }
    let entropy = log_std.iter().map(|ls| ls + 0.5 * (1.0 + LN_2PI)).sum();
    (log_prob, entropy)
}

/// Log-probability of `action` and entropy of `N(mean, var)` per dimension (gSDE's).
fn gaussian_var(mean: &[f32], action: &[f32], var: &[f32]) -> (f32, f32) {
    let mut log_prob = 0.0;
    let mut entropy = 0.0;
    for ((&m, &a), &v) in mean.iter().zip(action).zip(var) {
        log_prob += -(a - m).powi(2) / (2.0 * v) - 0.5 * v.ln() - 0.5 * LN_2PI;
        entropy += 0.5 * v.ln() + 0.5 * (1.0 + LN_2PI);
    }
    (log_prob, entropy)
}

/// One row's clipped surrogate `max(-A r, -A clip(r, 1 - eps, 1 + eps))` and its slope in
/// `r`: torch's `maximum` splits a tie's gradient in half and `clamp` passes it on its
/// range, so the slope is -A on the unclipped side or inside the range, else 0.
fn surrogate(ratio: f32, advantage: f32, eps: f32) -> (f32, f32) {
    let (unclipped, clipped) = (-advantage * ratio, -advantage * ratio.clamp(1.0 - eps, 1.0 + eps));
    let inside = (1.0 - eps..=1.0 + eps).contains(&ratio);
    let slope = if inside || unclipped > clipped { -advantage } else { 0.0 };
    (unclipped.max(clipped), slope)
}

/// One row's value-loss term (before the 0.5 and the mean) and its derivative in `v`:
/// `(v - R)^2`, or with `clip` the larger of that and `(V_old + clip(v - V_old) - R)^2`
/// (torch's `maximum` splits a tie's gradient in half; `clamp` passes it on its range).
fn value_term(v: f32, ret: f32, old: f32, clip: Option<f32>) -> (f32, f32) {
    let unclipped = (v - ret).powi(2);
    let d_unclipped = 2.0 * (v - ret);
    let Some(eps) = clip else { return (unclipped, d_unclipped) };
    let delta = v - old;
    let vc = old + delta.clamp(-eps, eps);
    let clipped = (vc - ret).powi(2);
    let d_clipped = if (-eps..=eps).contains(&delta) { 2.0 * (vc - ret) } else { 0.0 };
    if unclipped > clipped {
        (unclipped, d_unclipped)
    } else if clipped > unclipped {
        (clipped, d_clipped)
    } else {
        (unclipped, 0.5 * (d_unclipped + d_clipped))
    }
}

/// `tch::nn::Optimizer::clip_grad_norm`: scales every gradient by `max / (norm + 1e-6)`
/// when that is below 1, `norm` being the 2-norm of all gradients together.
fn clip_grad_norm(grads: &mut [f32], max: f64) {
    let norm = grads.iter().map(|&g| f64::from(g) * f64::from(g)).sum::<f64>().sqrt();
    let coef = max / (norm + 1e-6);
    if coef < 1.0 {
        let coef = coef as f32;
        grads.iter_mut().for_each(|g| *g *= coef);
    }
}
