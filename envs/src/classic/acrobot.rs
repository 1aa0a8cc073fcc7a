//! Acrobot (`Acrobot-v1`) with link masses, lengths, inertia and gravity as task parameters.

use std::f64::consts::PI;

use rand::Rng;

use crate::classic::{discrete_action, not_reset, state_array};
use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, StepOutcome,
    step_by_into,
};
use crate::param_family::ParamEnv;
use crate::task::ParamRange;

const ID: &str = "Acrobot-v1";
const DT: f64 = 0.2;
const MAX_VEL_1: f64 = 4.0 * PI;
const MAX_VEL_2: f64 = 9.0 * PI;
const AVAIL_TORQUE: [f64; 3] = [-1.0, 0.0, 1.0];

const RANGES: [ParamRange; 7] = [
    ParamRange { name: "link_length_1", default: 1.0, low: 0.75, high: 1.25, min: 0.05, max: 10.0 },
    ParamRange { name: "link_mass_1", default: 1.0, low: 0.5, high: 1.5, min: 0.01, max: 100.0 },
    ParamRange { name: "link_mass_2", default: 1.0, low: 0.5, high: 1.5, min: 0.01, max: 100.0 },
    ParamRange {
        name: "link_com_pos_1",
        default: 0.5,
        low: 0.35,
        high: 0.65,
        min: 0.01,
        max: 10.0,
    },
    ParamRange {
        name: "link_com_pos_2",
        default: 0.5,
        low: 0.35,
        high: 0.65,
        min: 0.01,
        max: 10.0,
    },
    ParamRange { name: "link_moi", default: 1.0, low: 0.75, high: 1.25, min: 0.01, max: 100.0 },
    ParamRange { name: "gravity", default: 9.8, low: 7.35, high: 12.25, min: 0.1, max: 100.0 },
];

/// Physical constants (Gymnasium's class attributes; `g` is a literal inside its `_dsdt`).
#[derive(Clone, Copy, Debug)]
struct Physics {
    l1: f64,
    m1: f64,
    m2: f64,
    lc1: f64,
    lc2: f64,
    moi: f64,
    g: f64,
}

impl Physics {
    /// Time derivative of `[theta1, theta2, dtheta1, dtheta2, torque]` ("book" dynamics),
    /// term by term in Gymnasium's order.
    fn dsdt(&self, s: [f64; 5]) -> [f64; 5] {
        let Physics { l1, m1, m2, lc1, lc2, moi, g } = *self;
        let (i1, i2) = (moi, moi);
        let [theta1, theta2, dtheta1, dtheta2, a] = s;
        let d1 =
            m1 * (lc1 * lc1) + m2 * (l1 * l1 + lc2 * lc2 + 2.0 * l1 * lc2 * theta2.cos()) + i1 + i2;
        let d2 = m2 * (lc2 * lc2 + l1 * lc2 * theta2.cos()) + i2;
        let phi2 = m2 * lc2 * g * (theta1 + theta2 - PI / 2.0).cos();
        let phi1 = -m2 * l1 * lc2 * (dtheta2 * dtheta2) * theta2.sin()
            - 2.0 * m2 * l1 * lc2 * dtheta2 * dtheta1 * theta2.sin()
            + (m1 * lc1 + m2 * l1) * g * (theta1 - PI / 2.0).cos()
            + phi2;
        let ddtheta2 =
            (a + d2 / d1 * phi1 - m2 * l1 * lc2 * (dtheta1 * dtheta1) * theta2.sin() - phi2)
                / (m2 * (lc2 * lc2) + i2 - d2 * d2 / d1);
        let ddtheta1 = -(d2 * ddtheta2 + phi1) / d1;
        [dtheta1, dtheta2, ddtheta1, ddtheta2, 0.0]
    }

    /// One fourth-order Runge-Kutta step of length `DT`, as Gymnasium's `rk4`.
    fn rk4(&self, y0: [f64; 5]) -> [f64; 5] {
        let dt2 = DT / 2.0;
        let add = |y: [f64; 5], h: f64, k: [f64; 5]| std::array::from_fn(|i| y[i] + h * k[i]);
        let k1 = self.dsdt(y0);
        let k2 = self.dsdt(add(y0, dt2, k1));
        let k3 = self.dsdt(add(y0, dt2, k2));
        let k4 = self.dsdt(add(y0, DT, k3));
        std::array::from_fn(|i| y0[i] + DT / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]))
    }
}

/// Gymnasium's `wrap`: shift `x` by the range width until it lies in `[m, big_m]`.
fn wrap(mut x: f64, m: f64, big_m: f64) -> f64 {
    let diff = big_m - m;
    while x > big_m {
        x -= diff;
    }
    while x < m {
        x += diff;
    }
    x
}

/// A two-link chain with an actuated middle joint must swing its tip above a line, as
/// Gymnasium's `Acrobot-v1` (Sutton 1996; "book" dynamics, RK4 with `dt = 0.2` s).
///
/// **Description.** Torque on the joint between the links swings the chain, hanging from a
/// fixed pivot, until `-cos(theta1) - cos(theta1 + theta2) > 1`.
///
/// **Action space.** `Discrete(3)`: torque -1, 0, +1 on the middle joint.
///
/// **Observation space.** `Box(6)`, `f32`: `[cos theta1, sin theta1, cos theta2,
/// sin theta2, dtheta1, dtheta2]`, `|dtheta1| <= 4 pi`, `|dtheta2| <= 9 pi`.
///
/// **Rewards.** -1 per step that does not reach the goal, 0 on the step that does.
///
/// **Starting state.** All of `theta1, theta2, dtheta1, dtheta2` uniform in `[-0.1, 0.1]`,
/// rounded to float32 as Gymnasium does. Reset option `state`: `[theta1, theta2, dtheta1,
/// dtheta2]`.
///
/// **Episode end.** Terminates at the goal height (the test assumes unit link lengths, as
/// Gymnasium's does, whatever `link_length_1`); truncated after 500 steps. Reward
/// threshold -100.
///
/// **Arguments (task).** `link_length_1` (default 1.0, range [0.75, 1.25]), `link_mass_1`
/// and `link_mass_2` (1.0, [0.5, 1.5]), `link_com_pos_1` and `link_com_pos_2` (0.5,
/// [0.35, 0.65]), `link_moi` (both links, 1.0, [0.75, 1.25]), `gravity` (9.8,
/// [7.35, 12.25]). 20 train and 5 held-out tasks.
///
/// **Version history.** v1: Gymnasium's v1, constants as task parameters.
#[derive(Clone, Debug)]
pub struct Acrobot {
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    physics: Physics,
    state: Option<[f64; 4]>,
    rng: EnvRng,
}

impl ParamEnv for Acrobot {
    const ID: &'static str = ID;
    const DESCRIPTION: &'static str =
        "Gymnasium Acrobot-v1; task = link lengths, masses, centres of mass, inertia, gravity";
    const RANGES: &'static [ParamRange] = &RANGES;
    const SPLIT_SEED: u64 = 0xAC40;

    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError> {
        let high = [1.0, 1.0, 1.0, 1.0, MAX_VEL_1 as f32, MAX_VEL_2 as f32];
        let physics = Physics {
            l1: param("link_length_1"),
            m1: param("link_mass_1"),
            m2: param("link_mass_2"),
            lc1: param("link_com_pos_1"),
            lc2: param("link_com_pos_2"),
            moi: param("link_moi"),
            g: param("gravity"),
        };
        Ok(Acrobot {
            spec: EnvSpec { id: ID, max_episode_steps: Some(500), reward_threshold: Some(-100.0) },
            obs_space: Space::Box { low: high.map(|h| -h).to_vec(), high: high.to_vec() },
            action_space: Space::Discrete { n: 3 },
            physics,
            state: None,
            rng: EnvRng::default(),
        })
    }
}

fn observe(s: &[f64; 4]) -> [f32; 6] {
    [s[0].cos(), s[0].sin(), s[1].cos(), s[1].sin(), s[2], s[3]].map(|v| v as f32)
}

impl Env for Acrobot {
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
            Some(s) => state_array::<4>(ID, s, "theta1, theta2, dtheta1, dtheta2")?,
            None => {
                let rng = self.rng.get();
                std::array::from_fn(|_| f64::from((-0.1 + 0.2 * rng.random::<f64>()) as f32))
            }
        };
        self.state = Some(state);
        Ok((observe(&state).to_vec(), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_by_into(self, action)
    }

    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let a = discrete_action(ID, action, 3)?;
        let [t1, t2, d1, d2] = self.state.ok_or_else(|| not_reset(ID))?;
        let ns = self.physics.rk4([t1, t2, d1, d2, AVAIL_TORQUE[a]]);
        let state = [
            wrap(ns[0], -PI, PI),
            wrap(ns[1], -PI, PI),
            ns[2].clamp(-MAX_VEL_1, MAX_VEL_1),
            ns[3].clamp(-MAX_VEL_2, MAX_VEL_2),
        ];
        self.state = Some(state);
        let terminated = -state[0].cos() - (state[1] + state[0]).cos() > 1.0;
        let reward = if terminated { 0.0 } else { -1.0 };
        obs.clear();
        obs.extend_from_slice(&observe(&state));
        Ok(StepOutcome { reward, terminated, truncated: false, info: Info::default() })
    }
}
