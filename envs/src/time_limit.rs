//! The time-limit wrapper: sets `truncated` on the step that reaches the spec's
//! `max_episode_steps`, as Gymnasium's `TimeLimit` does. Every family's env is wrapped in it,
//! so it also refuses to hand out a non-finite observation or reward.

use crate::core::{
    Action, Env, EnvError, EnvSpec, Info, ResetOptions, Space, Step, StepOutcome, Task,
    step_by_into,
};

/// Wraps an env and truncates its episodes after `spec().max_episode_steps` steps (no limit
/// when the spec has none). A step that both terminates and hits the limit reports both flags,
/// as Gymnasium does. A non-finite observation or reward (physics pushed beyond what floats
/// hold) is an [`EnvError::NonFinite`] naming the task and step, never a silent NaN.
pub struct TimeLimit<E> {
    inner: E,
    max_steps: Option<usize>,
    elapsed: usize,
    /// The task as JSON text, for error messages.
    task: String,
}

impl<E: Env> TimeLimit<E> {
    pub fn new(inner: E) -> Self {
        let max_steps = inner.spec().max_episode_steps;
        Self { inner, max_steps, elapsed: 0, task: "{}".into() }
    }

    /// Name `task` in errors (the parameters the inner env was built with).
    pub fn for_task(mut self, task: &Task) -> Self {
        self.task = serde_json::to_string(task).unwrap_or_default();
        self
    }

    /// `Ok(())` when the observation and reward are finite.
    fn check_finite(&self, obs: &[f32], reward: f64) -> Result<(), EnvError> {
        if reward.is_finite() && obs.iter().all(|x| x.is_finite()) {
            return Ok(());
        }
        Err(EnvError::NonFinite {
            env: self.inner.spec().id.into(),
            task: self.task.clone(),
            step: self.elapsed,
        })
    }

    /// The wrapped env.
    pub fn inner(&self) -> &E {
        &self.inner
    }
}

impl<E: Env> Env for TimeLimit<E> {
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
        let out = self.inner.reset(seed, options)?;
        self.elapsed = 0;
        self.check_finite(&out.0, 0.0)?;
        Ok(out)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_by_into(self, action)
    }

    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let mut out = self.inner.step_into(action, obs)?;
        self.elapsed += 1;
        self.check_finite(obs, out.reward)?;
        if self.max_steps.is_some_and(|max| self.elapsed >= max) {
            out.truncated = true;
        }
        Ok(out)
    }

    fn oracle_action(&self) -> Option<Action> {
        self.inner.oracle_action()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An env whose state doubles every step: from 1e38 it overflows f32 on the first step.
    struct Blowup {
        spec: EnvSpec,
        space: Space,
        x: f32,
    }

    impl Env for Blowup {
        fn spec(&self) -> &EnvSpec {
            &self.spec
        }
        fn observation_space(&self) -> &Space {
            &self.space
        }
        fn action_space(&self) -> &Space {
            &self.space
        }
        fn reset(
            &mut self,
            _: Option<u64>,
            _: &ResetOptions,
        ) -> Result<(Vec<f32>, Info), EnvError> {
            self.x = 1e38;
            Ok((vec![self.x], Info::default()))
        }
        fn step(&mut self, _: &Action) -> Result<Step, EnvError> {
            self.x *= 4.0;
            let obs = vec![self.x];
            Ok(Step {
                obs,
                reward: 0.0,
                terminated: false,
                truncated: false,
                info: Info::default(),
            })
        }
    }

    /// `{"gravity": 1e308}` used to roll out null observations with exit status 0.
    #[test]
    fn a_non_finite_state_is_an_error_naming_the_task_and_step() {
        let spec = EnvSpec { id: "Blowup-v0", max_episode_steps: Some(10), reward_threshold: None };
        let inner = Blowup { spec, space: Space::uniform_box(1, -1.0, 1.0), x: 0.0 };
        let task: Task = serde_json::from_str(r#"{"gravity": 1e30}"#).unwrap();
        let mut env = TimeLimit::new(inner).for_task(&task);
        env.reset(Some(0), &ResetOptions::default()).unwrap();
        let e = env.step(&Action::Continuous(vec![0.0])).unwrap_err().to_string();
        assert!(e.contains("Blowup-v0") && e.contains("gravity") && e.contains("step 1"), "{e}");
    }
}
