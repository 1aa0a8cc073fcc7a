//! Continuous Mountain Car (`MountainCarContinuous-v0`) with engine power and hill gravity as
//! task parameters.

use rand::Rng;

use crate::classic::{not_reset, scalar_action, state_array};
use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, StepOutcome,
    step_by_into,
};
use crate::param_family::ParamEnv;
use crate::task::ParamRange;

const ID: &str = "MountainCarContinuous-v0";
const MIN_POSITION: f64 = -1.2;
const MAX_POSITION: f64 = 0.6;
const MAX_SPEED: f64 = 0.07;
const GOAL_POSITION: f64 = 0.45;
const GOAL_VELOCITY: f64 = 0.0;

const RANGES: [ParamRange; 2] = [
    ParamRange { name: "power", default: 0.0015, low: 0.0012, high: 0.002, min: 1e-5, max: 0.1 },
    ParamRange { name: "gravity", default: 0.0025, low: 0.002, high: 0.003, min: 1e-5, max: 0.1 },
];

/// The car's state. Gymnasium keeps it in float64 after `reset` and in float32 after every
/// `step`, and NumPy's arithmetic differs between the two, so both are represented.
#[derive(Clone, Copy, Debug)]
enum CarState {
    F64 { position: f64, velocity: f64 },
    F32 { position: f32, velocity: f32 },
}

/// The clipped force: Gymnasium's `min(max(a, -1.0), 1.0)` keeps the float32 action when it
/// is in range and yields a Python float bound otherwise; the two take different NumPy paths.
#[derive(Clone, Copy, Debug)]
enum Force {
    Action(f32),
    Bound(f64),
}

/// An underpowered car in a valley must rock back and forth to reach the flag on the right
/// hill, as Gymnasium's `MountainCarContinuous-v0` (Moore 1990).
///
/// **Description.** `velocity += force * power - gravity * cos(3 position)`, then
/// `position += velocity`, with velocity clipped to ±0.07 and position to [-1.2, 0.6]
/// (velocity zeroed at the left wall). NumPy 2's float32 roundings are reproduced.
///
/// **Action space.** `Box([-1], [1])`, `f32`: the force. Out-of-range forces are clipped to
/// `[-1, 1]` for the dynamics (as Gymnasium); the action cost uses the unclipped value, as
/// Gymnasium does. NaN or a wrong length is an `InvalidAction`.
///
/// **Observation space.** `Box([-1.2, -0.07], [0.6, 0.07])`, `f32`: position, velocity.
///
/// **Rewards.** `-0.1 a^2` per step, plus 100 on reaching the goal.
///
/// **Starting state.** Position uniform in `[-0.6, -0.4]`, velocity 0. Reset option
/// `state`: `[position, velocity]`.
///
/// **Episode end.** Terminates when `position >= 0.45` and `velocity >= 0`; truncated after
/// 999 steps. Reward threshold 90.
///
/// **Arguments (task).** `power` (default 0.0015, range [0.0012, 0.002]), `gravity` (the
/// hill coefficient, 0.0025, [0.002, 0.003]). 20 train and 5 held-out tasks.
///
/// **Version history.** v0: Gymnasium's v0, power and gravity as task parameters.
#[derive(Clone, Debug)]
pub struct MountainCarContinuous {
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    power: f64,
    gravity: f64,
    state: Option<CarState>,
    rng: EnvRng,
}

impl ParamEnv for MountainCarContinuous {
    const ID: &'static str = ID;
    const DESCRIPTION: &'static str = "Gymnasium MountainCarContinuous-v0; task = power, gravity";
    const RANGES: &'static [ParamRange] = &RANGES;
    const SPLIT_SEED: u64 = 0x3C4A;

    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError> {
        Ok(MountainCarContinuous {
            spec: EnvSpec { id: ID, max_episode_steps: Some(999), reward_threshold: Some(90.0) },
            obs_space: Space::Box {
                low: vec![MIN_POSITION as f32, -MAX_SPEED as f32],
                high: vec![MAX_POSITION as f32, MAX_SPEED as f32],
            },
            action_space: Space::uniform_box(1, -1.0, 1.0),
            power: param("power"),
            gravity: param("gravity"),
            state: None,
            rng: EnvRng::default(),
        })
    }
}

impl MountainCarContinuous {
    /// One step from a float64 state (the first after `reset`): NumPy float64 arithmetic,
    /// except `force * power` which is float32 when the force is the float32 action.
    fn step_f64(&self, mut position: f64, mut velocity: f64, force: Force) -> (f32, f32, bool) {
        let hill = self.gravity * (3.0 * position).cos();
        velocity += match force {
            Force::Action(a) => f64::from(a * self.power as f32 - hill as f32),
            Force::Bound(f) => f * self.power - hill,
        };
        velocity = velocity.clamp(-MAX_SPEED, MAX_SPEED);
        position = (position + velocity).clamp(MIN_POSITION, MAX_POSITION);
        if position == MIN_POSITION && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION && velocity >= GOAL_VELOCITY;
        (position as f32, velocity as f32, terminated)
    }

    /// One step from a float32 state: NumPy 2 (NEP 50) casts the Python floats to float32.
    fn step_f32(&self, mut position: f32, mut velocity: f32, force: Force) -> (f32, f32, bool) {
        let hill = self.gravity * f64::from(3.0f32 * position).cos();
        velocity += match force {
            Force::Action(a) => a * self.power as f32 - hill as f32,
            Force::Bound(f) => (f * self.power - hill) as f32,
        };
        velocity = velocity.clamp(-MAX_SPEED as f32, MAX_SPEED as f32);
        position = (position + velocity).clamp(MIN_POSITION as f32, MAX_POSITION as f32);
        if position == MIN_POSITION as f32 && velocity < 0.0 {
            velocity = 0.0;
        }
        let terminated = position >= GOAL_POSITION as f32 && velocity >= GOAL_VELOCITY as f32;
        (position, velocity, terminated)
    }
}

impl Env for MountainCarContinuous {
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
        let [position, velocity] = match &options.state {
            Some(s) => state_array::<2>(ID, s, "position, velocity")?,
            None => [-0.6 + 0.2 * self.rng.get().random::<f64>(), 0.0],
        };
        self.state = Some(CarState::F64 { position, velocity });
        Ok((vec![position as f32, velocity as f32], Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        step_by_into(self, action)
    }

    fn step_into(&mut self, action: &Action, obs: &mut Vec<f32>) -> Result<StepOutcome, EnvError> {
        let a = scalar_action(ID, action)?;
        let state = self.state.ok_or_else(|| not_reset(ID))?;
        let force = if a < -1.0 {
            Force::Bound(-1.0)
        } else if a > 1.0 {
            Force::Bound(1.0)
        } else {
            Force::Action(a)
        };
        let (position, velocity, terminated) = match state {
            CarState::F64 { position, velocity } => self.step_f64(position, velocity, force),
            CarState::F32 { position, velocity } => self.step_f32(position, velocity, force),
        };
        self.state = Some(CarState::F32 { position, velocity });
        let bonus = if terminated { 100.0 } else { 0.0 };
        let reward = bonus - f64::from(a).powi(2) * 0.1;
        obs.clear();
        obs.extend_from_slice(&[position, velocity]);
        Ok(StepOutcome { reward, terminated, truncated: false, info: Info::default() })
    }
}
