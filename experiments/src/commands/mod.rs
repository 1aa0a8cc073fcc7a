//! One module per `icrl` subcommand (or group of subcommands).

pub mod bench;
pub mod doctor;
pub mod env;
pub mod model;
pub mod ppo;
pub mod quantize;
