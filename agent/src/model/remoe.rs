//! ReMoE: ReLU-routed mixture of experts (Wang et al., arXiv 2412.14711; thu-ml/ReMoE).
//!
//! Router `R(x) = ReLU(x W_r)` (no softmax, no top-k); output `sum_e R_e(x) FFN_e(x)` over the
//! experts with `R_e > 0`; a token with no active expert passes through the residual only.
//! Two ways to compute it, with the same sums and gradients ([`Dispatch`]): on the CPU the
//! tokens are gathered per expert, so an inactive (token, expert) pair costs nothing; on CUDA
//! every expert runs on every token and is weighted by its router output (zero when
//! inactive), because gathering needs the number of each expert's tokens on the host: a
//! synchronisation per expert and layer, which stalls the thread that launches the GPU's work
//! (gathered, ReMoE trained at 1.3 steps/s on an H200 against 3.2 for the dense FFN,
//! docs/benchmarks.md). The masked way spends `E / k` times the gathered FLOPs; the model
//! FLOPs that MFU is stated against count the active experts only.
//! Sparsity comes from a load-balanced L1 regulariser whose coefficient lambda is adapted
//! every step toward the target sparsity `1 - k/E` ([`RemoeController`]). As in the paper
//! and its reference code, one lambda serves every layer, driven by the sparsity over all
//! layers and the whole accumulated batch ([`RouterCount`]).
//! The controller can only push sparsity up: a router output at zero gets no gradient, so
//! once lambda has overshot, the sparsity stays above the target while lambda decays without
//! a floor. The small models of docs/results.md settled at 0.80 and 0.89 against 0.75;
//! `curves.png` of a run shows its sparsity, lambda and expert load.

use serde::{Deserialize, Serialize};
use tch::nn::Path;
use tch::{Kind, Tensor};

use super::config::{Config, FfnKind};
use super::error::ModelError;
use super::ffn::DenseFfn;
use super::layers::{INIT_STD, Linear};

/// How a ReMoE layer computes its experts; both give the same output and gradients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// Each expert on the tokens its router output is positive on (gathered, then added
    /// back): no work for inactive pairs, but a host synchronisation per expert.
    Gathered,
    /// Each expert on every token, weighted by its router output: no synchronisation, `E / k`
    /// times the gathered FLOPs at the target sparsity.
    Masked,
}

impl Dispatch {
    /// Masked on CUDA (where a synchronisation stalls the GPU), gathered elsewhere.
    pub fn for_device(device: tch::Device) -> Self {
        if device.is_cuda() { Dispatch::Masked } else { Dispatch::Gathered }
    }
}

/// What one ReMoE layer reports from a forward pass.
#[derive(Debug)]
pub struct RemoeStats {
    /// The load-balanced L1 regulariser `(1/T) sum_t sum_e f_e R_{t,e}`, with
    /// `f_e = E/(k T) sum_t 1{R_{t,e} > 0}` not differentiated (scalar, f32).
    pub reg: Tensor,
    /// Zero router outputs over tokens and experts.
    pub count: RouterCount,
}

/// What a layer's router did over some tokens: how many tokens it routed and, per expert, on
/// how many of them its output was positive. Summed over layers and micro-batches, it gives
/// the sparsity of a whole optimizer step; per layer, the experts' load.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouterCount {
    /// Tokens routed.
    pub tokens: f64,
    /// Per expert: the tokens on which its router output was positive.
    pub active: Vec<f64>,
}

impl RouterCount {
    /// Adds another count, expert by expert.
    pub fn add(&mut self, other: &RouterCount) {
        self.tokens += other.tokens;
        if self.active.len() < other.active.len() {
            self.active.resize(other.active.len(), 0.0);
        }
        self.active.iter_mut().zip(&other.active).for_each(|(a, b)| *a += b);
    }

    /// Router outputs counted: tokens times experts.
    pub fn entries(&self) -> f64 {
        self.tokens * self.active.len() as f64
    }

    /// Fraction of zero router outputs (`None` if nothing was counted).
    pub fn sparsity(&self) -> Option<f64> {
        let entries = self.entries();
        (entries > 0.0).then(|| 1.0 - self.active.iter().sum::<f64>() / entries)
    }

    /// Each expert's load: the fraction of tokens it was active on (`None` if no token was
    /// counted). Their mean is `1 - sparsity`; a balanced router gives every expert `k/E`.
    pub fn load(&self) -> Option<Vec<f64>> {
        (self.tokens > 0.0).then(|| self.active.iter().map(|a| a / self.tokens).collect())
    }
}

/// A ReMoE layer: a router and `E` GELU experts.
#[derive(Debug)]
pub struct Remoe {
    router: Linear,
    experts: Vec<DenseFfn>,
    active: i64,
}

impl Remoe {
    pub fn new(p: &Path, cfg: &Config) -> Result<Self, ModelError> {
        let experts = (0..cfg.experts)
            .map(|e| DenseFfn::new(&(p / "experts" / e), cfg, FfnKind::Gelu, cfg.ffn_hidden))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Remoe {
            router: Linear::new(&(p / "router"), cfg.hidden, cfg.experts, false, INIT_STD)?,
            experts,
            active: cfg.active_experts,
        })
    }

    /// Parameters of one layer.
    pub fn count(cfg: &Config) -> i64 {
        Linear::count(cfg.hidden, cfg.experts, false)
            + cfg.experts * DenseFfn::count(cfg.hidden, cfg.ffn_hidden, FfnKind::Gelu)
    }

    /// The linear layers: the router, then every expert's.
    pub fn linears(&self) -> Vec<&Linear> {
        let experts = self.experts.iter().flat_map(|e| e.linears());
        std::iter::once(&self.router).chain(experts).collect()
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let experts = self.experts.iter_mut().flat_map(|e| e.linears_mut());
        std::iter::once(&mut self.router).chain(experts).collect()
    }

    /// Router outputs `ReLU(x W_r)`: `x (N, D)` -> `(N, E)`.
    pub fn route(&self, x: &Tensor) -> Tensor {
        self.router.forward(x).relu()
    }

    /// Forward: `x (..., D)` -> `(..., D)` and the layer's statistics, computed the way
    /// [`Dispatch::for_device`] picks for `x`'s device.
    pub fn forward(&self, x: &Tensor) -> (Tensor, RemoeStats) {
        self.forward_with(x, Dispatch::for_device(x.device()))
    }

    /// Forward computed the given way.
    pub fn forward_with(&self, x: &Tensor, dispatch: Dispatch) -> (Tensor, RemoeStats) {
        let shape = x.size();
        let d = shape[shape.len() - 1];
        let flat = x.reshape([-1, d]); // (N, D)
        let n = flat.size()[0];
        let r = self.route(&flat); // (N, E)
        let out = match dispatch {
            Dispatch::Gathered => self.gathered(&flat, &r),
            Dispatch::Masked => self.masked(&flat, &r),
        };
        let stats = self.stats(&r, n);
        (out.view(shape.as_slice()), stats)
    }

    /// `sum_e R_e FFN_e` with each expert on its active tokens only: `(N, D)`, `(N, E)`.
    fn gathered(&self, flat: &Tensor, r: &Tensor) -> Tensor {
        let active = r.gt(0.0); // (N, E)
        let mut out = flat.zeros_like();
        for (e, expert) in self.experts.iter().enumerate() {
            let idx = active.select(1, e as i64).nonzero().squeeze_dim(1); // (N_e)
            if idx.numel() == 0 {
                continue;
            }
            let weight = r.select(1, e as i64).index_select(0, &idx).unsqueeze(1); // (N_e, 1)
            let y = expert.forward(&flat.index_select(0, &idx)) * weight; // (N_e, D)
            // Under CUDA autocast the expert computes in bf16 while the residual stream (and
            // so `out`) stays f32; index_add needs one kind, and the sum is kept in `out`'s.
            out = out.index_add(0, &idx, &y.to_kind(out.kind()));
        }
        out
    }

    /// `sum_e R_e FFN_e` with every expert on every token (zero weights included), summed in
    /// `flat`'s kind (f32 under autocast): `(N, D)`, `(N, E)`.
    fn masked(&self, flat: &Tensor, r: &Tensor) -> Tensor {
        self.experts.iter().enumerate().fold(flat.zeros_like(), |acc, (e, expert)| {
            let y = expert.forward(flat) * r.select(1, e as i64).unsqueeze(1);
            acc + y.to_kind(flat.kind())
        })
    }

    fn stats(&self, r: &Tensor, n: i64) -> RemoeStats {
        let e = self.experts.len() as i64;
        let counts = r.detach().gt(0.0).to_kind(Kind::Float).sum_dim_intlist(0, false, Kind::Float); // (E)
        let f = &counts * (e as f64 / (self.active * n.max(1)) as f64);
        let reg = (r.to_kind(Kind::Float) * f.unsqueeze(0)).sum(Kind::Float) / n.max(1) as f64;
        let active = Vec::<f64>::try_from(counts.to_kind(Kind::Double).to_device(tch::Device::Cpu))
            .expect("a 1-D tensor of router counts converts to a Vec");
        RemoeStats { reg, count: RouterCount { tokens: n as f64, active } }
    }
}

/// The adaptive coefficient of the regulariser:
/// `lambda <- lambda * alpha^sign(target - sparsity)` after every training step, with the
/// sparsity over every ReMoE layer and the whole accumulated batch. Each layer holds a copy
/// (all equal: they start at lambda_0 and take the same steps) with its own last measured
/// sparsity for the logs. Model state: checkpointed with the weights.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RemoeController {
    /// Current coefficient lambda (starts at lambda_0).
    pub lambda: f64,
    /// This layer's sparsity at the last update (None before the first).
    pub sparsity: Option<f64>,
    /// Target sparsity `1 - k/E`.
    pub target: f64,
    /// Multiplicative step alpha.
    pub alpha: f64,
}

impl RemoeController {
    pub fn new(cfg: &Config) -> Self {
        RemoeController {
            lambda: cfg.remoe_lambda0,
            sparsity: None,
            target: cfg.remoe_target_sparsity(),
            alpha: cfg.remoe_alpha,
        }
    }

    /// Records this layer's sparsity and moves lambda toward the target by the sparsity over
    /// all layers, `global`.
    pub fn update(&mut self, layer: Option<f64>, global: f64) {
        self.sparsity = layer.or(self.sparsity);
        let sparsity = global;
        if sparsity < self.target {
            self.lambda *= self.alpha;
        } else if sparsity > self.target {
            self.lambda /= self.alpha;
        }
    }
}
