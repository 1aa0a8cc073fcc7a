//! A whole [`Model`] with quantized linear layers: quantize it in place, write it as a
//! quantized checkpoint that carries its config, and build it back from that file.
//!
//! What is quantized: every backbone linear layer (attention q/k/v/gate/out projections,
//! dense FFN up/gate/down, the ReMoE router and every expert's up/down), each swapped for a
//! [`QuantizedLinear`] that holds only the packed codes, scales and zeros (per-call mode) and
//! whose dense weight leaves the `VarStore`. Encoders, decoders, embeddings, norms and biases
//! stay in full precision. On request (`include_io`) the encoder and decoder linear weights
//! are quantized too: these small layers then compute from a dense copy of their dequantized
//! weight (the same outputs as dequantizing per call, without the saving in memory), and the
//! file stores them quantized.
//!
//! The file is the checkpoint of `FORMAT.md` with one more header key, `model_config` (the
//! model's [`Config`] as JSON): quantized weights under their `VarStore` names, every other
//! parameter stored as it is, and the ReMoE controllers as `remoe.<layer>.lambda` and
//! `remoe.<layer>.sparsity` (f64 scalars), as [`Model::save`] writes them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Instant;

use rand::SeedableRng;
use serde::Serialize;
use tch::nn::VarStore;
use tch::{Device, Tensor};

use super::error::ModelError;
use super::layers::{DECAY_GROUP, LinearWeight};
use super::{Config, Model};
use crate::quant::checkpoint::{
    QuantizedFile, RawTensor, StoredTensor, dtype_of, read_quantized, write_quantized,
};
use crate::quant::hqq::{QuantizedTensor, ReconstructionError, quantize, reconstruction_error};
use crate::quant::{DequantMode, Dtype, QuantConfig, QuantError, QuantizedLinear};

/// The header key holding the model's config (JSON).
pub const MODEL_CONFIG_KEY: &str = "model_config";

/// What [`Model::quantize`] quantizes and how the layers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ModelQuantOptions {
    /// Also quantize the encoder and decoder linear weights (default: backbone only).
    pub include_io: bool,
    /// Dequantize per call (the memory saving) or once (the speed of dense layers).
    pub mode: DequantMode,
}

impl Default for ModelQuantOptions {
    fn default() -> Self {
        ModelQuantOptions { include_io: false, mode: DequantMode::PerCall }
    }
}

/// The weights a quantization would touch.
#[derive(Debug, Default)]
pub struct Targets {
    /// `(VarStore name, dense weight [out, in])`, backbone first, then encoders and decoders.
    pub quantize: Vec<(String, Tensor)>,
    /// Linear weights left in full precision, with the reason.
    pub kept: Vec<(String, String)>,
}

/// One quantized weight.
#[derive(Clone, Debug, Serialize)]
pub struct LayerReport {
    pub name: String,
    pub shape: Vec<i64>,
    /// Seconds spent quantizing it.
    pub seconds: f64,
    pub rel_frobenius: f64,
    pub mean_abs: f64,
    /// Storage bits per weight, scales and zeros included.
    pub bits_per_weight: f64,
}

/// What [`Model::quantize`] did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ModelQuantReport {
    pub layers: Vec<LayerReport>,
    /// Linear weights kept in full precision, with the reason.
    pub kept: Vec<(String, String)>,
}

impl ModelQuantReport {
    /// Total seconds spent quantizing.
    pub fn seconds(&self) -> f64 {
        self.layers.iter().map(|l| l.seconds).sum()
    }
}

impl Model {
    /// The linear weights [`Model::quantize`] would quantize with groups of `group_size`:
    /// every backbone linear layer not quantized yet, and with `include_io` the encoders' and
    /// decoders'. A weight whose size is not a multiple of `group_size` is kept (and listed).
    pub fn quantization_targets(&self, include_io: bool, group_size: i64) -> Targets {
        let mut targets = Targets::default();
        let consider = |targets: &mut Targets, name: &str, weight: &Tensor| {
            if group_size > 0 && weight.numel() as i64 % group_size == 0 {
                targets.quantize.push((name.to_string(), weight.shallow_clone()));
            } else {
                let reason = format!(
                    "{} values, not a multiple of the group size {group_size}",
                    weight.numel()
                );
                targets.kept.push((name.to_string(), reason));
            }
        };
        for linear in self.linears() {
            if let LinearWeight::Dense(weight) = linear.weight() {
                consider(&mut targets, linear.name(), weight);
            }
        }
        let mut io: Vec<String> =
            io_linear_names(&self.vs, &self.backbone_names()).into_iter().collect();
        io.sort();
        let vars = self.vs.variables();
        for name in io {
            if self.io_quantized.contains_key(&name) {
                continue;
            }
            if let Some(weight) = vars.get(&name) {
                if include_io {
                    consider(&mut targets, &name, weight);
                } else {
                    targets.kept.push((name, "encoder or decoder (include_io is off)".into()));
                }
            }
        }
        targets
    }

    /// Quantizes the linear weights in place ([`Model::quantization_targets`]), returning the
    /// time and reconstruction error of each.
    pub fn quantize(
        &mut self,
        config: &QuantConfig,
        options: &ModelQuantOptions,
    ) -> Result<ModelQuantReport, ModelError> {
        config.validate()?;
        let Targets { quantize: targets, kept } =
            self.quantization_targets(options.include_io, config.group_size);
        let mut report = ModelQuantReport { layers: Vec::new(), kept };
        let mut weights = BTreeMap::new();
        for (name, weight) in targets {
            let start = Instant::now();
            let q = tch::no_grad(|| quantize(&weight, config)).map_err(|e| match e {
                QuantError::InvalidWeight { reason } => {
                    QuantError::InvalidWeight { reason: format!("`{name}`: {reason}") }
                }
                other => other,
            })?;
            let seconds = start.elapsed().as_secs_f64();
            let ReconstructionError { rel_frobenius, mean_abs } =
                tch::no_grad(|| reconstruction_error(&weight, &q.dequantize()?))?;
            report.layers.push(LayerReport {
                name: name.clone(),
                shape: q.shape.clone(),
                seconds,
                rel_frobenius,
                mean_abs,
                bits_per_weight: q.bits_per_weight(),
            });
            weights.insert(name, q);
        }
        self.install_quantized(weights, options.mode)?;
        Ok(report)
    }

    /// Puts quantized weights in place of the dense ones of the same names: backbone layers
    /// become [`QuantizedLinear`]s (their dense weights leave the `VarStore`), encoder and
    /// decoder layers take the dequantized values. Every name must be a linear weight of
    /// this model with the same shape.
    pub fn install_quantized(
        &mut self,
        weights: BTreeMap<String, QuantizedTensor>,
        mode: DequantMode,
    ) -> Result<(), ModelError> {
        for (name, weight) in weights {
            self.install_one(&name, weight, mode).map_err(|reason| QuantError::InvalidWeight {
                reason: format!("`{name}`: {reason}"),
            })?;
        }
        Ok(())
    }

    fn install_one(
        &mut self,
        name: &str,
        weight: QuantizedTensor,
        mode: DequantMode,
    ) -> Result<(), String> {
        let device = self.device();
        let kind = self.kind();
        let weight = weight.to_device(device).map_err(|e| e.to_string())?;
        let backbone = self.blocks.iter_mut().flat_map(|b| b.linears_mut());
        if let Some(linear) = backbone.into_iter().find(|l| l.name() == name) {
            if linear.is_quantized() {
                return Err("already quantized".into());
            }
            if weight.shape != linear.shape() {
                return Err(format!(
                    "the quantized weight is {:?}, the model's layer {:?}",
                    weight.shape,
                    linear.shape()
                ));
            }
            let bias = linear.bias().map(|b| b.detach());
            let layer =
                QuantizedLinear::new(weight, bias, mode, kind).map_err(|e| e.to_string())?;
            linear.set_quantized(layer).map_err(|e| e.to_string())?;
            return remove_var(&self.vs, name);
        }
        let io = io_linear_names(&self.vs, &self.backbone_names());
        if !io.contains(name) {
            return Err("not a linear layer weight of this model".into());
        }
        let var = self.vs.variables().remove(name).ok_or("not a parameter of this model")?;
        if weight.shape != var.size() {
            return Err(format!(
                "the quantized weight is {:?}, the model's layer {:?}",
                weight.shape,
                var.size()
            ));
        }
        let dense = weight.dequantize().map_err(|e| e.to_string())?;
        tch::no_grad(|| var.shallow_clone().f_copy_(&dense)).map_err(|e| e.to_string())?;
        self.io_quantized.insert(name.to_string(), weight);
        Ok(())
    }

    /// Switches every quantized backbone layer between dequantizing per call and caching the
    /// dense weight.
    pub fn set_dequant_mode(&mut self, mode: DequantMode) -> Result<(), ModelError> {
        for linear in self.blocks.iter_mut().flat_map(|b| b.linears_mut()) {
            if let Some(q) = linear.quantized_mut() {
                q.set_mode(mode)?;
            }
        }
        Ok(())
    }

    /// Number of quantized weights: backbone layers and encoder or decoder layers.
    pub fn quantized_counts(&self) -> (usize, usize) {
        let backbone = self.linears().iter().filter(|l| l.is_quantized()).count();
        (backbone, self.io_quantized.len())
    }

    /// Bytes of the weights as held for inference: quantized codes, scales and zeros of the
    /// quantized backbone layers plus every tensor in the `VarStore` (cached dense weights
    /// not counted).
    pub fn weight_bytes(&self) -> i64 {
        let quantized: i64 = self
            .linears()
            .iter()
            .filter_map(|l| match l.weight() {
                LinearWeight::Quantized(q) => Some(q.weight().bytes()),
                LinearWeight::Dense(_) => None,
            })
            .sum();
        let dense: i64 = self
            .vs
            .variables()
            .values()
            .map(|t| t.numel() as i64 * t.kind().elt_size_in_bytes() as i64)
            .sum();
        quantized + dense
    }

    /// The model as a quantized checkpoint in memory (on the CPU): quantized weights, every
    /// other parameter as it is, the ReMoE controllers and the config under
    /// [`MODEL_CONFIG_KEY`]. A model without quantized weights gives a file of full entries.
    pub fn to_quantized_file(&self) -> Result<QuantizedFile, ModelError> {
        let mut file = QuantizedFile::new();
        let config = serde_json::to_string(&self.cfg).map_err(|e| {
            QuantError::config("model_config", format!("cannot encode the config: {e}"))
        })?;
        file.metadata.insert(MODEL_CONFIG_KEY.to_string(), config);
        for (name, var) in self.vs.variables() {
            let stored = match self.io_quantized.get(&name) {
                Some(q) => StoredTensor::Quantized {
                    weight: q.to_device(Device::Cpu)?,
                    dtype: dtype_of(var.kind()).unwrap_or(Dtype::F32),
                },
                None => StoredTensor::Full(RawTensor::from_tensor(&var.detach())?),
            };
            file.tensors.insert(name, stored);
        }
        for linear in self.linears() {
            if let LinearWeight::Quantized(q) = linear.weight() {
                let stored = StoredTensor::Quantized {
                    weight: q.weight().to_device(Device::Cpu)?,
                    dtype: dtype_of(q.kind()).unwrap_or(Dtype::F32),
                };
                file.tensors.insert(linear.name().to_string(), stored);
            }
        }
        for (l, ctl) in self.remoe_state() {
            let sparsity = ctl.sparsity.unwrap_or(f64::NAN);
            for (field, x) in [("lambda", ctl.lambda), ("sparsity", sparsity)] {
                let raw = RawTensor::from_tensor(&Tensor::from(x))?;
                file.tensors.insert(format!("remoe.{l}.{field}"), StoredTensor::Full(raw));
            }
        }
        Ok(file)
    }

    /// Writes [`Model::to_quantized_file`] atomically, with `metadata` added to the header
    /// (e.g. the training run's config).
    pub fn save_quantized(
        &self,
        path: &Path,
        metadata: &BTreeMap<String, String>,
    ) -> Result<(), ModelError> {
        let mut file = self.to_quantized_file()?;
        for (key, value) in metadata {
            if key == MODEL_CONFIG_KEY {
                return Err(QuantError::config(
                    "metadata",
                    format!("`{key}` is written by the model"),
                )
                .into());
            }
            file.metadata.insert(key.clone(), value.clone());
        }
        Ok(write_quantized(path, &file)?)
    }

    /// Reads a quantized model checkpoint (written by [`Model::save_quantized`] or
    /// `icrl quantize` of a run) and builds the model on `device`.
    pub fn load_quantized(
        path: &Path,
        device: Device,
        mode: DequantMode,
    ) -> Result<Model, ModelError> {
        let file = read_quantized(path, device)?;
        Model::from_quantized_file(path, file, mode)
    }

    /// Builds the model described by a quantized checkpoint read from `path` (named in
    /// errors), on the device its tensors are on. Every parameter of the config's model must
    /// be in the file with its shape, and nothing else: a mismatch names the file and the
    /// tensor.
    pub fn from_quantized_file(
        path: &Path,
        file: QuantizedFile,
        mode: DequantMode,
    ) -> Result<Model, ModelError> {
        let bad = |tensor: &str, reason: String| {
            ModelError::Quant(QuantError::Checkpoint {
                file: path.to_path_buf(),
                tensor: tensor.to_string(),
                reason,
            })
        };
        let text = file.metadata.get(MODEL_CONFIG_KEY).ok_or_else(|| {
            bad(
                "(header)",
                format!(
                    "no `{MODEL_CONFIG_KEY}` in the header: a quantized file of loose tensors, \
                     not of a model (quantize a run folder or a model checkpoint)"
                ),
            )
        })?;
        let cfg: Config = serde_json::from_str(text)
            .map_err(|e| bad("(header)", format!("`{MODEL_CONFIG_KEY}` does not parse: {e}")))?;
        cfg.validate().map_err(|e| bad("(header)", format!("`{MODEL_CONFIG_KEY}`: {e}")))?;
        let device = file
            .tensors
            .values()
            .find_map(|t| match t {
                StoredTensor::Quantized { weight, .. } => Some(weight.device()),
                StoredTensor::Full(_) => None,
            })
            .unwrap_or(Device::Cpu);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut model = Model::new(&cfg, device, &mut rng)?;
        let mut expected: HashSet<String> = model.vs.variables().into_keys().collect();
        for (name, stored) in file.tensors {
            match stored {
                StoredTensor::Quantized { weight, .. } => {
                    model.install_one(&name, weight, mode).map_err(|reason| bad(&name, reason))?;
                }
                StoredTensor::Full(raw) => {
                    let value = raw.to_tensor().map_err(|e| bad(&name, e.to_string()))?;
                    if let Some(rest) = name.strip_prefix("remoe.") {
                        model
                            .load_remoe(path, rest, &value)
                            .map_err(|e| bad(&name, e.to_string()))?;
                        continue;
                    }
                    let var = model.vs.variables().remove(&name).ok_or_else(|| {
                        bad(&name, "not a parameter of the model in `model_config`".into())
                    })?;
                    if var.size() != value.size() {
                        return Err(bad(
                            &name,
                            format!(
                                "has shape {:?}, the model in `model_config` expects {:?}",
                                value.size(),
                                var.size()
                            ),
                        ));
                    }
                    tch::no_grad(|| var.shallow_clone().f_copy_(&value))?;
                }
            }
            expected.remove(&name);
        }
        let mut missing: Vec<String> = expected.into_iter().collect();
        missing.sort();
        if let Some(first) = missing.first() {
            return Err(bad(
                first,
                format!(
                    "missing from the file ({} parameters of the model missing)",
                    missing.len()
                ),
            ));
        }
        Ok(model)
    }

    fn backbone_names(&self) -> HashSet<String> {
        self.linears().iter().map(|l| l.name().to_string()).collect()
    }
}

/// Linear weights outside the backbone: the `VarStore` variables in the decayed optimizer
/// group (Linear weights only) that are not backbone layers.
fn io_linear_names(vs: &VarStore, backbone: &HashSet<String>) -> HashSet<String> {
    let Ok(vars) = vs.variables_.lock() else { return HashSet::new() };
    let decayed: HashSet<usize> = vars
        .trainable_variables
        .iter()
        .filter(|v| v.group == DECAY_GROUP)
        .map(|v| v.tensor.data_ptr() as usize)
        .collect();
    vars.named_variables
        .iter()
        .filter(|(name, t)| !backbone.contains(*name) && decayed.contains(&(t.data_ptr() as usize)))
        .map(|(name, _)| name.clone())
        .collect()
}

/// Drops a parameter from the `VarStore` (its memory is freed once no layer holds it).
fn remove_var(vs: &VarStore, name: &str) -> Result<(), String> {
    let mut vars =
        vs.variables_.lock().map_err(|_| "the VarStore's lock is poisoned".to_string())?;
    if let Some(tensor) = vars.named_variables.remove(name) {
        let ptr = tensor.data_ptr();
        vars.trainable_variables.retain(|v| v.tensor.data_ptr() != ptr);
    }
    Ok(())
}
