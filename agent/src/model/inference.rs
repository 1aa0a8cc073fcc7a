//! Stateful inference, batched over environments: one token per call, constant cost per step
//! for lightning layers (a `d x d` state per head) and at most `softmax_window` cached keys
//! and values for softmax layers.

use tch::{Kind, Tensor};

use super::block::{LayerCache, Mixer};
use super::error::{ModelError, batch_err};
use super::kv::KvOptions;
use super::transformer::{Model, check_actions};

/// The history of `n` environments of one domain group, summarised per layer.
#[derive(Debug)]
pub struct InferenceState {
    /// The domain group the environments belong to.
    pub group: usize,
    /// Number of environments.
    pub n: i64,
    /// One cache per layer: lightning states `(n, H, d, d)` or softmax KV caches.
    pub layers: Vec<LayerCache>,
}

impl InferenceState {
    /// Bytes held by the state (lightning states and KV-cache buffers).
    pub fn bytes(&self) -> i64 {
        self.layers
            .iter()
            .map(|layer| match layer {
                LayerCache::Lightning(s) => s.numel() as i64 * s.kind().elt_size_in_bytes() as i64,
                LayerCache::Softmax(kv) => kv.bytes(),
                LayerCache::Compressed(kv) => kv.bytes(),
            })
            .sum()
    }

    /// Bytes held by the softmax layers' KV caches alone.
    pub fn kv_bytes(&self) -> i64 {
        self.layers
            .iter()
            .map(|layer| match layer {
                LayerCache::Lightning(_) => 0,
                LayerCache::Softmax(kv) => kv.bytes(),
                LayerCache::Compressed(kv) => kv.bytes(),
            })
            .sum()
    }

    /// Bytes that uncompressed full-precision caches of the whole history would hold in the
    /// softmax layers; `None` for the sliding-window caches (which do not count the steps).
    pub fn kv_full_bytes(&self) -> Option<i64> {
        let mut total = 0;
        for layer in &self.layers {
            match layer {
                LayerCache::Lightning(_) => {}
                LayerCache::Softmax(_) => return None,
                LayerCache::Compressed(kv) => total += kv.full_bytes(),
            }
        }
        Some(total)
    }

    /// Forgets environment `i`'s history (a new task starts there); the others keep theirs.
    pub fn reset(&mut self, i: usize) -> Result<(), ModelError> {
        if i as i64 >= self.n {
            return Err(batch_err(
                "reset",
                format!("environment {i} out of range: the state holds {}", self.n),
            ));
        }
        for layer in &mut self.layers {
            match layer {
                LayerCache::Lightning(s) => {
                    let _ = tch::no_grad(|| s.narrow(0, i as i64, 1).zero_());
                }
                LayerCache::Softmax(kv) => kv.reset(i),
                LayerCache::Compressed(kv) => kv.reset(i),
            }
        }
        Ok(())
    }
}

/// What one inference step returns.
#[derive(Debug)]
pub struct StepOutput {
    /// The decoder's output, f32: `(n, act_dim)` actions (deterministic head), `(n, 2 act_dim)`
    /// means then raw log standard deviations (Gaussian head), or `(n, n_actions)` logits.
    pub prediction: Tensor,
    /// The most likely action: the prediction (deterministic), the mean (Gaussian) or the
    /// argmax index `(n)` i64.
    pub action: Tensor,
    /// A Gaussian head's standard deviations `(n, act_dim)` f32, about `action`; `None` for
    /// other heads.
    pub std: Option<Tensor>,
}

impl Model {
    /// An empty history for `n` environments of `group`.
    pub fn new_state(&self, group: usize, n: i64) -> Result<InferenceState, ModelError> {
        self.group(group)?;
        if n <= 0 {
            return Err(batch_err(
                "n",
                format!("the number of environments must be positive, got {n}"),
            ));
        }
        let layers = self.blocks.iter().map(|b| b.empty_cache(n, self.kind)).collect();
        Ok(InferenceState { group, n, layers })
    }

    /// [`Model::new_state`] with compressed (and optionally quantized) KV caches in the
    /// softmax layers, as `kv` sets them; lightning layers are unchanged.
    pub fn new_state_kv(
        &self,
        group: usize,
        n: i64,
        kv: &KvOptions,
    ) -> Result<InferenceState, ModelError> {
        let mut state = self.new_state(group, n)?;
        let softmax: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| matches!(self.blocks[i].mixer, Mixer::Softmax(_)))
            .collect();
        for (l, &i) in softmax.iter().enumerate() {
            if let Mixer::Softmax(attn) = &self.blocks[i].mixer {
                let cache = attn.compressed_cache(n, self.kind, kv, l, softmax.len())?;
                state.layers[i] = LayerCache::Compressed(cache);
            }
        }
        Ok(state)
    }

    /// One step for every environment: `obs (n, obs_dim)`, `prev_action` (`(n, act_dim)` f32
    /// or `(n)` i64), `prev_reward (n)`, `episode_start (n)` bool. Equal to the training
    /// forward's output at the same position of the same history.
    pub fn step(
        &self,
        state: &mut InferenceState,
        obs: &Tensor,
        prev_action: &Tensor,
        prev_reward: &Tensor,
        episode_start: &Tensor,
    ) -> Result<StepOutput, ModelError> {
        let head = self.group(state.group)?;
        let n = state.n;
        if obs.size() != [n, head.spec.obs_dim] {
            return Err(batch_err(
                "obs",
                format!(
                    "must be (n, obs_dim) = ({n}, {}), got {:?}",
                    head.spec.obs_dim,
                    obs.size()
                ),
            ));
        }
        for (field, x) in [("prev_reward", prev_reward), ("episode_start", episode_start)] {
            if x.size() != [n] {
                return Err(batch_err(field, format!("must be (n) = ({n}), got {:?}", x.size())));
            }
        }
        let prev_action = prev_action.unsqueeze(1);
        let start = episode_start.unsqueeze(1);
        check_actions(head, "prev_action", &prev_action, n, 1, Some(&start))?;
        tch::no_grad(|| {
            let mut x = head.embed(
                &obs.unsqueeze(1),
                &prev_action,
                &prev_reward.unsqueeze(1),
                &start,
                self.kind,
            );
            for (block, cache) in self.blocks.iter().zip(state.layers.iter_mut()) {
                x = block.step(&x, cache)?;
            }
            let prediction =
                head.decode(&self.final_norm.forward(&x)).squeeze_dim(1).to_kind(Kind::Float);
            let (action, std) = head.mode(&prediction);
            Ok(StepOutput { prediction, action, std })
        })
    }
}
