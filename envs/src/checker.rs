//! The env checker: Gymnasium's `env_checker` contract, run on one task of one family.
//!
//! Checks, each reported by name when it fails:
//! - the spec's id is the family's id; spaces are well formed; `step` before `reset` is
//!   `NotReset`;
//! - the same seed gives the same start; different seeds give different starts when the
//!   family's start is random ([`Family::random_start`]), the same start when it is fixed;
//! - the reseeding rule: a `reset` without a seed continues the stream of the last seeded
//!   one (seed `s` then no seed gives the same two starts every time);
//! - step determinism: the same seed and actions give identical steps, across episodes,
//!   through `step` and through `step_into` (into a reused buffer) alike;
//! - observations lie in the observation space and are finite; rewards are finite; no
//!   truncation at step 1; no episode longer than `max_episode_steps`, and truncation
//!   exactly at that step when the episode does not terminate first;
//! - malformed actions (wrong kind, wrong length, NaN, index out of range) are
//!   `InvalidAction` errors naming the env.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::core::{Action, Env, EnvError, Family, ResetOptions, Space, Step, Task};

/// The failures of one check run.
#[derive(Debug, thiserror::Error)]
#[error("env checker: {env} with task {task}: {}", problems.join("; "))]
pub struct CheckFailed {
    pub env: String,
    pub task: String,
    pub problems: Vec<String>,
}

/// Steps of the determinism and bounds checks (across episode boundaries).
const CHECK_STEPS: usize = 300;

/// Run every check on `task` of `family`. `Ok` means the env passed all of them.
pub fn check_family_task(family: &dyn Family, task: &Task) -> Result<(), CheckFailed> {
    let mut problems = Vec::new();
    let fail = |problems: Vec<String>| CheckFailed {
        env: family.id().into(),
        task: serde_json::to_string(task).unwrap_or_default(),
        problems,
    };
    let make = || family.make(task);
    let mut env = match make() {
        Ok(env) => env,
        Err(e) => return Err(fail(vec![format!("make failed: {e}")])),
    };
    let mut note = |check: &str, result: Result<(), String>| {
        if let Err(msg) = result {
            problems.push(format!("{check}: {msg}"));
        }
    };
    note("spec", check_spec(family, env.as_ref()));
    note("step before reset", check_not_reset(env.as_mut()));
    note("seeding", check_seeding(family, env.as_mut()));
    match (make(), make()) {
        (Ok(mut a), Ok(mut b)) => note("determinism", check_determinism(a.as_mut(), b.as_mut())),
        _ => note("determinism", Err("second make failed".into())),
    }
    note("episodes", check_episodes(env.as_mut()));
    note("bad actions", check_bad_actions(env.as_mut()));
    if problems.is_empty() { Ok(()) } else { Err(fail(problems)) }
}

fn err(e: EnvError) -> String {
    e.to_string()
}

fn reset(env: &mut dyn Env, seed: Option<u64>) -> Result<Vec<f32>, String> {
    env.reset(seed, &ResetOptions::default()).map(|(obs, _)| obs).map_err(err)
}

fn check_spec(family: &dyn Family, env: &dyn Env) -> Result<(), String> {
    if env.spec().id != family.id() {
        return Err(format!(
            "spec id `{}` differs from family id `{}`",
            env.spec().id,
            family.id()
        ));
    }
    for (name, space) in [("observation", env.observation_space()), ("action", env.action_space())]
    {
        let ok = match space {
            Space::Discrete { n } => *n > 0,
            Space::Box { low, high } => {
                !low.is_empty()
                    && low.len() == high.len()
                    && low.iter().zip(high).all(|(l, h)| l <= h)
            }
        };
        if !ok {
            return Err(format!("malformed {name} space {space:?}"));
        }
    }
    if let Space::Discrete { .. } = env.observation_space() {
        return Err("observations are vectors: the observation space must be a box".into());
    }
    Ok(())
}

fn check_not_reset(env: &mut dyn Env) -> Result<(), String> {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    match env.step(&env.action_space().sample(&mut rng)) {
        Err(EnvError::NotReset { .. }) => Ok(()),
        other => Err(format!("expected NotReset, got {other:?}")),
    }
}

fn check_seeding(family: &dyn Family, env: &mut dyn Env) -> Result<(), String> {
    let a = reset(env, Some(123))?;
    let a_next = reset(env, None)?;
    let b = reset(env, Some(123))?;
    let b_next = reset(env, None)?;
    if a != b {
        return Err(format!("seed 123 gave two starts {a:?} and {b:?}"));
    }
    if a_next != b_next {
        return Err(format!(
            "unseeded reset after seed 123 is not reproducible: {a_next:?} vs {b_next:?}"
        ));
    }
    let starts: Vec<Vec<f32>> = (0..5).map(|s| reset(env, Some(s))).collect::<Result<_, _>>()?;
    let distinct = starts.iter().enumerate().all(|(i, x)| starts[..i].iter().all(|y| y != x));
    if family.random_start() {
        if !distinct {
            return Err(format!(
                "seeds 0..5 gave repeated starts {starts:?} (the family declares a random start)"
            ));
        }
        if a_next == a {
            return Err(
                "the unseeded reset repeated the seeded start: the RNG stream did not advance"
                    .into(),
            );
        }
    } else if starts.iter().any(|s| *s != a) || a_next != a {
        return Err(format!("the family declares a fixed start but seeds gave {starts:?}"));
    }
    Ok(())
}

/// A fixed, seeded action sequence (the same for both envs of the determinism check).
fn actions(env: &dyn Env, count: usize) -> Vec<Action> {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    (0..count).map(|_| env.action_space().sample(&mut rng)).collect()
}

/// The steps of `actions` from seed 42, through [`Env::step`] or, with `into`, through
/// [`Env::step_into`] with one buffer that starts with stale values.
fn rollout(env: &mut dyn Env, actions: &[Action], into: bool) -> Result<Vec<Step>, String> {
    reset(env, Some(42))?;
    let mut steps = Vec::with_capacity(actions.len());
    let mut buffer = vec![f32::NAN; 3];
    for action in actions {
        let step = if into {
            let out = env.step_into(action, &mut buffer).map_err(err)?;
            let (reward, terminated, truncated) = (out.reward, out.terminated, out.truncated);
            Step { obs: buffer.clone(), reward, terminated, truncated, info: out.info }
        } else {
            env.step(action).map_err(err)?
        };
        if step.terminated || step.truncated {
            reset(env, None)?;
        }
        steps.push(step);
    }
    Ok(steps)
}

fn check_determinism(a: &mut dyn Env, b: &mut dyn Env) -> Result<(), String> {
    let acts = actions(a, CHECK_STEPS);
    let (sa, sb) = (rollout(a, &acts, false)?, rollout(b, &acts, true)?);
    match sa.iter().zip(&sb).position(|(x, y)| x != y) {
        Some(i) => Err(format!(
            "same seed and actions diverged at step {i} (step, then step_into): {:?} vs {:?}",
            sa[i], sb[i]
        )),
        None => Ok(()),
    }
}

fn check_episodes(env: &mut dyn Env) -> Result<(), String> {
    let max_steps = env.spec().max_episode_steps;
    let space = env.observation_space().clone();
    let check_obs = |obs: &[f32], when: &str| {
        if obs.iter().all(|v| v.is_finite()) && space.contains_vec(obs) {
            Ok(())
        } else {
            Err(format!("observation {obs:?} {when} is outside {space:?}"))
        }
    };
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let acts = actions(env, CHECK_STEPS);
    check_obs(&reset(env, Some(rng.random()))?, "at reset")?;
    let mut t = 0;
    for action in &acts {
        let step = env.step(action).map_err(err)?;
        t += 1;
        check_obs(&step.obs, &format!("at step {t}"))?;
        if !step.reward.is_finite() {
            return Err(format!("reward {} at step {t}", step.reward));
        }
        if t == 1 && step.truncated && max_steps != Some(1) {
            return Err("truncated at step 1".into());
        }
        if let Some(max) = max_steps {
            if t > max {
                return Err(format!("episode longer than max_episode_steps = {max}"));
            }
            if t == max && !step.truncated {
                return Err(format!("not truncated at max_episode_steps = {max}"));
            }
            if t < max && step.truncated {
                return Err(format!("truncated at step {t} before max_episode_steps = {max}"));
            }
        }
        if step.terminated || step.truncated {
            check_obs(&reset(env, None)?, "at reset")?;
            t = 0;
        }
    }
    Ok(())
}

fn check_bad_actions(env: &mut dyn Env) -> Result<(), String> {
    reset(env, Some(0))?;
    let id = env.spec().id;
    let bad: Vec<Action> = match env.action_space().clone() {
        Space::Discrete { n } => {
            vec![Action::Discrete(n), Action::Discrete(usize::MAX), Action::Continuous(vec![0.0])]
        }
        Space::Box { low, .. } => vec![
            Action::Continuous(vec![f32::NAN; low.len()]),
            Action::Continuous(vec![0.0; low.len() + 1]),
            Action::Continuous(vec![]),
            Action::Discrete(0),
        ],
    };
    for action in bad {
        match env.step(&action) {
            Err(EnvError::InvalidAction { env: name, .. }) if name == id => {}
            other => {
                return Err(format!(
                    "action {action:?} gave {other:?}, expected InvalidAction naming {id}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classic::CART_POLE;
    use crate::core::{EnvSpec, Info};

    /// CartPole with one seeded defect, to show that the checker catches it.
    #[derive(Clone, Copy)]
    enum Defect {
        IgnoresSeed,
        AcceptsBadActions,
        TruncatesEarly,
    }

    struct Broken {
        inner: Box<dyn Env>,
        defect: Defect,
        t: usize,
    }

    impl Env for Broken {
        fn spec(&self) -> &EnvSpec {
            self.inner.spec()
        }
        fn observation_space(&self) -> &Space {
            self.inner.observation_space()
        }
        fn action_space(&self) -> &Space {
            self.inner.action_space()
        }
        fn reset(
            &mut self,
            seed: Option<u64>,
            options: &ResetOptions,
        ) -> Result<(Vec<f32>, Info), EnvError> {
            self.t = 0;
            match self.defect {
                Defect::IgnoresSeed => self.inner.reset(None, options),
                _ => self.inner.reset(seed, options),
            }
        }
        fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
            self.t += 1;
            let mut step = match (self.defect, self.inner.action_space().contains(action)) {
                (Defect::AcceptsBadActions, false) => self.inner.step(&Action::Discrete(0))?,
                _ => self.inner.step(action)?,
            };
            if let Defect::TruncatesEarly = self.defect {
                step.truncated |= self.t == 5;
            }
            Ok(step)
        }
    }

    struct BrokenFamily(Defect);

    impl Family for BrokenFamily {
        fn id(&self) -> &'static str {
            CART_POLE.id()
        }
        fn description(&self) -> &'static str {
            "CartPole with a defect"
        }
        fn default_task(&self) -> Task {
            CART_POLE.default_task()
        }
        fn train_tasks(&self) -> Vec<Task> {
            vec![self.default_task()]
        }
        fn heldout_tasks(&self) -> Vec<Task> {
            vec![]
        }
        fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError> {
            Ok(Box::new(Broken { inner: CART_POLE.make(task)?, defect: self.0, t: 0 }))
        }
    }

    #[test]
    fn checker_passes_a_correct_env_and_names_each_defect() {
        let task = CART_POLE.default_task();
        assert!(check_family_task(&CART_POLE, &task).is_ok());
        for (defect, check) in [
            (Defect::IgnoresSeed, "seeding"),
            (Defect::AcceptsBadActions, "bad actions"),
            (Defect::TruncatesEarly, "episodes"),
        ] {
            let err = check_family_task(&BrokenFamily(defect), &task).err().map(|e| e.to_string());
            assert!(err.as_deref().is_some_and(|e| e.contains(check)), "{check}: {err:?}");
        }
    }
}
