//! Learning-history datasets: `icrl datagen`'s suites, demonstrators and generator. What a
//! history is, its file format and the dataset reader live in the `histories` crate.
//!
//! - [`suite`], [`generate`]: `icrl datagen` (a suite expanded into jobs, one task file each).
//! - [`ppo`]: PPO demonstrators; [`searcher`]: a grid demonstrator that searches for the goal.
//! - [`seed`]: child seeds derived from a parent seed (jobs, histories, PPO attempts).

pub mod generate;
pub mod ppo;
pub mod searcher;
pub mod seed;
pub mod suite;
