//! One module per `icrl` subcommand (or group of subcommands).

pub mod bench;
pub mod datagen;
pub mod dataset;
pub mod doctor;
pub mod env;
pub mod eval;
pub mod model;
pub mod ppo;
pub mod quantize;
pub mod train;
