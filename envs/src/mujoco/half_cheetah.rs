//! HalfCheetah, as Gymnasium's `HalfCheetah-v5`: a planar cheetah of 9 joints (the first
//! three the root's x, z and pitch), 6 torque actuators in [-1, 1], 5 MuJoCo steps of 0.01 s
//! per env step. Observation: qpos without the root's x, then qvel (17 values). Reward:
//! `forward_velocity - 0.1 * |a|^2`, the velocity being the root's x displacement over the
//! step's 0.05 s. No termination; Gymnasium's time limit of 1000 steps comes from
//! [`crate::TimeLimit`]. Reset: the model's `qpos0` plus uniform noise in [-0.1, 0.1], zero
//! velocities plus 0.1 times standard normal noise.

use std::sync::Arc;

use mujoco_rs::prelude::{MjData, MjModel};
use rand::Rng;
use rand_distr::StandardNormal;
use serde_json::Value;

use crate::core::{Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step};

const ID: &str = "HalfCheetah-v5";
const MODEL: &str = include_str!("../../assets/mujoco/half_cheetah.xml");
const FRAME_SKIP: usize = 5;
const FORWARD_REWARD_WEIGHT: f64 = 1.0;
const CTRL_COST_WEIGHT: f64 = 0.1;
const RESET_NOISE_SCALE: f64 = 0.1;

pub struct HalfCheetah {
    data: MjData<Arc<MjModel>>,
    qpos0: Vec<f64>,
    dt: f64,
    reset: bool,
    rng: EnvRng,
    obs_space: Space,
    action_space: Space,
    spec: EnvSpec,
}

impl HalfCheetah {
    /// The env with Gymnasium's default physics.
    pub fn new() -> Result<Self, EnvError> {
        super::route_warnings();
        let model = MjModel::from_xml_string(MODEL).map_err(|e| EnvError::InvalidTask {
            env: ID.into(),
            field: "model".into(),
            reason: format!("the MuJoCo model did not load: {e}"),
        })?;
        let model = Arc::new(model);
        let data = MjData::new(model.clone());
        let qpos0 = data.qpos().to_vec();
        let (nq, nv) = (data.qpos().len(), data.qvel().len());
        let dt = model.ffi().opt.timestep * FRAME_SKIP as f64;
        Ok(HalfCheetah {
            data,
            qpos0,
            dt,
            reset: false,
            rng: EnvRng::default(),
            obs_space: Space::uniform_box(nq - 1 + nv, f32::NEG_INFINITY, f32::INFINITY),
            action_space: Space::uniform_box(6, -1.0, 1.0),
            spec: EnvSpec { id: ID, max_episode_steps: Some(1000), reward_threshold: Some(4800.0) },
        })
    }

    fn obs(&self) -> Vec<f32> {
        let qpos = self.data.qpos();
        qpos[1..].iter().chain(self.data.qvel()).map(|&x| x as f32).collect()
    }

    /// `qpos` then `qvel`, from `options.state` (`{"qpos": [...], "qvel": [...]}`) or sampled.
    fn start_state(&mut self, options: &ResetOptions) -> Result<(Vec<f64>, Vec<f64>), EnvError> {
        let (nq, nv) = (self.data.qpos().len(), self.data.qvel().len());
        if let Some(state) = &options.state {
            let bad = |reason: String| EnvError::InvalidOptions { env: ID.into(), reason };
            let field = |key: &str, n: usize| -> Result<Vec<f64>, EnvError> {
                let v: Vec<f64> = state[key]
                    .as_array()
                    .map(|a| a.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                if v.len() != n || v.iter().any(|x| !x.is_finite()) {
                    return Err(bad(format!("state.{key}: expected {n} finite numbers")));
                }
                Ok(v)
            };
            return Ok((field("qpos", nq)?, field("qvel", nv)?));
        }
        let rng = self.rng.get();
        let qpos = self
            .qpos0
            .iter()
            .map(|q| q + rng.random_range(-RESET_NOISE_SCALE..RESET_NOISE_SCALE))
            .collect();
        let qvel =
            (0..nv).map(|_| RESET_NOISE_SCALE * rng.sample::<f64, _>(StandardNormal)).collect();
        Ok((qpos, qvel))
    }
}

impl Env for HalfCheetah {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn observation_space(&self) -> &Space {
        &self.obs_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(
        &mut self,
        seed: Option<u64>,
        options: &ResetOptions,
    ) -> Result<(Vec<f32>, Info), EnvError> {
        self.rng.reseed(seed);
        let (qpos, qvel) = self.start_state(options)?;
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(&qpos);
        self.data.qvel_mut().copy_from_slice(&qvel);
        self.data.forward();
        self.reset = true;
        Ok((self.obs(), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !self.reset {
            return Err(EnvError::NotReset { env: ID.into() });
        }
        let a = match action {
            Action::Continuous(v) if v.len() == 6 && v.iter().all(|x| x.is_finite()) => v,
            other => {
                return Err(EnvError::InvalidAction {
                    env: ID.into(),
                    got: format!("{other:?}"),
                    expected: "6 finite torques (MuJoCo clamps them to [-1, 1])".into(),
                });
            }
        };
        let x_before = self.data.qpos()[0];
        for (c, &x) in self.data.ctrl_mut().iter_mut().zip(a) {
            *c = f64::from(x);
        }
        for _ in 0..FRAME_SKIP {
            self.data.step();
        }
        let x_velocity = (self.data.qpos()[0] - x_before) / self.dt;
        let ctrl_cost = CTRL_COST_WEIGHT * a.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>();
        let obs = self.obs();
        if obs.iter().any(|x| !x.is_finite()) {
            return Err(EnvError::NonFinite { env: ID.into(), task: "{}".into(), step: 0 });
        }
        Ok(Step {
            obs,
            reward: FORWARD_REWARD_WEIGHT * x_velocity - ctrl_cost,
            terminated: false,
            truncated: false,
            info: Info::default(),
        })
    }
}
