//! MuJoCo locomotion and control after Gymnasium's v5 envs, through `mujoco-rs` (MuJoCo
//! 3.17.0, the library of the PyPI wheel `mujoco==3.17.0` that the set-up installs). The
//! models are Gymnasium's XML files (`envs/assets/mujoco/`, with Gymnasium's MIT licence).
//!
//! Every env is one [`Mujoco`] over a [`Body`]: the body says what Gymnasium's v5 env
//! observes, rewards and ends on, and how it samples its start; [`Mujoco`] owns the model,
//! the simulation, the frame skip and the seeding, as Gymnasium's `MujocoEnv` does (an action
//! is written to `ctrl` unclipped, MuJoCo clamps it to the actuators' ranges, and the control
//! cost is taken on the action as given).
//!
//! Task parameters ([`PHYSICS`]), applied to the compiled model before simulation, as
//! Vintix varies MuJoCo physics:
//! - `gravity_scale` multiplies `opt.gravity`;
//! - `viscosity` sets `opt.viscosity` (the medium's viscosity; 0 by default);
//! - `mass_scale` multiplies every body's mass and rotational inertia (the same shapes at
//!   another density);
//! - `friction_scale` multiplies every geom's friction coefficients (sliding, torsional,
//!   rolling).
//!
//! Derived constants of the model (`mj_setConst`) are not recomputed, as in the usual Python
//! recipe (`model.body_mass[:] *= s`); the fixtures of `scripts/record_mujoco_fixtures.py`
//! record Gymnasium's envs with the same changes, and `envs/tests/mujoco_fixtures.rs` replays
//! them. Each family draws 20 train and 5 held-out tasks in the training ranges; its shifted
//! tasks (`icrl eval --tasks shifted`) are gravity 10% beyond the range trained on and
//! viscosity 0.05 and 0.1 (Vintix's self-correction tests). Swimmer, whose model already
//! swims in a medium of viscosity 0.1, keeps that as its default, trains on [0.09, 0.11] and
//! shifts to 0.05 and 0.2.

mod ant;
mod half_cheetah;
mod hopper;
mod humanoid;
mod inverted_double_pendulum;
mod inverted_pendulum;
mod reacher;
mod swimmer;
mod walker2d;

use std::sync::Arc;

use mujoco_rs::prelude::{MjData, MjModel};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use serde_json::Value;

pub use ant::Ant;
pub use half_cheetah::HalfCheetah;
pub use hopper::Hopper;
pub use humanoid::Humanoid;
pub use inverted_double_pendulum::InvertedDoublePendulum;
pub use inverted_pendulum::InvertedPendulum;
pub use reacher::Reacher;
pub use swimmer::Swimmer;
pub use walker2d::Walker2d;

use crate::core::{Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step, Task};
use crate::param_family::{ParamEnv, ParamFamily};
use crate::task::{ParamRange, default_task, shifted_tasks};

/// The simulation state a body reads.
pub type Data = MjData<Arc<MjModel>>;

/// The task parameters of every MuJoCo family: training ranges around the default physics,
/// and sane bounds (any task may set a value within them, e.g. for `--tasks` lists).
pub const PHYSICS: &[ParamRange] = &[
    ParamRange { name: "gravity_scale", default: 1.0, low: 0.8, high: 1.2, min: 0.1, max: 3.0 },
    ParamRange { name: "viscosity", default: 0.0, low: 0.0, high: 0.02, min: 0.0, max: 1.0 },
    ParamRange { name: "mass_scale", default: 1.0, low: 0.8, high: 1.2, min: 0.1, max: 10.0 },
    ParamRange { name: "friction_scale", default: 1.0, low: 0.8, high: 1.2, min: 0.05, max: 10.0 },
];

/// Viscosities of the shifted tasks (Vintix's self-correction tests), beyond the training
/// range's 0.02.
pub const SHIFTED_VISCOSITY: [f64; 2] = [0.05, 0.1];

/// What one Gymnasium v5 env observes, rewards and ends on.
pub trait Body: Send + Sized + 'static {
    /// The versioned id (Gymnasium's).
    const ID: &'static str;
    /// One line for `icrl env list`.
    const DESCRIPTION: &'static str;
    /// The MJCF model.
    const XML: &'static str;
    /// MuJoCo steps per env step.
    const FRAME_SKIP: usize;
    /// Gymnasium's time limit.
    const MAX_EPISODE_STEPS: usize;
    /// Gymnasium's reward threshold.
    const REWARD_THRESHOLD: Option<f64>;
    /// Seed of the family's fixed train/held-out split.
    const SPLIT_SEED: u64;
    /// Whether the body reads contact forces (`cfrc_ext`), which MuJoCo computes only on
    /// request (`mj_rnePostConstraint`, which Gymnasium calls after every step).
    const CONTACT_FORCES: bool = false;
    /// The task parameters: [`PHYSICS`] unless the model sets its own medium.
    const PHYSICS: &'static [ParamRange] = PHYSICS;
    /// Viscosities of the shifted tasks.
    const SHIFTED_VISCOSITY: &'static [f64] = &SHIFTED_VISCOSITY;

    /// The body for this compiled model (named bodies or sites looked up once).
    fn new(model: &MjModel) -> Result<Self, String>;
    /// The observation of the current state, in Gymnasium's order.
    fn observe(&self, data: &Data, obs: &mut Vec<f64>);
    /// A start state `(qpos, qvel)` around the model's initial one.
    fn start(&self, qpos0: &[f64], qvel0: &[f64], rng: &mut ChaCha8Rng) -> (Vec<f64>, Vec<f64>);
    /// The position whose change over a step is the forward velocity (the root's x).
    fn position(&self, data: &Data) -> f64 {
        data.qpos()[0]
    }
    /// The reward and whether the episode terminated, after a step; `x_velocity` is the
    /// change of [`Body::position`] over the step's duration, `obs` the new observation.
    fn outcome(&self, data: &Data, obs: &[f64], x_velocity: f64, action: &[f64]) -> (f64, bool);
}

/// `weight * |a|^2`, Gymnasium's control cost.
pub(crate) fn control_cost(weight: f64, action: &[f64]) -> f64 {
    weight * action.iter().map(|a| a * a).sum::<f64>()
}

/// Gymnasium's usual start: `qpos0` plus uniform noise in `[-scale, scale]`, and `qvel0`
/// plus uniform noise in `[-scale, scale]` (`Velocity::Uniform`) or `scale` times standard
/// normal noise (`Velocity::Normal`).
pub(crate) fn noisy_start(
    qpos0: &[f64],
    qvel0: &[f64],
    scale: f64,
    velocity: Velocity,
    rng: &mut ChaCha8Rng,
) -> (Vec<f64>, Vec<f64>) {
    let qpos = uniform_noise(qpos0, scale, rng);
    let qvel = match velocity {
        Velocity::Uniform => uniform_noise(qvel0, scale, rng),
        Velocity::Normal => normal_noise(qvel0, scale, rng),
    };
    (qpos, qvel)
}

/// The noise on the start velocity (see [`noisy_start`]).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Velocity {
    Uniform,
    Normal,
}

/// `init` plus uniform noise in `[-scale, scale]`.
pub(crate) fn uniform_noise(init: &[f64], scale: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    init.iter().map(|x| x + rng.random_range(-scale..=scale)).collect()
}

/// `init` plus `scale` times standard normal noise.
pub(crate) fn normal_noise(init: &[f64], scale: f64, rng: &mut ChaCha8Rng) -> Vec<f64> {
    init.iter().map(|x| x + scale * rng.sample::<f64, _>(StandardNormal)).collect()
}

/// Values clipped to `[-bound, bound]`.
pub(crate) fn clipped(values: &[f64], bound: f64) -> impl Iterator<Item = f64> + '_ {
    values.iter().map(move |v| v.clamp(-bound, bound))
}

/// The physics of one task.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Physics {
    pub gravity_scale: f64,
    pub viscosity: f64,
    pub mass_scale: f64,
    pub friction_scale: f64,
}

impl Default for Physics {
    fn default() -> Self {
        Physics { gravity_scale: 1.0, viscosity: 0.0, mass_scale: 1.0, friction_scale: 1.0 }
    }
}

impl Physics {
    /// Write this physics into a freshly compiled model.
    fn apply(&self, model: &mut MjModel) {
        // SAFETY: `opt` is a plain struct of the model, which nothing else references yet.
        let opt = unsafe { &mut model.ffi_mut().opt };
        for g in opt.gravity.iter_mut() {
            *g *= self.gravity_scale;
        }
        opt.viscosity = self.viscosity;
        for m in model.body_mass_mut() {
            *m *= self.mass_scale;
        }
        for inertia in model.body_inertia_mut() {
            inertia.iter_mut().for_each(|x| *x *= self.mass_scale);
        }
        for friction in model.geom_friction_mut() {
            friction.iter_mut().for_each(|x| *x *= self.friction_scale);
        }
    }
}

/// A Gymnasium v5 MuJoCo env: a [`Body`] on a model with a task's [`Physics`].
pub struct Mujoco<B: Body> {
    body: B,
    data: Data,
    qpos0: Vec<f64>,
    qvel0: Vec<f64>,
    dt: f64,
    reset: bool,
    rng: EnvRng,
    obs: Vec<f64>,
    action: Vec<f64>,
    obs_space: Space,
    action_space: Space,
    spec: EnvSpec,
}

impl<B: Body> Mujoco<B> {
    /// The env with Gymnasium's default physics.
    pub fn new() -> Result<Self, EnvError> {
        Self::with_physics(Physics::default())
    }

    /// The env with `physics` applied to its model.
    pub fn with_physics(physics: Physics) -> Result<Self, EnvError> {
        route_warnings();
        let invalid = |reason: String| EnvError::InvalidTask {
            env: B::ID.into(),
            field: "model".into(),
            reason,
        };
        let mut model = MjModel::from_xml_string(B::XML)
            .map_err(|e| invalid(format!("the MuJoCo model did not load: {e}")))?;
        physics.apply(&mut model);
        let body = B::new(&model).map_err(invalid)?;
        let (low, high): (Vec<f32>, Vec<f32>) =
            model.actuator_ctrlrange().iter().map(|r| (r[0] as f32, r[1] as f32)).unzip();
        let dt = model.ffi().opt.timestep * B::FRAME_SKIP as f64;
        let model = Arc::new(model);
        let mut data = MjData::new(model);
        let (qpos0, qvel0) = (data.qpos().to_vec(), data.qvel().to_vec());
        data.forward();
        let mut obs = Vec::new();
        body.observe(&data, &mut obs);
        Ok(Mujoco {
            body,
            data,
            qpos0,
            qvel0,
            dt,
            reset: false,
            rng: EnvRng::default(),
            obs_space: Space::uniform_box(obs.len(), f32::NEG_INFINITY, f32::INFINITY),
            obs,
            action: Vec::with_capacity(low.len()),
            action_space: Space::Box { low, high },
            spec: EnvSpec {
                id: B::ID,
                max_episode_steps: Some(B::MAX_EPISODE_STEPS),
                reward_threshold: B::REWARD_THRESHOLD,
            },
        })
    }

    /// The simulation (for tests and tools that read more than the observation).
    pub fn data(&self) -> &Data {
        &self.data
    }

    fn observation(&mut self) -> Vec<f32> {
        self.obs.clear();
        self.body.observe(&self.data, &mut self.obs);
        self.obs.iter().map(|&x| x as f32).collect()
    }

    /// `qpos` then `qvel`, from `options.state` (`{"qpos": [...], "qvel": [...]}`) or sampled.
    fn start_state(&mut self, options: &ResetOptions) -> Result<(Vec<f64>, Vec<f64>), EnvError> {
        let (nq, nv) = (self.qpos0.len(), self.qvel0.len());
        let Some(state) = &options.state else {
            return Ok(self.body.start(&self.qpos0, &self.qvel0, self.rng.get()));
        };
        let field = |key: &str, n: usize| -> Result<Vec<f64>, EnvError> {
            let v: Option<Vec<f64>> =
                state[key].as_array().and_then(|a| a.iter().map(Value::as_f64).collect());
            match v {
                Some(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => Ok(v),
                _ => Err(EnvError::InvalidOptions {
                    env: B::ID.into(),
                    reason: format!(
                        "state.{key}: expected {n} finite numbers (state is \
                         {{\"qpos\": [{nq} numbers], \"qvel\": [{nv} numbers]}})"
                    ),
                }),
            }
        };
        Ok((field("qpos", nq)?, field("qvel", nv)?))
    }
}

impl<B: Body> Env for Mujoco<B> {
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
        let (qpos, qvel) = self.start_state(options)?;
        self.data.reset();
        self.data.qpos_mut().copy_from_slice(&qpos);
        self.data.qvel_mut().copy_from_slice(&qvel);
        self.data.forward();
        self.reset = true;
        Ok((self.observation(), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        if !self.reset {
            return Err(EnvError::NotReset { env: B::ID.into() });
        }
        let n = self.data.ctrl().len();
        match action {
            Action::Continuous(v) if v.len() == n && v.iter().all(|x| x.is_finite()) => {
                self.action.clear();
                self.action.extend(v.iter().map(|&x| f64::from(x)));
            }
            other => {
                return Err(EnvError::InvalidAction {
                    env: B::ID.into(),
                    got: format!("{other:?}"),
                    expected: format!(
                        "Continuous with {n} finite values (MuJoCo clamps them to the \
                         actuators' ranges)"
                    ),
                });
            }
        }
        let before = self.body.position(&self.data);
        self.data.ctrl_mut().copy_from_slice(&self.action);
        for _ in 0..B::FRAME_SKIP {
            self.data.step();
        }
        if B::CONTACT_FORCES {
            self.data.rne_post_constraint();
        }
        let x_velocity = (self.body.position(&self.data) - before) / self.dt;
        let obs = self.observation();
        let (reward, terminated) =
            self.body.outcome(&self.data, &self.obs, x_velocity, &self.action);
        Ok(Step { obs, reward, terminated, truncated: false, info: Info::default() })
    }
}

impl<B: Body> ParamEnv for Mujoco<B> {
    const ID: &'static str = B::ID;
    const DESCRIPTION: &'static str = B::DESCRIPTION;
    const RANGES: &'static [ParamRange] = B::PHYSICS;
    const SPLIT_SEED: u64 = B::SPLIT_SEED;

    fn build(param: &dyn Fn(&str) -> f64) -> Result<Self, EnvError> {
        Self::with_physics(Physics {
            gravity_scale: param("gravity_scale"),
            viscosity: param("viscosity"),
            mass_scale: param("mass_scale"),
            friction_scale: param("friction_scale"),
        })
    }

    /// Gravity 10% beyond the training range, then the default physics in a viscous medium
    /// ([`Body::SHIFTED_VISCOSITY`]).
    fn shifted_tasks(train: &[Task]) -> Vec<Task> {
        let default = default_task(B::PHYSICS);
        let mut tasks = shifted_tasks(&default, train);
        tasks.extend(B::SHIFTED_VISCOSITY.iter().map(|&v| {
            let mut t = default.clone();
            t.insert("viscosity".into(), Value::from(v));
            t
        }));
        tasks
    }
}

/// The family of one MuJoCo env.
pub type MujocoFamily<B> = ParamFamily<Mujoco<B>>;

/// The registered MuJoCo families.
pub const HALF_CHEETAH: MujocoFamily<HalfCheetah> = ParamFamily::new();
pub const HOPPER: MujocoFamily<Hopper> = ParamFamily::new();
pub const WALKER2D: MujocoFamily<Walker2d> = ParamFamily::new();
pub const ANT: MujocoFamily<Ant> = ParamFamily::new();
pub const SWIMMER: MujocoFamily<Swimmer> = ParamFamily::new();
pub const REACHER: MujocoFamily<Reacher> = ParamFamily::new();
pub const INVERTED_PENDULUM: MujocoFamily<InvertedPendulum> = ParamFamily::new();
pub const INVERTED_DOUBLE_PENDULUM: MujocoFamily<InvertedDoublePendulum> = ParamFamily::new();
pub const HUMANOID: MujocoFamily<Humanoid> = ParamFamily::new();

/// Routes MuJoCo's warnings to stderr instead of its default, a `MUJOCO_LOG.TXT` file written
/// into the working directory, and drops the one every Gymnasium model triggers (the
/// deprecated `settotalmass` compiler attribute, which still applies). Set once per process,
/// before the first model loads.
pub(crate) fn route_warnings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        unsafe extern "C" fn warning(message: *const std::os::raw::c_char) {
            if message.is_null() {
                return;
            }
            // SAFETY: MuJoCo passes a NUL-terminated message that lives for the call.
            let text = unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy();
            if !text.contains("settotalmass") {
                eprintln!("mujoco: {text}");
            }
        }
        // SAFETY: a global function pointer of the MuJoCo library, written once (under
        // `Once`) before any model is loaded, i.e. before MuJoCo reads it.
        unsafe {
            mujoco_rs::mujoco_c::mju_user_warning = Some(warning);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Family;
    use serde_json::json;

    fn task(v: Value) -> Task {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn task_parameters_reach_the_compiled_model() {
        let t = task(json!({"gravity_scale": 1.2, "viscosity": 0.05, "mass_scale": 0.8,
                             "friction_scale": 1.1}));
        let (default, changed) =
            (HOPPER.make_raw(&Task::new()).unwrap(), HOPPER.make_raw(&t).unwrap());
        let (a, b) = (default.data().model(), changed.data().model());
        assert_eq!(b.ffi().opt.gravity[2], 1.2 * a.ffi().opt.gravity[2]);
        assert_eq!((a.ffi().opt.viscosity, b.ffi().opt.viscosity), (0.0, 0.05));
        for (x, y) in a.body_mass().iter().zip(b.body_mass()) {
            assert_eq!(*y, 0.8 * x);
        }
        for (x, y) in a.body_inertia().iter().zip(b.body_inertia()) {
            assert_eq!(*y, x.map(|v| 0.8 * v));
        }
        for (x, y) in a.geom_friction().iter().zip(b.geom_friction()) {
            assert_eq!(*y, x.map(|v| 1.1 * v));
        }
        // Swimmer's default task keeps its model's medium.
        let swimmer = SWIMMER.make_raw(&SWIMMER.default_task()).unwrap();
        assert_eq!(swimmer.data().model().ffi().opt.viscosity, 0.1);
    }

    #[test]
    fn bad_parameters_are_named() {
        for bad in [json!({"gravity": 1.0}), json!({"mass_scale": 0.0}), json!({"viscosity": -1})] {
            let e = HALF_CHEETAH.make(&task(bad.clone())).err().map(|e| e.to_string());
            assert!(e.as_deref().is_some_and(|e| e.contains("HalfCheetah-v5")), "{bad}: {e:?}");
        }
    }

    #[test]
    fn shifted_tasks_lie_outside_the_training_physics() {
        for family in [&ANT as &dyn Family, &SWIMMER] {
            let train = family.train_tasks();
            let g: Vec<f64> = train.iter().map(|t| t["gravity_scale"].as_f64().unwrap()).collect();
            let (lo, hi) = g.iter().fold((f64::MAX, f64::MIN), |(l, h), &x| (l.min(x), h.max(x)));
            let shifted = family.shifted_tasks(&train);
            let viscosity: Vec<f64> =
                shifted.iter().map(|t| t["viscosity"].as_f64().unwrap()).collect();
            let gravity: Vec<f64> =
                shifted.iter().map(|t| t["gravity_scale"].as_f64().unwrap()).collect();
            assert_eq!(gravity, [lo * 0.9, hi * 1.1, 1.0, 1.0]);
            let default_viscosity = family.default_task()["viscosity"].as_f64().unwrap();
            let trained_max =
                train.iter().map(|t| t["viscosity"].as_f64().unwrap()).fold(0.0, f64::max);
            assert_eq!(viscosity[..2], [default_viscosity; 2]);
            assert!(viscosity[2..].iter().all(|v| (v - default_viscosity).abs() > 0.03));
            assert!(viscosity[2..].iter().any(|v| *v > trained_max), "{viscosity:?}");
            for t in &shifted {
                family.make(t).unwrap();
            }
        }
    }

    #[test]
    fn stronger_gravity_topples_the_pendulum_sooner() {
        // The same tilted start and no force: the pole falls past the 0.2 rad limit sooner
        // under stronger gravity.
        let steps_to_fall = |t: Value| {
            let mut env = INVERTED_PENDULUM.make_raw(&task(t)).unwrap();
            let state = json!({"qpos": [0.0, 0.05], "qvel": [0.0, 0.0]});
            env.reset(None, &ResetOptions { state: Some(state) }).unwrap();
            (1..=1000)
                .find(|_| env.step(&Action::Continuous(vec![0.0])).unwrap().terminated)
                .unwrap_or(1000)
        };
        let (light, default, heavy) = (
            steps_to_fall(json!({"gravity_scale": 0.5})),
            steps_to_fall(json!({})),
            steps_to_fall(json!({"gravity_scale": 2.0})),
        );
        assert!(light > default && default > heavy, "{light} {default} {heavy}");
    }

    #[test]
    fn a_more_viscous_medium_slows_the_swimmer() {
        // The same push forward and no torque: the swimmer glides less far in thicker fluid.
        let glide = |viscosity: f64| {
            let mut env = SWIMMER.make_raw(&task(json!({"viscosity": viscosity}))).unwrap();
            let state =
                json!({"qpos": [0.0, 0.0, 0.0, 0.0, 0.0], "qvel": [1.0, 0.0, 0.0, 0.0, 0.0]});
            env.reset(None, &ResetOptions { state: Some(state) }).unwrap();
            for _ in 0..50 {
                env.step(&Action::Continuous(vec![0.0; 2])).unwrap();
            }
            env.data().qpos()[0]
        };
        let (thin, default, thick) = (glide(0.05), glide(0.1), glide(0.2));
        assert!(thin > default && default > thick && thick > 0.0, "{thin} {default} {thick}");
    }
}
