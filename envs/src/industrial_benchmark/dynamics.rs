//! The full Markov state of the Industrial Benchmark and one step of its dynamics: action
//! effects, fatigue, operational cost history, mis-calibration and consumption. Port of
//! `IDS.py` of the reference package `industrial-benchmark-python` 2.0 with a stationary
//! setpoint (the task).

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};

use super::fatigue;
use super::goldstone::{Goldstone, GoldstoneState, max_required_step};
use super::noise::Noise;

/// Half-width of the effective shift's range.
const GS_BOUND: f64 = 1.5;
/// How much the setpoint moves the effective shift.
const GS_SETPOINT_DEPENDENCY: f64 = 0.02;
/// Scale from the shift steering to the effective shift: `2 * 1.5 + 100 * 0.02 = 5`.
const GS_SCALE: f64 = 2.0 * GS_BOUND + 100.0 * GS_SETPOINT_DEPENDENCY;
/// Cost weights: fatigue, consumption, and the mis-calibration inside consumption.
const CRF: f64 = 3.0;
const CRC: f64 = 1.0;
const CRGS: f64 = 25.0;
/// Length of the operational cost history.
pub const HISTORY: usize = 10;
/// The delay kernel over the history (oldest first): costs act 5 to 9 steps later.
const CONVOLUTION: [f64; HISTORY] =
    [0.11111, 0.22222, 0.33333, 0.22222, 0.11111, 0.0, 0.0, 0.0, 0.0, 0.0];

/// How far one unit of the shift action moves the shift: `(sin 15° / 0.9) * 100 / 5`,
/// about 5.75.
pub fn shift_step() -> f64 {
    (max_required_step() / 0.9) * 100.0 / GS_SCALE
}

/// [`shift_step`], computed once.
static SHIFT_STEP: LazyLock<f64> = LazyLock::new(shift_step);

/// The complete Markov state (what `reset` options `{"state": ...}` take as JSON). Names
/// follow the reference's `IDS.state` keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IbState {
    /// Setpoint, in `[0, 100]` (the task; constant).
    pub p: f64,
    /// Velocity steering, in `[0, 100]`.
    pub v: f64,
    /// Gain steering, in `[0, 100]`.
    pub g: f64,
    /// Shift steering, in `[0, 100]`.
    pub h: f64,
    /// Fatigue of the last step (observed).
    pub f: f64,
    /// Consumption of the last step (observed).
    pub c: f64,
    /// Hidden velocity (fatigue memory), in `[0, 5]`.
    pub hv: f64,
    /// Hidden gain (fatigue memory), in `[0, 5]`.
    pub hg: f64,
    /// Operational cost history, oldest first (each `exp(cost / 100)`, positive).
    pub o: [f64; HISTORY],
    /// Mis-calibration domain, `1` or `-1`.
    pub gs_domain: i8,
    /// Mis-calibration system response, `1` (advantageous) or `-1`.
    pub gs_sys_response: i8,
    /// Mis-calibration angle index, in `-6..=6`.
    pub gs_phi_idx: i32,
    /// The reference's `init` flag: the next step fills the whole history with its cost.
    /// Only the state before the warm-up step has it; never part of the JSON.
    #[serde(skip)]
    pub fresh: bool,
}

/// Quantities a step computes on the way (the reference keeps them in `IDS.state` too).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepDetails {
    /// Effective shift.
    pub he: f64,
    /// Effective velocity.
    pub ve: f64,
    /// Effective gain.
    pub ge: f64,
    /// Basic fatigue.
    pub fb: f64,
    /// Current operational cost.
    pub coc: f64,
    /// Convolved operational cost.
    pub oc: f64,
    /// Mis-calibration penalty (the reference's `MC`).
    pub mc: f64,
    /// `3 f + c`; the reference's reward is its negative.
    pub cost: f64,
    /// Whether the fatigue bifurcation fired.
    pub bifurcation: bool,
}

impl IbState {
    /// The reference's state at construction, before its warm-up step.
    pub fn initial(setpoint: f64) -> Self {
        let gs = GoldstoneState::INITIAL;
        Self {
            p: setpoint,
            v: 50.0,
            g: 50.0,
            h: 50.0,
            f: 0.0,
            c: 0.0,
            hv: 0.0,
            hg: 0.0,
            o: [0.0; HISTORY],
            gs_domain: gs.domain,
            gs_sys_response: gs.system_response,
            gs_phi_idx: gs.phi_idx,
            fresh: true,
        }
    }

    /// The observation `[p, v, g, h, f, c]`.
    pub fn observation(&self) -> [f64; 6] {
        [self.p, self.v, self.g, self.h, self.f, self.c]
    }

    /// Check ranges of a state given from outside; the message names the first bad field.
    pub fn validate(&self) -> Result<(), String> {
        let scalars = [
            ("p", self.p, 0.0, 100.0),
            ("v", self.v, 0.0, 100.0),
            ("g", self.g, 0.0, 100.0),
            ("h", self.h, 0.0, 100.0),
            ("f", self.f, 0.0, fatigue::MAX_FATIGUE),
            ("c", self.c, f64::MIN, f64::MAX),
            ("hv", self.hv, 0.0, fatigue::AMPLIFICATION_MAX),
            ("hg", self.hg, 0.0, fatigue::AMPLIFICATION_MAX),
        ];
        for (name, x, lo, hi) in scalars {
            if !(x.is_finite() && x >= lo && x <= hi) {
                return Err(format!("`{name}` = {x}: expected a finite number in [{lo}, {hi}]"));
            }
        }
        if let Some(x) = self.o.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
            return Err(format!("`o` contains {x}: expected finite positive costs"));
        }
        if !self.goldstone().is_valid() {
            return Err(format!(
                "goldstone state (gs_domain {}, gs_sys_response {}, gs_phi_idx {}): expected \
                 domain and response 1 or -1 and phi_idx in -6..=6",
                self.gs_domain, self.gs_sys_response, self.gs_phi_idx
            ));
        }
        Ok(())
    }

    fn goldstone(&self) -> GoldstoneState {
        GoldstoneState {
            domain: self.gs_domain,
            system_response: self.gs_sys_response,
            phi_idx: self.gs_phi_idx,
        }
    }

    /// One step with `action` (velocity, gain, shift changes), each clipped to `[-1, 1]`
    /// first, as the reference does. NaN must be rejected by the caller.
    pub fn step(
        &mut self,
        action: [f64; 3],
        gs: &Goldstone,
        noise: &mut impl Noise,
    ) -> StepDetails {
        // action effects
        let [dv, dg, dh] = action.map(|a| a.clamp(-1.0, 1.0));
        self.v = (self.v + dv).clamp(0.0, 100.0);
        self.g = (self.g + 10.0 * dg).clamp(0.0, 100.0);
        self.h = (self.h + *SHIFT_STEP * dh).clamp(0.0, 100.0);
        let he = (GS_SCALE * self.h / 100.0 - GS_SETPOINT_DEPENDENCY * self.p - GS_BOUND)
            .clamp(-GS_BOUND, GS_BOUND);

        // fatigue
        let fat = fatigue::update(self.v, self.g, self.p, self.hv, self.hg, noise);
        self.hv = fat.hidden_velocity;
        self.hg = fat.hidden_gain;
        self.f = fat.fatigue;

        // operational cost history and its delayed convolution
        let costs = 2.0 * self.p + 2.5 * self.g + 4.0 * self.v;
        let coc = (costs / 100.0).exp();
        if self.fresh {
            self.o = [coc; HISTORY];
            self.fresh = false;
        } else {
            self.o.rotate_left(1);
            self.o[HISTORY - 1] = coc;
        }
        let oc: f64 = self.o.iter().zip(CONVOLUTION).map(|(o, w)| o * w).sum();

        // mis-calibration
        let (next, reward) = gs.transition(self.goldstone(), he);
        self.gs_domain = next.domain;
        self.gs_sys_response = next.system_response;
        self.gs_phi_idx = next.phi_idx;
        let mc = -reward;

        // consumption and cost
        let hidden = oc - CRGS * (mc - 1.0);
        self.c = hidden - noise.standard_normal() * (1.0 + 0.005 * hidden);
        let cost = CRF * self.f + CRC * self.c;

        StepDetails {
            he,
            ve: fat.effective_velocity,
            ge: fat.effective_gain,
            fb: fat.basic,
            coc,
            oc,
            mc,
            cost,
            bifurcation: fat.bifurcation,
        }
    }
}
