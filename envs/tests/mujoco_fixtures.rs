//! Replays whole episodes recorded from Gymnasium's v5 MuJoCo envs on pip `mujoco==3.17.0`
//! (scripts/record_mujoco_fixtures.py) from the same start state and actions, with the
//! default physics and with changed physics (the task parameters applied to both models the
//! same way): observations and rewards step by step, termination and the time limit.

use std::io::Read;

use envs::mujoco::{HalfCheetah, Mujoco};
use envs::{Action, ResetOptions, Task};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    env: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
    task: Task,
    qpos: Vec<String>,
    qvel: Vec<String>,
    first_obs: Vec<f64>,
    actions: Vec<Vec<f32>>,
    obs: Vec<Vec<f64>>,
    rewards: Vec<f64>,
    terminated: Vec<bool>,
    truncated: Vec<bool>,
}

/// The same library computes both sides, so what differs is the float32 rounding of the
/// observation (Gymnasium returns float64) and the fixture's 9 significant digits: at most
/// 1e-6 relative to (1 + |value|) (measured: at most 6e-8 over whole 1000-step episodes).
const OBS_TOL: f64 = 1e-6;
const REWARD_TOL: f64 = 1e-6;

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * (1.0 + want.abs())
}

/// Replay every episode of `<id>.json.gz` through the registry's env (time limit included);
/// returns the number of steps replayed.
fn replay(id: &str) -> usize {
    let path = format!("{}/fixtures/mujoco/{id}.json.gz", env!("CARGO_MANIFEST_DIR"));
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    let fixture: Fixture = serde_json::from_str(&text).unwrap();
    assert_eq!(fixture.env, id);
    let mut steps = 0;
    for (e, ep) in fixture.episodes.iter().enumerate() {
        let mut env = envs::make(id, &ep.task).unwrap();
        let parse = |v: &[String]| v.iter().map(|s| s.parse::<f64>().unwrap()).collect::<Vec<_>>();
        let state = serde_json::json!({"qpos": parse(&ep.qpos), "qvel": parse(&ep.qvel)});
        let (obs, _) = env.reset(None, &ResetOptions { state: Some(state) }).unwrap();
        assert_eq!(obs.len(), ep.first_obs.len());
        for (g, w) in obs.iter().zip(&ep.first_obs) {
            assert!(close(*g as f64, *w, OBS_TOL), "{id} episode {e}, reset: {g} vs {w}");
        }
        let mut worst = 0.0f64;
        for (t, action) in ep.actions.iter().enumerate() {
            let step = env.step(&Action::Continuous(action.clone())).unwrap();
            assert_eq!(step.obs.len(), ep.obs[t].len());
            for (g, w) in step.obs.iter().zip(&ep.obs[t]) {
                worst = worst.max((*g as f64 - w).abs() / (1.0 + w.abs()));
                assert!(
                    close(*g as f64, *w, OBS_TOL),
                    "{id} episode {e}, step {t}: obs {g} vs {w}"
                );
            }
            assert!(
                close(step.reward, ep.rewards[t], REWARD_TOL),
                "{id} episode {e}, step {t}: reward {} vs {}",
                step.reward,
                ep.rewards[t]
            );
            assert_eq!(
                (step.terminated, step.truncated),
                (ep.terminated[t], ep.truncated[t]),
                "{id} episode {e}, step {t}"
            );
        }
        steps += ep.actions.len();
        eprintln!(
            "{id} episode {e} ({} steps, task {:?}): worst relative observation difference {worst:.2e}",
            ep.actions.len(),
            ep.task
        );
    }
    steps
}

#[test]
fn half_cheetah_replays_gymnasium_v5_episodes() {
    // Two whole 1000-step episodes, the second with changed physics.
    assert_eq!(replay("HalfCheetah-v5"), 2000);
}

#[test]
fn hopper_replays_gymnasium_v5_episodes() {
    assert!(replay("Hopper-v5") > 100);
}

#[test]
fn walker2d_replays_gymnasium_v5_episodes() {
    assert!(replay("Walker2d-v5") > 100);
}

#[test]
fn ant_replays_gymnasium_v5_episodes() {
    // Two of its four episodes run to the time limit.
    assert!(replay("Ant-v5") > 2000);
}

#[test]
fn swimmer_replays_gymnasium_v5_episodes() {
    assert_eq!(replay("Swimmer-v5"), 2000);
}

#[test]
fn reacher_replays_gymnasium_v5_episodes() {
    assert_eq!(replay("Reacher-v5"), 300);
}

#[test]
fn inverted_pendulum_replays_gymnasium_v5_episodes() {
    assert!(replay("InvertedPendulum-v5") > 100);
}

#[test]
fn inverted_double_pendulum_replays_gymnasium_v5_episodes() {
    assert!(replay("InvertedDoublePendulum-v5") > 50);
}

#[test]
fn humanoid_replays_gymnasium_v5_episodes() {
    assert!(replay("Humanoid-v5") > 150);
}

/// Loading a model writes no `MUJOCO_LOG.TXT` into the working directory (MuJoCo's default
/// for warnings, which every Gymnasium model triggers).
#[test]
fn loading_a_model_leaves_no_log_file() {
    Mujoco::<HalfCheetah>::new().unwrap();
    assert!(!std::path::Path::new("MUJOCO_LOG.TXT").exists());
}
