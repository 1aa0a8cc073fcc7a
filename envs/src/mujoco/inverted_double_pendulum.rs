//! InvertedDoublePendulum, as Gymnasium's `InvertedDoublePendulum-v5`: two poles stacked on
//! a cart (qpos: the cart's position, then two hinge angles), one force actuator in [-1, 1],
//! 5 MuJoCo steps of 0.01 s per env step. Observation: the cart's position, sin and cos of
//! the angles, qvel clipped to [-10, 10], and the cart's constraint force clipped to
//! [-10, 10] (9 values). Reward: `10 (unless terminated) - (0.01 x^2 + (y - 2)^2) -
//! (0.001 w1^2 + 0.005 w2^2)`, (x, y) being the tip's site and w the hinges' velocities;
//! terminates when the tip is at or below height 1. 1000 steps. Reset: the initial qpos plus
//! uniform noise in [-0.1, 0.1], the initial qvel plus 0.1 times standard normal noise.

use mujoco_rs::prelude::MjModel;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, Velocity, clipped, noisy_start};

const RESET_NOISE_SCALE: f64 = 0.1;

/// Gymnasium's `InvertedDoublePendulum-v5`.
pub struct InvertedDoublePendulum;

impl Body for InvertedDoublePendulum {
    const ID: &'static str = "InvertedDoublePendulum-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo two poles balanced on a cart (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/inverted_double_pendulum.xml");
    const FRAME_SKIP: usize = 5;
    const MAX_EPISODE_STEPS: usize = 1000;
    const REWARD_THRESHOLD: Option<f64> = Some(9100.0);
    const SPLIT_SEED: u64 = 5008;

    fn new(model: &MjModel) -> Result<Self, String> {
        if model.ffi().nsite < 1 {
            return Err("expected the tip's site".into());
        }
        Ok(InvertedDoublePendulum)
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        let qpos = data.qpos();
        obs.push(qpos[0]);
        obs.extend(qpos[1..].iter().map(|t| t.sin()));
        obs.extend(qpos[1..].iter().map(|t| t.cos()));
        obs.extend(clipped(data.qvel(), 10.0));
        obs.extend(clipped(&data.qfrc_constraint()[..1], 10.0));
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        noisy_start(qpos0, qvel0, RESET_NOISE_SCALE, Velocity::Normal, rng)
    }

    fn outcome(&self, data: &Data, _: &[f64], _: f64, _: &[f64]) -> (f64, bool) {
        let [x, _, y] = data.site_xpos()[0];
        let (w1, w2) = (data.qvel()[1], data.qvel()[2]);
        let terminated = y <= 1.0;
        let alive = if terminated { 0.0 } else { 10.0 };
        let distance_penalty = 0.01 * x * x + (y - 2.0) * (y - 2.0);
        let velocity_penalty = 1e-3 * w1 * w1 + 5e-3 * w2 * w2;
        (alive - distance_penalty - velocity_penalty, terminated)
    }
}
