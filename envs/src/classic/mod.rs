//! Gymnasium's classic control envs with their physical constants as task parameters.
//!
//! With default parameters each env reproduces Gymnasium 1.x exactly: the same float64
//! formulas in the same order, the same float32 roundings where NumPy 2 makes them (NEP 50
//! arithmetic between float32 values and Python floats), observations cast to `f32`. Only the
//! random stream differs (ChaCha8 instead of NumPy's PCG64), so the start distributions are
//! the same but not the draws; `reset` accepts an explicit start state (a JSON array) for
//! cross-checks. `envs/tests/gymnasium_fixtures.rs` replays episodes recorded from the pip
//! package step by step.
//!
//! Each family samples 20 train and 5 held-out tasks (all parameters uniform in documented
//! ranges, a fixed seed per family).

mod acrobot;
mod cartpole;
mod mountain_car;
mod pendulum;

pub use acrobot::Acrobot;
pub use cartpole::CartPole;
pub use mountain_car::MountainCarContinuous;
pub use pendulum::Pendulum;

use serde_json::Value;

use crate::core::{Action, EnvError};
use crate::param_family::ParamFamily;

/// The registered classic families.
pub const CART_POLE: ParamFamily<CartPole> = ParamFamily::new();
pub const PENDULUM: ParamFamily<Pendulum> = ParamFamily::new();
pub const MOUNTAIN_CAR_CONTINUOUS: ParamFamily<MountainCarContinuous> = ParamFamily::new();
pub const ACROBOT: ParamFamily<Acrobot> = ParamFamily::new();

/// The index of a discrete action in `0..n`, or an error naming the env.
pub(crate) fn discrete_action(env: &str, action: &Action, n: usize) -> Result<usize, EnvError> {
    match action {
        Action::Discrete(a) if *a < n => Ok(*a),
        _ => Err(EnvError::InvalidAction {
            env: env.into(),
            got: format!("{action:?}"),
            expected: format!("Discrete(a) with 0 <= a < {n}"),
        }),
    }
}

/// The value of a one-dimensional continuous action; it must be finite (out-of-range values
/// are clipped by the env, as in Gymnasium).
pub(crate) fn scalar_action(env: &str, action: &Action) -> Result<f32, EnvError> {
    match action {
        Action::Continuous(v) if v.len() == 1 && v[0].is_finite() => Ok(v[0]),
        _ => Err(EnvError::InvalidAction {
            env: env.into(),
            got: format!("{action:?}"),
            expected: "Continuous([a]) with one finite value (clipped to the action bounds)".into(),
        }),
    }
}

/// An explicit start state: a JSON array of `N` finite numbers.
pub(crate) fn state_array<const N: usize>(
    env: &str,
    state: &Value,
    names: &str,
) -> Result<[f64; N], EnvError> {
    let bad = || EnvError::InvalidOptions {
        env: env.into(),
        reason: format!("state must be an array of {N} finite numbers [{names}], got {state}"),
    };
    let items = state.as_array().filter(|a| a.len() == N).ok_or_else(bad)?;
    let mut out = [0.0; N];
    for (o, v) in out.iter_mut().zip(items) {
        *o = v.as_f64().filter(|x| x.is_finite()).ok_or_else(bad)?;
    }
    Ok(out)
}

/// `NotReset` for `env`.
pub(crate) fn not_reset(env: &str) -> EnvError {
    EnvError::NotReset { env: env.into() }
}
