//! Task parameters within sane physical ranges: values far outside are refused by name
//! instead of simulating into NaN, and the edges of the ranges simulate finitely (every
//! split and shifted task is checked in `agent/tests/task_sets.rs`).

use envs::{Action, ResetOptions, Task, make};
use serde_json::{Value, json};

fn task(v: Value) -> Task {
    v.as_object().cloned().unwrap_or_default()
}

/// `{"gravity": 1e308}` rolled out null observations, `{"length": 1e-308}` wrote NaN data.
#[test]
fn extreme_parameters_are_refused_by_name_and_range() {
    let cases = [
        ("Acrobot-v1", json!({"gravity": 1e308}), "`gravity`", "[0.1, 100]"),
        ("CartPole-v1", json!({"length": 1e-308}), "`length`", "[0.01, 10]"),
        ("Pendulum-v1", json!({"m": 1e-300}), "`m`", "[0.01, 100]"),
        ("MountainCarContinuous-v0", json!({"power": 1e300}), "`power`", "[0.00001, 0.1]"),
    ];
    for (id, t, field, range) in cases {
        let e = make(id, &task(t)).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains(id) && e.contains(field) && e.contains(range), "{id}: {e}");
    }
}

/// At the edges of the sane ranges the physics stay finite over whole random episodes.
#[test]
fn the_range_edges_simulate_finitely() {
    let edges = [
        (
            "Acrobot-v1",
            json!({"gravity": 100.0, "link_mass_1": 0.01, "link_moi": 0.01, "link_length_1": 0.05}),
        ),
        ("Acrobot-v1", json!({"gravity": 0.1, "link_mass_2": 100.0, "link_com_pos_2": 10.0})),
        ("CartPole-v1", json!({"length": 0.01, "masspole": 0.001, "force_mag": 1000.0})),
        (
            "CartPole-v1",
            json!({"length": 10.0, "masspole": 10.0, "masscart": 0.01, "gravity": 100.0}),
        ),
        ("Pendulum-v1", json!({"g": 100.0, "m": 0.01, "l": 0.01})),
        ("MountainCarContinuous-v0", json!({"power": 0.1, "gravity": 1e-5})),
    ];
    for (id, t) in edges {
        let mut env = make(id, &task(t.clone())).unwrap();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
        for episode in 0..3 {
            env.reset(Some(episode), &ResetOptions::default()).unwrap();
            loop {
                let action: Action = env.action_space().sample(&mut rng);
                let step = env.step(&action).unwrap_or_else(|e| panic!("{id} {t}: {e}"));
                if step.terminated || step.truncated {
                    break;
                }
            }
        }
    }
}
