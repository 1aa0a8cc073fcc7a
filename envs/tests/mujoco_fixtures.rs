//! Replays whole episodes recorded from Gymnasium's v5 MuJoCo envs on pip `mujoco==3.17.0`
//! (scripts/record_mujoco_fixtures.py) from the same start state and actions: observations
//! and rewards step by step, and the time limit.

use envs::mujoco::HalfCheetah;
use envs::{Action, Env, ResetOptions, TimeLimit};
use serde::Deserialize;

#[derive(Deserialize)]
struct Fixture {
    env: String,
    episodes: Vec<Episode>,
}

#[derive(Deserialize)]
struct Episode {
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
/// observation (Gymnasium returns float64) and the fixture's 10 significant digits: at most
/// 1e-6 relative to (1 + |value|) (measured: 5.5e-8 over a whole 1000-step episode).
const OBS_TOL: f64 = 1e-6;
const REWARD_TOL: f64 = 1e-6;

fn close(got: f64, want: f64, tol: f64) -> bool {
    (got - want).abs() <= tol * (1.0 + want.abs())
}

#[test]
fn half_cheetah_replays_gymnasium_v5_episodes() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/mujoco/HalfCheetah-v5.json");
    let fixture: Fixture = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(fixture.env, "HalfCheetah-v5");
    for (e, ep) in fixture.episodes.iter().enumerate() {
        let mut env = TimeLimit::new(HalfCheetah::new().unwrap());
        let parse = |v: &[String]| v.iter().map(|s| s.parse::<f64>().unwrap()).collect::<Vec<_>>();
        let state = serde_json::json!({"qpos": parse(&ep.qpos), "qvel": parse(&ep.qvel)});
        let (obs, _) = env.reset(None, &ResetOptions { state: Some(state) }).unwrap();
        for (g, w) in obs.iter().zip(&ep.first_obs) {
            assert!(close(*g as f64, *w, OBS_TOL), "episode {e}, reset: {g} vs {w}");
        }
        let mut worst = 0.0f64;
        for (t, action) in ep.actions.iter().enumerate() {
            let step = env.step(&Action::Continuous(action.clone())).unwrap();
            for (g, w) in step.obs.iter().zip(&ep.obs[t]) {
                worst = worst.max((*g as f64 - w).abs() / (1.0 + w.abs()));
                assert!(close(*g as f64, *w, OBS_TOL), "episode {e}, step {t}: obs {g} vs {w}");
            }
            assert!(
                close(step.reward, ep.rewards[t], REWARD_TOL),
                "episode {e}, step {t}: reward {} vs {}",
                step.reward,
                ep.rewards[t]
            );
            assert_eq!(
                (step.terminated, step.truncated),
                (ep.terminated[t], ep.truncated[t]),
                "step {t}"
            );
        }
        assert_eq!(ep.actions.len(), 1000);
        eprintln!("episode {e}: worst relative observation difference {worst:.2e}");
    }
}

/// Loading a model writes no `MUJOCO_LOG.TXT` into the working directory (MuJoCo's default
/// for warnings, which every Gymnasium model triggers).
#[test]
fn loading_a_model_leaves_no_log_file() {
    HalfCheetah::new().unwrap();
    assert!(!std::path::Path::new("MUJOCO_LOG.TXT").exists());
}
