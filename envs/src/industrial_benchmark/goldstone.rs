//! The mis-calibration ("goldstone") sub-system of the Industrial Benchmark.
//!
//! The effective shift `he` (in `[-1.5, 1.5]`) moves a hidden angle `phi_idx` in steps of
//! 2π/24 on a linearly biased Goldstone potential. The penalty is that potential evaluated at
//! a radius that is a warped `he`; which side of zero `he` is on (the domain) and whether the
//! system currently responds well (the system response) decide the direction of the next
//! turn. Port of `goldstone/{nlgp,reward_function,dynamics}.py` of the reference package
//! `industrial-benchmark-python` 2.0; evaluation order is kept so that results agree to
//! within a few ulps.

use std::f64::consts::PI;

/// Number of angle steps in a full turn (the reference's `number_steps`).
const NUMBER_STEPS: i32 = 24;
/// `|phi_idx|` of the strongest penalty: `NUMBER_STEPS / 4`.
pub const STRONGEST_PENALTY_IDX: i32 = NUMBER_STEPS / 4;

/// The largest shift step an optimal policy needs: sin(15°).
pub fn max_required_step() -> f64 {
    (15.0_f64 / 180.0 * PI).sin()
}

/// Constants of the normalised, linearly biased Goldstone potential
/// `-alpha r² + beta r⁴ + kappa sin(phi) r` (minimum value -1).
#[derive(Clone, Copy, Debug)]
struct Potential {
    alpha: f64,
    beta: f64,
    kappa: f64,
    qh_b: f64,
}

impl Potential {
    fn new() -> Self {
        let u0 = (1.0 + 2.0_f64.sqrt()).cbrt() / 3.0_f64.sqrt();
        let r0 = u0 + 1.0 / (3.0 * u0);
        let lambda = 2.0 * r0.powf(2.0) - r0.powf(4.0) + 8.0 * (2.0_f64 / 27.0).sqrt() * r0;
        Self {
            alpha: 2.0 / lambda,
            beta: 1.0 / lambda,
            kappa: -8.0 * (2.0_f64 / 27.0).sqrt() / lambda,
            qh_b: -(1.0_f64 / 27.0).sqrt(),
        }
    }

    /// The potential at radius `r` along the angle whose sine is `sin_phi`.
    fn polar(&self, r: f64, sin_phi: f64) -> f64 {
        let rsq = r * r;
        -self.alpha * rsq + self.beta * (rsq * rsq) + self.kappa * sin_phi * r
    }

    /// The radius along `phi` at which the potential is smallest.
    fn global_minimum_radius(&self, phi: f64) -> f64 {
        let qh = self.kappa * phi.sin().abs() / (8.0 * self.beta);
        let signum = match phi.sin() {
            s if s > 0.0 => 1.0,
            s if s < 0.0 => -1.0,
            _ => 1.0,
        };
        if qh <= self.qh_b {
            let u = (-signum * qh + (qh * qh - 1.0 / 27.0).sqrt()).cbrt();
            u + 1.0 / (3.0 * u)
        } else {
            signum * (4.0_f64 / 3.0).sqrt() * (1.0 / 3.0 * (-qh * 27.0_f64.sqrt()).acos()).cos()
        }
    }
}

/// numpy's `np.mod(x, y)` for `y > 0`: the remainder with the sign of `y`.
fn np_mod(x: f64, y: f64) -> f64 {
    let r = x % y;
    if r != 0.0 && r < 0.0 { r + y } else { r }
}

/// The penalty as a function of the effective shift for one angle: the potential along
/// `phi`, with the radius warped so that its minimum lies at `opt_rad`.
#[derive(Clone, Copy, Debug)]
struct PenaltyFunction {
    /// Sine of the angle (the angle itself is only needed at construction).
    sin_phi: f64,
    opt_rad: f64,
    min_rad: f64,
    exponent: f64,
    scaling: f64,
}

impl PenaltyFunction {
    fn new(potential: &Potential, angle: f64, max_required_step: f64) -> Self {
        let phi = np_mod(angle, 2.0 * PI);
        let mut opt_rad = phi.sin().abs().max(max_required_step);
        if phi >= PI {
            opt_rad = -opt_rad;
        }
        let min_rad = potential.global_minimum_radius(phi);
        let exponent = (2.0 - opt_rad.abs()) / (2.0 - min_rad.abs());
        let scaling = (2.0 - min_rad.abs()) / (2.0 - opt_rad.abs()).powf(exponent);
        Self { sin_phi: phi.sin(), opt_rad, min_rad, exponent, scaling }
    }

    /// The radius transformation: linear up to `|opt_rad|`, a power law beyond.
    fn warp(&self, x: f64) -> f64 {
        if x.abs() <= self.opt_rad.abs() {
            x * self.min_rad.abs() / self.opt_rad.abs()
        } else {
            let sign = if x > 0.0 { 1.0 } else { -1.0 };
            sign * (self.min_rad.abs()
                + self.scaling * (x.abs() - self.opt_rad.abs()).powf(self.exponent))
        }
    }

    fn reward(&self, potential: &Potential, position: f64) -> f64 {
        potential.polar(self.warp(position), self.sin_phi)
    }
}

/// The hidden state of the mis-calibration: the domain (`+1` / `-1`, the side of zero the
/// effective shift was last seen on), the system response (`+1` advantageous,
/// `-1` disadvantageous) and the angle index in `-6..=6`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoldstoneState {
    pub domain: i8,
    pub system_response: i8,
    pub phi_idx: i32,
}

impl GoldstoneState {
    /// The reference's reset state: positive domain, advantageous response, angle 0.
    pub const INITIAL: Self = Self { domain: 1, system_response: 1, phi_idx: 0 };

    /// Whether every field is in its range (domain and response ±1, `|phi_idx| <= 6`).
    pub fn is_valid(&self) -> bool {
        self.domain.abs() == 1
            && self.system_response.abs() == 1
            && self.phi_idx.abs() <= STRONGEST_PENALTY_IDX
    }
}

fn sign(x: f64) -> i32 {
    if x > 0.0 {
        1
    } else if x < 0.0 {
        -1
    } else {
        0
    }
}

/// The goldstone dynamics with its 13 precomputed penalty functions (one per angle index).
#[derive(Clone, Debug)]
pub struct Goldstone {
    potential: Potential,
    penalties: Vec<PenaltyFunction>,
    safe_zone: f64,
}

impl Default for Goldstone {
    fn default() -> Self {
        Self::new()
    }
}

impl Goldstone {
    /// The reference's configuration: 24 angle steps, `max_required_step = sin(15°)`, safe
    /// zone half of it.
    pub fn new() -> Self {
        let potential = Potential::new();
        let step = max_required_step();
        let k = STRONGEST_PENALTY_IDX;
        let penalties = (-k..=k)
            .map(|i| {
                let angle = f64::from(i * 2) * PI / f64::from(NUMBER_STEPS);
                PenaltyFunction::new(&potential, angle, step)
            })
            .collect();
        Self { potential, penalties, safe_zone: step / 2.0 }
    }

    /// The penalty (the reference's goldstone "reward", in about `[-1, 1.3]`) of the effective
    /// shift `position` at angle index `phi_idx` (`|phi_idx| <= 6`).
    pub fn reward(&self, phi_idx: i32, position: f64) -> f64 {
        let idx = (STRONGEST_PENALTY_IDX + phi_idx).clamp(0, 2 * STRONGEST_PENALTY_IDX) as usize;
        self.penalties[idx].reward(&self.potential, position)
    }

    /// One transition driven by the effective shift `position`; returns the new state and its
    /// reward (the reference's `environment.state_transition`).
    pub fn transition(&self, state: GoldstoneState, position: f64) -> (GoldstoneState, f64) {
        let k = STRONGEST_PENALTY_IDX;
        let in_safe_zone = position.abs() <= self.safe_zone;
        let GoldstoneState { domain: old_domain, mut system_response, mut phi_idx } = state;

        // (0) the domain follows the sign of the position outside the safe zone
        let domain = if in_safe_zone { old_domain } else { sign(position) as i8 };
        // (1) a domain change makes the response advantageous again
        if domain != old_domain {
            system_response = 1;
        }
        // (2) turn: cool down towards 0 in the safe zone, else follow the position
        phi_idx += if in_safe_zone {
            -phi_idx.signum()
        } else if phi_idx == -i32::from(domain) * k {
            0
        } else {
            i32::from(system_response) * sign(position)
        };
        // (3) at the strongest penalty the response turns disadvantageous
        if phi_idx.abs() >= k {
            system_response = -1;
        }
        // (4) symmetry: fold the angle back into -k..=k
        if phi_idx.abs() >= k {
            phi_idx = 2 * k - (phi_idx + 4 * k).rem_euclid(4 * k);
        }
        // (5) back at 0 inside the safe zone: reset
        let next = if phi_idx == 0 && in_safe_zone {
            GoldstoneState::INITIAL
        } else {
            GoldstoneState { domain, system_response, phi_idx }
        };
        (next, self.reward(next.phi_idx, position))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn potential_minimum_is_minus_one_at_optimal_radius() {
        // The potential is normalised so that its global minimum (along phi = π/2) is -1.
        let g = Goldstone::new();
        for (i, pen) in g.penalties.iter().enumerate() {
            let at_opt = pen.reward(&g.potential, pen.opt_rad);
            let nearby = [pen.opt_rad - 1e-3, pen.opt_rad + 1e-3];
            assert!(
                nearby.iter().all(|&r| pen.reward(&g.potential, r) >= at_opt - 1e-12),
                "penalty {i}: opt_rad {} is not a local minimum",
                pen.opt_rad
            );
            assert!(at_opt >= -1.0 - 1e-9, "penalty {i} below -1: {at_opt}");
        }
    }

    #[test]
    fn angle_stays_in_range_and_safe_zone_cools_down() {
        let g = Goldstone::new();
        let mut s = GoldstoneState::INITIAL;
        for t in 0..200 {
            let position = if t < 100 { 1.5 * ((t as f64) / 7.0).sin() } else { 0.0 };
            let (next, reward) = g.transition(s, position);
            assert!(next.is_valid(), "step {t}: {next:?}");
            assert!(reward.is_finite());
            s = next;
        }
        // 100 steps at position 0 bring the angle back to 0 and reset the state
        assert_eq!(s, GoldstoneState::INITIAL);
    }
}
