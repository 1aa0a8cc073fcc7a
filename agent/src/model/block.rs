//! One pre-norm residual block: `x + mixer(LN(x))`, then `x + ffn(LN(x))`.

use tch::nn::Path;
use tch::{Kind, Tensor};

use super::config::{AttentionKind, Config, FfnKind};
use super::error::ModelError;
use super::ffn::DenseFfn;
use super::kv::CompressedKv;
use super::layers::{LayerNorm, Linear};
use super::lightning::LightningAttention;
use super::remoe::{Remoe, RemoeStats};
use super::softmax::{KvCache, SoftmaxAttention};

/// The token mixer of a block.
#[derive(Debug)]
pub enum Mixer {
    Lightning(LightningAttention),
    Softmax(SoftmaxAttention),
}

/// The feed-forward part of a block.
#[derive(Debug)]
pub enum Ffn {
    Dense(DenseFfn),
    Remoe(Remoe),
}

/// Inference state of one block: a lightning state `(n, H, d, d)` (f32) or a softmax KV cache
/// (in the model's kind): the sliding window, or a compressed cache (`--kv-*`).
#[derive(Debug)]
pub enum LayerCache {
    Lightning(Tensor),
    Softmax(KvCache),
    Compressed(CompressedKv),
}

/// Parameter counts of one block, by part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockCount {
    pub mixer: i64,
    pub ffn: i64,
    pub norms: i64,
}

#[derive(Debug)]
pub struct Block {
    norm_mixer: LayerNorm,
    pub mixer: Mixer,
    norm_ffn: LayerNorm,
    pub ffn: Ffn,
}

impl Block {
    /// Block `layer` (0-based) with the given mixer kind; modules under `p / "mixer"`,
    /// `p / "ffn"`, `p / "norm_mixer"`, `p / "norm_ffn"`.
    pub fn new(
        p: &Path,
        cfg: &Config,
        layer: i64,
        kind: AttentionKind,
    ) -> Result<Self, ModelError> {
        let mixer = match kind {
            AttentionKind::Lightning => {
                Mixer::Lightning(LightningAttention::new(&(p / "mixer"), cfg, layer)?)
            }
            AttentionKind::Softmax => Mixer::Softmax(SoftmaxAttention::new(&(p / "mixer"), cfg)?),
        };
        let ffn = match cfg.ffn {
            FfnKind::Remoe => Ffn::Remoe(Remoe::new(&(p / "ffn"), cfg)?),
            kind => Ffn::Dense(DenseFfn::new(&(p / "ffn"), cfg, kind, cfg.ffn_hidden)?),
        };
        Ok(Block {
            norm_mixer: LayerNorm::new(&(p / "norm_mixer"), cfg.hidden)?,
            mixer,
            norm_ffn: LayerNorm::new(&(p / "norm_ffn"), cfg.hidden)?,
            ffn,
        })
    }

    /// Parameters of a block of this kind.
    pub fn count(cfg: &Config, kind: AttentionKind) -> BlockCount {
        let mixer = match kind {
            AttentionKind::Lightning => LightningAttention::count(cfg),
            AttentionKind::Softmax => SoftmaxAttention::count(cfg),
        };
        let ffn = match cfg.ffn {
            FfnKind::Remoe => Remoe::count(cfg),
            kind => DenseFfn::count(cfg.hidden, cfg.ffn_hidden, kind),
        };
        BlockCount { mixer, ffn, norms: 2 * LayerNorm::count(cfg.hidden) }
    }

    /// Every linear layer of the block: the mixer's, then the FFN's (router and experts).
    pub fn linears(&self) -> Vec<&Linear> {
        let mut out = match &self.mixer {
            Mixer::Lightning(attn) => attn.linears(),
            Mixer::Softmax(attn) => attn.linears(),
        };
        out.extend(match &self.ffn {
            Ffn::Dense(ffn) => ffn.linears(),
            Ffn::Remoe(moe) => moe.linears(),
        });
        out
    }

    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = match &mut self.mixer {
            Mixer::Lightning(attn) => attn.linears_mut(),
            Mixer::Softmax(attn) => attn.linears_mut(),
        };
        out.extend(match &mut self.ffn {
            Ffn::Dense(ffn) => ffn.linears_mut(),
            Ffn::Remoe(moe) => moe.linears_mut(),
        });
        out
    }

    fn apply_ffn(&self, x: &Tensor) -> (Tensor, Option<RemoeStats>) {
        let h = self.norm_ffn.forward(x);
        match &self.ffn {
            Ffn::Dense(ffn) => (x + ffn.forward(&h), None),
            Ffn::Remoe(moe) => {
                let (y, stats) = moe.forward(&h);
                (x + y, Some(stats))
            }
        }
    }

    /// Training form: `x (B, T, D)` -> `(B, T, D)`, plus ReMoE statistics if any.
    pub fn forward(&self, x: &Tensor) -> (Tensor, Option<RemoeStats>) {
        let h = self.norm_mixer.forward(x);
        let mixed = match &self.mixer {
            Mixer::Lightning(attn) => attn.forward(&h),
            Mixer::Softmax(attn) => attn.forward(&h),
        };
        self.apply_ffn(&(x + mixed))
    }

    /// One inference step: `x (n, 1, D)` -> `(n, 1, D)`, updating `cache`.
    pub fn step(&self, x: &Tensor, cache: &mut LayerCache) -> Result<Tensor, ModelError> {
        let h = self.norm_mixer.forward(x);
        let mixed = match (&self.mixer, cache) {
            (Mixer::Lightning(attn), LayerCache::Lightning(state)) => {
                let (y, next) = attn.step(&h, state);
                *state = next;
                y
            }
            (Mixer::Softmax(attn), LayerCache::Softmax(kv)) => attn.step(&h, kv),
            (Mixer::Softmax(attn), LayerCache::Compressed(kv)) => attn.step_compressed(&h, kv)?,
            _ => {
                return Err(ModelError::Config {
                    field: "pattern",
                    message: "inference state does not match the model's layer kinds".into(),
                });
            }
        };
        Ok(self.apply_ffn(&(x + mixed)).0)
    }

    /// The empty inference state of this block for `n` sequences.
    pub fn empty_cache(&self, n: i64, kind: Kind) -> LayerCache {
        match &self.mixer {
            Mixer::Lightning(attn) => LayerCache::Lightning(attn.zero_state(n)),
            Mixer::Softmax(attn) => LayerCache::Softmax(attn.empty_cache(n, kind)),
        }
    }
}
