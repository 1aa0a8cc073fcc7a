//! One module per `icrl` subcommand (or group of subcommands).

pub mod datagen;
pub mod dataset;
pub mod doctor;
pub mod eval;
pub mod model;
pub mod quantize;
pub mod train;
