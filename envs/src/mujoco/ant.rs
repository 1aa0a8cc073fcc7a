//! Ant, as Gymnasium's `Ant-v5`: a quadruped with a free root (qpos: x, y, z and a
//! quaternion, then 8 hinges), 8 torque actuators in [-1, 1], 5 MuJoCo steps of 0.01 s per
//! env step. Observation: qpos without the root's x and y, qvel, then the contact forces
//! `cfrc_ext` of every body but the world, clipped to [-1, 1] (13 + 14 + 78 = 105 values).
//! Reward: `forward_velocity + 1 (while healthy) - 0.5 * |a|^2 - 5e-4 * |clip(cfrc_ext)|^2`,
//! the velocity being the torso's x displacement over the step. Terminates when the state is
//! not finite or the torso's height leaves [0.2, 1]. 1000 steps. Reset: the initial qpos plus
//! uniform noise in [-0.1, 0.1], the initial qvel plus 0.1 times standard normal noise.

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, clipped, control_cost, noisy_start};

const RESET_NOISE_SCALE: f64 = 0.1;
/// The body whose x displacement is rewarded (Gymnasium's `main_body`, the torso).
const MAIN_BODY: usize = 1;
const CONTACT_COST_WEIGHT: f64 = 5e-4;

/// Gymnasium's `Ant-v5`.
pub struct Ant;

impl Body for Ant {
    const ID: &'static str = "Ant-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo quadruped walking forward (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/ant.xml");
    const FRAME_SKIP: usize = 5;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(6000.0);
    const SPLIT_SEED: u64 = 5004;
    const CONTACT_FORCES: bool = true;

    fn new(model: &MjModel) -> Result<Self, String> {
        if model.ffi().nbody <= MAIN_BODY as i64 {
            return Err(format!("expected a torso body at index {MAIN_BODY}"));
        }
        Ok(Ant)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        obs.extend_from_slice(&data.qpos()[2..]);
        obs.extend_from_slice(data.qvel());
        for force in &data.cfrc_ext()[1..] {
            obs.extend(clipped(force, 1.0));
        }
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Normal, rng)
    }

    fn position(&self, data: &Data) -> f64 {
        data.xpos()[MAIN_BODY][0]
    }

    fn outcome(&self, data: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        let z = data.qpos()[2];
        let finite = data.qpos().iter().chain(data.qvel()).all(|x| x.is_finite());
        let healthy = finite && (0.2..=1.0).contains(&z);
        let contact: f64 =
            data.cfrc_ext().iter().flat_map(|f| clipped(f, 1.0)).map(|x| x * x).sum();
        let reward = x_velocity + f64::from(u8::from(healthy))
            - control_cost(0.5, action)
            - CONTACT_COST_WEIGHT * contact;
        (reward, !healthy)
    }
}
