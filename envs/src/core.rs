//! The env contract: spaces, actions, steps, errors, specs and task families.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Task parameters: a JSON object, e.g. `{"goal": [2, 7]}` or `{"gravity": 9.0}`.
/// Missing keys take the family's defaults.
pub type Task = Map<String, Value>;

/// Errors of the env crate. Every message names the env (or file, field) and what was expected.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    #[error("{env}: invalid action {got}: expected {expected}")]
    InvalidAction { env: String, got: String, expected: String },
    #[error("{env}: invalid task parameter `{field}`: {reason}")]
    InvalidTask { env: String, field: String, reason: String },
    #[error("{env}: invalid reset options: {reason}")]
    InvalidOptions { env: String, reason: String },
    #[error("{env}: step() called before reset()")]
    NotReset { env: String },
    #[error(
        "{env} task {task}: the state became non-finite at step {step} of the episode; the \
         task's parameters are beyond what the simulation can handle"
    )]
    NonFinite { env: String, task: String, step: usize },
    #[error("unknown env id `{id}`; known ids: {known}")]
    UnknownEnv { id: String, known: String },
}

/// An action: an index for [`Space::Discrete`], a vector for [`Space::Box`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Action {
    Discrete(usize),
    Continuous(Vec<f32>),
}

/// An observation or action space.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Space {
    /// `{0, 1, ..., n - 1}`.
    Discrete { n: usize },
    /// The box `low <= x <= high`, element-wise; bounds may be infinite.
    Box { low: Vec<f32>, high: Vec<f32> },
}

impl Space {
    /// A box with the same bounds in every dimension.
    pub fn uniform_box(dim: usize, low: f32, high: f32) -> Self {
        Space::Box { low: vec![low; dim], high: vec![high; dim] }
    }

    /// Number of values one element of the space flattens to (1 for discrete).
    pub fn flat_dim(&self) -> usize {
        match self {
            Space::Discrete { .. } => 1,
            Space::Box { low, .. } => low.len(),
        }
    }

    /// A uniform sample: uniform index, or uniform in each bounded dimension. Unbounded
    /// dimensions sample a standard normal (half-bounded ones a shifted exponential), as
    /// Gymnasium's `Box.sample` does.
    pub fn sample(&self, rng: &mut impl Rng) -> Action {
        match self {
            Space::Discrete { n } => Action::Discrete(rng.random_range(0..*n)),
            Space::Box { low, high } => Action::Continuous(
                low.iter()
                    .zip(high)
                    .map(|(&lo, &hi)| match (lo.is_finite(), hi.is_finite()) {
                        (true, true) => lo + (hi - lo) * rng.random::<f32>(),
                        (true, false) => lo - (1.0 - rng.random::<f32>()).ln(),
                        (false, true) => hi + (1.0 - rng.random::<f32>()).ln(),
                        (false, false) => {
                            rand_distr::Distribution::sample(&rand_distr::StandardNormal, rng)
                        }
                    })
                    .collect(),
            ),
        }
    }

    /// Whether an observation vector lies in this (box) space. NaN is never contained.
    pub fn contains_vec(&self, x: &[f32]) -> bool {
        match self {
            Space::Discrete { n } => {
                x.len() == 1 && x[0] >= 0.0 && (x[0] as usize) < *n && x[0].fract() == 0.0
            }
            Space::Box { low, high } => {
                x.len() == low.len()
                    && x.iter().zip(low).zip(high).all(|((v, lo), hi)| *v >= *lo && *v <= *hi)
            }
        }
    }

    /// Whether an action lies in this space.
    pub fn contains(&self, action: &Action) -> bool {
        match (self, action) {
            (Space::Discrete { n }, Action::Discrete(i)) => i < n,
            (Space::Box { .. }, Action::Continuous(v)) => self.contains_vec(v),
            _ => false,
        }
    }
}

/// Extra per-step or per-reset information (Gymnasium's `info` dict), numeric values only
/// so that stepping allocates nothing when it is empty.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Info(pub Vec<(&'static str, f64)>);

impl Info {
    pub fn get(&self, key: &str) -> Option<f64> {
        self.0.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

/// Options of [`Env::reset`].
#[derive(Clone, Debug, Default)]
pub struct ResetOptions {
    /// Start from this explicit state instead of sampling one (format per env, documented on
    /// each env; tests and cross-checks use it).
    pub state: Option<Value>,
}

/// The result of one [`Env::step`].
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub obs: Vec<f32>,
    pub reward: f64,
    /// The MDP reached a terminal state: do not bootstrap.
    pub terminated: bool,
    /// The episode was cut from outside (time limit): bootstrap from `obs`.
    pub truncated: bool,
    pub info: Info,
}

/// A [`Step`] without its observation (what [`Env::step_into`] returns).
#[derive(Clone, Debug)]
pub struct StepOutcome {
    pub reward: f64,
    pub terminated: bool,
    pub truncated: bool,
    pub info: Info,
}

/// [`Env::step`] of an env that implements [`Env::step_into`]: the same step, with the
/// observation in a new vector.
pub fn step_by_into<E: Env + ?Sized>(env: &mut E, action: &Action) -> Result<Step, EnvError> {
    let mut obs = Vec::new();
    let out = env.step_into(action, &mut obs)?;
    Ok(Step {
        obs,
        reward: out.reward,
        terminated: out.terminated,
        truncated: out.truncated,
        info: out.info,
    })
}

/// Static description of an env, as Gymnasium's `EnvSpec`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EnvSpec {
    /// Versioned id, e.g. `CartPole-v1`.
    pub id: &'static str,
    /// Time limit applied by the time-limit wrapper (`truncated` is set on that step).
    pub max_episode_steps: Option<usize>,
    /// Return above which the task counts as solved, where the reference defines one.
    pub reward_threshold: Option<f64>,
}

/// A Gymnasium-style environment.
pub trait Env: Send {
    fn spec(&self) -> &EnvSpec;
    fn observation_space(&self) -> &Space;
    fn action_space(&self) -> &Space;
    /// Start an episode. The RNG is reseeded only when `seed` is given.
    fn reset(
        &mut self,
        seed: Option<u64>,
        options: &ResetOptions,
    ) -> Result<(Vec<f32>, Info), EnvError>;
    /// Advance one step. A malformed action (wrong kind or length, NaN, index out of range)
    /// is an [`EnvError::InvalidAction`], never a panic.
    fn step(&mut self, action: &Action) -> Result<Step, EnvError>;
    /// [`Env::step`] with the observation written into `obs` (its old contents replaced)
    /// instead of a new vector, for hot loops that reuse one buffer (vector envs, PPO
    /// rollouts, benchmarks). The default moves `step`'s vector in; envs whose step
    /// allocates nothing else override it and implement `step` with [`step_by_into`].
    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let step = self.step(action)?;
        *obs = step.obs;
        Ok(StepOutcome {
            reward: step.reward,
            terminated: step.terminated,
            truncated: step.truncated,
            info: step.info,
        })
    }
    /// The optimal action from the current state, for envs with an exact oracle (the grid
    /// families: shortest path to the next reward); `None` for the others or before `reset`.
    /// Data generation uses it as the demonstrator.
    fn oracle_action(&self) -> Option<Action> {
        None
    }
}

/// A family of related tasks: the family id plus task parameters builds an env.
pub trait Family: Send + Sync {
    /// The versioned env id, e.g. `DarkRoom-v0`.
    fn id(&self) -> &'static str;
    /// One line for `icrl env list`.
    fn description(&self) -> &'static str;
    /// The task with the reference's default parameters.
    fn default_task(&self) -> Task;
    /// Tasks to train on (a fixed, seeded split).
    fn train_tasks(&self) -> Vec<Task>;
    /// Tasks held out for evaluation (disjoint from the train tasks).
    fn heldout_tasks(&self) -> Vec<Task>;
    /// Build an env for `task`, with its time limit applied.
    fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError>;
    /// Self-correction tasks (Vintix's shifted physics) for an agent trained on `train`:
    /// physics outside the range trained on. By default gravity 10% beyond the training
    /// range ([`crate::task::shifted_tasks`]); families may add their own (MuJoCo adds
    /// viscosity). Empty where the family has no such parameter.
    fn shifted_tasks(&self, train: &[Task]) -> Vec<Task> {
        crate::task::shifted_tasks(&self.default_task(), train)
    }
    /// Whether `reset` samples the start state (so different seeds give different starts).
    /// Families with a fixed start (Dark Room starts in the centre) return `false`; the env
    /// checker then checks only that the start is deterministic.
    fn random_start(&self) -> bool {
        true
    }
}

/// The env-owned RNG with Gymnasium's seeding rule: reseeded only when a seed is given, and
/// seeded from OS entropy if the first reset has none.
#[derive(Clone, Debug, Default)]
pub struct EnvRng {
    rng: Option<ChaCha8Rng>,
}

impl EnvRng {
    /// Apply a reset's seed argument.
    pub fn reseed(&mut self, seed: Option<u64>) {
        match seed {
            Some(s) => self.rng = Some(ChaCha8Rng::seed_from_u64(s)),
            None if self.rng.is_none() => self.rng = Some(ChaCha8Rng::from_os_rng()),
            None => {}
        }
    }

    /// The generator; seeds from OS entropy if no reset has seeded it yet.
    pub fn get(&mut self) -> &mut ChaCha8Rng {
        self.rng.get_or_insert_with(ChaCha8Rng::from_os_rng)
    }
}
