//! Vectorized envs and the time limit: same-step autoreset against single envs.

use envs::{Action, Env, ResetOptions, Step, VecEnv, family};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

fn make_n(id: &str, n: usize) -> Vec<Box<dyn Env>> {
    let fam = family(id).expect("registered");
    (0..n).map(|_| fam.make(&fam.default_task()).expect("default task")).collect()
}

/// A VecEnv gives exactly what N single envs give with manual reset-on-done, and reports the
/// finished episode's last observation in `final_obs`.
#[test]
fn vec_env_matches_single_envs_with_same_step_autoreset() {
    for id in ["CartPole-v1", "DarkRoom-v0", "KeyToDoor-v0"] {
        let n = 4;
        let mut vec_env = VecEnv::new(make_n(id, n)).expect("equal spaces");
        let mut singles = make_n(id, n);
        let mut obs = vec_env.reset(Some(10)).expect("reset");
        let mut single_obs: Vec<f32> = Vec::new();
        for (i, env) in singles.iter_mut().enumerate() {
            single_obs
                .extend(env.reset(Some(10 + i as u64), &ResetOptions::default()).expect("reset").0);
        }
        assert_eq!(obs, single_obs, "{id}: reset");
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut finished = 0;
        for t in 0..120 {
            let actions: Vec<Action> =
                (0..n).map(|_| vec_env.action_space().sample(&mut rng)).collect();
            let batch = vec_env.step(&actions).expect("valid actions");
            let mut expected_obs = Vec::new();
            for (i, env) in singles.iter_mut().enumerate() {
                let Step { obs: o, reward, terminated, truncated, .. } =
                    env.step(&actions[i]).expect("valid");
                assert_eq!(
                    (batch.rewards[i], batch.terminated[i], batch.truncated[i]),
                    (reward, terminated, truncated)
                );
                if terminated || truncated {
                    finished += 1;
                    assert_eq!(
                        batch.final_obs[i].as_deref(),
                        Some(o.as_slice()),
                        "{id} step {t} env {i}"
                    );
                    expected_obs
                        .extend(env.reset(None, &ResetOptions::default()).expect("reset").0);
                } else {
                    assert!(batch.final_obs[i].is_none());
                    expected_obs.extend(o);
                }
            }
            assert_eq!(batch.obs, expected_obs, "{id} step {t}");
            obs = batch.obs;
        }
        assert!(finished > 0, "{id}: no episode ended in 120 steps");
        assert_eq!(obs.len(), n * vec_env.obs_dim());
    }
}

#[test]
fn dark_room_is_truncated_at_step_20_and_restarts_in_the_centre() {
    let mut vec_env = VecEnv::new(make_n("DarkRoom-v0", 2)).expect("equal spaces");
    vec_env.reset(Some(0)).expect("reset");
    let right = [Action::Discrete(4), Action::Discrete(4)];
    for t in 1..=20 {
        let batch = vec_env.step(&right).expect("valid");
        assert_eq!(batch.truncated, vec![t == 20; 2], "step {t}");
        assert!(!batch.terminated.iter().any(|&x| x));
        if t == 20 {
            assert_eq!(batch.final_obs[0].as_deref(), Some([8.0, 4.0].as_slice()));
            assert_eq!(batch.obs, vec![4.0, 4.0, 4.0, 4.0]);
        }
    }
}

#[test]
fn vec_env_rejects_mismatched_batches() {
    let mut vec_env = VecEnv::new(make_n("CartPole-v1", 3)).expect("equal spaces");
    vec_env.reset(Some(0)).expect("reset");
    assert!(vec_env.step(&[Action::Discrete(0)]).is_err());
    let fam = family("DarkRoom-v0").expect("registered");
    let per_task = VecEnv::from_tasks(fam, &fam.heldout_tasks()).expect("held-out tasks build");
    assert_eq!(per_task.num_envs(), 16);
    let mut mixed = make_n("CartPole-v1", 1);
    mixed.extend(make_n("Acrobot-v1", 1));
    assert!(VecEnv::new(mixed).is_err());
    assert!(VecEnv::new(Vec::new()).is_err());
}

#[test]
fn out_of_range_continuous_actions_are_clipped_not_rejected() {
    let fam = family("Pendulum-v1").expect("registered");
    let (mut a, mut b) =
        (fam.make(&fam.default_task()).expect("ok"), fam.make(&fam.default_task()).expect("ok"));
    let state = ResetOptions { state: Some(json!([0.5, 0.0])) };
    a.reset(None, &state).expect("state");
    b.reset(None, &state).expect("state");
    let big = a.step(&Action::Continuous(vec![50.0])).expect("clipped");
    let max = b.step(&Action::Continuous(vec![2.0])).expect("valid");
    assert_eq!(big, max);
}
