//! Distribution cross-check of the Industrial Benchmark port: the port draws from its own
//! RNG, so its stochastic parts (fatigue noise and bifurcations, consumption noise) are
//! compared with the reference's statistics recorded by `scripts/record_ib_fixtures.py`
//! (`fixtures/industrial_benchmark/stats.json`): per-episode means of fatigue, consumption,
//! reward and bifurcation rate over 250-step episodes under fixed policies.

use std::path::PathBuf;

use envs::industrial_benchmark::INDUSTRIAL_BENCHMARK;
use envs::{Action, Family, ResetOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

/// Allowed distance between the two means, in standard errors of their difference.
const MEAN_SIGMAS: f64 = 4.0;
/// Allowed relative difference of the across-episode standard deviations (the sampling
/// error of a standard deviation from 200 episodes is about 5%; policies with a random walk
/// of the steerings have skewed episode means, hence the margin).
const STD_REL: f64 = 0.3;

const QUANTITIES: [&str; 4] = ["fatigue", "consumption", "reward", "bifurcation_rate"];

fn policy_action(policy: &str, rng: &mut impl Rng) -> [f32; 3] {
    let mut u = || rng.random_range(-1.0f32..=1.0);
    match policy {
        "zero" => [0.0; 3],
        "uniform" => [u(), u(), u()],
        "low_v_high_g" => [-1.0, 1.0, u()],
        other => panic!("unknown policy `{other}` in stats.json"),
    }
}

/// Per-episode means of the four quantities, one row per episode.
fn episode_means(setpoint: f64, policy: &str, episodes: usize, horizon: usize) -> Vec<[f64; 4]> {
    let task = json!({ "setpoint": setpoint }).as_object().cloned().expect("task");
    let mut env = INDUSTRIAL_BENCHMARK.make(&task).expect("make");
    let mut policy_rng = ChaCha8Rng::seed_from_u64(setpoint as u64);
    (0..episodes)
        .map(|e| {
            env.reset(Some(e as u64), &ResetOptions::default()).expect("reset");
            let mut sums = [0.0; 4];
            for _ in 0..horizon {
                let action = policy_action(policy, &mut policy_rng);
                let step = env.step(&Action::Continuous(action.to_vec())).expect("step");
                sums[0] += f64::from(step.obs[4]);
                sums[1] += f64::from(step.obs[5]);
                sums[2] += step.reward;
                sums[3] += step.info.get("bifurcation").expect("bifurcation in info");
            }
            sums.map(|s| s / horizon as f64)
        })
        .collect()
}

fn mean_std(xs: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = xs.clone().count() as f64;
    let mean = xs.clone().sum::<f64>() / n;
    let var = xs.map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, var.sqrt())
}

#[test]
fn fatigue_consumption_and_bifurcations_match_the_reference_in_distribution() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/industrial_benchmark/stats.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let stats: Value = serde_json::from_str(&text).expect("stats.json");
    let configs = stats["configs"].as_array().expect("configs");
    assert!(configs.len() >= 4);
    for config in configs {
        let setpoint = config["setpoint"].as_f64().expect("setpoint");
        let policy = config["policy"].as_str().expect("policy");
        let episodes = config["episodes"].as_u64().expect("episodes") as usize;
        let horizon = config["horizon"].as_u64().expect("horizon") as usize;
        let rows = episode_means(setpoint, policy, episodes, horizon);
        for (i, name) in QUANTITIES.iter().enumerate() {
            let (mean, std) = mean_std(rows.iter().map(|r| r[i]));
            let ref_mean = config[name]["mean"].as_f64().expect("mean");
            let ref_std = config[name]["std"].as_f64().expect("std");
            let n = episodes as f64;
            let se = (std * std / n + ref_std * ref_std / n).sqrt();
            let context = format!("setpoint {setpoint}, policy {policy}, {name}");
            eprintln!(
                "{context}: port {mean:.4} ± {std:.4}, reference {ref_mean:.4} ± {ref_std:.4}"
            );
            assert!(
                (mean - ref_mean).abs() <= MEAN_SIGMAS * se + 1e-9,
                "{context}: mean {mean} vs reference {ref_mean} (standard error {se})"
            );
            if ref_std > 1e-6 {
                assert!(
                    (std / ref_std - 1.0).abs() <= STD_REL,
                    "{context}: across-episode std {std} vs reference {ref_std}"
                );
            } else {
                assert!(std <= 1e-6, "{context}: std {std}, reference has none");
            }
        }
    }
}
