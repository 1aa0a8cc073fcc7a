//! The Industrial Benchmark as an [`Env`].

use serde_json::Value;

use super::dynamics::{IbState, StepDetails};
use super::fatigue::MAX_FATIGUE;
use super::goldstone::Goldstone;
use super::noise::RngNoise;
use crate::core::{Action, Env, EnvError, EnvRng, EnvSpec, Info, ResetOptions, Space, Step};

/// The versioned id.
pub const ID: &str = "IndustrialBenchmark-v0";
/// Episode length used by Vintix (the benchmark itself never ends).
pub const MAX_EPISODE_STEPS: usize = 250;
/// Rewards are the reference's `-(3 f + c)` divided by this, as Vintix did.
pub const REWARD_SCALE: f64 = 100.0;

/// Siemens' Industrial Benchmark (Hein et al., 2017), a port of the reference Python package
/// `industrial-benchmark-python` 2.0 with the setpoint as the task.
///
/// ## Description
/// A synthetic industrial plant with three steerings (velocity `v`, gain `g`, shift `h`) and
/// a setpoint `p` (load) that the controller cannot change. The cost has two observed parts:
/// *fatigue* `f`, driven by velocity and gain through hidden variables with random
/// bifurcations (a hidden variable that passes 1.2 grows to 5 and the fatigue jumps), and
/// *consumption* `c`, the sum of a delayed (5 to 9 steps) operational cost of `p, v, g`, a
/// mis-calibration penalty of the shift (the goldstone dynamics: a hidden angle turned by the
/// effective shift, with domain and system-response memory) and Gaussian noise. The hidden
/// state is in [`IbState`]; the observation is only the reference's observable vector.
///
/// ## Action space
/// `Box([-1, -1, -1], [1, 1, 1])`: changes `(dv, dg, dh)` applied as `v += dv`,
/// `g += 10 dg`, `h += 5.75 dh` (exactly `(sin 15° / 0.9) * 100 / 5`), each steering
/// clipped to `[0, 100]`. Actions outside `[-1, 1]` (infinities included) are clipped to it
/// first, as the reference does. A NaN, a discrete action or a length other than 3 is an
/// [`EnvError::InvalidAction`].
///
/// ## Observation space
/// `[p, v, g, h, f, c]` as `f32`, in `Box([0, 0, 0, 0, 0, -inf], [100, 100, 100, 100, 300,
/// inf])`. Fatigue never exceeds 300 (see [`MAX_FATIGUE`]). Consumption has no honest bound:
/// its Gaussian noise is unbounded (negative values are possible, though rare: the
/// noiseless consumption is at least about 1), and the delayed operational cost alone
/// reaches `exp(8.5)`, about 4900, at `p = v = g = 100` (the reference then reports `c`
/// around 5000), past the reference gym wrapper's nominal bound of 1000.
///
/// ## Rewards
/// `-(3 f + c) / 100` per step: the reference's reward `-(3 f + c)` (its stationary cost
/// weights: fatigue 3, consumption 1) scaled by 1/100 as Vintix did. The unscaled cost
/// `3 f + c` is in the step's info as `cost`, and `bifurcation` is 1 on steps where the
/// fatigue bifurcation fired, else 0.
///
/// ## Starting state
/// As the reference's `IDS(p)`: `v = g = h = 50`, hidden fatigue 0, mis-calibration at its
/// reset state (positive domain, advantageous response, angle 0), then one warm-up step with
/// the zero action, which fills the whole cost history with the first operational cost and
/// draws the first noise; the first observation is the state after it. The reference also
/// draws three numbers for its non-stationary setpoint mode, which this port does not model.
/// `reset` options `{"state": {...}}` start from an explicit [`IbState`] (JSON with keys
/// `p, v, g, h, f, c, hv, hg, o` (10 costs, oldest first), `gs_domain`, `gs_sys_response`,
/// `gs_phi_idx`; no warm-up step). Its `p` must equal the task's setpoint.
///
/// ## Episode end
/// Never terminates. Truncated after 250 steps by the time limit (Vintix's episode length).
///
/// ## Arguments
/// `{"setpoint": p}` with `p` in `[0, 100]` (default 50). The setpoint changes the effective
/// actions, the operational cost and the effective shift, so the optimal steering differs
/// per task. Train tasks: `p = 0, 5, ..., 75`; held-out tasks: `p = 80, 85, ..., 100`.
///
/// ## Version history
/// - v0: first port (reference `industrial-benchmark-python` 2.0, stationary setpoint).
pub struct IndustrialBenchmark {
    spec: EnvSpec,
    observation_space: Space,
    action_space: Space,
    setpoint: f64,
    goldstone: Goldstone,
    rng: EnvRng,
    state: Option<IbState>,
}

impl IndustrialBenchmark {
    /// An env for setpoint `p`, a number in `[0, 100]`. No time limit: the family wraps it.
    pub fn new(setpoint: f64) -> Result<Self, EnvError> {
        if !(0.0..=100.0).contains(&setpoint) {
            return Err(EnvError::InvalidTask {
                env: ID.into(),
                field: "setpoint".into(),
                reason: format!("expected a number in [0, 100], got {setpoint}"),
            });
        }
        let inf = f32::INFINITY;
        Ok(Self {
            spec: EnvSpec {
                id: ID,
                max_episode_steps: Some(MAX_EPISODE_STEPS),
                reward_threshold: None,
            },
            observation_space: Space::Box {
                low: vec![0.0, 0.0, 0.0, 0.0, 0.0, -inf],
                high: vec![100.0, 100.0, 100.0, 100.0, MAX_FATIGUE as f32, inf],
            },
            action_space: Space::uniform_box(3, -1.0, 1.0),
            setpoint,
            goldstone: Goldstone::new(),
            rng: EnvRng::default(),
            state: None,
        })
    }

    /// The full hidden state (after `reset`).
    pub fn state(&self) -> Option<&IbState> {
        self.state.as_ref()
    }

    fn observe(state: &IbState) -> Vec<f32> {
        state.observation().iter().map(|&x| x as f32).collect()
    }

    fn invalid_action(&self, got: String) -> EnvError {
        EnvError::InvalidAction {
            env: ID.into(),
            got,
            expected: "a continuous action of 3 finite or infinite numbers (not NaN): \
                       [velocity, gain, shift] changes, clipped to [-1, 1]"
                .into(),
        }
    }

    fn parse_action(&self, action: &Action) -> Result<[f64; 3], EnvError> {
        match action {
            Action::Continuous(a) if a.len() == 3 && a.iter().all(|x| !x.is_nan()) => {
                Ok([f64::from(a[0]), f64::from(a[1]), f64::from(a[2])])
            }
            Action::Continuous(a) => Err(self.invalid_action(format!("{a:?}"))),
            Action::Discrete(i) => Err(self.invalid_action(format!("discrete {i}"))),
        }
    }

    fn explicit_state(&self, value: &Value) -> Result<IbState, EnvError> {
        let invalid = |reason: String| EnvError::InvalidOptions { env: ID.into(), reason };
        let state: IbState = serde_json::from_value(value.clone())
            .map_err(|e| invalid(format!("state: {e} (expected the keys of IbState)")))?;
        state.validate().map_err(|e| invalid(format!("state: {e}")))?;
        if state.p != self.setpoint {
            return Err(invalid(format!(
                "state: `p` = {} differs from the task's setpoint {}",
                state.p, self.setpoint
            )));
        }
        Ok(state)
    }
}

fn step_info(details: &StepDetails) -> Info {
    Info(vec![("cost", details.cost), ("bifurcation", f64::from(u8::from(details.bifurcation)))])
}

impl Env for IndustrialBenchmark {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn observation_space(&self) -> &Space {
        &self.observation_space
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
            Some(value) => self.explicit_state(value)?,
            None => {
                let mut state = IbState::initial(self.setpoint);
                state.step([0.0; 3], &self.goldstone, &mut RngNoise(self.rng.get()));
                state
            }
        };
        let obs = Self::observe(&state);
        self.state = Some(state);
        Ok((obs, Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let action = self.parse_action(action)?;
        let Some(state) = self.state.as_mut() else {
            return Err(EnvError::NotReset { env: ID.into() });
        };
        let details = state.step(action, &self.goldstone, &mut RngNoise(self.rng.get()));
        Ok(Step {
            obs: Self::observe(state),
            reward: -details.cost / REWARD_SCALE,
            terminated: false,
            truncated: false,
            info: step_info(&details),
        })
    }
}
