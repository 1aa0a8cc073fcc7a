//! Causal softmax attention with ALiBi (Press et al., arXiv 2108.12409), QK-norm and a
//! sliding window, as Vintix uses; plus its KV-cache form for inference.
//!
//! Training runs queries in chunks against one shared bias tensor (the bias depends only on
//! the distance between query and key, so every chunk slices the same tensor): the score
//! matrix never exceeds `chunk x (chunk + window)`.

use tch::nn::Path;
use tch::{Kind, Tensor};

use super::config::Config;
use super::error::ModelError;
use super::kv::CompressedKv;
use super::layers::{INIT_STD, LayerNorm, Linear};

/// ALiBi slopes `2^(-8h/H)`, h = 1..H.
pub fn alibi_slopes(heads: i64) -> Vec<f64> {
    (1..=heads).map(|h| 2f64.powf(-8.0 * h as f64 / heads as f64)).collect()
}

/// Additive attention bias `(H, nq, nk)`, f32, for queries at positions `q0..q0+nq` and keys
/// at `k0..k0+nk`: `-slope_h * (i - j)` where `0 <= i - j < window`, else `-inf`.
pub fn alibi_bias(slopes: &Tensor, q0: i64, nq: i64, k0: i64, nk: i64, window: i64) -> Tensor {
    let device = slopes.device();
    let i = Tensor::arange_start(q0, q0 + nq, (Kind::Float, device));
    let j = Tensor::arange_start(k0, k0 + nk, (Kind::Float, device));
    let dist = i.unsqueeze(1) - j.unsqueeze(0); // (nq, nk)
    let allowed = dist.ge(0.0).logical_and(&dist.lt(window as f64));
    let bias = -(slopes.view([-1, 1, 1]) * dist.unsqueeze(0));
    bias.masked_fill(&allowed.logical_not().unsqueeze(0), f64::NEG_INFINITY)
}

/// Sliding-window causal attention with ALiBi: `q, k, v (B, H, T, dh)`, `slopes (H)` ->
/// `(B, H, T, dh)`, with scores `q k^T / sqrt(dh) + bias`.
pub fn softmax_attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    slopes: &Tensor,
    window: i64,
    chunk: i64,
) -> Tensor {
    let (_, _, t, dh) = q.size4().expect("q is (B, H, T, dh)");
    let w = window.min(t);
    let cq = chunk.min(t);
    let scale = 1.0 / (dh as f64).sqrt();
    // Shared bias: query r of a chunk starting at q0 against keys from q0 - (w - 1) - pad, so
    // that a chunk may take up to `pad` more keys on either side (masked: beyond the window
    // on the left, in the future on the right).
    // Masked entries are a large finite negative rather than -inf: exp gives the same 0, and
    // no kernel meets an infinity (CUDA's memory-efficient SDPA gave NaN at 32K steps with a
    // window of 8K, where chunks first start past key 0).
    let pad = KEY_ALIGN - 1;
    let shared = alibi_bias(slopes, w - 1 + pad, cq, 0, cq + w - 1 + 2 * pad, window)
        .clamp_min(MASKED)
        .to_kind(q.kind());
    let mut outs = Vec::new();
    let mut q0 = 0;
    while q0 < t {
        let nq = cq.min(t - q0);
        let (k0, nk) = key_range(q0, nq, w, t);
        let bias = shared.narrow(1, 0, nq).narrow(2, k0 - q0 + w - 1 + pad, nk).unsqueeze(0);
        outs.push(Tensor::scaled_dot_product_attention(
            &q.narrow(2, q0, nq),
            &k.narrow(2, k0, nk),
            &v.narrow(2, k0, nk),
            Some(bias.contiguous()),
            0.0,
            false,
            scale,
            false,
        ));
        q0 += nq;
    }
    if outs.len() == 1 { outs.remove(0) } else { Tensor::cat(&outs, 2) }
}

/// Key counts of a chunk are rounded up to a multiple of this where the sequence allows
/// (CUDA's memory-efficient attention wants its bias rows aligned to 16 elements).
const KEY_ALIGN: i64 = 16;

/// The additive bias of a masked score (see [`softmax_attention`]).
const MASKED: f64 = -1e9;

/// The keys `k0..k0 + nk` that queries `q0..q0 + nq` attend to within window `w`, widened
/// (left first, then right; the extra keys are masked) to a multiple of [`KEY_ALIGN`] where
/// the sequence of `t` steps allows.
fn key_range(q0: i64, nq: i64, w: i64, t: i64) -> (i64, i64) {
    let k0 = (q0 - (w - 1)).max(0);
    let nk = q0 + nq - k0;
    let short = (KEY_ALIGN - nk % KEY_ALIGN) % KEY_ALIGN;
    let left = short.min(k0).min(KEY_ALIGN - 1);
    let right = (short - left).min(t - (q0 + nq)).min(KEY_ALIGN - 1);
    (k0 - left, nk + left + right)
}

/// The KV cache of one softmax layer for `n` sequences: the last `window` keys and values,
/// and how many of them belong to each sequence's current history (a reset sequence keeps
/// its old entries masked out). Stored in a buffer with spare capacity so that a step writes
/// one entry instead of copying the cache (amortised O(1) copying per step).
#[derive(Debug)]
pub struct KvCache {
    /// `(n, H, capacity, dh)`; the live entries are `start..start + len`, newest last.
    k: Tensor,
    v: Tensor,
    start: i64,
    len: i64,
    /// Per sequence, the number of trailing entries that are its history (<= len).
    pub valid: Vec<i64>,
}

impl KvCache {
    /// A cache whose buffers `k, v (n, H, capacity, dh)` hold a history in their first `len`
    /// entries (all of it valid for every sequence); `len = 0` gives an empty cache.
    pub fn new(k: Tensor, v: Tensor, len: i64) -> Self {
        let (n, _, capacity, _) = k.size4().expect("k is (n, H, capacity, dh)");
        let len = len.clamp(0, capacity);
        KvCache { k, v, start: 0, len, valid: vec![len; n as usize] }
    }

    /// Number of cached entries.
    pub fn len(&self) -> i64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes held by the buffers (capacity included).
    pub fn bytes(&self) -> i64 {
        2 * self.k.numel() as i64 * self.k.kind().elt_size_in_bytes() as i64
    }

    /// The live keys and values `(n, H, len, dh)`.
    pub fn entries(&self) -> (Tensor, Tensor) {
        (self.k.narrow(2, self.start, self.len), self.v.narrow(2, self.start, self.len))
    }

    /// Appends one step's `k, v (n, H, 1, dh)`, keeping at most `window` entries.
    fn push(&mut self, k: &Tensor, v: &Tensor, window: i64) {
        tch::no_grad(|| {
            let capacity = self.k.size()[2];
            if self.start + self.len == capacity {
                let mut shape = self.k.size();
                shape[2] = (2 * self.len).max(self.len + 16);
                let (old_k, old_v) = self.entries();
                let (new_k, new_v) = (
                    self.k.new_zeros(shape.as_slice(), (self.k.kind(), self.k.device())),
                    self.v.new_zeros(shape.as_slice(), (self.v.kind(), self.v.device())),
                );
                new_k.narrow(2, 0, self.len).copy_(&old_k);
                new_v.narrow(2, 0, self.len).copy_(&old_v);
                (self.k, self.v, self.start) = (new_k, new_v, 0);
            }
            self.k.narrow(2, self.start + self.len, 1).copy_(k);
            self.v.narrow(2, self.start + self.len, 1).copy_(v);
        });
        self.len += 1;
        if self.len > window {
            self.start += self.len - window;
            self.len = window;
        }
        for n in self.valid.iter_mut() {
            *n = (*n + 1).min(self.len);
        }
    }

    /// Forget the history of sequence `i`.
    pub fn reset(&mut self, i: usize) {
        if let Some(n) = self.valid.get_mut(i) {
            *n = 0;
        }
    }
}

/// The softmax token mixer: q, k, v projections, LayerNorm on q and k per head (QK-norm),
/// ALiBi sliding-window attention, output projection.
#[derive(Debug)]
pub struct SoftmaxAttention {
    q: Linear,
    k: Linear,
    v: Linear,
    q_norm: LayerNorm,
    k_norm: LayerNorm,
    out: Linear,
    slopes: Tensor,
    heads: i64,
    window: i64,
    chunk: i64,
}

impl SoftmaxAttention {
    pub fn new(p: &Path, cfg: &Config) -> Result<Self, ModelError> {
        let d = cfg.hidden;
        let out_std = INIT_STD / (2.0 * cfg.layers as f64).sqrt();
        Ok(SoftmaxAttention {
            q: Linear::new(&(p / "q"), d, d, false, INIT_STD)?,
            k: Linear::new(&(p / "k"), d, d, false, INIT_STD)?,
            v: Linear::new(&(p / "v"), d, d, false, INIT_STD)?,
            q_norm: LayerNorm::new(&(p / "q_norm"), cfg.head_dim())?,
            k_norm: LayerNorm::new(&(p / "k_norm"), cfg.head_dim())?,
            out: Linear::new(&(p / "out"), d, d, false, out_std)?,
            slopes: Tensor::from_slice(&alibi_slopes(cfg.heads))
                .to_kind(Kind::Float)
                .to_device(p.device()),
            heads: cfg.heads,
            window: cfg.softmax_window,
            chunk: cfg.softmax_chunk,
        })
    }

    /// Parameters of one layer.
    pub fn count(cfg: &Config) -> i64 {
        4 * Linear::count(cfg.hidden, cfg.hidden, false) + 2 * LayerNorm::count(cfg.head_dim())
    }

    /// The linear layers: q, k, v, out.
    pub fn linears(&self) -> Vec<&Linear> {
        vec![&self.q, &self.k, &self.v, &self.out]
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.q, &mut self.k, &mut self.v, &mut self.out]
    }

    /// The ALiBi slopes `(H)`, f32.
    pub fn slopes(&self) -> &Tensor {
        &self.slopes
    }

    /// `x (B, T, D)` -> q, k, v heads `(B, H, T, dh)`, q and k normalised.
    fn qkv(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (b, t, d) = x.size3().expect("x is (B, T, D)");
        let split =
            |l: &Linear| l.forward(x).view([b, t, self.heads, d / self.heads]).transpose(1, 2);
        let q = self.q_norm.forward(&split(&self.q));
        let k = self.k_norm.forward(&split(&self.k));
        (q, k, split(&self.v))
    }

    fn project(&self, o: &Tensor) -> Tensor {
        let (b, _, t, _) = o.size4().expect("o is (B, H, T, dh)");
        self.out.forward(&o.transpose(1, 2).reshape([b, t, -1]))
    }

    /// Training form over a whole sequence `x (B, T, D)`.
    pub fn forward(&self, x: &Tensor) -> Tensor {
        let (q, k, v) = self.qkv(x);
        self.project(&softmax_attention(&q, &k, &v, &self.slopes, self.window, self.chunk))
    }

    /// An empty cache for `n` sequences.
    pub fn empty_cache(&self, n: i64, kind: Kind) -> KvCache {
        let dh = self.q_norm.weight.size()[0];
        let empty = Tensor::zeros([n, self.heads, 0, dh], (kind, self.slopes.device()));
        KvCache::new(empty.shallow_clone(), empty, 0)
    }

    /// One step `x (n, 1, D)` against the cache, which it extends (keeping `window` entries).
    pub fn step(&self, x: &Tensor, cache: &mut KvCache) -> Tensor {
        let (q, k, v) = self.qkv(x);
        cache.push(&k, &v, self.window);
        let (k_all, v_all) = cache.entries();
        let len = cache.len();
        let device = x.device();
        // Entry m is at distance len - 1 - m from the newest; older than `valid` is masked.
        let bias = alibi_bias(&self.slopes, len - 1, 1, 0, len, self.window); // (H, 1, len)
        let first_valid = Tensor::from_slice(&cache.valid).to_device(device).neg() + len; // (n)
        let m = Tensor::arange(len, (Kind::Int64, device));
        let stale = m.unsqueeze(0).lt_tensor(&first_valid.unsqueeze(1)); // (n, len)
        let mask = bias
            .unsqueeze(0)
            .masked_fill(&stale.view([-1, 1, 1, len]), f64::NEG_INFINITY)
            .to_kind(q.kind());
        let dh = q.size()[3];
        let o = Tensor::scaled_dot_product_attention(
            &q,
            &k_all,
            &v_all,
            Some(mask),
            0.0,
            false,
            1.0 / (dh as f64).sqrt(),
            false,
        );
        self.project(&o)
    }

    /// An empty compressed cache for `n` sequences: softmax layer `layer` of `layers`.
    pub fn compressed_cache(
        &self,
        n: i64,
        kind: Kind,
        opts: &super::kv::KvOptions,
        layer: usize,
        layers: usize,
    ) -> Result<CompressedKv, ModelError> {
        let dh = self.q_norm.weight.size()[0];
        CompressedKv::new((n, self.heads, dh), kind, self.slopes.device(), opts, layer, layers)
    }

    /// One step `x (n, 1, D)` against a compressed cache: the step's entry is added, the
    /// cache pruned to its budget, then the query attends to every entry kept, with the ALiBi
    /// distance from each entry's own position (no window: the budget bounds the cache).
    pub fn step_compressed(
        &self,
        x: &Tensor,
        cache: &mut CompressedKv,
    ) -> Result<Tensor, ModelError> {
        let (q, k, v) = self.qkv(x);
        cache.push(&k, &v, &q);
        cache.compress(&self.slopes)?;
        let (k_all, v_all, pos) = cache.entries(q.kind())?;
        let t = cache.steps();
        let dist = (-pos.to_kind(Kind::Float)) + (t - 1) as f64; // (n, H, L)
        let bias = -(self.slopes.view([1, -1, 1]) * dist);
        let mask =
            bias.masked_fill(&cache.stale(&pos), f64::NEG_INFINITY).unsqueeze(2).to_kind(q.kind()); // (n, H, 1, L)
        let dh = q.size()[3];
        let o = Tensor::scaled_dot_product_attention(
            &q,
            &k_all,
            &v_all,
            Some(mask),
            0.0,
            false,
            1.0 / (dh as f64).sqrt(),
            false,
        );
        Ok(self.project(&o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ranges_cover_the_window_and_align_where_the_sequence_allows() {
        let (w, t, cq) = (100, 1000, 32);
        let mut q0 = 0;
        while q0 < t {
            let nq = cq.min(t - q0);
            let (k0, nk) = key_range(q0, nq, w, t);
            // Every key a query of the chunk may see is in the range, and nothing past the end.
            assert!(k0 <= (q0 - (w - 1)).max(0) && k0 + nk >= q0 + nq, "q0 {q0}");
            assert!(k0 >= 0 && k0 + nk <= t, "q0 {q0}");
            // At most KEY_ALIGN - 1 extra keys on each side (the shared bias's padding).
            assert!((q0 - (w - 1)).max(0) - k0 < KEY_ALIGN && k0 + nk - (q0 + nq) < KEY_ALIGN);
            // Aligned whenever keys remain on either side to widen into.
            if nk % KEY_ALIGN != 0 {
                assert!(k0 == 0 && k0 + nk == t, "q0 {q0}: {nk} keys");
            }
            q0 += nq;
        }
    }
}
