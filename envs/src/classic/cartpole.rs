//! CartPole (`CartPole-v1`) with its physical constants as task parameters.

use rand::Rng;

use crate::classic::{discrete_action, not_reset, state_array};
use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, StepOutcome,
    step_by_into,
};
use crate::param_family::ParamEnv;
use crate::task::ParamRange;

const ID: &str = "CartPole-v1";
const TAU: f64 = 0.02;
const X_THRESHOLD: f64 = 2.4;

/// Task parameters: name, Gymnasium's default, and the range tasks are sampled from.
const RANGES: [ParamRange; 5] = [
    ParamRange { name: "gravity", default: 9.8, low: 4.9, high: 14.7, min: 0.1, max: 100.0 },
    ParamRange { name: "masscart", default: 1.0, low: 0.5, high: 2.0, min: 0.01, max: 100.0 },
    ParamRange { name: "masspole", default: 0.1, low: 0.05, high: 0.5, min: 0.001, max: 10.0 },
    ParamRange { name: "length", default: 0.5, low: 0.25, high: 1.0, min: 0.01, max: 10.0 },
    ParamRange { name: "force_mag", default: 10.0, low: 5.0, high: 15.0, min: 0.1, max: 1000.0 },
];

/// CartPole (Barto, Sutton and Anderson 1983), as Gymnasium's `CartPole-v1`.
///
/// **Description.** A pole is hinged on a cart moving along a frictionless track; pushing
/// the cart left or right must keep the pole upright. Euler integration, `tau = 0.02` s.
///
/// **Action space.** `Discrete(2)`: 0 pushes the cart left, 1 right, with `force_mag`.
///
/// **Observation space.** `Box(4)`, `f32`: cart position (±4.8), cart velocity (±inf), pole
/// angle (±0.418 rad), pole angular velocity (±inf).
///
/// **Rewards.** +1 for every step, including the terminating one (0 for steps taken after
/// termination without a reset, as Gymnasium).
///
/// **Starting state.** Every state variable uniform in `[-0.05, 0.05]`. Reset option
/// `state`: `[x, x_dot, theta, theta_dot]`.
///
/// **Episode end.** Terminates when `|theta| > 12°` or `|x| > 2.4`; truncated after 500
/// steps. Reward threshold 475.
///
/// **Arguments (task).** `gravity` (default 9.8, range [4.9, 14.7]), `masscart` (1.0,
/// [0.5, 2.0]), `masspole` (0.1, [0.05, 0.5]), `length` (half the pole's length, 0.5,
/// [0.25, 1.0]), `force_mag` (10.0, [5, 15]). 20 train and 5 held-out tasks.
///
/// **Version history.** v1: Gymnasium's v1 (500 steps), constants as task parameters.
#[derive(Clone, Debug)]
pub struct CartPole {
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    gravity: f64,
    masspole: f64,
    total_mass: f64,
    length: f64,
    polemass_length: f64,
    force_mag: f64,
    theta_threshold: f64,
    state: Option<[f64; 4]>,
    steps_beyond_terminated: Option<usize>,
    rng: EnvRng,
}

impl ParamEnv for CartPole {
    const ID: &'static str = ID;
    const DESCRIPTION: &'static str =
        "Gymnasium CartPole-v1; task = gravity, masscart, masspole, length, force_mag";
    const RANGES: &'static [ParamRange] = &RANGES;
    const SPLIT_SEED: u64 = 0xCA27;

    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError> {
        let (masscart, masspole, length) = (param("masscart"), param("masspole"), param("length"));
        let theta_threshold = 12.0 * 2.0 * std::f64::consts::PI / 360.0;
        let high = [
            (X_THRESHOLD * 2.0) as f32,
            f32::INFINITY,
            (theta_threshold * 2.0) as f32,
            f32::INFINITY,
        ];
        Ok(CartPole {
            spec: EnvSpec { id: ID, max_episode_steps: Some(500), reward_threshold: Some(475.0) },
            obs_space: Space::Box { low: high.map(|h| -h).to_vec(), high: high.to_vec() },
            action_space: Space::Discrete { n: 2 },
            gravity: param("gravity"),
            masspole,
            total_mass: masspole + masscart,
            length,
            polemass_length: masspole * length,
            force_mag: param("force_mag"),
            theta_threshold,
            state: None,
            steps_beyond_terminated: None,
            rng: EnvRng::default(),
        })
    }
}

fn observe(s: &[f64; 4]) -> [f32; 4] {
    s.map(|v| v as f32)
}

impl Env for CartPole {
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
            Some(s) => state_array::<4>(ID, s, "x, x_dot, theta, theta_dot")?,
            None => {
                let rng = self.rng.get();
                std::array::from_fn(|_| -0.05 + 0.1 * rng.random::<f64>())
            }
        };
        self.state = Some(state);
        self.steps_beyond_terminated = None;
        Ok((observe(&state).to_vec(), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_by_into(self, action)
    }

    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let a = discrete_action(ID, action, 2)?;
        let [x, x_dot, theta, theta_dot] = self.state.ok_or_else(|| not_reset(ID))?;
        let force = if a == 1 { self.force_mag } else { -self.force_mag };
        let (costheta, sintheta) = (theta.cos(), theta.sin());
        let temp =
            (force + self.polemass_length * (theta_dot * theta_dot) * sintheta) / self.total_mass;
        let thetaacc = (self.gravity * sintheta - costheta * temp)
            / (self.length * (4.0 / 3.0 - self.masspole * (costheta * costheta) / self.total_mass));
        let xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass;
        let state = [
            x + TAU * x_dot,
            x_dot + TAU * xacc,
            theta + TAU * theta_dot,
            theta_dot + TAU * thetaacc,
        ];
        self.state = Some(state);
        let [x, _, theta, _] = state;
        // Gymnasium's four comparisons, kept as written (a NaN state does not terminate).
        #[allow(clippy::manual_range_contains)]
        let terminated = x < -X_THRESHOLD
            || x > X_THRESHOLD
            || theta < -self.theta_threshold
            || theta > self.theta_threshold;
        let reward = if !terminated {
            1.0
        } else if let Some(n) = self.steps_beyond_terminated.as_mut() {
            *n += 1;
            0.0
        } else {
            self.steps_beyond_terminated = Some(0);
            1.0
        };
        obs.clear();
        obs.extend_from_slice(&observe(&state));
        Ok(StepOutcome { reward, terminated, truncated: false, info: Info::default() })
    }
}
