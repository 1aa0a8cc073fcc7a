//! Noise schedules for noise distillation (ADε, Vintix): `eps(n)` over a history of `N`
//! transitions, falling from fully random towards the demonstrator.
//!
//! - [`Schedule::Vintix`]: `eps(n) = (1 - (n / ((1 - f) N))^p)^(1/p)` for `n <= (1 - f) N`,
//!   else 0 (f: zero-noise tail fraction, p: curvature; p > 1 if returns rise too early,
//!   0 < p < 1 if too late).
//! - [`Schedule::Linear`]: from `start` down to `end` over the first `(1 - f) N` transitions,
//!   then `end` (ADε's epsilon-greedy decay with its final 10% at `eps_end`).
//! - [`Schedule::Calibrated`]: a piecewise-linear `eps` built from the demonstrator's measured
//!   return and episode length at a grid of `eps` values so that the *expected return* rises
//!   linearly with the episode index from random to expert (see [`calibrate`]).

use serde::{Deserialize, Serialize};

/// A noise schedule. Serialised with a `kind` tag into dataset metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Schedule {
    /// Vintix's nonlinear schedule.
    Vintix {
        /// Zero-noise tail fraction `f` in [0, 1).
        f: f64,
        /// Curvature `p` > 0.
        p: f64,
    },
    /// Linear decay from `start` to `end`, then constant `end` for the tail fraction `f`.
    Linear { start: f64, end: f64, f: f64 },
    /// Piecewise-linear `eps` against the history fraction `n / N`: `points` are
    /// `(fraction, eps)` pairs with increasing fractions from 0 to 1.
    Calibrated { points: Vec<(f64, f64)> },
}

/// A schedule whose parameters are out of range.
#[derive(Debug, thiserror::Error)]
#[error("invalid noise schedule: {0}")]
pub struct ScheduleError(pub String);

impl Schedule {
    /// Check the parameters; every constructor path (JSON suites included) goes through this.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        let unit = |name: &str, v: f64| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(ScheduleError(format!("`{name}` must be in [0, 1], got {v}")))
            }
        };
        match self {
            Schedule::Vintix { f, p } => {
                if !(0.0..1.0).contains(f) {
                    return Err(ScheduleError(format!("`f` must be in [0, 1), got {f}")));
                }
                if !(p.is_finite() && *p > 0.0) {
                    return Err(ScheduleError(format!("`p` must be > 0, got {p}")));
                }
                Ok(())
            }
            Schedule::Linear { start, end, f } => {
                unit("start", *start)?;
                unit("end", *end)?;
                unit("f", *f)
            }
            Schedule::Calibrated { points } => {
                if points.len() < 2 {
                    return Err(ScheduleError(
                        "`points` needs at least two (fraction, eps) pairs".into(),
                    ));
                }
                for w in points.windows(2) {
                    if w[1].0 <= w[0].0 {
                        return Err(ScheduleError("`points` fractions must increase".into()));
                    }
                }
                for &(x, e) in points {
                    unit("fraction", x)?;
                    unit("eps", e)?;
                }
                Ok(())
            }
        }
    }

    /// The noise level at transition `n` of a history of `total` transitions.
    pub fn eps(&self, n: usize, total: usize) -> f64 {
        let total = total.max(1) as f64;
        let x = n as f64 / total;
        match self {
            Schedule::Vintix { f, p } => {
                let end = 1.0 - f;
                if x >= end { 0.0 } else { (1.0 - (x / end).powf(*p)).max(0.0).powf(1.0 / p) }
            }
            Schedule::Linear { start, end, f } => {
                let stop = 1.0 - f;
                if x >= stop || stop <= 0.0 { *end } else { start + (end - start) * x / stop }
            }
            Schedule::Calibrated { points } => interpolate(points, x),
        }
    }
}

/// Piecewise-linear interpolation over `(x, y)` points sorted by x, constant outside.
fn interpolate(points: &[(f64, f64)], x: f64) -> f64 {
    let (first, last) = (points[0], points[points.len() - 1]);
    if x <= first.0 {
        return first.1;
    }
    if x >= last.0 {
        return last.1;
    }
    let i = points.partition_point(|p| p.0 <= x);
    let (a, b) = (points[i - 1], points[i]);
    a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
}

/// One measurement of the demonstrator at a fixed noise level, for [`calibrate`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NoisePoint {
    pub eps: f64,
    /// Mean episode return at this noise level.
    pub ret: f64,
    /// Mean episode length (steps) at this noise level.
    pub len: f64,
}

/// Build a [`Schedule::Calibrated`] from the demonstrator's mean return and episode length
/// measured at a grid of noise levels. The expected return should rise linearly *in episode
/// index* from `R(1)` (random) to `R(0)` (expert) over the first `1 - tail` of the history's
/// transitions and stay at the expert for the tail.
///
/// Where episodes have a fixed length (Pendulum, Dark Room) episodes and transitions are
/// proportional and the rise is linear in both. Where the length grows with the return
/// (CartPole: 20 steps at random, 500 at expert), a schedule linear in transitions would
/// spend most of its episodes near random and rise convexly against episode index; here each
/// stretch of return spends transitions in proportion to its episode length, so episodes are
/// spread evenly over the rise.
///
/// The measured returns are made monotone (non-increasing in eps, by a running maximum from
/// eps = 1 downwards) before they are inverted, so noise in the measurements cannot make eps
/// rise along the history.
pub fn calibrate(curve: &[NoisePoint], tail: f64, knots: usize) -> Result<Schedule, ScheduleError> {
    if curve.len() < 2 {
        return Err(ScheduleError("calibration needs returns at two or more eps values".into()));
    }
    if !(0.0..1.0).contains(&tail) {
        return Err(ScheduleError(format!("tail fraction must be in [0, 1), got {tail}")));
    }
    if curve.iter().any(|p| !(p.eps.is_finite() && p.ret.is_finite() && p.len.is_finite())) {
        return Err(ScheduleError("calibration curve holds a non-finite value".into()));
    }
    if curve.iter().any(|p| p.len <= 0.0) {
        return Err(ScheduleError("calibration curve holds an episode length <= 0".into()));
    }
    // From high eps to low eps, returns may only rise.
    let mut pts: Vec<(f64, f64)> = curve.iter().map(|p| (p.eps, p.ret)).collect();
    pts.sort_by(|a, b| b.0.total_cmp(&a.0));
    for i in 1..pts.len() {
        pts[i].1 = pts[i].1.max(pts[i - 1].1);
    }
    // Episode length against eps, ascending in eps for interpolation.
    let mut lens: Vec<(f64, f64)> = curve.iter().map(|p| (p.eps, p.len)).collect();
    lens.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (r_random, r_expert) = (pts[0].1, pts[pts.len() - 1].1);
    let (e_max, e_min) = (pts[0].0, pts[pts.len() - 1].0);
    let knots = knots.max(2);
    let mut eps_at = Vec::with_capacity(knots);
    for k in 0..knots {
        let frac = k as f64 / (knots - 1) as f64; // progress (episode index) within the rise
        let target = r_random + (r_expert - r_random) * frac;
        // Smallest return >= target, walking from high eps: the eps where R(eps) = target.
        let eps = if k == knots - 1 {
            // The rise ends at the demonstrator itself (the lowest measured noise, 0 on the
            // default grid), even where its return is already reached at a higher noise level
            // (CartPole scores 500 at eps 0.1 too): the tail is noise-free, as Vintix's is.
            e_min
        } else if r_expert <= r_random {
            e_max + (e_min - e_max) * frac // flat curve: fall back to a linear eps decay
        } else {
            let j = pts.partition_point(|p| p.1 < target).min(pts.len() - 1);
            if j == 0 {
                pts[0].0
            } else {
                let (a, b) = (pts[j - 1], pts[j]);
                if b.1 > a.1 { a.0 + (b.0 - a.0) * (target - a.1) / (b.1 - a.1) } else { b.0 }
            }
        };
        // Interpolation can land a rounding error outside [0, 1].
        eps_at.push(eps.clamp(0.0, 1.0));
    }
    // Transitions spent between knots: equal episode counts, each at its episode length.
    // Lengths relative to the first knot's: with fixed-length episodes every one is exactly
    // 1, and the fractions below are exactly `k / (knots - 1)`.
    let first_len = interpolate(&lens, eps_at[0]);
    let len_at: Vec<f64> = eps_at.iter().map(|&e| interpolate(&lens, e) / first_len).collect();
    let mut steps = vec![0.0; knots];
    for k in 1..knots {
        steps[k] = steps[k - 1] + 0.5 * (len_at[k - 1] + len_at[k]);
    }
    let stop = 1.0 - tail;
    let total = steps[knots - 1];
    let mut points: Vec<(f64, f64)> =
        steps.iter().zip(&eps_at).map(|(s, &e)| (s / total * stop, e)).collect();
    if tail > 0.0 {
        points.push((1.0, e_min));
    }
    let schedule = Schedule::Calibrated { points };
    schedule.validate()?;
    Ok(schedule)
}

/// Coefficient of determination of a least-squares line through `ys` against their index:
/// how linear a history's rise of episode returns is.
pub fn linearity_r2(ys: &[f64]) -> f64 {
    let n = ys.len() as f64;
    if ys.len() < 3 {
        return f64::NAN;
    }
    let mean_x = (n - 1.0) / 2.0;
    let mean_y = ys.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (i, y) in ys.iter().enumerate() {
        let dx = i as f64 - mean_x;
        let dy = y - mean_y;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if syy == 0.0 { 1.0 } else { sxy * sxy / (sxx * syy) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vintix_schedule_endpoints_and_shape() {
        let s = Schedule::Vintix { f: 0.1, p: 2.0 };
        assert!((s.eps(0, 1000) - 1.0).abs() < 1e-12);
        assert_eq!(s.eps(900, 1000), 0.0);
        assert_eq!(s.eps(999, 1000), 0.0);
        // p = 2: a quarter circle, eps(x) = sqrt(1 - (x / 0.9)^2).
        let x: f64 = 450.0 / 1000.0;
        let expected = (1.0 - (x / 0.9).powi(2)).sqrt();
        assert!((s.eps(450, 1000) - expected).abs() < 1e-12);
        // Non-increasing along the history.
        let eps: Vec<f64> = (0..1000).map(|n| s.eps(n, 1000)).collect();
        assert!(eps.windows(2).all(|w| w[1] <= w[0] + 1e-12));
    }

    #[test]
    fn vintix_p1_is_linear() {
        let s = Schedule::Vintix { f: 0.0, p: 1.0 };
        for n in [0, 100, 500, 999] {
            assert!((s.eps(n, 1000) - (1.0 - n as f64 / 1000.0)).abs() < 1e-12);
        }
    }

    #[test]
    fn linear_schedule_holds_its_end_in_the_tail() {
        let s = Schedule::Linear { start: 1.0, end: 0.1, f: 0.1 };
        assert!((s.eps(0, 100) - 1.0).abs() < 1e-12);
        assert!((s.eps(45, 100) - 0.55).abs() < 1e-12);
        assert!((s.eps(95, 100) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn validation_rejects_out_of_range_parameters() {
        assert!(Schedule::Vintix { f: 1.0, p: 1.0 }.validate().is_err());
        assert!(Schedule::Vintix { f: 0.1, p: 0.0 }.validate().is_err());
        assert!(Schedule::Linear { start: 1.5, end: 0.0, f: 0.0 }.validate().is_err());
        assert!(Schedule::Calibrated { points: vec![(0.0, 1.0)] }.validate().is_err());
        assert!(Schedule::Calibrated { points: vec![(0.5, 1.0), (0.2, 0.0)] }.validate().is_err());
    }

    #[test]
    fn calibration_inverts_a_known_curve() {
        // R(eps) = 1 - eps^2 (returns fall slowly at first): to rise linearly in return the
        // schedule must use eps = sqrt(1 - target).
        let curve: Vec<NoisePoint> = (0..=20)
            .map(|i| i as f64 / 20.0)
            .map(|e| NoisePoint { eps: e, ret: 1.0 - e * e, len: 200.0 })
            .collect();
        let s = calibrate(&curve, 0.1, 11).unwrap();
        for n in (0..900).step_by(90) {
            let frac = n as f64 / 900.0;
            let eps = s.eps(n, 1000);
            let expected = (1.0 - frac).sqrt();
            assert!((eps - expected).abs() < 0.03, "n={n}: eps {eps} vs {expected}");
        }
        assert!(s.eps(950, 1000) < 1e-9);
    }

    #[test]
    fn calibration_is_monotone_on_noisy_curves() {
        let curve =
            fixed_length(&[(1.0, 0.0), (0.8, 0.3), (0.6, 0.2), (0.4, 0.7), (0.2, 0.6), (0.0, 1.0)]);
        let s = calibrate(&curve, 0.0, 21).unwrap();
        let eps: Vec<f64> = (0..=100).map(|n| s.eps(n, 100)).collect();
        assert!(eps.windows(2).all(|w| w[1] <= w[0] + 1e-12), "{eps:?}");
    }

    #[test]
    fn calibration_ends_noise_free_where_the_return_saturates_early() {
        // CartPole-like: the expert's return is already reached at eps 0.1 and 0.2.
        let curve = fixed_length(&[
            (1.0, 20.0),
            (0.8, 40.0),
            (0.6, 150.0),
            (0.4, 400.0),
            (0.2, 500.0),
            (0.1, 500.0),
            (0.0, 500.0),
        ]);
        let s = calibrate(&curve, 0.1, 21).unwrap();
        assert!(s.eps(0, 1000) > 0.99);
        assert!(s.eps(899, 1000) < 0.05, "{}", s.eps(899, 1000));
        for n in [900, 950, 999] {
            assert_eq!(s.eps(n, 1000), 0.0, "the tail is the demonstrator itself (n = {n})");
        }
    }

    /// `(eps, return)` pairs measured on an env whose episodes all last 200 steps.
    fn fixed_length(pairs: &[(f64, f64)]) -> Vec<NoisePoint> {
        pairs.iter().map(|&(eps, ret)| NoisePoint { eps, ret, len: 200.0 }).collect()
    }

    #[test]
    fn calibration_spreads_episodes_evenly_where_length_grows_with_return() {
        // CartPole-like: return = episode length, linear in eps from 20 (random) to 500.
        let curve: Vec<NoisePoint> = (0..=10)
            .map(|i| i as f64 / 10.0)
            .map(|e| NoisePoint { eps: e, ret: 500.0 - 480.0 * e, len: 500.0 - 480.0 * e })
            .collect();
        let s = calibrate(&curve, 0.0, 41).unwrap();
        // Play the schedule: each episode takes the expected return (= length) at its eps.
        let total = 200_000;
        let (mut n, mut returns) = (0usize, Vec::new());
        while n < total {
            let len = (500.0 - 480.0 * s.eps(n, total)).round() as usize;
            returns.push(len as f64);
            n += len;
        }
        let r2 = linearity_r2(&returns);
        assert!(r2 > 0.98, "return against episode index: R^2 {r2}");
        // The same curve with a schedule linear in transitions is convex against episodes.
        let flat: Vec<NoisePoint> = curve.iter().map(|p| NoisePoint { len: 1.0, ..*p }).collect();
        let s = calibrate(&flat, 0.0, 41).unwrap();
        let (mut n, mut returns) = (0usize, Vec::new());
        while n < total {
            let len = (500.0 - 480.0 * s.eps(n, total)).round() as usize;
            returns.push(len as f64);
            n += len;
        }
        assert!(linearity_r2(&returns) < 0.95, "{}", linearity_r2(&returns));
    }

    #[test]
    fn r2_of_a_line_is_one() {
        let ys: Vec<f64> = (0..50).map(|i| 3.0 * i as f64 + 1.0).collect();
        assert!((linearity_r2(&ys) - 1.0).abs() < 1e-12);
        let noisy: Vec<f64> = (0..50).map(|i| if i % 2 == 0 { 0.0 } else { 1.0 }).collect();
        assert!(linearity_r2(&noisy) < 0.1);
    }
}
