//! Fatigue: the effective action, the hidden gain and velocity with their random
//! bifurcations, and the observed fatigue. Port of `EffectiveAction.py` and
//! `IDS.updateFatigue` of the reference package `industrial-benchmark-python` 2.0.

use super::noise::Noise;

/// Mean of the exponential fatigue noise (numpy's scale; the reference calls it `expLambda`).
const EXP_SCALE: f64 = 0.1;
/// Effective actions at or below this leave no fatigue memory.
const ACTION_TOLERANCE: f64 = 0.05;
/// Growth factor of a hidden variable once it passed [`AMPLIFICATION_START`].
const AMPLIFICATION: f64 = 1.1;
/// Cap of a hidden variable; reaching it fires the bifurcation.
pub const AMPLIFICATION_MAX: f64 = 5.0;
/// A hidden variable at or above this grows without noise until the cap.
const AMPLIFICATION_START: f64 = 1.2;

/// Largest possible fatigue: basic fatigue is at most `30000 / 100 = 300` (velocity and gain
/// 0) and the noise factor `(1 + 2 a) / 3` stays below 1.
pub const MAX_FATIGUE: f64 = 300.0;

/// The effective velocity `alpha` and gain `beta`, both scaled to `[0, 1]` over the
/// steerings' range for the given setpoint.
pub fn effective_action(velocity: f64, gain: f64, setpoint: f64) -> (f64, f64) {
    let eff_a = |a: f64| a + 101.0 - setpoint;
    let eff_b = |b: f64| b + 1.0 + setpoint;
    let velocity_unscaled = |a: f64, b: f64| (eff_b(b) + 1.0) / eff_a(a);
    let gain_unscaled = |b: f64| 1.0 / eff_b(b);

    let min_alpha = velocity_unscaled(100.0, 0.0);
    let max_alpha = velocity_unscaled(0.0, 100.0);
    let alpha = (velocity_unscaled(velocity, gain) - min_alpha) / (max_alpha - min_alpha);
    let min_beta = gain_unscaled(100.0);
    let max_beta = gain_unscaled(0.0);
    let beta = (gain_unscaled(gain) - min_beta) / (max_beta - min_beta);
    (alpha, beta)
}

/// The result of one fatigue update.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fatigue {
    /// Observed fatigue `f = fb (1 + 2 a) / 3`.
    pub fatigue: f64,
    /// Basic fatigue `fb = max(0, 30000 / (5 v + 100) - 0.01 g²)`, without the noise.
    pub basic: f64,
    /// New hidden velocity.
    pub hidden_velocity: f64,
    /// New hidden gain.
    pub hidden_gain: f64,
    /// Effective velocity.
    pub effective_velocity: f64,
    /// Effective gain.
    pub effective_gain: f64,
    /// Whether the bifurcation fired (a hidden variable at the cap).
    pub bifurcation: bool,
}

/// Noise of one steering: a squashed exponential, plus with probability `effective` a
/// uniform share of the remaining distance to 1 scaled by `effective`.
fn steering_noise(exp: f64, uniform: f64, bernoulli: f64, effective: f64) -> f64 {
    let base = 2.0 * (1.0 / (1.0 + (-exp).exp()) - 0.5);
    base + (1.0 - base) * uniform * bernoulli * effective
}

/// The hidden variable's update: forget below the tolerance, grow once past the start,
/// otherwise a noisy leaky memory.
fn hidden_update(hidden: f64, effective: f64, noise: f64) -> f64 {
    if effective <= ACTION_TOLERANCE {
        effective
    } else if hidden >= AMPLIFICATION_START {
        AMPLIFICATION_MAX.min(AMPLIFICATION * hidden)
    } else {
        0.9 * hidden + noise / 3.0
    }
}

/// One fatigue step from the (already updated) steerings and the previous hidden variables.
pub fn update(
    velocity: f64,
    gain: f64,
    setpoint: f64,
    hidden_velocity: f64,
    hidden_gain: f64,
    noise: &mut impl Noise,
) -> Fatigue {
    let (effective_velocity, effective_gain) = effective_action(velocity, gain, setpoint);

    let e_g = noise.exponential(EXP_SCALE);
    let e_v = noise.exponential(EXP_SCALE);
    let u_g = noise.uniform();
    let u_v = noise.uniform();
    let b_g = noise.bernoulli(effective_gain.clamp(0.001, 0.999));
    let b_v = noise.bernoulli(effective_velocity.clamp(0.001, 0.999));

    let noise_gain = steering_noise(e_g, u_g, b_g, effective_gain);
    let noise_velocity = steering_noise(e_v, u_v, b_v, effective_velocity);

    let hidden_gain = hidden_update(hidden_gain, effective_gain, noise_gain);
    let hidden_velocity = hidden_update(hidden_velocity, effective_velocity, noise_velocity);

    // The reference compares with `==`: the cap is reached exactly through `min`.
    let bifurcation = hidden_velocity.max(hidden_gain) == AMPLIFICATION_MAX;
    let a = if bifurcation {
        1.0 / (1.0 + (-noise.normal(2.4, 0.4)).exp())
    } else {
        noise_velocity.max(noise_gain)
    };

    let basic = (30000.0 / (5.0 * velocity + 100.0) - 0.01 * gain.powf(2.0)).max(0.0);
    Fatigue {
        fatigue: basic * (1.0 + 2.0 * a) / 3.0,
        basic,
        hidden_velocity,
        hidden_gain,
        effective_velocity,
        effective_gain,
        bifurcation,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_action_spans_unit_interval() {
        for p in [0.0, 37.0, 100.0] {
            let (a_min, b_max) = effective_action(100.0, 0.0, p);
            let (a_max, b_min) = effective_action(0.0, 100.0, p);
            assert!(a_min.abs() < 1e-12 && (a_max - 1.0).abs() < 1e-12, "p {p}");
            assert!(b_min.abs() < 1e-12 && (b_max - 1.0).abs() < 1e-12, "p {p}");
        }
    }

    #[test]
    fn hidden_variable_grows_to_the_cap_once_past_the_start() {
        let mut h = 1.25;
        for _ in 0..30 {
            h = hidden_update(h, 0.5, 0.0);
        }
        assert_eq!(h, AMPLIFICATION_MAX);
        assert_eq!(hidden_update(3.0, 0.01, 0.9), 0.01);
        assert_eq!(hidden_update(0.5, 0.5, 0.3), 0.9 * 0.5 + 0.1);
    }
}
