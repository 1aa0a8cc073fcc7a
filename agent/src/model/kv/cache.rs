//! The compressed, optionally quantized, KV cache of one softmax layer (see the module doc).
//!
//! Entries are kept per sequence and head in order of position, every head holding the same
//! number (selection is per head, so the positions differ between heads). With quantization
//! the older entries live in a store of codes and the newest in a full-precision buffer; all
//! store entries are older than all buffer entries, and only the store is pruned (the
//! buffer is flushed into it before it could reach the layer's budget).

use tch::{Device, Kind, Tensor};

use super::{ALPHA, GROUP, KERNEL, KvOptions, KvPolicy, Pooling, SINKS};
use crate::model::error::{ModelError, config_err};
use crate::quant::hqq::MetaTensor;
use crate::quant::{GroupAxis, MetaDtype, Method, QuantConfig, QuantizedTensor, SolverConfig};
use crate::quant::{pack, quantize};

/// The additive bias of a masked score in the selection (finite: a window query whose whole
/// context is masked gives a uniform row instead of NaN).
const MASKED: f64 = -1e9;

/// Quantized K or V entries: per sequence, head and entry, the packed codes and one scale
/// and zero per group of the head's width.
#[derive(Debug)]
struct Codes {
    /// `(n, H, L, words)` packed codes.
    packed: Tensor,
    /// `(n, H, L, groups)` step `1 / s` and zero `z`, f16.
    scale: Tensor,
    zero: Tensor,
}

impl Codes {
    fn empty(n: i64, h: i64, words: i64, groups: i64, device: Device) -> Codes {
        Codes {
            packed: Tensor::zeros([n, h, 0, words], (Kind::Uint8, device)),
            scale: Tensor::zeros([n, h, 0, groups], (Kind::Half, device)),
            zero: Tensor::zeros([n, h, 0, groups], (Kind::Half, device)),
        }
    }

    /// Quantizes `x (n, H, R, dh)`.
    fn quantize(x: &Tensor, config: &QuantConfig) -> Result<Codes, ModelError> {
        let (n, h, r, dh) = x.size4()?;
        let q = quantize(&x.to_kind(Kind::Float), config)?;
        let plain = |m: MetaTensor| match m {
            MetaTensor::Plain(t) => Ok(t.reshape([n, h, r, dh / config.group_size])),
            MetaTensor::Quantized { .. } => Err(config_err("kv-bits", "metadata must be plain")),
        };
        Ok(Codes {
            packed: q.packed.reshape([n, h, r, -1]),
            scale: plain(q.scale)?,
            zero: plain(q.zero)?,
        })
    }

    /// The values `(n, H, L, dh)`, f32.
    fn dequantize(&self, config: &QuantConfig, dh: i64) -> Result<Tensor, ModelError> {
        let (n, h, l, _) = self.packed.size4()?;
        if l == 0 {
            return Ok(Tensor::zeros([n, h, 0, dh], (Kind::Float, self.packed.device())));
        }
        let q = QuantizedTensor {
            config: config.clone(),
            shape: vec![n, h, l, dh],
            packed: self.packed.reshape([-1]),
            scale: MetaTensor::Plain(self.scale.reshape([-1])),
            zero: MetaTensor::Plain(self.zero.reshape([-1])),
        };
        Ok(q.dequantize()?)
    }

    fn cat(&self, other: &Codes) -> Codes {
        Codes {
            packed: Tensor::cat(&[&self.packed, &other.packed], 2),
            scale: Tensor::cat(&[&self.scale, &other.scale], 2),
            zero: Tensor::cat(&[&self.zero, &other.zero], 2),
        }
    }

    /// The entries `idx (n, H, K)`.
    fn gather(&self, idx: &Tensor) -> Codes {
        Codes {
            packed: gather_entries(&self.packed, idx),
            scale: gather_entries(&self.scale, idx),
            zero: gather_entries(&self.zero, idx),
        }
    }

    fn bytes(&self) -> i64 {
        bytes(&self.packed) + bytes(&self.scale) + bytes(&self.zero)
    }
}

/// The older, quantized entries of a cache.
#[derive(Debug)]
struct Store {
    config: QuantConfig,
    k: Codes,
    v: Codes,
    /// `(n, H, L)` i32 positions.
    pos: Tensor,
}

/// Bytes held by a tensor.
fn bytes(t: &Tensor) -> i64 {
    t.numel() as i64 * t.kind().elt_size_in_bytes() as i64
}

/// Entries `idx (n, H, K)` of `x (n, H, L, ...)` along dim 2.
fn gather_entries(x: &Tensor, idx: &Tensor) -> Tensor {
    let mut shape = idx.size();
    shape.extend_from_slice(&x.size()[3..]);
    let mut index = idx.shallow_clone();
    for _ in 3..x.dim() {
        index = index.unsqueeze(-1);
    }
    x.gather(2, &index.expand(shape.as_slice(), false), false)
}

/// The compressed cache of one softmax layer for `n` sequences.
#[derive(Debug)]
pub struct CompressedKv {
    opts: KvOptions,
    /// This layer's place among the model's softmax layers, and their number.
    layer: usize,
    layers: usize,
    /// Full-precision entries `(n, H, L, dh)` in the model's kind, positions `(n, H, L)` i32.
    k: Tensor,
    v: Tensor,
    pos: Tensor,
    /// Quantized older entries (with `bits`).
    store: Option<Store>,
    /// The last [`ALPHA`] queries `(n, H, <= ALPHA, dh)`, for the selection scores.
    q_win: Tensor,
    /// Steps pushed so far (the position of the next entry).
    t: i64,
    /// Per sequence, the position at which its current history starts.
    hist_start: Vec<i64>,
    /// The most entries (per sequence and head) held at once.
    peak_entries: i64,
}

impl CompressedKv {
    /// An empty cache for `n` sequences of `heads` heads of width `dh`, entries in `kind`;
    /// softmax layer `layer` of `layers`.
    pub fn new(
        (n, heads, dh): (i64, i64, i64),
        kind: Kind,
        device: Device,
        opts: &KvOptions,
        layer: usize,
        layers: usize,
    ) -> Result<Self, ModelError> {
        let store = match opts.bits {
            None => None,
            Some(nbits) => {
                let group = if dh % GROUP == 0 { GROUP } else { dh };
                if group % 8 != 0 || dh % pack::codes_per_word(nbits) != 0 {
                    return Err(config_err(
                        "kv-bits",
                        format!(
                            "a head width of {dh} cannot be quantized per entry to {nbits} bits \
                             (it must be a multiple of {GROUP} or of 8)"
                        ),
                    ));
                }
                if opts.residual < 1 {
                    return Err(config_err("kv-residual", "must be at least 1"));
                }
                let config = QuantConfig {
                    nbits,
                    group_size: group,
                    axis: GroupAxis::One,
                    method: Method::Hqq,
                    solver: SolverConfig::default(),
                    quant_meta: false,
                    meta_dtype: MetaDtype::F16,
                };
                let words = pack::packed_len(nbits, dh);
                Some(Store {
                    config,
                    k: Codes::empty(n, heads, words, dh / group, device),
                    v: Codes::empty(n, heads, words, dh / group, device),
                    pos: Tensor::zeros([n, heads, 0], (Kind::Int, device)),
                })
            }
        };
        let empty = Tensor::zeros([n, heads, 0, dh], (kind, device));
        Ok(CompressedKv {
            opts: opts.clone(),
            layer,
            layers,
            k: empty.shallow_clone(),
            v: empty.shallow_clone(),
            pos: Tensor::zeros([n, heads, 0], (Kind::Int, device)),
            store,
            q_win: empty,
            t: 0,
            hist_start: vec![0; n as usize],
            peak_entries: 0,
        })
    }

    /// Entries held per sequence and head.
    pub fn len(&self) -> i64 {
        self.k.size()[2] + self.store.as_ref().map_or(0, |s| s.pos.size()[2])
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Steps seen (the history length of a sequence never reset).
    pub fn steps(&self) -> i64 {
        self.t
    }

    /// The most entries held at once, per sequence and head.
    pub fn peak_entries(&self) -> i64 {
        self.peak_entries
    }

    /// Bytes held: entries (codes and their scales and zeros where quantized), their
    /// positions, and the window's queries.
    pub fn bytes(&self) -> i64 {
        let store = self.store.as_ref().map_or(0, |s| s.k.bytes() + s.v.bytes() + bytes(&s.pos));
        bytes(&self.k) + bytes(&self.v) + bytes(&self.pos) + bytes(&self.q_win) + store
    }

    /// Bytes the uncompressed full-precision cache of the whole history would hold.
    pub fn full_bytes(&self) -> i64 {
        let (n, h, _, dh) = self.k.size4().expect("k is (n, H, L, dh)");
        2 * n * h * self.t * dh * self.k.kind().elt_size_in_bytes() as i64
    }

    /// Forget the history of sequence `i`: its entries are masked, and dropped first.
    pub fn reset(&mut self, i: usize) {
        if let Some(s) = self.hist_start.get_mut(i) {
            *s = self.t;
        }
    }

    /// Appends one step's `k, v, q (n, H, 1, dh)`.
    pub(crate) fn push(&mut self, k: &Tensor, v: &Tensor, q: &Tensor) {
        let (n, h, _, _) = k.size4().expect("k is (n, H, 1, dh)");
        let pos = Tensor::full([n, h, 1], self.t, (Kind::Int, k.device()));
        self.k = Tensor::cat(&[&self.k, k], 2);
        self.v = Tensor::cat(&[&self.v, v], 2);
        self.pos = Tensor::cat(&[&self.pos, &pos], 2);
        let q_win = Tensor::cat(&[&self.q_win, q], 2);
        let a = q_win.size()[2];
        self.q_win = if a > ALPHA { q_win.narrow(2, a - ALPHA, ALPHA).contiguous() } else { q_win };
        self.t += 1;
    }

    /// Every entry `k, v (n, H, L, dh)` in `kind` and their positions `(n, H, L)` i32,
    /// oldest first per head.
    pub(crate) fn entries(&self, kind: Kind) -> Result<(Tensor, Tensor, Tensor), ModelError> {
        let Some(store) = &self.store else {
            return Ok((self.k.shallow_clone(), self.v.shallow_clone(), self.pos.shallow_clone()));
        };
        let dh = self.k.size()[3];
        let sk = store.k.dequantize(&store.config, dh)?.to_kind(kind);
        let sv = store.v.dequantize(&store.config, dh)?.to_kind(kind);
        Ok((
            Tensor::cat(&[&sk, &self.k], 2),
            Tensor::cat(&[&sv, &self.v], 2),
            Tensor::cat(&[&store.pos, &self.pos], 2),
        ))
    }

    /// `(n, H, L)` true where an entry belongs to an earlier history of its sequence.
    pub(crate) fn stale(&self, pos: &Tensor) -> Tensor {
        let (n, _, _) = pos.size3().expect("pos is (n, H, L)");
        let start = Tensor::from_slice(&self.hist_start).to_device(pos.device()).view([n, 1, 1]);
        pos.to_kind(Kind::Int64).lt_tensor(&start)
    }

    /// Flushes the full-precision buffer into the store where it is due, then drops
    /// entries down to the layer's budget where the history outgrew the average budget.
    /// `slopes (H)`: the layer's ALiBi slopes (selection scores use the layer's own bias).
    pub(crate) fn compress(&mut self, slopes: &Tensor) -> Result<(), ModelError> {
        let avg = self.opts.budget.average(self.t);
        let compressing = self.t > avg;
        let budget = self.opts.layer_budget(avg, self.layer, self.layers);
        if let Some(store) = &mut self.store {
            let limit =
                if compressing { self.opts.residual.min(budget) } else { self.opts.residual };
            if self.k.size()[2] >= limit.max(1) {
                let (k, v) = (
                    Codes::quantize(&self.k, &store.config)?,
                    Codes::quantize(&self.v, &store.config)?,
                );
                store.k = store.k.cat(&k);
                store.v = store.v.cat(&v);
                store.pos = Tensor::cat(&[&store.pos, &self.pos], 2);
                self.k = self.k.narrow(2, 0, 0);
                self.v = self.v.narrow(2, 0, 0);
                self.pos = self.pos.narrow(2, 0, 0);
            }
        }
        let len = self.len();
        if compressing && len > budget {
            let scores = self.scores(slopes)?; // (n, H, L)
            let recent = self.k.size()[2];
            match &mut self.store {
                Some(store) => {
                    // Only the store is pruned; the buffer (shorter than the budget) stays.
                    let held = len - recent;
                    let keep = budget - recent;
                    let idx = top_entries(&scores.narrow(2, 0, held), keep);
                    store.k = store.k.gather(&idx);
                    store.v = store.v.gather(&idx);
                    store.pos = store.pos.gather(2, &idx, false);
                }
                None => {
                    let idx = top_entries(&scores, budget);
                    self.k = gather_entries(&self.k, &idx);
                    self.v = gather_entries(&self.v, &idx);
                    self.pos = self.pos.gather(2, &idx, false);
                }
            }
        }
        self.peak_entries = self.peak_entries.max(self.len());
        Ok(())
    }

    /// Each entry's claim to stay, `(n, H, L)` f32: `+inf` for the window (and the sinks),
    /// `-inf` for an earlier history's entries, else the policy's score.
    fn scores(&self, slopes: &Tensor) -> Result<Tensor, ModelError> {
        let (keys, _, pos) = self.entries(Kind::Float)?;
        let (n, h, l, dh) = keys.size4()?;
        let device = keys.device();
        let posf = pos.to_kind(Kind::Float);
        let stale = self.stale(&pos);
        let window = pos.ge(self.t - ALPHA);
        let scores = match self.opts.policy {
            KvPolicy::Window => {
                let start = Tensor::from_slice(&self.hist_start).to_device(device).view([n, 1, 1]);
                let sinks = pos.to_kind(Kind::Int64).lt_tensor(&(start + SINKS));
                // Sinks rank below the window (a budget of the window alone keeps only it).
                posf.masked_fill(&sinks, 1e30)
            }
            KvPolicy::Pyramid | KvPolicy::Snap => {
                // A = softmax(Q_win K^T / sqrt(dh) + ALiBi), as the layer attends.
                let q = self.q_win.to_kind(Kind::Float);
                let a = q.size()[2];
                let logits = q.matmul(&keys.transpose(-1, -2)) / (dh as f64).sqrt(); // (n, H, a, L)
                let qpos = Tensor::arange_start(self.t - a, self.t, (Kind::Float, device));
                let dist = qpos.view([1, 1, a, 1]) - posf.unsqueeze(2); // (n, H, a, L)
                let bias = -(slopes.view([1, h, 1, 1]) * &dist);
                let masked = dist.lt(0.0).logical_or(&stale.unsqueeze(2));
                let attn = (logits + bias).masked_fill(&masked, MASKED).softmax(-1, Kind::Float);
                let s = attn.sum_dim_intlist([2].as_slice(), false, Kind::Float); // (n, H, L)
                // Pooled over the entries before the window (its last min(ALPHA, L) slots).
                let w = ALPHA.min(l);
                let prefix = s.narrow(2, 0, l - w).reshape([n * h, 1, l - w]);
                let pooled = if l - w == 0 {
                    prefix
                } else {
                    match self.opts.pooling {
                        Pooling::Max => prefix.max_pool1d([KERNEL], [1], [KERNEL / 2], [1], false),
                        Pooling::Avg => prefix.avg_pool1d([KERNEL], [1], [KERNEL / 2], false, true),
                    }
                };
                Tensor::cat(&[&pooled.reshape([n, h, l - w]), &s.narrow(2, l - w, w)], 2)
            }
        };
        Ok(scores.masked_fill(&window, f64::INFINITY).masked_fill(&stale, f64::NEG_INFINITY))
    }
}

/// The `keep` best entries of `scores (n, H, L)`, in order of place (so of position).
fn top_entries(scores: &Tensor, keep: i64) -> Tensor {
    let (_, idx) = scores.topk(keep, -1, true, false);
    idx.sort(-1, false).0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kv::{KvBudget, KvOptions, KvPolicy};

    /// One sequence, one head of 8: every query is `e0`; the key at step 5 is `10 e0`, the
    /// others small. Returns the positions kept after 40 steps with a budget of 12.
    fn kept(policy: KvPolicy, bits: Option<crate::quant::Nbits>) -> Vec<i32> {
        tch::manual_seed(0);
        let opts = KvOptions {
            budget: KvBudget::Entries(12),
            policy,
            bits,
            residual: 4,
            ..Default::default()
        };
        let mut kv = CompressedKv::new((1, 1, 8), Kind::Float, Device::Cpu, &opts, 0, 1).unwrap();
        let e0 = Tensor::zeros([1, 1, 1, 8], (Kind::Float, Device::Cpu));
        let _ = e0.narrow(3, 0, 1).fill_(1.0);
        let slopes = Tensor::zeros([1], (Kind::Float, Device::Cpu)); // no recency bias
        for t in 0..40 {
            let k = if t == 5 {
                &e0 * 10.0
            } else {
                Tensor::randn([1, 1, 1, 8], (Kind::Float, Device::Cpu)) * 0.01
            };
            let v = Tensor::randn([1, 1, 1, 8], (Kind::Float, Device::Cpu));
            kv.push(&k, &v, &e0);
            kv.compress(&slopes).unwrap();
            assert!(kv.len() <= 12 || t < 12, "step {t}: {} entries", kv.len());
        }
        let (_, _, pos) = kv.entries(Kind::Float).unwrap();
        Vec::<i32>::try_from(pos.flatten(0, -1)).unwrap()
    }

    #[test]
    fn attention_selection_keeps_the_attended_entry_and_the_window_policy_the_sinks() {
        for bits in [None, Some(crate::quant::Nbits::B4)] {
            for policy in [KvPolicy::Pyramid, KvPolicy::Snap] {
                let pos = kept(policy, bits);
                assert_eq!(pos.len(), 12);
                assert!(pos.contains(&5), "{policy:?} {bits:?}: {pos:?}");
                assert!((32..40).all(|p| pos.contains(&p)), "{policy:?} {bits:?}: window {pos:?}");
                assert!(pos.windows(2).all(|w| w[0] < w[1]), "kept in order: {pos:?}");
            }
            let pos = kept(KvPolicy::Window, bits);
            assert_eq!(pos, vec![0, 1, 2, 3, 32, 33, 34, 35, 36, 37, 38, 39], "{bits:?}");
        }
    }
}
