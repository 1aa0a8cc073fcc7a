//! Lightning Attention-2 (Qin et al., arXiv 2401.04658; TransNormerLLM / MiniMax-01 block).
//!
//! Linear attention with a per-head decay `lambda = exp(-s)`:
//! `o_t = q_t . sum_{j <= t} lambda^(t-j) k_j^T v_j`, in three forms that compute the same
//! function (tested to agree):
//! - [`lightning_naive`]: the quadratic form with the decay mask (the reference);
//! - [`lightning_block`]: the block form for training, linear in length. Intra-block work is a
//!   small masked product; each block's incoming state is a decay-weighted sum of the earlier
//!   blocks' `k^T v`, computed for all blocks at once with an `nb x nb` decay matrix, so there
//!   is no sequential loop over blocks (a loop is launch-bound on a GPU at long lengths);
//! - [`lightning_step`]: the recurrent form for inference, `S_t = lambda S_{t-1} + k_t^T v_t`,
//!   `o_t = q_t S_t`, a `d x e` state per head and constant cost per step.

use tch::nn::Path;
use tch::{Kind, Tensor};

use super::config::Config;
use super::error::ModelError;
use super::layers::{INIT_STD, LayerNorm, Linear};

/// Decay rates `s` of one layer: ALiBi slopes `2^(-8h/H)`, h = 1..H, scaled by the layer's
/// depth `1 - l/(L-1) + 1e-5` (TNL, MiniMax): early layers forget fast, the last barely.
pub fn decay_rates(heads: i64, layer: i64, layers: i64) -> Vec<f64> {
    let depth = 1.0 - layer as f64 / (layers - 1).max(1) as f64 + 1e-5;
    (1..=heads).map(|h| 2f64.powf(-8.0 * h as f64 / heads as f64) * depth).collect()
}

/// `exp(-rate_h * dist)` for a distance tensor: `rates (H)`, `dist (...)` -> `(H, ...)`, f32.
fn decay(rates: &Tensor, dist: &Tensor) -> Tensor {
    let shape: Vec<i64> = std::iter::once(-1).chain(dist.size().iter().map(|_| 1)).collect();
    (-(rates.view(shape.as_slice()) * dist.unsqueeze(0))).exp()
}

/// Lower-triangular decay mask `M_ij = lambda^(i-j)` for `i >= j`, else 0: `(H, n, n)`, f32.
fn decay_mask(rates: &Tensor, n: i64) -> Tensor {
    let pos = Tensor::arange(n, (Kind::Float, rates.device()));
    let diff = pos.unsqueeze(1) - pos.unsqueeze(0); // (n, n): i - j
    let causal = diff.ge(0.0).to_kind(Kind::Float);
    decay(rates, &diff.clamp_min(0.0)) * causal.unsqueeze(0)
}

/// The quadratic reference: `q, k (B, H, T, d)`, `v (B, H, T, e)`, `rates (H)` -> `(B, H, T, e)`.
pub fn lightning_naive(q: &Tensor, k: &Tensor, v: &Tensor, rates: &Tensor) -> Tensor {
    let t = q.size()[2];
    let mask = decay_mask(rates, t).to_kind(q.kind()).unsqueeze(0); // (1, H, T, T)
    (q.matmul(&k.transpose(-2, -1)) * mask).matmul(v)
}

/// The block form. `q, k (B, H, T, d)`, `v (B, H, T, e)`, `rates (H)`; `init` an optional
/// incoming state `(B, H, d, e)` (the history before this segment). Returns the output
/// `(B, H, T, e)` and, when `want_state`, the state after the last step `(B, H, d, e)`.
/// `T` need not be a multiple of `block`: the tail block is zero-padded (zero keys and values
/// add nothing to any state) and its padded outputs dropped.
pub fn lightning_block(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rates: &Tensor,
    block: i64,
    init: Option<&Tensor>,
    want_state: bool,
) -> (Tensor, Option<Tensor>) {
    let (b, h, t, d) = q.size4().expect("q is (B, H, T, d)");
    let e = v.size()[3];
    let kind = q.kind();
    let device = q.device();
    let bs = block.min(t).max(1);
    let nb = (t + bs - 1) / bs;
    let pad = nb * bs - t;
    let pad_t =
        |x: &Tensor| if pad > 0 { x.constant_pad_nd([0, 0, 0, pad]) } else { x.shallow_clone() };
    let qb = pad_t(q).view([b, h, nb, bs, d]);
    let kb = pad_t(k).view([b, h, nb, bs, d]);
    let vb = pad_t(v).view([b, h, nb, bs, e]);

    // Intra-block: ((Q_i K_i^T) * M) V_i for every block at once.
    let mask = decay_mask(rates, bs).to_kind(kind).view([1, h, 1, bs, bs]);
    let intra = (qb.matmul(&kb.transpose(-2, -1)) * mask).matmul(&vb); // (B, H, nb, bs, e)

    // Each block's own contribution to the state at its last step:
    // D_c = sum_r lambda^(bs-1-r) k_r^T v_r.
    let r = Tensor::arange(bs, (Kind::Float, device));
    let k_decay = decay(rates, &(r.neg() + (bs - 1) as f64)).to_kind(kind).view([1, h, 1, bs, 1]);
    let local = (&kb * k_decay).transpose(-2, -1).matmul(&vb); // (B, H, nb, d, e)

    // State entering block c: sum_{c' < c} lambda^(bs (c-1-c')) D_c', as one (nb x nb) matmul.
    let c = Tensor::arange(nb, (Kind::Float, device));
    let lag = c.unsqueeze(1) - c.unsqueeze(0) - 1.0; // (nb, nb): c - 1 - c'
    let earlier = lag.ge(0.0).to_kind(Kind::Float).unsqueeze(0);
    let weights = (decay(rates, &(lag.clamp_min(0.0) * bs as f64)) * earlier).to_kind(kind);
    let incoming =
        weights.unsqueeze(0).matmul(&local.reshape([b, h, nb, d * e])).view([b, h, nb, d, e]); // (B, H, nb, d, e)

    // Inter-block: lambda^(r+1) q_r S_in.
    let q_decay = decay(rates, &(&r + 1.0)).to_kind(kind).view([1, h, 1, bs, 1]);
    let inter = (&qb * q_decay).matmul(&incoming); // (B, H, nb, bs, e)
    let mut out = (intra + inter).view([b, h, nb * bs, e]).narrow(2, 0, t);

    let pos = Tensor::arange(t, (Kind::Float, device));
    if let Some(s0) = init {
        // The history's state reaches step t decayed by lambda^(t+1).
        let from_init = decay(rates, &(&pos + 1.0)).to_kind(kind).view([1, h, t, 1]);
        out += (q * from_init).matmul(s0);
    }
    let state = want_state.then(|| {
        let to_end = decay(rates, &(pos.neg() + (t - 1) as f64)).to_kind(kind).view([1, h, t, 1]);
        let mut s = (k * to_end).transpose(-2, -1).matmul(v); // (B, H, d, e)
        if let Some(s0) = init {
            let carry = decay(rates, &Tensor::from(t as f32).to_device(device));
            s += s0 * carry.to_kind(kind).view([1, h, 1, 1]);
        }
        s
    });
    (out, state)
}

/// One recurrent step: `q, k (B, H, 1, d)`, `v (B, H, 1, e)`, `state (B, H, d, e)`.
/// Returns the output `(B, H, 1, e)` and the new state.
pub fn lightning_step(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rates: &Tensor,
    state: &Tensor,
) -> (Tensor, Tensor) {
    let lambda = (-rates).exp().to_kind(q.kind()).view([1, -1, 1, 1]);
    let state = state * lambda + k.transpose(-2, -1).matmul(v);
    (q.matmul(&state), state)
}

/// The lightning token mixer (TNL / MiniMax block): `q, k, v = SiLU(x W)`, linear attention
/// with decay, LayerNorm of the output, times `sigmoid(x W_g)`, then the output projection.
#[derive(Debug)]
pub struct LightningAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    gate: Linear,
    norm: LayerNorm,
    out: Linear,
    /// Decay rate per head, f32 `(H)`.
    rates: Tensor,
    heads: i64,
    block: i64,
}

impl LightningAttention {
    pub fn new(p: &Path, cfg: &Config, layer: i64) -> Result<Self, ModelError> {
        let d = cfg.hidden;
        // Output projections feed the residual stream: scaled by 1/sqrt(2 L) (GPT-2) so the
        // stream's variance does not grow with depth.
        let out_std = INIT_STD / (2.0 * cfg.layers as f64).sqrt();
        let rates = decay_rates(cfg.heads, layer, cfg.layers);
        Ok(LightningAttention {
            q: Linear::new(&(p / "q"), d, d, false, INIT_STD)?,
            k: Linear::new(&(p / "k"), d, d, false, INIT_STD)?,
            v: Linear::new(&(p / "v"), d, d, false, INIT_STD)?,
            gate: Linear::new(&(p / "gate"), d, d, false, INIT_STD)?,
            norm: LayerNorm::new(&(p / "norm"), d)?,
            out: Linear::new(&(p / "out"), d, d, false, out_std)?,
            rates: Tensor::from_slice(&rates).to_kind(Kind::Float).to_device(p.device()),
            heads: cfg.heads,
            block: cfg.lightning_block,
        })
    }

    /// Parameters of one layer.
    pub fn count(cfg: &Config) -> i64 {
        5 * Linear::count(cfg.hidden, cfg.hidden, false) + LayerNorm::count(cfg.hidden)
    }

    /// The linear layers: q, k, v, gate, out.
    pub fn linears(&self) -> Vec<&Linear> {
        vec![&self.q, &self.k, &self.v, &self.gate, &self.out]
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.q, &mut self.k, &mut self.v, &mut self.gate, &mut self.out]
    }

    /// The per-head decay rates `(H)`, f32.
    pub fn rates(&self) -> &Tensor {
        &self.rates
    }

    /// `x (B, T, D)` -> heads `(B, H, T, D/H)` of q, k, v after SiLU.
    fn qkv(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (b, t, d) = x.size3().expect("x is (B, T, D)");
        let split = |l: &Linear| {
            l.forward(x).silu().view([b, t, self.heads, d / self.heads]).transpose(1, 2)
        };
        (split(&self.q), split(&self.k), split(&self.v))
    }

    /// Heads `(B, H, T, e)` -> norm, gate, output projection -> `(B, T, D)`.
    fn finish(&self, x: &Tensor, o: &Tensor) -> Tensor {
        let (b, t, d) = x.size3().expect("x is (B, T, D)");
        let o = o.transpose(1, 2).reshape([b, t, d]);
        self.out.forward(&(self.norm.forward(&o) * self.gate.forward(x).sigmoid()))
    }

    /// Training form over a whole sequence `x (B, T, D)`, from an empty history.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (q, k, v) = self.qkv(x);
        let (o, _) = lightning_block(&q, &k, &v, &self.rates, self.block, None, false);
        self.finish(x, &o)
    }

    /// One step `x (B, 1, D)` with the recurrent form; returns the output and the new state.
    /// The state is kept in its own kind (f32 from [`LightningAttention::zero_state`]) so that
    /// a bf16 model does not accumulate rounding over a long history.
    pub fn step(&self, x: &Tensor, state: &Tensor) -> (Tensor, Tensor) {
        let (q, k, v) = self.qkv(x);
        let kind = state.kind();
        let (o, s) = lightning_step(
            &q.to_kind(kind),
            &k.to_kind(kind),
            &v.to_kind(kind),
            &self.rates,
            state,
        );
        (self.finish(x, &o.to_kind(x.kind())), s)
    }

    /// The zero state for `n` sequences: `(n, H, d, d)`, f32 whatever the model's kind.
    pub fn zero_state(&self, n: i64) -> Tensor {
        let d = self.q.out_features() / self.heads;
        Tensor::zeros([n, self.heads, d, d], (Kind::Float, self.rates.device()))
    }
}
