//! Smoke and determinism tests of the PPO loop on two tiny envs (see `ppo_toy`), on the
//! torch engine.

mod ppo_toy;

use datagen::ppo::{Backend, PpoConfig, attempt_seed, train};
use envs::Task;
use ppo_toy::spec;

/// The torch engine; tests/ppo_native.rs runs the native one.
fn tiny(discrete: bool, total_steps: usize) -> PpoConfig {
    ppo_toy::tiny(discrete, total_steps, Backend::Torch)
}

#[test]
fn discrete_smoke_run_learns_the_chain() {
    let config = PpoConfig { learning_rate: 2.5e-3, ..tiny(true, 6_144) };
    let task = Task::new();
    let out =
        train(&spec(&config, &task, 1, "Chain-v0"), &ppo_toy::make_chain).expect("training runs");
    assert_eq!(out.updates.len(), config.num_updates());
    assert!(out.updates.iter().all(|u| u.value_loss.is_finite() && u.approx_kl.is_finite()));
    // Walking straight right: 5 steps, return 1 - 5 * 0.01.
    assert!(
        (out.policy.meta.eval_mean_return - 0.95).abs() < 1e-6,
        "{}",
        out.policy.meta.eval_mean_return
    );
    assert_eq!(out.policy.meta.train_steps, 6_144);
}

#[test]
fn continuous_smoke_run_improves_on_random() {
    let config = PpoConfig { learning_rate: 3e-3, update_epochs: 4, ..tiny(false, 8_192) };
    let task = Task::new();
    let out =
        train(&spec(&config, &task, 2, "Target-v0"), &ppo_toy::make_target).expect("training runs");
    // A uniform random action scores about -6.7 per episode, the zero action about -3.3.
    let ret = out.policy.meta.eval_mean_return;
    assert!(ret > -1.5, "eval return {ret}");
    assert!(out.policy.meta.obs_norm.is_some());
}

#[test]
fn same_seed_gives_identical_losses_and_another_seed_does_not() {
    let config = tiny(false, 1_024);
    let task = Task::new();
    let run = |seed| {
        train(&spec(&config, &task, seed, "Target-v0"), &ppo_toy::make_target)
            .expect("training runs")
            .updates
    };
    let (a, b, c) = (run(7), run(7), run(8));
    let bits = |u: &[datagen::ppo::UpdateStats]| {
        u.iter()
            .map(|s| [s.value_loss.to_bits(), s.policy_loss.to_bits(), s.approx_kl.to_bits()])
            .collect::<Vec<_>>()
    };
    assert_eq!(bits(&a), bits(&b));
    assert_ne!(bits(&a), bits(&c));
}

#[test]
fn bad_config_is_an_error_naming_the_field() {
    let config = PpoConfig { num_minibatches: 5, ..tiny(true, 1_024) };
    let task = Task::new();
    let err = train(&spec(&config, &task, 0, "Chain-v0"), &ppo_toy::make_chain)
        .err()
        .map(|e| e.to_string());
    assert!(err.is_some_and(|e| e.contains("num_minibatches")));
}

#[test]
fn unsolved_runs_are_tried_again_with_new_seeds_and_the_best_is_kept() {
    let task = Task::new();
    // Chain-v0 cannot return more than 0.95: no attempt is solved.
    let config =
        PpoConfig { eval_interval: 1, solve_return: Some(10.0), attempts: 3, ..tiny(true, 512) };
    let out =
        train(&spec(&config, &task, 1, "Chain-v0"), &ppo_toy::make_chain).expect("training runs");
    assert!(out.solved.is_none());
    assert_eq!(out.policy.meta.train_steps, 3 * 512, "every attempt's steps are counted");
    // Each attempt on its own, from the seed the loop gives it.
    let single = PpoConfig { attempts: 1, ..config.clone() };
    let returns: Vec<f64> = (1..=3)
        .map(|k| {
            let seed = attempt_seed(1, k);
            train(&spec(&single, &task, seed, "Chain-v0"), &ppo_toy::make_chain)
                .expect("training runs")
                .policy
                .meta
                .eval_mean_return
        })
        .collect();
    assert_eq!(attempt_seed(1, 1), 1, "attempt 1 is the plain run");
    assert_eq!(out.policy.meta.seed, attempt_seed(1, out.policy.meta.attempt));
    let best = returns.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    assert_eq!(out.policy.meta.eval_mean_return, best, "returns per attempt: {returns:?}");
    assert_eq!(out.policy.meta.eval_mean_return, returns[out.policy.meta.attempt - 1]);

    // A target the first check meets: one attempt, stopped after its first update.
    let easy = PpoConfig { solve_return: Some(-100.0), ..config };
    let out =
        train(&spec(&easy, &task, 1, "Chain-v0"), &ppo_toy::make_chain).expect("training runs");
    assert_eq!(out.policy.meta.attempt, 1);
    assert_eq!(out.policy.meta.train_steps, 256);
    assert_eq!(out.solved.map(|s| s.env_steps), Some(256));
}
