//! A toy env and demonstrator for the histories tests (the real families live in `envs`).

use envs::{Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step};
use histories::Demonstrator;
use rand::Rng;

/// A 1-D corridor of `len` cells; reward 1 on reaching the right end (terminates), random
/// start in the left half, 12-step time limit.
pub struct Corridor {
    pos: i64,
    t: usize,
    len: i64,
    rng: EnvRng,
    obs_space: Space,
    act_space: Space,
    spec: EnvSpec,
}

impl Corridor {
    pub fn new(len: i64) -> Self {
        Corridor {
            pos: 0,
            t: 0,
            len,
            rng: EnvRng::default(),
            obs_space: Space::uniform_box(1, 0.0, len as f32),
            act_space: Space::Discrete { n: 2 },
            spec: EnvSpec {
                id: "Corridor-v0",
                max_episode_steps: Some(12),
                reward_threshold: None,
            },
        }
    }
}

impl Env for Corridor {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }
    fn observation_space(&self) -> &Space {
        &self.obs_space
    }
    fn action_space(&self) -> &Space {
        &self.act_space
    }
    fn reset(&mut self, seed: Option<u64>, _: &ResetOptions) -> Result<(Vec<f32>, Info), EnvError> {
        self.rng.reseed(seed);
        self.pos = self.rng.get().random_range(0..self.len / 2);
        self.t = 0;
        Ok((vec![self.pos as f32], Info::default()))
    }
    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let delta = match action {
            Action::Discrete(0) => -1,
            Action::Discrete(1) => 1,
            other => {
                return Err(EnvError::InvalidAction {
                    env: "Corridor-v0".into(),
                    got: format!("{other:?}"),
                    expected: "0 or 1".into(),
                });
            }
        };
        self.pos = (self.pos + delta).clamp(0, self.len);
        self.t += 1;
        let terminated = self.pos == self.len;
        Ok(Step {
            obs: vec![self.pos as f32],
            reward: if terminated { 1.0 } else { 0.0 },
            terminated,
            truncated: !terminated && self.t >= 12,
            info: Info::default(),
        })
    }
}

/// Always moves right: optimal in the corridor.
pub struct GoRight;

impl Demonstrator for GoRight {
    fn kind(&self) -> &'static str {
        "oracle"
    }
    fn act(&mut self, _obs: &[f32]) -> Action {
        Action::Discrete(1)
    }
}
