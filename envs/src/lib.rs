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
//! and held-out tasks; [`registry`] holds every family. [`TimeLimit`] sets `truncated`,
//! [`VecEnv`] steps N envs with same-step autoreset, and [`checker`] is the contract test run
//! over the registry. This crate knows nothing of agents or tensors: it does not depend on tch.
//!
//! Families: [`grid`] (Dark Room, Dark Room Hard, Key-to-Door, each with an exact oracle) and
//! [`classic`] (Gymnasium's CartPole, Pendulum, MountainCarContinuous and Acrobot with
//! physical constants as task parameters).

pub mod checker;
pub mod classic;
pub mod core;
pub mod grid;
pub mod industrial_benchmark;
pub mod mujoco;
pub mod param_family;
pub mod registry;
pub mod task;
pub mod time_limit;
pub mod vector;

pub use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Family, Info, ResetOptions, Space, Step, StepOutcome,
    Task, step_by_into,
};
pub use crate::registry::{families, family, make};
pub use crate::time_limit::TimeLimit;
pub use crate::vector::{VecEnv, VecStep};
