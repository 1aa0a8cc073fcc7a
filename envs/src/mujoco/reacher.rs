//! Reacher, as Gymnasium's `Reacher-v5`: a two-link planar arm reaching for a target (qpos:
//! the two joint angles, then the target's x and y), 2 torque actuators in [-1, 1], 2 MuJoCo
//! steps of 0.01 s per env step. Observation: cos and sin of the joint angles, the target's
//! position, the joints' velocities, and the fingertip minus the target in x and y (10
//! values). Reward: `-|fingertip - target| - |a|^2`. No termination; 50 steps. Reset: the
//! initial qpos plus uniform noise in [-0.1, 0.1], the target drawn uniformly in the disc of
//! radius 0.2 (rejection from the square), the joints' initial velocity plus uniform noise in
//! [-0.005, 0.005] and the target at rest.

use mujoco_rs::prelude::{MjModel, MjtObjBase};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{Body, Data, uniform_noise};

/// Gymnasium's `Reacher-v5`; the ids of its fingertip and target bodies.
pub struct Reacher {
    fingertip: usize,
    target: usize,
}

impl Reacher {
    /// The fingertip minus the target (body frames' positions).
    fn reach(&self, data: &Data) -> [f64; 3] {
        let (f, t) = (data.xpos()[self.fingertip], data.xpos()[self.target]);
        [f[0] - t[0], f[1] - t[1], f[2] - t[2]]
    }
}

impl Body for Reacher {
    const ID: &'static str = "Reacher-v5";
    const DESCRIPTION: &'static str =
        "MuJoCo two-link arm reaching a random target (Gymnasium v5); physics as task parameters";
    const XML: &'static str = include_str!("../../assets/mujoco/reacher.xml");
    const FRAME_SKIP: usize = 2;
    const MAX_EPISODE_STEPS: usize = 50;
    const REWARD_THRESHOLD: Option<f64> = Some(-3.75);
    const SPLIT_SEED: u64 = 5006;

    fn new(model: &MjModel) -> Result<Self, String> {
        let body = |name: &str| {
            model
                .name_to_id(MjtObjBase::mjOBJ_BODY, name)
                .ok_or_else(|| format!("the model has no body `{name}`"))
        };
        Ok(Reacher { fingertip: body("fingertip")?, target: body("target")? })
    }

    fn observe(&self, data: &Data, obs: &mut Vec<f64>) {
        let (qpos, qvel) = (data.qpos(), data.qvel());
        obs.extend(qpos[..2].iter().map(|t| t.cos()));
        obs.extend(qpos[..2].iter().map(|t| t.sin()));
        obs.extend_from_slice(&qpos[2..]);
        obs.extend_from_slice(&qvel[..2]);
        obs.extend_from_slice(&self.reach(data)[..2]);
    }

    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>) {
        let mut qpos = uniform_noise(qpos0, 0.1, rng);
        let goal = loop {
            let g: [f64; 2] = [rng.random_range(-0.2..0.2), rng.random_range(-0.2..0.2)];
            if g[0].hypot(g[1]) < 0.2 {
                break g;
            }
        };
        let n = qpos.len();
        qpos[n - 2..].copy_from_slice(&goal);
        let mut qvel = uniform_noise(qvel0, 0.005, rng);
        let n = qvel.len();
        qvel[n - 2..].fill(0.0);
        (qpos, qvel)
    }

    fn outcome(&self, data: &Data, _: &[f64], _: f64, action: &[f64]) -> (f64, bool) {
        let r = self.reach(data);
        let distance = (r[0] * r[0] + r[1] * r[1] + r[2] * r[2]).sqrt();
        (-distance - super::control_cost(1.0, action), false)
    }
}
