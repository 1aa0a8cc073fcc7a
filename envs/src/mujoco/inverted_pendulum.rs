//! InvertedPendulum, as Gymnasium's `InvertedPendulum-v5`: a pole on a cart (qpos: the
//! cart's position and the hinge angle), one force actuator in [-3, 3], 2 MuJoCo steps of
//! 0.02 s per env step. Observation: qpos then qvel (4 values). Reward: 1 for every step that
//! does not terminate, 0 for the one that does; terminates when the angle leaves
//! [-0.2, 0.2]. 1000 steps. Reset: initial qpos and qvel plus uniform noise in
//! [-0.01, 0.01].

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, noisy_start};

const RESET_NOISE_SCALE: f64 = 0.01;

/// Gymnasium's `InvertedPendulum-v5`.
pub struct InvertedPendulum;

impl Body for InvertedPendulum {
    const ID: &'static str = "InvertedPendulum-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo pole balanced on a cart (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/inverted_pendulum.xml");
    const FRAME_SKIP: usize = 2;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(950.0);
    const SPLIT_SEED: u64 = 5007;

    fn new(_: &MjModel) -> Result<Self, String> {
        Ok(InvertedPendulum)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        obs.extend_from_slice(data.qpos());
        obs.extend_from_slice(data.qvel());
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Uniform, rng)
    }

    fn outcome(&self, _: &Data, obs: &[f64], _: f64, _: &[f64]) -> (f64, bool) {
        let terminated = !obs.iter().all(|x| x.is_finite()) || obs[1].abs() > 0.2;
        (if terminated { 0.0 } else { 1.0 }, terminated)
    }
}
