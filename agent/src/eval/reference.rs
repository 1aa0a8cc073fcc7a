//! What an evaluated task is measured against, and what the agent's input is normalised
//! with: observation statistics (always from the training data), the reward scale, and the
//! random and expert returns (from the training data, a reference dataset, or measured).

use envs::{Env, ResetOptions, Task};
use histories::dataset::{Dataset, ObsNorm};
use histories::format::TaskMeta;
use histories::history::{DemoSource, mean_return_at};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::EvalError;
use super::tasks::TaskRef;

/// References of one task.
#[derive(Clone, Debug)]
pub(super) struct Reference {
    pub obs_mean: Vec<f32>,
    pub obs_std: Vec<f32>,
    pub reward_scale: f32,
    pub random: f64,
    pub expert: Option<f64>,
    pub source: String,
    /// The family has an exact oracle (the grid families): sparse, goal-like rewards.
    pub sparse_reward: bool,
}

fn same_task(meta: &TaskMeta, family: &str, task: &Task) -> bool {
    meta.family == family && &meta.task == task
}

fn find<'a>(data: &'a Dataset, t: &TaskRef) -> Option<&'a TaskMeta> {
    data.tasks.iter().map(|x| &x.meta).find(|m| same_task(m, &t.family, &t.task))
}

fn no_family(t: &TaskRef) -> EvalError {
    EvalError::Invalid(format!("{}: the training data holds no task of this family", t.family))
}

/// The references of `t`. Observation statistics come from the training data only: the
/// task's own where the run normalises per task and trained on it, else the family's pooled
/// ones. A reference dataset never supplies them: its statistics are the held-out task's own,
/// information the agent must not get (they would tell a Dark Room agent its goal).
pub(super) fn reference(
    t: &TaskRef,
    env: &mut dyn Env,
    data: &Dataset,
    extra: Option<&Dataset>,
    episodes: usize,
    obs_norm: ObsNorm,
    seed: u64,
) -> Result<Reference, EvalError> {
    let trained = find(data, t);
    let (obs_mean, obs_std) = match (obs_norm, trained) {
        (ObsNorm::Task, Some(meta)) => (meta.obs_mean.clone(), meta.obs_std.clone()),
        _ => data.family_stats(&t.family).ok_or_else(|| no_family(t))?,
    };
    let reward_scale = data
        .tasks
        .iter()
        .find(|x| x.meta.family == t.family)
        .map(|x| x.meta.reward_scale as f32)
        .ok_or_else(|| no_family(t))?;
    let seed = seed ^ 0x5eed;
    env.reset(Some(seed), &ResetOptions::default())?;
    let sparse_reward = env.oracle_action().is_some();
    let reference = |random, expert, source: &str| Reference {
        obs_mean: obs_mean.clone(),
        obs_std: obs_std.clone(),
        reward_scale,
        random,
        expert,
        source: source.into(),
        sparse_reward,
    };
    if let Some(meta) = trained {
        return Ok(reference(meta.random_return, Some(meta.demonstrator_return), "dataset"));
    }
    if let Some(meta) = extra.and_then(|d| find(d, t)) {
        let expert = Some(meta.demonstrator_return);
        return Ok(reference(meta.random_return, expert, "reference dataset"));
    }
    // An unseen task: returns measured here.
    let random = random_return(env, episodes, seed)?;
    if !sparse_reward {
        return Ok(reference(random, None, "measured (random only)"));
    }
    let expert = mean_return_at(env, &mut DemoSource::Oracle, 0.0, episodes, seed)
        .map_err(|error| EvalError::Oracle { family: t.family.clone(), error })?;
    Ok(reference(random, Some(expert), "measured (oracle)"))
}

fn random_return(env: &mut dyn Env, episodes: usize, seed: u64) -> Result<f64, EvalError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let space = env.action_space().clone();
    let mut total = 0.0;
    for e in 0..episodes.max(1) {
        env.reset(Some(seed.wrapping_add(e as u64)), &ResetOptions::default())?;
        loop {
            let s = env.step(&space.sample(&mut rng))?;
            total += s.reward;
            if s.terminated || s.truncated {
                break;
            }
        }
    }
    Ok(total / episodes.max(1) as f64)
}
