//! The task family shared by the classic control envs: physical constants as parameters,
//! uniform ranges, and a fixed seeded split.

use std::marker::PhantomData;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use crate::core::{Env, EnvError, Family, Task};
use crate::task::{ParamRange, TaskParams, default_task, sample_tasks};
use crate::time_limit::TimeLimit;

/// Number of train and held-out tasks of each classic family.
pub const NUM_TRAIN_TASKS: usize = 20;
pub const NUM_HELDOUT_TASKS: usize = 5;

/// A classic control env whose constants are task parameters.
pub trait ClassicEnv: Env + Sized + 'static {
    /// The versioned id.
    const ID: &'static str;
    /// One line for `icrl env list`.
    const DESCRIPTION: &'static str;
    /// Every task parameter with its Gymnasium default and its sampling range.
    const RANGES: &'static [ParamRange];
    /// Seed of the fixed train/held-out split.
    const SPLIT_SEED: u64;
    /// The env with these parameter values; `param(name)` gives the value of each name in
    /// [`ClassicEnv::RANGES`], already checked to lie in its sane range.
    fn build(param: &dyn Fn(&str) -> f64) -> Self;
}

/// The family of one classic env.
pub struct ClassicFamily<E>(PhantomData<fn() -> E>);

impl<E: ClassicEnv> ClassicFamily<E> {
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
        Ok(E::build(&param))
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

impl<E: ClassicEnv> Default for ClassicFamily<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E: ClassicEnv> Family for ClassicFamily<E> {
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

    fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(TimeLimit::new(self.make_raw(task)?).for_task(task)))
    }
}
