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
    /// The random policy's mean reward per step on the task, measured here (the
    /// `random-reward` control's context reward, before the reward scale); `None` where no
    /// control asked for it.
    pub random_step_reward: Option<f64>,
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

/// How a task's references are measured: episodes of the random policy (and the oracle)
/// where they are measured here, the observation statistics' source, the seed, and whether
/// the random policy's reward per step is needed.
#[derive(Clone, Copy, Debug)]
pub(super) struct ReferenceOptions {
    pub episodes: usize,
    pub obs_norm: ObsNorm,
    pub seed: u64,
    pub step_reward: bool,
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
    opts: ReferenceOptions,
) -> Result<Reference, EvalError> {
    let ReferenceOptions { episodes, obs_norm, seed, step_reward } = opts;
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
    let rollouts = if step_reward { Some(random_rollouts(env, episodes, seed)?) } else { None };
    let random_step_reward = rollouts.map(|r| r.reward_per_step);
    let reference = |random, expert, source: &str| Reference {
        obs_mean: obs_mean.clone(),
        obs_std: obs_std.clone(),
        reward_scale,
        random,
        expert,
        source: source.into(),
        sparse_reward,
        random_step_reward,
    };
    if let Some(meta) = trained {
        return Ok(reference(meta.random_return, Some(meta.demonstrator_return), "dataset"));
    }
    if let Some(meta) = extra.and_then(|d| find(d, t)) {
        let expert = Some(meta.demonstrator_return);
        return Ok(reference(meta.random_return, expert, "reference dataset"));
    }
    // An unseen task: returns measured here.
    let random = match rollouts {
        Some(r) => r.mean_return,
        None => random_rollouts(env, episodes, seed)?.mean_return,
    };
    if !sparse_reward {
        return Ok(reference(random, None, "measured (random only)"));
    }
    let expert = mean_return_at(env, &mut DemoSource::Oracle, 0.0, episodes, seed)
        .map_err(|error| EvalError::Oracle { family: t.family.clone(), error })?;
    Ok(reference(random, Some(expert), "measured (oracle)"))
}

/// What the uniformly random policy earns on a task.
#[derive(Clone, Copy, Debug)]
struct RandomRollouts {
    /// Mean return per episode.
    mean_return: f64,
    /// Total reward over total steps.
    reward_per_step: f64,
}

fn random_rollouts(
    env: &mut dyn Env,
    episodes: usize,
    seed: u64,
) -> Result<RandomRollouts, EvalError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let space = env.action_space().clone();
    let (mut total, mut steps) = (0.0, 0u64);
    for e in 0..episodes.max(1) {
        env.reset(Some(seed.wrapping_add(e as u64)), &ResetOptions::default())?;
        loop {
            let s = env.step(&space.sample(&mut rng))?;
            total += s.reward;
            steps += 1;
            if s.terminated || s.truncated {
                break;
            }
        }
    }
    Ok(RandomRollouts {
        mean_return: total / episodes.max(1) as f64,
        reward_per_step: total / steps as f64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollouts(family: &str, episodes: usize) -> RandomRollouts {
        let mut env = envs::make(family, &Task::new()).unwrap();
        random_rollouts(env.as_mut(), episodes, 7).unwrap()
    }

    #[test]
    fn the_random_policys_reward_per_step_is_its_total_over_its_steps() {
        // CartPole pays 1 per step whatever happens; its episodes end at random lengths.
        let cart = rollouts("CartPole-v1", 10);
        assert_eq!(cart.reward_per_step, 1.0);
        assert!(cart.mean_return > 5.0 && cart.mean_return < 100.0, "{cart:?}");
        // Pendulum's episodes last 200 steps; a step earns between -16.3 and 0.
        let pendulum = rollouts("Pendulum-v1", 4);
        assert!((pendulum.reward_per_step * 200.0 - pendulum.mean_return).abs() < 1e-6);
        assert!(pendulum.reward_per_step < -1.0 && pendulum.reward_per_step > -16.3);
        // The same seed, the same figures.
        assert_eq!(rollouts("Pendulum-v1", 4).reward_per_step, pendulum.reward_per_step);
    }
}
