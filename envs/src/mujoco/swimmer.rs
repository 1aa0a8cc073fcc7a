//! Swimmer, as Gymnasium's `Swimmer-v5`: a three-link planar swimmer in a viscous medium
//! (qpos: the root's x, y and angle, then two hinges), 2 torque actuators in [-1, 1], 4
//! MuJoCo steps of 0.01 s per env step. Observation: qpos without the root's x and y, then
//! qvel (8 values). Reward: `forward_velocity - 1e-4 * |a|^2`. No termination; 1000 steps.
//! Reset: initial qpos and qvel plus uniform noise in [-0.1, 0.1].
//!
//! Its model sets its own medium (`viscosity="0.1"` in swimmer.xml), so its `viscosity`
//! parameter defaults to 0.1, trains on [0.09, 0.11], and its shifted tasks halve and double
//! it (0.05, 0.2) instead of the other families' 0.05 and 0.1.

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, PHYSICS, Velocity, control_cost, noisy_start};
use crate::task::ParamRange;

const RESET_NOISE_SCALE: f64 = 0.1;

/// Gymnasium's `Swimmer-v5`.
pub struct Swimmer;

impl Body for Swimmer {
    const ID: &'static str = "Swimmer-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo three-link swimmer moving forward (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/swimmer.xml");
    const FRAME_SKIP: usize = 4;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(360.0);
    const SPLIT_SEED: u64 = 5005;
    const PHYSICS: &'static [ParamRange] = &[
        PHYSICS[0],
        ParamRange { name: "viscosity", default: 0.1, low: 0.09, high: 0.11, min: 0.0, max: 1.0 },
        PHYSICS[2],
        PHYSICS[3],
    ];
    const SHIFTED_VISCOSITY: &'static [f64] = &[0.05, 0.2];

    fn new(_: &MjModel) -> Result<Self, String> {
        Ok(Swimmer)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        obs.extend_from_slice(&data.qpos()[2..]);
        obs.extend_from_slice(data.qvel());
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Uniform, rng)
    }

    fn outcome(&self, _: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        (x_velocity - control_cost(1e-4, action), false)
    }
}
