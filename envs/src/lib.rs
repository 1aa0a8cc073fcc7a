//! Task families with Gymnasium semantics for in-context reinforcement learning.
//!
//! The contract follows Gymnasium (>= 0.26):
//! - [`Env::reset`] takes an optional seed and options and returns the first observation;
//!   the env's RNG is reseeded only when a seed is given (the first reset without a seed
//!   seeds from OS entropy, as Gymnasium does; every tool of this platform passes seeds).
//! - [`Env::step`] returns a [`Step`] with `terminated` (the MDP ended) and `truncated`
//!   (a time limit or other outside cut) kept apart.
//! - Spaces are [`Space::Discrete`] and [`Space::Box`] with `sample` and `contains`.
//!
//! A *task family* ([`Family`]) builds an env from task parameters (JSON) and lists its train
//! and held-out tasks. This crate knows nothing of agents or tensors: it does not depend on tch.

pub mod core;

pub use crate::core::{Action, Env, EnvError, EnvRng, EnvSpec, Family, Info, ResetOptions, Space, Step, Task};
