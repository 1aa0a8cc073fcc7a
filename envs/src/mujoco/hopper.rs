//! Hopper, as Gymnasium's `Hopper-v5`: a planar one-legged hopper (qpos: the root's x, z and
//! pitch, then thigh, leg and foot), 3 torque actuators in [-1, 1], 4 MuJoCo steps of 0.002 s
//! per env step. Observation: qpos without the root's x, then qvel clipped to [-10, 10] (11
//! values). Reward: `forward_velocity + 1 (while healthy) - 0.001 * |a|^2`. Terminates when
//! unhealthy: any of qpos[2..] and qvel outside (-100, 100), the height not above 0.7, or
//! the pitch outside (-0.2, 0.2). 1000 steps. Reset: initial qpos and qvel plus uniform
//! noise in [-0.005, 0.005].

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, clipped, control_cost, noisy_start};

const RESET_NOISE_SCALE: f64 = 5e-3;

/// Gymnasium's `Hopper-v5`.
pub struct Hopper;

/// Whether a planar walker (Hopper, Walker2d) is healthy: height and pitch strictly inside
/// their ranges, and (Hopper) every state value from qpos[2] on within `state_bound`.
pub(crate) fn planar_healthy(
    data: &Data,
    z_range: (f64, f64),
    angle_range: (f64, f64),
    state_bound: Option<f64>,
) -> bool {
    let (z, angle) = (data.qpos()[1], data.qpos()[2]);
    let state_ok = state_bound
        .is_none_or(|b| data.qpos()[2..].iter().chain(data.qvel()).all(|x| -b < *x && *x < b));
    state_ok && z_range.0 < z && z < z_range.1 && angle_range.0 < angle && angle < angle_range.1
}

/// The planar walkers' observation: qpos without the root's x, then qvel clipped to
/// [-10, 10].
pub(crate) fn planar_observation(data: &Data, obs: &mut Vec<f64>) {
    obs.extend_from_slice(&data.qpos()[1..]);
    obs.extend(clipped(data.qvel(), 10.0));
}

impl Body for Hopper {
    const ID: &'static str = "Hopper-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo planar one-legged hopper (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/hopper.xml");
    const FRAME_SKIP: usize = 4;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(3800.0);
    const SPLIT_SEED: u64 = 5002;

    fn new(_: &MjModel) -> Result<Self, String> {
        Ok(Hopper)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        planar_observation(data, obs);
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Uniform, rng)
    }

    fn outcome(&self, data: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        let healthy = planar_healthy(data, (0.7, f64::INFINITY), (-0.2, 0.2), Some(100.0));
        let reward = x_velocity + f64::from(u8::from(healthy)) - control_cost(1e-3, action);
        (reward, !healthy)
    }
}
