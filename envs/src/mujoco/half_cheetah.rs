//! HalfCheetah, as Gymnasium's `HalfCheetah-v5`: a planar cheetah of 9 joints (the first
//! three the root's x, z and pitch), 6 torque actuators in [-1, 1], 5 MuJoCo steps of 0.01 s
//! per env step. Observation: qpos without the root's x, then qvel (17 values). Reward:
//! `forward_velocity - 0.1 * |a|^2`, the velocity being the root's x displacement over the
//! step's 0.05 s. No termination; 1000 steps. Reset: the initial qpos plus uniform noise in
//! [-0.1, 0.1], the initial qvel plus 0.1 times standard normal noise.

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, control_cost, noisy_start};

const RESET_NOISE_SCALE: f64 = 0.1;

/// Gymnasium's `HalfCheetah-v5`.
pub struct HalfCheetah;

impl Body for HalfCheetah {
    const ID: &'static str = "HalfCheetah-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo planar cheetah running forward (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/half_cheetah.xml");
    const FRAME_SKIP: usize = 5;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(4800.0);
    const SPLIT_SEED: u64 = 5001;

    fn new(_: &MjModel) -> Result<Self, String> {
        Ok(HalfCheetah)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        obs.extend_from_slice(&data.qpos()[1..]);
        obs.extend_from_slice(data.qvel());
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Normal, rng)
    }

    fn outcome(&self, _: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        (x_velocity - control_cost(0.1, action), false)
    }
}
