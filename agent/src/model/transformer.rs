//! The whole model: per-group encoders, pre-norm residual blocks whose token mixer comes from
//! the layer pattern (lightning, softmax or hybrids), a final LayerNorm and per-group action
//! decoders. Loss: MSE on continuous actions (or a Gaussian's negative log-likelihood, with
//! `action_head = gaussian`), cross-entropy on discrete ones, plus the ReMoE regularisers
//! weighted by their adaptive coefficients.

use std::collections::{BTreeMap, HashSet};
use std::path::Path as FsPath;

use rand::Rng;
use tch::nn::VarStore;
use tch::{Device, Kind, Tensor};

use super::block::Block;
use super::config::{ActionSpec, Config, FfnKind};
use super::encoders::GroupHead;
use super::error::{ModelError, batch_err};
use super::layers::{LayerNorm, Linear};
use super::remoe::{RemoeController, RouterCount};
use crate::quant::QuantizedTensor;

/// A training (or evaluation) batch of `B` sequences of `T` steps from one domain group.
#[derive(Debug)]
pub struct Batch {
    /// Index of the domain group in `Config::groups`.
    pub group: usize,
    /// `(B, T, obs_dim)`, f32: o_t.
    pub obs: Tensor,
    /// a_{t-1}: `(B, T, act_dim)` f32 (continuous) or `(B, T)` i64 (discrete); ignored where
    /// `episode_start` is set.
    pub prev_actions: Tensor,
    /// r_{t-1}: `(B, T)` f32; ignored where `episode_start` is set.
    pub prev_rewards: Tensor,
    /// `(B, T)` bool: step_num == 0 (the previous action and reward are padding).
    pub episode_start: Tensor,
    /// a_t to predict, shaped as `prev_actions`; without it no loss is computed.
    pub target_actions: Option<Tensor>,
    /// `(B, T)` weights of each step in the loss (1 = counts, 0 = ignored); all count if None.
    pub loss_mask: Option<Tensor>,
}

/// What [`Model::forward`] returns.
#[derive(Debug)]
pub struct ForwardOutput {
    /// The decoder's output, f32: `(B, T, act_dim)` actions, `(B, T, 2 act_dim)` Gaussian means
    /// then raw log standard deviations, or `(B, T, n)` logits.
    pub predictions: Tensor,
    /// MSE, Gaussian negative log-likelihood or cross-entropy against `target_actions`
    /// (scalar), when targets were given.
    pub task_loss: Option<Tensor>,
    /// `task_loss + aux.remoe_loss`: what to minimise.
    pub loss: Option<Tensor>,
    pub aux: Aux,
}

/// Auxiliary outputs: the ReMoE regularisers and the router outputs each layer counted.
#[derive(Debug)]
pub struct Aux {
    /// `lambda sum_l L_reg_l` (scalar f32; zero without ReMoE layers).
    pub remoe_loss: Tensor,
    /// `(layer, its router's count)` for every ReMoE layer, in layer order.
    pub router: Vec<(usize, RouterCount)>,
}

/// Router counts per ReMoE layer, summed over the micro-batches of one optimizer step.
#[derive(Clone, Debug, Default)]
pub struct RouterTally(BTreeMap<usize, RouterCount>);

impl RouterTally {
    pub fn add(&mut self, aux: &Aux) {
        for (l, c) in &aux.router {
            self.0.entry(*l).or_default().add(c);
        }
    }

    /// `(layer, each expert's load)` of every layer that routed a token, in layer order (see
    /// [`RouterCount::load`]).
    pub fn load(&self) -> Vec<(usize, Vec<f64>)> {
        self.0.iter().filter_map(|(l, c)| c.load().map(|load| (*l, load))).collect()
    }

    /// Every layer's count, in layer order (data-parallel ranks sum them over the ranks).
    pub fn counts_mut(&mut self) -> impl Iterator<Item = &mut RouterCount> {
        self.0.values_mut()
    }

    /// The count over every layer.
    pub fn total(&self) -> RouterCount {
        let mut t = RouterCount::default();
        self.0.values().for_each(|c| t.add(c));
        t
    }
}

/// The in-context action model. Owns its [`VarStore`]: parameter names mirror the module
/// tree (`groups.0.encoder.obs.l1.weight`, `blocks.3.mixer.q.weight`, ...), Linear weights
/// are in optimizer group [`super::layers::DECAY_GROUP`].
///
/// A model may hold quantized linear layers (`Model::quantize`, `Model::load_quantized` in
/// [`super::quantized`]): their dense weights are then gone from the `VarStore`.
#[derive(Debug)]
pub struct Model {
    pub(crate) cfg: Config,
    pub(crate) vs: VarStore,
    pub(super) groups: Vec<GroupHead>,
    pub(crate) blocks: Vec<Block>,
    pub(super) final_norm: LayerNorm,
    /// One controller per layer, `Some` for ReMoE layers.
    pub(super) remoe: Vec<Option<RemoeController>>,
    pub(super) kind: Kind,
    /// Encoder and decoder weights quantized on request, by `VarStore` name: their layers
    /// compute from a dense copy of the dequantized weight, the quantized checkpoint stores
    /// these.
    pub(crate) io_quantized: BTreeMap<String, QuantizedTensor>,
}

impl Model {
    /// Builds fresh f32 weights on `device`; torch's generator is seeded from `rng`.
    ///
    /// Initialisation draws from torch's process-wide generator, so it holds a process-wide
    /// lock from seeding to the last weight: two models built at once on different threads
    /// (parallel tests, concurrent runs in one process) each get exactly their seed's weights.
    /// Other code that seeds or draws from that generator on another thread meanwhile
    /// (`Tensor::randn`, `tch::manual_seed`) still changes them: such callers take turns.
    pub fn new(cfg: &Config, device: Device, rng: &mut impl Rng) -> Result<Self, ModelError> {
        static INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        cfg.validate()?;
        // A poisoned lock only means another build panicked; the generator is reseeded here.
        let _init = INIT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        tch::manual_seed(rng.random::<i64>());
        let vs = VarStore::new(device);
        let root = vs.root();
        let groups = cfg
            .groups
            .iter()
            .enumerate()
            .map(|(g, spec)| GroupHead::new(&(&root / "groups" / g), cfg, spec))
            .collect::<Result<Vec<_>, _>>()?;
        let blocks = cfg
            .layer_kinds()
            .into_iter()
            .enumerate()
            .map(|(l, kind)| Block::new(&(&root / "blocks" / l), cfg, l as i64, kind))
            .collect::<Result<Vec<_>, _>>()?;
        let final_norm = LayerNorm::new(&(&root / "final_norm"), cfg.hidden)?;
        let remoe = (0..cfg.layers)
            .map(|_| (cfg.ffn == FfnKind::Remoe).then(|| RemoeController::new(cfg)))
            .collect();
        Ok(Model {
            cfg: cfg.clone(),
            vs,
            groups,
            blocks,
            final_norm,
            remoe,
            kind: Kind::Float,
            io_quantized: BTreeMap::new(),
        })
    }

    /// Whether domain group `group`'s reward encoder hides every reward in `[lo, hi]`: a
    /// LeakyReLU encoder (models trained before the linear one) with all its units at or
    /// below zero over the range, so that the model cannot see those rewards.
    pub fn hides_rewards(&self, group: usize, lo: f64, hi: f64) -> bool {
        self.groups[group].hides_rewards(lo, hi)
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The parameters, for an optimizer (`nn::AdamW::default().build(model.var_store(), lr)`).
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    pub fn device(&self) -> Device {
        self.vs.device()
    }

    /// The floating-point kind of the weights and activations.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Casts every weight to `kind` (e.g. `Kind::BFloat16` on a GPU); quantized layers keep
    /// their codes and rebuild their weights in `kind`. Panics where torch fails, as
    /// `VarStore::set_kind` does.
    pub fn set_kind(&mut self, kind: Kind) {
        self.vs.set_kind(kind);
        for linear in self.blocks.iter_mut().flat_map(|b| b.linears_mut()) {
            if let Err(e) = linear.set_kind(kind) {
                panic!("Model::set_kind: {e}");
            }
        }
        self.kind = kind;
    }

    /// Every backbone linear layer (attention projections, FFN, ReMoE router and experts),
    /// block by block; encoders and decoders are not included.
    pub fn linears(&self) -> Vec<&Linear> {
        self.blocks.iter().flat_map(|b| b.linears()).collect()
    }

    /// Whether any weight is quantized (backbone or encoders and decoders).
    pub fn is_quantized(&self) -> bool {
        !self.io_quantized.is_empty() || self.linears().iter().any(|l| l.is_quantized())
    }

    /// The residual blocks, in order.
    pub fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Number of trainable parameters (every element of every weight).
    pub fn num_parameters(&self) -> i64 {
        self.vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    pub(super) fn group(&self, group: usize) -> Result<&GroupHead, ModelError> {
        self.groups.get(group).ok_or(ModelError::Group { group, count: self.groups.len() })
    }

    /// Training forward over whole sequences (from an empty history).
    pub fn forward(&self, batch: &Batch) -> Result<ForwardOutput, ModelError> {
        let head = self.group(batch.group)?;
        let (b, t) = validate_batch(head, batch)?;
        let mut x = head.embed(
            &batch.obs,
            &batch.prev_actions,
            &batch.prev_rewards,
            &batch.episode_start,
            self.kind,
        );
        let mut remoe_terms = Vec::new();
        let mut router = Vec::new();
        for (l, block) in self.blocks.iter().enumerate() {
            let (y, stats) = block.forward(&x);
            x = y;
            if let (Some(stats), Some(Some(ctl))) = (stats, self.remoe.get(l)) {
                remoe_terms.push(stats.reg * ctl.lambda);
                router.push((l, stats.count));
            }
        }
        let remoe_loss = match remoe_terms.len() {
            0 => Tensor::zeros([], (Kind::Float, self.device())),
            _ => Tensor::stack(&remoe_terms, 0).sum(Kind::Float),
        };
        let predictions = head.decode(&self.final_norm.forward(&x)).to_kind(Kind::Float); // (B, T, out)
        let task_loss = match &batch.target_actions {
            Some(target) => {
                let per_step = head.loss(&predictions, target); // (B, T)
                Some(match &batch.loss_mask {
                    Some(mask) => {
                        let mask = mask.to_kind(Kind::Float);
                        (per_step * &mask).sum(Kind::Float) / mask.sum(Kind::Float).clamp_min(1.0)
                    }
                    None => per_step.sum(Kind::Float) / (b * t).max(1) as f64,
                })
            }
            None => None,
        };
        let loss = task_loss.as_ref().map(|l| l + &remoe_loss);
        Ok(ForwardOutput { predictions, task_loss, loss, aux: Aux { remoe_loss, router } })
    }

    /// After an optimizer step: move the one lambda by the sparsity over every ReMoE layer
    /// and micro-batch of the step, and record each layer's own sparsity.
    pub fn update_remoe(&mut self, tally: &RouterTally) {
        let Some(global) = tally.total().sparsity() else { return };
        for (l, ctl) in self.remoe.iter_mut().enumerate() {
            if let Some(ctl) = ctl {
                ctl.update(tally.0.get(&l).and_then(RouterCount::sparsity), global);
            }
        }
    }

    /// Every ReMoE controller's lambda and last sparsity (NaN before the first), in layer
    /// order: what data-parallel ranks take from rank 0 at the start of a run.
    pub fn remoe_values(&self) -> Vec<f64> {
        self.remoe
            .iter()
            .flatten()
            .flat_map(|c| [c.lambda, c.sparsity.unwrap_or(f64::NAN)])
            .collect()
    }

    /// Set the controllers from [`Model::remoe_values`] of a model of the same config.
    pub fn set_remoe_values(&mut self, values: &[f64]) {
        for (c, v) in self.remoe.iter_mut().flatten().zip(values.chunks(2)) {
            c.lambda = v[0];
            c.sparsity = v.get(1).copied().filter(|s| !s.is_nan());
        }
    }

    /// `(layer, controller)` of every ReMoE layer: lambda and the last measured sparsity.
    pub fn remoe_state(&self) -> Vec<(usize, RemoeController)> {
        self.remoe.iter().enumerate().filter_map(|(l, c)| c.clone().map(|c| (l, c))).collect()
    }

    /// Writes every weight and the ReMoE controllers (`remoe.<layer>.lambda`,
    /// `remoe.<layer>.sparsity`, f64; NaN before the first measurement) to a safetensors file
    /// that describes itself: its header's metadata holds `format` (`icrl-model`),
    /// `format_version` and `model_config` (the model's config as JSON), so the file alone can
    /// be loaded ([`read_model_file`]).
    pub fn save(&self, path: &FsPath) -> Result<(), ModelError> {
        self.save_with_metadata(path, &BTreeMap::new())
    }

    /// [`Model::save`] with more metadata (e.g. a training run's config under
    /// `train_config`); the format's own keys cannot be overridden.
    pub fn save_with_metadata(
        &self,
        path: &FsPath,
        extra: &BTreeMap<String, String>,
    ) -> Result<(), ModelError> {
        if self.is_quantized() {
            return Err(ckpt_err(
                path,
                "the model holds quantized layers: write it with `Model::save_quantized`".into(),
            ));
        }
        let mut named: Vec<(String, Tensor)> = self.vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        for (l, ctl) in self.remoe_state() {
            named.push((format!("remoe.{l}.lambda"), Tensor::from(ctl.lambda)));
            named.push((
                format!("remoe.{l}.sparsity"),
                Tensor::from(ctl.sparsity.unwrap_or(f64::NAN)),
            ));
        }
        let mut raw = Vec::with_capacity(named.len());
        for (name, t) in &named {
            let r = crate::quant::RawTensor::from_tensor(t)
                .map_err(|e| ckpt_err(path, format!("tensor `{name}`: {e}")))?;
            raw.push((name.clone(), r));
        }
        let config = serde_json::to_string(&self.cfg).map_err(|e| ckpt_err(path, e.to_string()))?;
        let mut metadata: BTreeMap<String, String> = extra
            .iter()
            .filter(|(k, _)| !MODEL_FILE_KEYS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        metadata.insert("format".into(), MODEL_FORMAT.into());
        metadata.insert("format_version".into(), MODEL_FORMAT_VERSION.to_string());
        metadata.insert(super::MODEL_CONFIG_KEY.into(), config);
        crate::quant::write_safetensors(path, &raw, &metadata)
            .map_err(|e| ckpt_err(path, e.to_string()))
    }

    /// Loads weights and ReMoE controllers written by [`Model::save`] for the same config.
    /// Every weight must be present with its shape; unknown names are an error.
    pub fn load(&mut self, path: &FsPath) -> Result<(), ModelError> {
        let tensors = Tensor::read_safetensors(path).map_err(|e| ckpt_err(path, e.to_string()))?;
        let vars = self.vs.variables();
        let mut seen = HashSet::new();
        for (name, value) in &tensors {
            if let Some(rest) = name.strip_prefix("remoe.") {
                self.load_remoe(path, rest, value)?;
                continue;
            }
            let Some(var) = vars.get(name) else {
                return Err(ckpt_err(
                    path,
                    format!("tensor `{name}` is not a parameter of this model"),
                ));
            };
            if var.size() != value.size() {
                return Err(ckpt_err(
                    path,
                    format!(
                        "`{name}` has shape {:?}, the model expects {:?}",
                        value.size(),
                        var.size()
                    ),
                ));
            }
            tch::no_grad(|| var.shallow_clone().f_copy_(value))?;
            seen.insert(name.as_str());
        }
        let mut missing: Vec<&String> =
            vars.keys().filter(|n| !seen.contains(n.as_str())).collect();
        missing.sort();
        if let Some(first) = missing.first() {
            return Err(ckpt_err(
                path,
                format!("{} parameters missing, e.g. `{first}`", missing.len()),
            ));
        }
        Ok(())
    }

    /// Sets one ReMoE controller field from `remoe.<rest>` (`<layer>.lambda` or
    /// `<layer>.sparsity`).
    pub(crate) fn load_remoe(
        &mut self,
        path: &FsPath,
        rest: &str,
        value: &Tensor,
    ) -> Result<(), ModelError> {
        let parsed =
            rest.split_once('.').and_then(|(l, field)| Some((l.parse::<usize>().ok()?, field)));
        let Some((l, field)) = parsed else {
            return Err(ckpt_err(path, format!("malformed ReMoE entry `remoe.{rest}`")));
        };
        let Some(Some(ctl)) = self.remoe.get_mut(l) else {
            return Err(ckpt_err(path, format!("layer {l} is not a ReMoE layer in this model")));
        };
        let x = value.f_double_value(&[])?;
        match field {
            "lambda" => ctl.lambda = x,
            "sparsity" => ctl.sparsity = (!x.is_nan()).then_some(x),
            _ => return Err(ckpt_err(path, format!("unknown ReMoE field `remoe.{rest}`"))),
        }
        Ok(())
    }
}

/// The `format` value in a model file's metadata.
pub const MODEL_FORMAT: &str = "icrl-model";
/// The model file format's version: 1 is the first that describes itself.
pub const MODEL_FORMAT_VERSION: u32 = 1;
/// Metadata keys of the format itself.
const MODEL_FILE_KEYS: [&str; 3] = ["format", "format_version", super::MODEL_CONFIG_KEY];
/// Largest safetensors header read (a 300M model's is a few hundred KB).
const MAX_HEADER_BYTES: u64 = 64 << 20;

/// The model config and metadata of a file written by [`Model::save`], read from its header
/// alone (the weights are not read): a file copied out of its run can be loaded with
/// `Model::new(&config, ..)` and [`Model::load`]. A file without the metadata (written before
/// format version 1, or by another tool) is an error that says so.
pub fn read_model_file(path: &FsPath) -> Result<(Config, BTreeMap<String, String>), ModelError> {
    use std::io::Read as _;
    let bad = |m: String| ckpt_err(path, m);
    let mut file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len).map_err(|e| bad(format!("not a safetensors file: {e}")))?;
    let len = u64::from_le_bytes(len);
    if len > MAX_HEADER_BYTES {
        return Err(bad(format!("a header of {len} bytes, more than a model file's")));
    }
    let mut header = vec![0u8; len as usize];
    file.read_exact(&mut header).map_err(|e| bad(format!("a truncated header: {e}")))?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|e| bad(format!("the header: {e}")))?;
    let metadata: BTreeMap<String, String> = header
        .get("__metadata__")
        .and_then(|m| serde_json::from_value(m.clone()).ok())
        .unwrap_or_default();
    if metadata.get("format").map(String::as_str) != Some(MODEL_FORMAT) {
        return Err(bad(format!(
            "no `format: {MODEL_FORMAT}` in its metadata: not a model file of `icrl train` (or \
             one from before the files described themselves; use its run folder)"
        )));
    }
    let version = metadata.get("format_version").and_then(|v| v.parse::<u32>().ok());
    if version != Some(MODEL_FORMAT_VERSION) {
        return Err(bad(format!(
            "format version {:?}; this icrl reads version {MODEL_FORMAT_VERSION}",
            metadata.get("format_version")
        )));
    }
    let config = metadata
        .get(super::MODEL_CONFIG_KEY)
        .ok_or_else(|| bad(format!("no `{}` in its metadata", super::MODEL_CONFIG_KEY)))?;
    let config: Config = serde_json::from_str(config)
        .map_err(|e| bad(format!("`{}`: {e}", super::MODEL_CONFIG_KEY)))?;
    config.validate().map_err(|e| bad(format!("`{}`: {e}", super::MODEL_CONFIG_KEY)))?;
    Ok((config, metadata))
}

fn ckpt_err(path: &FsPath, message: String) -> ModelError {
    ModelError::Checkpoint { path: path.display().to_string(), message }
}

/// Checks shapes and kinds of a batch against its group; returns `(B, T)`.
fn validate_batch(head: &GroupHead, batch: &Batch) -> Result<(i64, i64), ModelError> {
    let obs = batch.obs.size();
    if obs.len() != 3 || obs[2] != head.spec.obs_dim {
        return Err(batch_err(
            "obs",
            format!("must be (B, T, {}), got {obs:?}", head.spec.obs_dim),
        ));
    }
    let (b, t) = (obs[0], obs[1]);
    check_actions(head, "prev_actions", &batch.prev_actions, b, t, Some(&batch.episode_start))?;
    if let Some(target) = &batch.target_actions {
        check_actions(head, "target_actions", target, b, t, None)?;
    }
    for (field, x) in [
        ("prev_rewards", Some(&batch.prev_rewards)),
        ("episode_start", Some(&batch.episode_start)),
        ("loss_mask", batch.loss_mask.as_ref()),
    ] {
        if let Some(x) = x {
            if x.size() != [b, t] {
                return Err(batch_err(
                    field,
                    format!("must be (B, T) = ({b}, {t}), got {:?}", x.size()),
                ));
            }
        }
    }
    Ok((b, t))
}

/// Actions of a group: `(B, T, dim)` floats, or `(B, T)` Int64 in `0..n` (outside `skip`).
pub(super) fn check_actions(
    head: &GroupHead,
    field: &'static str,
    x: &Tensor,
    b: i64,
    t: i64,
    skip: Option<&Tensor>,
) -> Result<(), ModelError> {
    match head.spec.action {
        ActionSpec::Continuous { dim } => {
            if x.size() != [b, t, dim] || !x.is_floating_point() {
                return Err(batch_err(
                    field,
                    format!(
                        "must be floats (B, T, {dim}) = ({b}, {t}, {dim}), got {:?} {:?}",
                        x.kind(),
                        x.size()
                    ),
                ));
            }
        }
        ActionSpec::Discrete { n } => {
            if x.size() != [b, t] || x.kind() != Kind::Int64 {
                return Err(batch_err(
                    field,
                    format!(
                        "must be Int64 indices (B, T) = ({b}, {t}), got {:?} {:?}",
                        x.kind(),
                        x.size()
                    ),
                ));
            }
            let checked = match skip {
                Some(start) if start.size() == [b, t] => {
                    x.masked_fill(&start.to_kind(Kind::Bool), 0)
                }
                _ => x.shallow_clone(),
            };
            if x.numel() > 0
                && (checked.min().int64_value(&[]) < 0 || checked.max().int64_value(&[]) >= n)
            {
                return Err(batch_err(field, format!("holds an action outside 0..{n}")));
            }
        }
    }
    Ok(())
}
