//! Learning histories and their datasets, shared by the generator (`datagen`) and the agent.
//!
//! - [`history`]: a learning history ([`history::History`]) and how a demonstrator is rolled
//!   out into one ([`history::roll_out`]) under a noise [`schedule`] ([`noise`]: ADε, Vintix).
//! - [`demonstrator`]: the [`Demonstrator`] trait every trained or scripted demonstrator
//!   implements.
//! - [`format`]: the HDF5 task-file format (specified in `histories/FORMAT.md`).
//! - [`manifest`]: `manifest.json`, what a dataset folder holds; [`group`]: domain groups
//!   ([`group::DomainGroup`]); [`split`]: a task's split ([`split::Split`]).
//! - [`dataset`]: the training-side reader (random windows across episode boundaries).
//! - [`minari`]: export to and import from Farama's Minari datasets; [`vintix`]: import of
//!   Vintix's published learning histories.
//! - Utilities every crate shares: [`fsio`] (atomic file writes), [`lock`] (one writer per
//!   folder), [`events`] (TensorBoard event logs), [`progress`] (progress bars), [`names`]
//!   (file-name-safe names), [`stats`] (numeric summaries).

pub mod dataset;
pub mod demonstrator;
pub mod events;
pub mod format;
pub mod fsio;
pub mod group;
pub mod history;
pub mod lock;
pub mod manifest;
pub mod minari;
pub mod names;
pub mod noise;
pub mod progress;
pub mod schedule;
pub mod split;
pub mod stats;
pub mod vintix;

pub use demonstrator::Demonstrator;
