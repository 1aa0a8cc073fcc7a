//! Noise injection for noise distillation: mix the demonstrator's action with uniform noise.
//!
//! - Discrete actions: epsilon-greedy, a uniformly random action with probability `eps`.
//! - Continuous actions (Vintix): `a = (1 - eps) * pi(s) + eps * u`, `u ~ U(low, high)`,
//!   which stays inside a bounded box because it is a convex combination of two points in it.

use envs::{Action, Space};
use rand::Rng;

/// The demonstrator's action and the space disagree, or the space cannot be sampled uniformly.
#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    #[error("demonstrator action {action:?} does not fit the action space {space:?}")]
    Mismatch { action: Action, space: Space },
    #[error("continuous noise needs a bounded action box, got {0:?}")]
    Unbounded(Space),
}

/// Draw the noised action for noise level `eps` in [0, 1].
pub fn noisy_action(
    space: &Space,
    demo: &Action,
    eps: f64,
    rng: &mut impl Rng,
) -> Result<Action, NoiseError> {
    match (space, demo) {
        (Space::Discrete { n }, Action::Discrete(a)) if a < n => {
            // Always draw both numbers so the RNG stream does not depend on the outcome.
            let coin = rng.random::<f64>();
            let random = rng.random_range(0..*n);
            Ok(Action::Discrete(if coin < eps { random } else { *a }))
        }
        (Space::Box { low, high }, Action::Continuous(a)) if a.len() == low.len() => {
            if low.iter().chain(high).any(|b| !b.is_finite()) {
                return Err(NoiseError::Unbounded(space.clone()));
            }
            let eps = eps as f32;
            Ok(Action::Continuous(
                a.iter()
                    .zip(low.iter().zip(high))
                    .map(|(&x, (&lo, &hi))| {
                        let u = lo + (hi - lo) * rng.random::<f32>();
                        // The demonstrator may act outside the box (Gaussian means); clip it
                        // as the env would before mixing.
                        (1.0 - eps) * x.clamp(lo, hi) + eps * u
                    })
                    .collect(),
            ))
        }
        _ => Err(NoiseError::Mismatch { action: demo.clone(), space: space.clone() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn epsilon_greedy_frequencies() {
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let space = Space::Discrete { n: 5 };
        let n = 20_000;
        let mut same = 0;
        for _ in 0..n {
            if noisy_action(&space, &Action::Discrete(2), 0.4, &mut rng).unwrap()
                == Action::Discrete(2)
            {
                same += 1;
            }
        }
        // P(keep) = 1 - eps + eps / n_actions = 0.68.
        let p = same as f64 / n as f64;
        assert!((p - 0.68).abs() < 0.015, "{p}");
    }

    #[test]
    fn continuous_mix_endpoints_and_bounds() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let space = Space::uniform_box(3, -2.0, 2.0);
        let demo = Action::Continuous(vec![1.0, -1.0, 5.0]);
        assert_eq!(
            noisy_action(&space, &demo, 0.0, &mut rng).unwrap(),
            Action::Continuous(vec![1.0, -1.0, 2.0])
        );
        for _ in 0..1000 {
            let a = noisy_action(&space, &demo, 0.7, &mut rng).unwrap();
            assert!(space.contains(&a));
        }
    }

    #[test]
    fn mismatches_are_errors() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        let space = Space::Discrete { n: 3 };
        assert!(noisy_action(&space, &Action::Discrete(3), 0.5, &mut rng).is_err());
        assert!(noisy_action(&space, &Action::Continuous(vec![0.0]), 0.5, &mut rng).is_err());
        let unbounded = Space::uniform_box(1, f32::NEG_INFINITY, f32::INFINITY);
        assert!(noisy_action(&unbounded, &Action::Continuous(vec![0.0]), 0.5, &mut rng).is_err());
    }
}
