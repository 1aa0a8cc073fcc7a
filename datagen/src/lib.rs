//! Learning-history datasets: demonstrators, noise distillation and the HDF5 format.
//!
//! - [`schedule`] and [`noise`]: noise distillation (ADε, Vintix).
//! - [`history`]: roll a demonstrator out under a schedule into a learning history.
//! - [`format`]: the HDF5 file format (specified in `datagen/FORMAT.md`).
//! - [`fsio`]: atomic file writes (a temporary file renamed over the target), for every crate.
//! - [`suite`], [`generate`], [`manifest`]: `icrl datagen`; [`lock`]: one writer per folder.
//! - [`dataset`]: the training-side reader (random windows across episode boundaries).
//! - [`ppo`]: PPO demonstrators; [`searcher`]: a grid demonstrator that searches for the goal.
//! - [`seed`]: child seeds derived from a parent seed (jobs, histories, PPO attempts).

pub mod dataset;
pub mod demonstrator;
pub mod events;
pub mod format;
pub mod fsio;
pub mod generate;
pub mod history;
pub mod lock;
pub mod manifest;
pub mod noise;
pub mod ppo;
pub mod progress;
pub mod schedule;
pub mod searcher;
pub mod seed;
pub mod suite;

pub use demonstrator::Demonstrator;
