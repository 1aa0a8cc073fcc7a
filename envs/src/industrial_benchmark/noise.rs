//! The random numbers the Industrial Benchmark draws, behind one trait so that a test can
//! replay the reference implementation's draws through the port.

use rand::Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};

/// A source of the benchmark's random numbers. Every step draws, in this order: two
/// exponentials, two uniforms, two Bernoullis (fatigue noise of gain and velocity), one normal
/// only when the fatigue bifurcation fires, and one standard normal (consumption noise), as
/// the reference does.
pub trait Noise {
    /// Exponential with mean `scale` (numpy's `exponential(scale)`).
    fn exponential(&mut self, scale: f64) -> f64;
    /// Uniform in `[0, 1)`.
    fn uniform(&mut self) -> f64;
    /// 1.0 with probability `p`, else 0.0 (numpy's `binomial(1, p)`).
    fn bernoulli(&mut self, p: f64) -> f64;
    /// Normal with the given mean and standard deviation.
    fn normal(&mut self, mean: f64, std: f64) -> f64;
    /// Standard normal (numpy's `randn()`).
    fn standard_normal(&mut self) -> f64;
}

/// Draws from a seeded generator (the env's own stream; the port does not reproduce numpy's
/// Mersenne Twister, only the distributions).
pub struct RngNoise<'a, R: Rng>(pub &'a mut R);

impl<R: Rng> Noise for RngNoise<'_, R> {
    fn exponential(&mut self, scale: f64) -> f64 {
        let e: f64 = Exp1.sample(self.0);
        scale * e
    }

    fn uniform(&mut self) -> f64 {
        self.0.random::<f64>()
    }

    fn bernoulli(&mut self, p: f64) -> f64 {
        if self.0.random::<f64>() < p { 1.0 } else { 0.0 }
    }

    fn normal(&mut self, mean: f64, std: f64) -> f64 {
        let z: f64 = StandardNormal.sample(self.0);
        mean + std * z
    }

    fn standard_normal(&mut self) -> f64 {
        StandardNormal.sample(self.0)
    }
}
