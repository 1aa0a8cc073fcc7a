//! Pendulum (`Pendulum-v1`) with gravity, mass and length as task parameters.

use std::f64::consts::PI;

use rand::Rng;

use crate::classic::{not_reset, scalar_action, state_array};
use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, StepOutcome,
    step_by_into,
};
use crate::param_family::ParamEnv;
use crate::task::ParamRange;

const ID: &str = "Pendulum-v1";
const MAX_SPEED: f64 = 8.0;
const MAX_TORQUE: f32 = 2.0;
const DT: f64 = 0.05;

const RANGES: [ParamRange; 3] = [
    ParamRange { name: "g", default: 10.0, low: 5.0, high: 15.0, min: 0.1, max: 100.0 },
    ParamRange { name: "m", default: 1.0, low: 0.5, high: 1.5, min: 0.01, max: 100.0 },
    ParamRange { name: "l", default: 1.0, low: 0.5, high: 1.5, min: 0.01, max: 10.0 },
];

/// The inverted pendulum swing-up, as Gymnasium's `Pendulum-v1`.
///
/// **Description.** A pendulum hangs from a fixed pivot; torque at the pivot must swing it
/// up and keep it upright (`theta = 0`). Semi-implicit Euler, `dt = 0.05` s.
///
/// **Action space.** `Box([-2], [2])`, `f32`: the torque. Out-of-range torques are clipped
/// to `[-2, 2]` (as Gymnasium); NaN or a wrong length is an `InvalidAction`.
///
/// **Observation space.** `Box(3)`, `f32`: `[cos theta, sin theta, theta_dot]` with
/// `|theta_dot| <= 8`.
///
/// **Rewards.** `-(norm(theta)^2 + 0.1 theta_dot^2 + 0.001 torque^2)`, `norm` wrapping the
/// angle to `[-pi, pi)`; the clipped torque enters the cost.
///
/// **Starting state.** `theta` uniform in `[-pi, pi]`, `theta_dot` uniform in `[-1, 1]`.
/// Reset option `state`: `[theta, theta_dot]`.
///
/// **Episode end.** Never terminates; truncated after 200 steps.
///
/// **Arguments (task).** `g` (default 10.0, range [5, 15]), `m` (1.0, [0.5, 1.5]), `l`
/// (1.0, [0.5, 1.5]). 20 train and 5 held-out tasks.
///
/// **Version history.** v1: Gymnasium's v1, mass and length as task parameters too.
#[derive(Clone, Debug)]
pub struct Pendulum {
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    /// `3 g / (2 l)` (a Python float in Gymnasium).
    gravity_term: f64,
    /// `3 / (m l^2)`: multiplied by the float32 torque, NumPy rounds it to float32.
    torque_term: f32,
    state: Option<[f64; 2]>,
    rng: EnvRng,
}

impl ParamEnv for Pendulum {
    const ID: &'static str = ID;
    const DESCRIPTION: &'static str = "Gymnasium Pendulum-v1 swing-up; task = g, m, l";
    const RANGES: &'static [ParamRange] = &RANGES;
    const SPLIT_SEED: u64 = 0xBE4D;

    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError> {
        let (g, m, l) = (param("g"), param("m"), param("l"));
        let high = [1.0, 1.0, MAX_SPEED as f32];
        Ok(Pendulum {
            spec: EnvSpec { id: ID, max_episode_steps: Some(200), reward_threshold: None },
            obs_space: Space::Box { low: high.map(|h| -h).to_vec(), high: high.to_vec() },
            action_space: Space::uniform_box(1, -MAX_TORQUE, MAX_TORQUE),
            gravity_term: 3.0 * g / (2.0 * l),
            torque_term: (3.0 / (m * (l * l))) as f32,
            state: None,
            rng: EnvRng::default(),
        })
    }
}

fn observe([th, thdot]: [f64; 2]) -> [f32; 3] {
    [th.cos() as f32, th.sin() as f32, thdot as f32]
}

/// Gymnasium's `angle_normalize`: `((x + pi) % (2 pi)) - pi` with Python's floored modulo.
fn angle_normalize(x: f64) -> f64 {
    (x + PI).rem_euclid(2.0 * PI) - PI
}

impl Env for Pendulum {
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
        let state = match &options.state {
            Some(s) => state_array::<2>(ID, s, "theta, theta_dot")?,
            None => {
                let rng = self.rng.get();
                let theta = -PI + 2.0 * PI * rng.random::<f64>();
                let theta_dot = -1.0 + 2.0 * rng.random::<f64>();
                [theta, theta_dot]
            }
        };
        self.state = Some(state);
        Ok((observe(state).to_vec(), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_by_into(self, action)
    }

    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let u = scalar_action(ID, action)?.clamp(-MAX_TORQUE, MAX_TORQUE);
        let [th, thdot] = self.state.ok_or_else(|| not_reset(ID))?;
        // u is float32: NumPy computes `0.001 * u**2` and `3 / (m l^2) * u` in float32.
        let torque_cost = 0.001f32 * (u * u);
        let costs = angle_normalize(th).powi(2) + 0.1 * (thdot * thdot) + f64::from(torque_cost);
        let accel = self.gravity_term * th.sin() + f64::from(self.torque_term * u);
        let newthdot = (thdot + accel * DT).clamp(-MAX_SPEED, MAX_SPEED);
        let newth = th + newthdot * DT;
        self.state = Some([newth, newthdot]);
        obs.clear();
        obs.extend_from_slice(&observe([newth, newthdot]));
        Ok(StepOutcome {
            reward: -costs,
            terminated: false,
            truncated: false,
            info: Info::default(),
        })
    }
}
