//! Humanoid, as Gymnasium's `Humanoid-v5`: a 3D biped with a free root (qpos: x, y, z and a
//! quaternion, then 17 hinges), 17 torque actuators in [-0.4, 0.4], 5 MuJoCo steps of 0.003 s
//! per env step. Observation (348 values): qpos without the root's x and y, qvel, then for
//! every body but the world its com-based inertia `cinert` (10 each) and velocity `cvel` (6),
//! the actuator forces in joint space without the root's six (`qfrc_actuator[6..]`), and the
//! external contact forces `cfrc_ext` (6 each). Reward: `1.25 * forward_velocity + 5 (while
//! healthy) - 0.1 * |ctrl|^2 - min(5e-7 * |cfrc_ext|^2, 10)`, the velocity being the x
//! displacement of the centre of mass (mass-weighted body com positions) over the step.
//! Terminates when the torso's height leaves (1, 2). 1000 steps. Reset: initial qpos and qvel
//! plus uniform noise in [-0.01, 0.01].

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, control_cost, noisy_start};

const RESET_NOISE_SCALE: f64 = 1e-2;
const CONTACT_COST_WEIGHT: f64 = 5e-7;
const CONTACT_COST_MAX: f64 = 10.0;

/// Gymnasium's `Humanoid-v5`.
pub struct Humanoid;

impl Body for Humanoid {
    const ID: &'static str = "Humanoid-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo 3D biped walking forward (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/humanoid.xml");
    const FRAME_SKIP: usize = 5;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = None;
    const SPLIT_SEED: u64 = 5009;
    const CONTACT_FORCES: bool = true;

    fn new(model: &MjModel) -> Result<Self, String> {
        if model.ffi().nv < 6 {
            return Err("expected a free root joint (6 velocities)".into());
        }
        Ok(Humanoid)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        obs.extend_from_slice(&data.qpos()[2..]);
        obs.extend_from_slice(data.qvel());
        data.cinert()[1..].iter().for_each(|c| obs.extend_from_slice(c));
        data.cvel()[1..].iter().for_each(|c| obs.extend_from_slice(c));
        obs.extend_from_slice(&data.qfrc_actuator()[6..]);
        data.cfrc_ext()[1..].iter().for_each(|c| obs.extend_from_slice(c));
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Uniform, rng)
    }

    /// The x coordinate of the centre of mass.
    fn position(&self, data: &Data) -> f64 {
        let mass = data.model().body_mass();
        let weighted: f64 = mass.iter().zip(data.xipos()).map(|(m, p)| m * p[0]).sum();
        weighted / mass.iter().sum::<f64>()
    }

    fn outcome(&self, data: &Data, _: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool) {
        let z = data.qpos()[2];
        let healthy = 1.0 < z && z < 2.0;
        let contact: f64 = data.cfrc_ext().iter().flatten().map(|f| f * f).sum();
        let reward = 1.25 * x_velocity + 5.0 * f64::from(u8::from(healthy))
            - control_cost(0.1, action)
            - (CONTACT_COST_WEIGHT * contact).min(CONTACT_COST_MAX);
        (reward, !healthy)
    }
}
