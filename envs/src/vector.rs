//! Vectorized envs: N copies stepped as a batch, with same-step autoreset.
//!
//! Autoreset semantics (Gymnasium's `AutoresetMode.SAME_STEP`): when env `i` terminates or is
//! truncated on a step, it is reset within that same call. The batch then reports, for env
//! `i`, the reward and flags of the finished episode's last step, the *reset* observation in
//! `obs`, and the last observation of the finished episode in `final_obs[i]` (use it to
//! bootstrap a truncated episode). For envs that did not finish, `final_obs[i]` is `None`.
//! Actions sent on the next call therefore act on the new episode: no step is wasted, unlike
//! Gymnasium's default next-step mode.

use crate::core::{Action, Env, EnvError, Family, ResetOptions, Space, Task};

/// The result of one batched step; `obs` is flat, `num_envs * obs_dim` values, env-major.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VecStep {
    pub obs: Vec<f32>,
    pub rewards: Vec<f64>,
    pub terminated: Vec<bool>,
    pub truncated: Vec<bool>,
    /// The last observation of the episode that ended on this step (see the module docs).
    pub final_obs: Vec<Option<Vec<f32>>>,
}

/// N envs (possibly of different tasks of one family) stepped together.
pub struct VecEnv {
    envs: Vec<Box<dyn Env>>,
    obs_dim: usize,
    /// One env's observation, reused by every step ([`Env::step_into`]).
    obs: Vec<f32>,
}

impl VecEnv {
    /// Batch `envs`; they must share observation and action spaces.
    pub fn new(envs: Vec<Box<dyn Env>>) -> Result<Self, EnvError> {
        let Some(first) = envs.first() else {
            return Err(EnvError::InvalidOptions {
                env: "VecEnv".into(),
                reason: "needs at least one env".into(),
            });
        };
        let (obs_space, action_space) =
            (first.observation_space().clone(), first.action_space().clone());
        if let Some(other) = envs
            .iter()
            .find(|e| e.observation_space() != &obs_space || e.action_space() != &action_space)
        {
            return Err(EnvError::InvalidOptions {
                env: other.spec().id.into(),
                reason: format!(
                    "VecEnv needs equal spaces; {} differs from {}",
                    other.spec().id,
                    first.spec().id
                ),
            });
        }
        Ok(Self { obs_dim: obs_space.flat_dim(), envs, obs: Vec::new() })
    }

    /// One env of `family` per task (tasks may repeat, e.g. the same task `n` times).
    pub fn from_tasks(family: &dyn Family, tasks: &[Task]) -> Result<Self, EnvError> {
        Self::new(tasks.iter().map(|t| family.make(t)).collect::<Result<_, _>>()?)
    }

    pub fn num_envs(&self) -> usize {
        self.envs.len()
    }

    pub fn obs_dim(&self) -> usize {
        self.obs_dim
    }

    pub fn observation_space(&self) -> &Space {
        self.envs[0].observation_space()
    }

    pub fn action_space(&self) -> &Space {
        self.envs[0].action_space()
    }

    /// Reset every env; with a seed, env `i` is seeded with `seed + i` (as Gymnasium's vector
    /// envs do). Returns the flat observations.
    pub fn reset(&mut self, seed: Option<u64>) -> Result<Vec<f32>, EnvError> {
        let mut obs = Vec::with_capacity(self.envs.len() * self.obs_dim);
        for (i, env) in self.envs.iter_mut().enumerate() {
            let (o, _) =
                env.reset(seed.map(|s| s.wrapping_add(i as u64)), &ResetOptions::default())?;
            obs.extend_from_slice(&o);
        }
        Ok(obs)
    }

    /// Step every env with its action, autoresetting finished ones in the same call.
    pub fn step(&mut self, actions: &[Action]) -> Result<VecStep, EnvError> {
        let n = self.envs.len();
        let mut out = VecStep {
            obs: Vec::with_capacity(n * self.obs_dim),
            rewards: Vec::with_capacity(n),
            terminated: Vec::with_capacity(n),
            truncated: Vec::with_capacity(n),
            final_obs: Vec::with_capacity(n),
        };
        self.step_into(actions, &mut out)?;
        Ok(out)
    }

    /// [`VecEnv::step`] writing into `out` (cleared first), reusing its buffers.
    pub fn step_into(&mut self, actions: &[Action], out: &mut VecStep) -> Result<(), EnvError> {
        if actions.len() != self.envs.len() {
            return Err(EnvError::InvalidAction {
                env: format!("VecEnv of {}", self.envs[0].spec().id),
                got: format!("{} actions", actions.len()),
                expected: format!("one action per env ({})", self.envs.len()),
            });
        }
        out.obs.clear();
        out.rewards.clear();
        out.terminated.clear();
        out.truncated.clear();
        out.final_obs.clear();
        for (env, action) in self.envs.iter_mut().zip(actions) {
            let step = env.step_into(action, &mut self.obs)?;
            out.rewards.push(step.reward);
            out.terminated.push(step.terminated);
            out.truncated.push(step.truncated);
            if step.terminated || step.truncated {
                let (reset_obs, _) = env.reset(None, &ResetOptions::default())?;
                out.obs.extend_from_slice(&reset_obs);
                out.final_obs.push(Some(self.obs.clone()));
            } else {
                out.obs.extend_from_slice(&self.obs);
                out.final_obs.push(None);
            }
        }
        Ok(())
    }

    /// The env at `index` (e.g. for its oracle action).
    pub fn env(&self, index: usize) -> Option<&dyn Env> {
        self.envs.get(index).map(|e| e.as_ref())
    }
}
