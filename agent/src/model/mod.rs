//! The in-context action model: a causal transformer over one token per timestep
//! (observation, previous action, previous reward) that predicts the next action, for many
//! domain groups at once (Vintix, arXiv 2501.19400), with Lightning Attention-2 token mixers
//! (arXiv 2401.04658), optional softmax layers (hybrids as in MiniMax-01) and ReMoE
//! feed-forward layers (arXiv 2412.14711). Built bottom-up: layers, attention, FFNs, block,
//! model, inference.

pub mod autocast;
pub mod block;
pub mod config;
pub mod encoders;
pub mod error;
pub mod ffn;
pub mod inference;
pub mod kv;
pub mod layers;
pub mod lightning;
pub mod params;
pub mod quantized;
pub mod remoe;
pub mod softmax;
pub mod transformer;

pub use config::{
    ActionHead, ActionSpec, AttentionKind, Config, FfnKind, GroupSpec, LOG_STD_RANGE, PRESETS,
    RewardEncoder,
};
pub use error::ModelError;
pub use inference::{InferenceState, StepOutput};
pub use params::{FlopCount, ParamRow, flops_per_token, param_table, totals};
pub use quantized::{LayerReport, MODEL_CONFIG_KEY, ModelQuantOptions, ModelQuantReport, Targets};
pub use remoe::{RemoeController, RouterCount};
pub use transformer::{
    Aux, Batch, ForwardOutput, MODEL_FORMAT, MODEL_FORMAT_VERSION, Model, RouterTally,
    read_model_file,
};
