//! The actor-critic: two MLPs (64x64 tanh, CleanRL's `Agent`) with orthogonal initialisation,
//! a Gaussian head with a state-independent log-std for Box actions and a categorical head
//! for Discrete ones. Built bottom-up: linear layer, MLP, action head, actor-critic.
//!
//! Parameter names mirror the module tree (`actor.0.weight`, `critic.2.bias`, `log_std`), so
//! the same code builds fresh weights or loads a saved policy.

use envs::{Action, Space};
use rand::Rng;
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor, nn};

use super::PpoError;

const LN_2PI: f64 = 1.837_877_066_409_345_3;

/// A matrix with orthonormal rows or columns times `gain` (Saxe et al. 2014), drawn from `rng`
/// rather than torch's global generator so that one seed drives the whole run.
pub fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut impl Rng) -> Tensor {
    let (tall, short) = (rows.max(cols), rows.min(cols));
    let normal: Vec<f32> =
        (0..tall * short).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    let a = Tensor::from_slice(&normal).view([tall as i64, short as i64]);
    let (q, r) = Tensor::linalg_qr(&a, "reduced"); // (tall, short), (short, short)
    // Fix the signs so the distribution is uniform (Haar), as torch.nn.init.orthogonal_ does.
    let q = q * r.diagonal(0, 0, 1).sign().unsqueeze(0);
    let q = if rows < cols { q.tr() } else { q };
    (q * gain).contiguous()
}

/// `y = x W^T + b` with an orthogonal `W` (out, in) and a zero bias.
#[derive(Debug)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

impl Linear {
    fn new(p: nn::Path, inputs: usize, outputs: usize, gain: f64, rng: &mut impl Rng) -> Self {
        let weight = p.var_copy("weight", &orthogonal(outputs, inputs, gain, rng));
        let bias = p.zeros("bias", &[outputs as i64]);
        Self { weight, bias }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        x.linear(&self.weight, Some(&self.bias))
    }
}

/// input -> hidden -> tanh -> hidden -> tanh -> output. Hidden layers use gain sqrt(2); the
/// output gain is the caller's (0.01 for the policy head so that the initial policy is near
/// uniform / zero-mean, 1.0 for the value head).
#[derive(Debug)]
pub struct Mlp {
    pub layers: [Linear; 3],
}

impl Mlp {
    fn new(p: nn::Path, sizes: [usize; 4], out_gain: f64, rng: &mut impl Rng) -> Self {
        let hidden_gain = 2f64.sqrt();
        Self {
            layers: [
                Linear::new(&p / "0", sizes[0], sizes[1], hidden_gain, rng),
                Linear::new(&p / "1", sizes[1], sizes[2], hidden_gain, rng),
                Linear::new(&p / "2", sizes[2], sizes[3], out_gain, rng),
            ],
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        self.forward_latent(x).0
    }

    /// The output and the last hidden layer's activations (gSDE's features).
    fn forward_latent(&self, x: &Tensor) -> (Tensor, Tensor) {
        let h = self.layers[0].forward(x).tanh(); // (B, hidden)
        let h = self.layers[1].forward(&h).tanh(); // (B, hidden)
        (self.layers[2].forward(&h), h) // (B, out), (B, hidden)
    }
}

/// How actions are drawn from the actor's output.
#[derive(Debug)]
pub enum Head {
    /// `N(mean, exp(log_std))` per dimension; env actions are clipped to `[low, high]`.
    Gaussian { log_std: Tensor, low: Vec<f32>, high: Vec<f32> },
    /// gSDE (`PpoConfig::use_sde`): `mean + phi(s) E`, `E ~ N(0, exp(log_std))` with
    /// `log_std` of shape `(hidden, dim)`; env actions are clipped to `[low, high]`.
    Sde { log_std: Tensor, low: Vec<f32>, high: Vec<f32> },
    /// Softmax over `n` logits.
    Categorical { n: usize },
}

/// Actor and critic with their variable store.
pub struct ActorCritic {
    pub vs: nn::VarStore,
    pub actor: Mlp,
    pub critic: Mlp,
    pub head: Head,
    pub obs_dim: usize,
}

/// What the rollout keeps of one batch of sampled actions.
pub struct Sampled {
    /// (B, action_width) row-major: the raw Gaussian sample, or the index as f32.
    pub actions: Vec<f32>,
    pub log_probs: Vec<f32>,
    pub values: Vec<f32>,
}

impl ActorCritic {
    /// Fresh weights for `obs_dim` observations and `action_space` actions.
    pub fn new(
        obs_dim: usize,
        action_space: &Space,
        hidden: usize,
        init_log_std: f64,
        use_sde: bool,
        rng: &mut impl Rng,
    ) -> Result<Self, PpoError> {
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let (head, outputs) = match action_space {
            Space::Discrete { .. } if use_sde => {
                return Err(PpoError::Unsupported(
                    "`use_sde` needs continuous (Box) actions".into(),
                ));
            }
            Space::Discrete { n } if *n > 0 => (Head::Categorical { n: *n }, *n),
            Space::Box { low, high } if !low.is_empty() && use_sde => {
                let shape = [hidden as i64, low.len() as i64];
                let log_std = root.var("log_std", &shape, nn::Init::Const(init_log_std));
                (Head::Sde { log_std, low: low.clone(), high: high.clone() }, low.len())
            }
            Space::Box { low, high } if !low.is_empty() => {
                let log_std =
                    root.var("log_std", &[1, low.len() as i64], nn::Init::Const(init_log_std));
                (Head::Gaussian { log_std, low: low.clone(), high: high.clone() }, low.len())
            }
            other => {
                return Err(PpoError::Unsupported(format!("action space {other:?} is empty")));
            }
        };
        let critic = Mlp::new(&root / "critic", [obs_dim, hidden, hidden, 1], 1.0, rng);
        let actor = Mlp::new(&root / "actor", [obs_dim, hidden, hidden, outputs], 0.01, rng);
        Ok(Self { vs, actor, critic, head, obs_dim })
    }

    /// Floats per stored action: the Box dimension, or 1 (the index) for Discrete.
    pub fn action_width(&self) -> usize {
        match &self.head {
            Head::Gaussian { low, .. } | Head::Sde { low, .. } => low.len(),
            Head::Categorical { .. } => 1,
        }
    }

    /// Number of trainable scalars.
    pub fn parameter_count(&self) -> i64 {
        self.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    /// V(s) for a batch of (normalised) observations: (B, obs_dim) -> (B,).
    pub fn value(&self, obs: &Tensor) -> Tensor {
        self.critic.forward(obs).squeeze_dim(-1)
    }

    /// Log-probability (B,) and entropy (B,) of `actions` (B, width) under the current policy,
    /// plus V(s) (B,): what the update needs.
    pub fn evaluate(&self, obs: &Tensor, actions: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (out, latent) = self.actor.forward_latent(obs); // (B, outputs), (B, hidden)
        let (log_prob, entropy) = match &self.head {
            Head::Sde { log_std, .. } => {
                let var = sde_variance(&latent.detach(), log_std);
                let lp = -(actions - &out).square() / (&var * 2.0) - var.log() * 0.5 - 0.5 * LN_2PI;
                let ent = var.log() * 0.5 + 0.5 * (1.0 + LN_2PI);
                (
                    lp.sum_dim_intlist(-1, false, Kind::Float),
                    ent.sum_dim_intlist(-1, false, Kind::Float),
                )
            }
            Head::Gaussian { log_std, .. } => {
                let var = (log_std * 2.0).exp();
                let lp = -(actions - &out).square() / (var * 2.0) - log_std - 0.5 * LN_2PI;
                let ent = (log_std + 0.5 * (1.0 + LN_2PI)).expand_as(&out);
                (
                    lp.sum_dim_intlist(-1, false, Kind::Float),
                    ent.sum_dim_intlist(-1, false, Kind::Float),
                )
            }
            Head::Categorical { .. } => {
                let logp = out.log_softmax(-1, Kind::Float); // (B, n)
                let index = actions.to_kind(Kind::Int64); // (B, 1)
                let lp = logp.gather(-1, &index, false).squeeze_dim(-1);
                let ent = -(logp.exp() * &logp).sum_dim_intlist(-1, false, Kind::Float);
                (lp, ent)
            }
        };
        (log_prob, entropy, self.value(obs))
    }

    /// Sample actions for a batch of observations with `rng`, without gradients. A gSDE
    /// head takes row `k`'s exploration matrix from `sde` (one per env, see [`SdeNoise`]);
    /// the other heads ignore it.
    pub fn sample(&self, obs: &Tensor, rng: &mut impl Rng, sde: Option<&SdeNoise>) -> Sampled {
        tch::no_grad(|| {
            let (out, latent) = self.actor.forward_latent(obs);
            let rows = out.size()[0] as usize;
            let values = to_vec(&self.value(obs));
            let outputs = to_vec(&out);
            let (actions, log_probs) = match &self.head {
                Head::Sde { log_std, .. } => {
                    let noise = sde.expect("a gSDE policy samples with its exploration matrices");
                    let var = to_vec(&sde_variance(&latent, log_std));
                    let latent = to_vec(&latent);
                    let draw = Draw::Sde { latent: &latent, var: &var, noise };
                    draw_actions(&outputs, rows, draw, rng)
                }
                Head::Gaussian { log_std, .. } => {
                    let log_std = to_vec(log_std);
                    draw_actions(&outputs, rows, Draw::Gaussian { log_std: &log_std }, rng)
                }
                Head::Categorical { .. } => draw_actions(&outputs, rows, Draw::Categorical, rng),
            };
            Sampled { actions, log_probs, values }
        })
    }

    /// The deterministic action rows (Gaussian mean, or arg-max index as f32).
    pub fn deterministic(&self, obs: &Tensor) -> Vec<f32> {
        tch::no_grad(|| {
            let out = self.actor.forward(obs);
            match &self.head {
                Head::Gaussian { .. } | Head::Sde { .. } => to_vec(&out),
                Head::Categorical { .. } => to_vec(&out.argmax(-1, false).to_kind(Kind::Float)),
            }
        })
    }

    /// The env action for one stored row: Box actions clipped to the bounds (CleanRL's
    /// `ClipAction`; the unclipped sample is what the log-probability refers to).
    pub fn env_action(&self, row: &[f32]) -> Action {
        match &self.head {
            Head::Gaussian { low, high, .. } | Head::Sde { low, high, .. } => Action::Continuous(
                row.iter()
                    .zip(low.iter().zip(high))
                    .map(|(a, (lo, hi))| a.clamp(*lo, *hi))
                    .collect(),
            ),
            Head::Categorical { .. } => Action::Discrete(row[0] as usize),
        }
    }
}

/// gSDE's variance per action dimension, `phi^2 exp(2 log_std) + 1e-6`: (B, hidden) and
/// (hidden, dim) -> (B, dim).
fn sde_variance(latent: &Tensor, log_std: &Tensor) -> Tensor {
    latent.square().matmul(&(log_std * 2.0).exp()) + 1e-6
}

/// gSDE's exploration matrices, one `(hidden, dim)` matrix per env, drawn from
/// `N(0, exp(log_std))` elementwise and held between draws.
#[derive(Debug, Default)]
pub struct SdeNoise {
    /// `envs` matrices, row-major.
    matrices: Vec<f32>,
    size: usize,
}

impl SdeNoise {
    /// New matrices for `envs` envs from the policy's current `log_std` (no-op for other
    /// heads).
    pub fn draw(&mut self, policy: &ActorCritic, envs: usize, rng: &mut impl Rng) {
        if let Head::Sde { log_std, .. } = &policy.head {
            self.draw_from(&to_vec(log_std), envs, rng);
        }
    }

    /// New matrices for `envs` envs from a gSDE `log_std` (row-major `(hidden, dim)`).
    pub fn draw_from(&mut self, log_std: &[f32], envs: usize, rng: &mut impl Rng) {
        let std: Vec<f32> = log_std.iter().map(|l| l.exp()).collect();
        self.size = std.len();
        self.matrices.clear();
        for _ in 0..envs {
            for s in &std {
                let z: f64 = rng.sample(StandardNormal);
                self.matrices.push((z * *s as f64) as f32);
            }
        }
    }

    /// Env `k`'s matrix, row-major `(hidden, dim)`.
    fn matrix(&self, k: usize) -> &[f32] {
        &self.matrices[k * self.size..(k + 1) * self.size]
    }
}

/// How rows of the actor's output become actions.
pub(crate) enum Draw<'a> {
    /// `mean + exp(log_std) z`, `z ~ N(0, 1)` per dimension.
    Gaussian { log_std: &'a [f32] },
    /// gSDE: `mean + phi E_k` with env `k`'s held matrix (no draw from the stream), scored
    /// under `N(mean, var)`; `latent` is `phi` (rows x hidden), `var` is rows x dim.
    Sde { latent: &'a [f32], var: &'a [f32], noise: &'a SdeNoise },
    /// An index drawn from softmax(logits).
    Categorical,
}

/// Actions (row-major, the index as f32 for Categorical) and their log-probabilities for
/// `rows` rows of the actor's `outputs`, drawn from `rng` in row order.
pub(crate) fn draw_actions(
    outputs: &[f32],
    rows: usize,
    draw: Draw,
    rng: &mut impl Rng,
) -> (Vec<f32>, Vec<f32>) {
    let width = outputs.len() / rows.max(1);
    let mut log_probs = Vec::with_capacity(rows);
    let mut actions = Vec::with_capacity(outputs.len());
    for (k, row) in outputs.chunks(width.max(1)).take(rows).enumerate() {
        match draw {
            Draw::Sde { latent, var, noise } => {
                let hidden = latent.len() / rows.max(1);
                let phi = &latent[k * hidden..(k + 1) * hidden];
                let e = noise.matrix(k);
                let mut lp = 0.0f64;
                for (j, mean) in row.iter().enumerate() {
                    let z: f64 =
                        phi.iter().enumerate().map(|(h, p)| (p * e[h * width + j]) as f64).sum();
                    let v = var[k * width + j] as f64;
                    actions.push((*mean as f64 + z) as f32);
                    lp += -z * z / (2.0 * v) - 0.5 * v.ln() - 0.5 * LN_2PI;
                }
                log_probs.push(lp as f32);
            }
            Draw::Gaussian { log_std } => {
                let mut lp = 0.0f64;
                for (mean, ls) in row.iter().zip(log_std) {
                    let z: f64 = rng.sample(StandardNormal);
                    actions.push((*mean as f64 + ls.exp() as f64 * z) as f32);
                    lp += -0.5 * z * z - *ls as f64 - 0.5 * LN_2PI;
                }
                log_probs.push(lp as f32);
            }
            Draw::Categorical => {
                let (index, lp) = sample_categorical(row, rng);
                actions.push(index as f32);
                log_probs.push(lp);
            }
        }
    }
    (actions, log_probs)
}

/// Inverse-CDF sample from softmax(`logits`); returns the index and its log-probability.
fn sample_categorical(logits: &[f32], rng: &mut impl Rng) -> (usize, f32) {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let weights: Vec<f64> = logits.iter().map(|&l| ((l - max) as f64).exp()).collect();
    let total: f64 = weights.iter().sum();
    let u = rng.random::<f64>() * total;
    let mut acc = 0.0;
    let mut index = weights.len() - 1;
    for (i, w) in weights.iter().enumerate() {
        acc += w;
        if u < acc {
            index = i;
            break;
        }
    }
    (index, ((weights[index] / total).ln()) as f32)
}

/// A float tensor's values, row-major.
pub fn to_vec(t: &Tensor) -> Vec<f32> {
    let t = t.to_kind(Kind::Float).contiguous().view([-1]);
    Vec::<f32>::try_from(&t).unwrap_or_default()
}

/// A (rows, cols) float tensor from row-major values.
pub fn from_rows(values: &[f32], cols: usize) -> Tensor {
    Tensor::from_slice(values).view([(values.len() / cols.max(1)) as i64, cols as i64])
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn sde_policy(rng: &mut ChaCha8Rng) -> ActorCritic {
        let space = Space::Box { low: vec![-2.0, -1.0], high: vec![2.0, 1.0] };
        ActorCritic::new(3, &space, 16, -0.5, true, rng).unwrap()
    }

    #[test]
    fn gsde_samples_with_held_matrices_and_scores_them_as_the_update_does() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let net = sde_policy(&mut rng);
        let obs = from_rows(&[0.1, -0.4, 0.9, 1.2, 0.3, -0.7], 3);
        let mut sde = SdeNoise::default();
        sde.draw(&net, 2, &mut rng);
        let a = net.sample(&obs, &mut rng, Some(&sde));
        // The exploration is the matrices', not the stream's: held, the same obs give the
        // same actions; redrawn, others.
        let b = net.sample(&obs, &mut rng, Some(&sde));
        assert_eq!(a.actions, b.actions);
        sde.draw(&net, 2, &mut rng);
        assert_ne!(net.sample(&obs, &mut rng, Some(&sde)).actions, a.actions);
        // The rollout's log-probabilities are the update's for the same actions.
        let (lp, ent, _) = net.evaluate(&obs, &from_rows(&a.actions, 2));
        for (x, y) in to_vec(&lp).iter().zip(&a.log_probs) {
            assert!((x - y).abs() < 1e-4, "{x} vs {y}");
        }
        assert!(to_vec(&ent).iter().all(|e| e.is_finite()));
        // The deterministic action is the mean, without exploration.
        assert_eq!(net.deterministic(&obs).len(), 4);
    }

    #[test]
    fn gsde_needs_box_actions() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let e = ActorCritic::new(3, &Space::Discrete { n: 2 }, 8, 0.0, true, &mut rng).err();
        assert!(e.unwrap().to_string().contains("use_sde"));
    }
}
