//! GAE against hand-computed values and against a plain per-episode reference sum.

use datagen::ppo::gae::{Rollout, compute_gae};

/// The definition written out: for each step, sum (gamma lambda)^k delta_{t+k} over the rest
/// of its episode inside the rollout, with delta bootstrapping V(final obs) on truncation,
/// nothing on termination.
#[allow(clippy::too_many_arguments)]
fn reference(
    n: usize,
    rewards: &[f32],
    values: &[f32],
    terminated: &[bool],
    truncated: &[bool],
    final_values: &[f32],
    next_values: &[f32],
    gamma: f32,
    lambda: f32,
) -> Vec<f32> {
    let steps = rewards.len() / n;
    let delta = |t: usize, e: usize| {
        let i = t * n + e;
        let next = if terminated[i] {
            0.0
        } else if truncated[i] {
            final_values[i]
        } else if t + 1 < steps {
            values[i + n]
        } else {
            next_values[e]
        };
        rewards[i] + gamma * next - values[i]
    };
    let mut out = vec![0.0; rewards.len()];
    for e in 0..n {
        for t in 0..steps {
            let mut sum = 0.0f32;
            let mut weight = 1.0f32;
            for k in t..steps {
                sum += weight * delta(k, e);
                if terminated[k * n + e] || truncated[k * n + e] {
                    break;
                }
                weight *= gamma * lambda;
            }
            out[t * n + e] = sum;
        }
    }
    out
}

fn gae_returns(terminated: [bool; 3], truncated: [bool; 3]) -> Vec<f32> {
    let rollout = Rollout {
        num_envs: 1,
        rewards: &[1.0, 1.0, 1.0],
        values: &[0.0, 0.0, 0.0],
        terminated: &terminated,
        truncated: &truncated,
        final_values: &[0.0, 10.0, 0.0],
        next_values: &[5.0],
    };
    compute_gae(&rollout, 0.9, 1.0).returns
}

#[test]
fn truncation_bootstraps_with_the_final_observation_value() {
    // Step 1 is cut by a time limit whose final observation has V = 10; the next episode's
    // reset observation (V = 0 here) must not be used.
    let returns = gae_returns([false; 3], [false, true, false]);
    // t = 2: 1 + 0.9 * 5 = 5.5; t = 1: 1 + 0.9 * 10 = 10; t = 0: 1 + 0.9 * (0 + 10) = 10
    // (values are 0, lambda = 1, so each advantage is the discounted bootstrapped return).
    let expected = [10.0, 10.0, 5.5];
    for (got, want) in returns.iter().zip(expected) {
        assert!((got - want).abs() < 1e-5, "{returns:?} vs {expected:?}");
    }
}

#[test]
fn termination_does_not_bootstrap() {
    let returns = gae_returns([false, true, false], [false; 3]);
    let expected = [1.9, 1.0, 5.5];
    for (got, want) in returns.iter().zip(expected) {
        assert!((got - want).abs() < 1e-5, "{returns:?} vs {expected:?}");
    }
    // Terminated and truncated on the same step: termination wins (no bootstrap).
    let both = gae_returns([false, true, false], [false, true, false]);
    assert!((both[1] - 1.0).abs() < 1e-6);
}

#[test]
fn gae_matches_the_plain_reference_sum() {
    // Three env copies, 40 steps, episode ends of both kinds at pseudo-random places.
    let (n, steps) = (3usize, 40usize);
    let len = n * steps;
    let hash = |i: usize, salt: usize| ((i * 2_654_435_761 + salt * 40_503) % 1000) as f32 / 1000.0;
    let rewards: Vec<f32> = (0..len).map(|i| hash(i, 1) * 2.0 - 1.0).collect();
    let values: Vec<f32> = (0..len).map(|i| hash(i, 2) * 5.0).collect();
    let terminated: Vec<bool> = (0..len).map(|i| hash(i, 3) < 0.08).collect();
    let truncated: Vec<bool> = (0..len).map(|i| hash(i, 4) < 0.08).collect();
    let final_values: Vec<f32> = (0..len).map(|i| hash(i, 5) * 7.0).collect();
    let next_values = [0.3, -1.2, 2.5];
    assert!(terminated.iter().any(|&x| x) && truncated.iter().any(|&x| x));
    for (gamma, lambda) in [(0.99, 0.95), (0.9, 1.0), (0.5, 0.0)] {
        let gae = compute_gae(
            &Rollout {
                num_envs: n,
                rewards: &rewards,
                values: &values,
                terminated: &terminated,
                truncated: &truncated,
                final_values: &final_values,
                next_values: &next_values,
            },
            gamma,
            lambda,
        );
        let want = reference(
            n,
            &rewards,
            &values,
            &terminated,
            &truncated,
            &final_values,
            &next_values,
            gamma,
            lambda,
        );
        for i in 0..len {
            assert!(
                (gae.advantages[i] - want[i]).abs() < 1e-4,
                "gamma {gamma} lambda {lambda} index {i}"
            );
            assert!((gae.returns[i] - (want[i] + values[i])).abs() < 1e-4);
        }
    }
}
