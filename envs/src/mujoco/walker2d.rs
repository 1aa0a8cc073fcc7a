//! Walker2d, as Gymnasium's `Walker2d-v5` (its `walker2d_v5.xml`, whose two feet have the
//! same friction): a planar biped (qpos: the root's x, z and pitch, then three joints per
//! leg), 6 torque actuators in [-1, 1], 4 MuJoCo steps of 0.002 s per env step. Observation:
//! qpos without the root's x, then qvel clipped to [-10, 10] (17 values). Reward:
//! `forward_velocity + 1 (while healthy) - 0.001 * |a|^2`. Terminates when the height leaves
//! (0.8, 2) or the pitch leaves (-1, 1). 1000 steps. Reset: initial qpos and qvel plus
//! uniform noise in [-0.005, 0.005].

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::hopper::{planar_healthy, planar_observation};
use super::{Body, Data, Velocity, control_cost, noisy_start};

const RESET_NOISE_SCALE: f64 = 5e-3;

/// Gymnasium's `Walker2d-v5`.
pub struct Walker2d;

impl Body for Walker2d {
    const ID: &'static str = "Walker2d-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo planar biped walking forward (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/walker2d_v5.xml");
    const FRAME_SKIP: usize = 4;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = None;
    const SPLIT_SEED: u64 = 5003;

    fn new(_: &MjModel) -> Result<Self, String> {
        Ok(Walker2d)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        planar_observation(data, obs);
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Uniform, rng)
    }

    fn outcome(&self, data: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        let healthy = planar_healthy(data, (0.8, 2.0), (-1.0, 1.0), None);
        let reward = x_velocity + f64::from(u8::from(healthy)) - control_cost(1e-3, action);
        (reward, !healthy)
    }
}
