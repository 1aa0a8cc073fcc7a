//! Replays episodes recorded from the pip package gymnasium (scripts/record_gymnasium_fixtures.py)
//! step by step from the recorded start state: observations within 1e-5, rewards within 1e-6,
//! identical terminated and truncated flags. Each env has one episode with non-default
//! physical constants (the task), set on the gymnasium env by the recorder.

use std::path::PathBuf;

use envs::{Action, ResetOptions, Task, family};
use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Fixture {
    env_id: String,
    gymnasium_version: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    seed: u64,
    /// Physical constants set on the gymnasium env (`{}`: its defaults).
    #[serde(default)]
    task: Task,
    /// Exact Python `repr` strings of the unwrapped start state.
    start_state: Vec<String>,
    reset_obs: Vec<f32>,
    actions: Vec<Action>,
    obs: Vec<Vec<f32>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

const OBS_TOL: f32 = 1e-5;
const REWARD_TOL: f64 = 1e-6;

fn load(id: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/gymnasium")
        .join(format!("{id}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn assert_close(got: &[f32], want: &[f32], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= OBS_TOL,
            "{what}[{i}]: got {g}, gymnasium {w}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// Replays every episode of the fixture of `id`; returns the number of steps replayed.
fn replay(id: &str) -> usize {
    let fixture = load(id);
    assert_eq!(fixture.env_id, id);
    assert!(
        fixture.gymnasium_version.starts_with("1."),
        "recorded with gymnasium {}",
        fixture.gymnasium_version
    );
    let fam = family(id).expect("registered");
    let mut steps = 0;
    for (e, ep) in fixture.episodes.iter().enumerate() {
        let mut env =
            fam.make(&ep.task).unwrap_or_else(|err| panic!("{id} episode {e}: task: {err}"));
        let state: Vec<Value> = ep
            .start_state
            .iter()
            .map(|s| {
                Value::from(s.parse::<f64>().unwrap_or_else(|err| panic!("start state {s}: {err}")))
            })
            .collect();
        let (obs, _) = env
            .reset(Some(ep.seed), &ResetOptions { state: Some(Value::Array(state)) })
            .expect("explicit state");
        assert_close(&obs, &ep.reset_obs, &format!("{id} episode {e} reset obs"));
        for (t, action) in ep.actions.iter().enumerate() {
            let step = env.step(action).expect("recorded action is valid");
            let what = format!("{id} episode {e} step {}", t + 1);
            assert_close(&step.obs, &ep.obs[t], &format!("{what} obs"));
            assert!(
                (step.reward - ep.rewards[t]).abs() <= REWARD_TOL,
                "{what} reward: got {}, gymnasium {}",
                step.reward,
                ep.rewards[t]
            );
            assert_eq!(
                (step.terminated, step.truncated),
                (ep.terminated[t], ep.truncated[t]),
                "{what} flags"
            );
            steps += 1;
        }
    }
    steps
}

#[test]
fn cartpole_matches_gymnasium() {
    assert!(replay("CartPole-v1") >= 500);
}

#[test]
fn pendulum_matches_gymnasium() {
    assert!(replay("Pendulum-v1") >= 200);
}

#[test]
fn mountain_car_continuous_matches_gymnasium() {
    assert!(replay("MountainCarContinuous-v0") >= 100);
}

#[test]
fn acrobot_matches_gymnasium() {
    assert!(replay("Acrobot-v1") >= 100);
}
