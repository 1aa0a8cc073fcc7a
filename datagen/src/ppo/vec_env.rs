//! The env copies of a PPO run: the envs crate's [`envs::VecEnv`] (lock-step, same-step
//! auto-reset, `final_obs` kept for bootstrapping) plus the current observations and the
//! running return and length of each copy's episode, for `charts/episodic_return` and
//! `charts/episodic_length`.

use envs::{Action, Env, VecStep};

use super::PpoError;

pub struct VecEnv {
    inner: envs::VecEnv,
    obs: Vec<f32>,
    returns: Vec<f64>,
    lengths: Vec<usize>,
}

impl VecEnv {
    /// Batch `envs` and reset copy `i` with seed `seed + i`; later resets continue each copy's
    /// own RNG.
    pub fn new(envs: Vec<Box<dyn Env>>, seed: u64) -> Result<Self, PpoError> {
        let n = envs.len();
        let mut inner = envs::VecEnv::new(envs)?;
        let obs = inner.reset(Some(seed))?;
        Ok(Self { inner, obs, returns: vec![0.0; n], lengths: vec![0; n] })
    }

    pub fn num_envs(&self) -> usize {
        self.inner.num_envs()
    }

    /// Current observations, (num_envs, obs_dim) row-major.
    pub fn obs(&self) -> &[f32] {
        &self.obs
    }

    /// Step every copy; returns the step and the (return, length) of each episode that ended.
    pub fn step(&mut self, actions: &[Action]) -> Result<(VecStep, Vec<(f64, usize)>), PpoError> {
        let step = self.inner.step(actions)?;
        let mut finished = Vec::new();
        for e in 0..self.returns.len() {
            self.returns[e] += step.rewards[e];
            self.lengths[e] += 1;
            if step.terminated[e] || step.truncated[e] {
                finished.push((self.returns[e], self.lengths[e]));
                self.returns[e] = 0.0;
                self.lengths[e] = 0;
            }
        }
        self.obs.clone_from(&step.obs);
        Ok((step, finished))
    }
}
