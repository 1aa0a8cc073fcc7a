//! The task family of an env whose tasks are physical constants (the classic control and
//! MuJoCo envs): named parameters with defaults, uniform sampling ranges and sane bounds, and
//! a fixed seeded train/held-out split.

use std::marker::PhantomData;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::core::{Env, EnvError, Family, Task};
use crate::task::{ParamRange, TaskParams, default_task, sample_tasks, shifted_tasks};
use crate::time_limit::TimeLimit;

/// Number of train and held-out tasks of each such family.
pub const NUM_TRAIN_TASKS: usize = 20;
pub const NUM_HELDOUT_TASKS: usize = 5;

/// An env whose physical constants are task parameters.
pub trait ParamEnv: Env + Sized + 'static {
    /// The versioned id.
    const ID: &'static str;
    /// One line for `icrl env list`.
    const DESCRIPTION: &'static str;
    /// Every task parameter with its Gymnasium default and its sampling range.
    const RANGES: &'static [ParamRange];
    /// Seed of the fixed train/held-out split.
    const SPLIT_SEED: u64;
    /// The env with these parameter values; `param(name)` gives the value of each name in
    /// [`ParamEnv::RANGES`], already checked to lie in its sane range.
    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError>;

    /// The self-correction tasks beyond `train` (see [`Family::shifted_tasks`]); by default
    /// gravity 10% beyond the training range ([`crate::task::shifted_tasks`]).
    fn shifted_tasks(train: &[Task]) -> Vec<Task> {
        shifted_tasks(&default_task(Self::RANGES), train)
    }
}

/// The family of one such env.
pub struct ParamFamily<E>(PhantomData<fn() -> E>);

impl<E: ParamEnv> ParamFamily<E> {
    pub const fn new() -> Self {
        Self(PhantomData)
    }

    /// The env for `task` without its time limit. Every parameter must lie in its sane range
    /// ([`ParamRange::min`] to [`ParamRange::max`]); missing ones take Gymnasium's defaults.
    pub fn make_raw(&self, task: &Task) -> Result<E, EnvError> {
        let names: Vec<&str> = E::RANGES.iter().map(|r| r.name).collect();
        let p = TaskParams::new(E::ID, task, &names)?;
        let values: Vec<(&str, f64)> = E::RANGES
            .iter()
            .map(|r| Ok((r.name, p.within(r)?)))
            .collect::<Result<_, EnvError>>()?;
        let param =
            |name: &str| values.iter().find(|(n, _)| *n == name).map_or(f64::NAN, |(_, v)| *v);
        E::build(&param)
    }

    /// 20 train tasks, then 5 held-out tasks, every parameter uniform in its range, drawn
    /// from one ChaCha8 stream seeded with the family's split seed.
    fn split(&self) -> (Vec<Task>, Vec<Task>) {
        let mut rng = ChaCha8Rng::seed_from_u64(E::SPLIT_SEED);
        let train = sample_tasks(E::RANGES, NUM_TRAIN_TASKS, &mut rng);
        let heldout = sample_tasks(E::RANGES, NUM_HELDOUT_TASKS, &mut rng);
        (train, heldout)
    }
}

impl<E: ParamEnv> Default for ParamFamily<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: ParamEnv> Family for ParamFamily<E> {
    fn id(&self) -> &'static str {
        E::ID
    }

    fn description(&self) -> &'static str {
        E::DESCRIPTION
    }

    fn default_task(&self) -> Task {
        default_task(E::RANGES)
    }

    fn train_tasks(&self) -> Vec<Task> {
        self.split().0
    }

    fn heldout_tasks(&self) -> Vec<Task> {
        self.split().1
    }

    fn shifted_tasks(&self, train: &[Task]) -> Vec<Task> {
        E::shifted_tasks(train)
    }

    fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(TimeLimit::new(self.make_raw(task)?).for_task(task)))
    }
}
