//! The time-limit wrapper: sets `truncated` on the step that reaches the spec's
//! `max_episode_steps`, as Gymnasium's `TimeLimit` does.

use crate::core::{Action, Env, EnvError, EnvSpec, Info, ResetOptions, Space, Step};

/// Wraps an env and truncates its episodes after `spec().max_episode_steps` steps (no limit
/// when the spec has none). A step that both terminates and hits the limit reports both flags,
/// as Gymnasium does.
pub struct TimeLimit<E> {
    inner: E,
    max_steps: Option<usize>,
    elapsed: usize,
}

impl<E: Env> TimeLimit<E> {
    pub fn new(inner: E) -> Self {
        let max_steps = inner.spec().max_episode_steps;
        Self { inner, max_steps, elapsed: 0 }
    }

    /// Steps taken since the last reset.
    pub fn elapsed_steps(&self) -> usize {
        self.elapsed
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
        Ok(out)
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let mut step = self.inner.step(action)?;
        self.elapsed += 1;
        if self.max_steps.is_some_and(|max| self.elapsed >= max) {
            step.truncated = true;
        }
        Ok(step)
    }

    fn oracle_action(&self) -> Option<Action> {
        self.inner.oracle_action()
    }
}
