//! Behaviour of `IndustrialBenchmark-v0` as an env and a family: clipping, invalid actions,
//! seeding, explicit start states, time limit and the train / held-out split.

use envs::industrial_benchmark::{INDUSTRIAL_BENCHMARK, IndustrialBenchmark};
use envs::{Action, Env, EnvError, Family, ResetOptions, Task};
use serde_json::{Value, json};

fn task(p: f64) -> Task {
    json!({ "setpoint": p }).as_object().cloned().expect("task")
}

fn make(p: f64) -> Box<dyn Env> {
    INDUSTRIAL_BENCHMARK.make(&task(p)).expect("make")
}

fn act(a: [f32; 3]) -> Action {
    Action::Continuous(a.to_vec())
}

/// Observations and rewards of `steps` steps of a fixed action sequence after `reset(seed)`.
fn rollout(env: &mut dyn Env, seed: u64, steps: usize) -> Vec<(Vec<f32>, f64)> {
    let (obs, _) = env.reset(Some(seed), &ResetOptions::default()).expect("reset");
    let mut out = vec![(obs, 0.0)];
    for t in 0..steps {
        let x = (t as f32 * 0.37).sin();
        let step = env.step(&act([x, -x, 0.5 * x])).expect("step");
        out.push((step.obs, step.reward));
    }
    out
}

#[test]
fn same_seed_same_trajectory_different_seed_different() {
    let a = rollout(make(40.0).as_mut(), 7, 100);
    let b = rollout(make(40.0).as_mut(), 7, 100);
    let c = rollout(make(40.0).as_mut(), 8, 100);
    assert_eq!(a, b);
    assert_ne!(a[0], c[0], "the warm-up step draws noise: different seeds, different start");
    assert_ne!(a, c);
}

#[test]
fn reset_without_seed_continues_the_stream() {
    let mut env = make(40.0);
    let (first, _) = env.reset(Some(3), &ResetOptions::default()).expect("reset");
    let (second, _) = env.reset(None, &ResetOptions::default()).expect("reset");
    assert_ne!(first, second, "an unseeded reset must not reseed");
    let (again, _) = env.reset(Some(3), &ResetOptions::default()).expect("reset");
    assert_eq!(first, again);
}

#[test]
fn actions_outside_the_box_are_clipped_like_the_reference() {
    let mut clipped = make(60.0);
    let mut inside = make(60.0);
    clipped.reset(Some(1), &ResetOptions::default()).expect("reset");
    inside.reset(Some(1), &ResetOptions::default()).expect("reset");
    for t in 0..30 {
        let big = clipped.step(&act([5.0, -f32::INFINITY, 1.0 + t as f32])).expect("step");
        let unit = inside.step(&act([1.0, -1.0, 1.0])).expect("step");
        assert_eq!(big, unit, "step {t}");
    }
}

#[test]
fn action_effects_follow_the_documented_step_sizes() {
    let mut env = IndustrialBenchmark::new(50.0).expect("env");
    let (obs, _) = env.reset(Some(0), &ResetOptions::default()).expect("reset");
    assert_eq!(&obs[..4], &[50.0, 50.0, 50.0, 50.0], "start steerings are 50");
    let step = env.step(&act([1.0, 0.5, -1.0])).expect("step");
    assert_eq!(step.obs[1], 51.0);
    assert_eq!(step.obs[2], 55.0);
    let shift_step = (15.0_f64.to_radians().sin() / 0.9) * 100.0 / 5.0;
    assert!((f64::from(step.obs[3]) - (50.0 - shift_step)).abs() < 1e-4, "shift {}", step.obs[3]);
    let state = env.state().expect("state");
    assert!((state.h - (50.0 - shift_step)).abs() < 1e-12);
    let cost = step.info.get("cost").expect("cost in info");
    assert!((step.reward - (-cost / 100.0)).abs() < 1e-12);
    assert!((cost - (3.0 * state.f + state.c)).abs() < 1e-9);
}

#[test]
fn invalid_actions_name_the_env_and_what_was_expected() {
    let mut env = make(50.0);
    env.reset(Some(0), &ResetOptions::default()).expect("reset");
    let bad = [
        Action::Continuous(vec![0.0, f32::NAN, 0.0]),
        Action::Continuous(vec![0.0, 0.0]),
        Action::Continuous(vec![0.0; 4]),
        Action::Discrete(1),
    ];
    for action in bad {
        match env.step(&action) {
            Err(e @ EnvError::InvalidAction { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("IndustrialBenchmark-v0") && msg.contains("3"), "{msg}");
            }
            other => panic!("{action:?}: expected InvalidAction, got {other:?}"),
        }
    }
}

#[test]
fn step_before_reset_is_an_error() {
    let mut env = make(50.0);
    assert!(matches!(env.step(&act([0.0; 3])), Err(EnvError::NotReset { .. })));
}

#[test]
fn episodes_truncate_after_250_steps_and_never_terminate() {
    let mut env = make(25.0);
    env.reset(Some(0), &ResetOptions::default()).expect("reset");
    let space = env.observation_space().clone();
    for t in 1..=250 {
        let step = env.step(&act([-1.0, 1.0, 0.3])).expect("step");
        assert!(!step.terminated);
        assert_eq!(step.truncated, t == 250, "step {t}");
        assert!(space.contains_vec(&step.obs), "step {t}: {:?} outside the space", step.obs);
        assert!(step.reward.is_finite());
    }
}

#[test]
fn explicit_state_round_trips_and_bad_states_are_rejected() {
    let mut env = IndustrialBenchmark::new(30.0).expect("env");
    env.reset(Some(5), &ResetOptions::default()).expect("reset");
    for _ in 0..20 {
        env.step(&act([0.2, -0.4, 0.9])).expect("step");
    }
    let state = serde_json::to_value(env.state().expect("state")).expect("serialise");
    let next = env.step(&act([0.1, 0.1, 0.1])).expect("step");

    // Same state and seed: the same step.
    let mut other = IndustrialBenchmark::new(30.0).expect("env");
    other.reset(Some(9), &ResetOptions { state: Some(state.clone()) }).expect("reset from state");
    env.reset(Some(9), &ResetOptions { state: Some(state.clone()) }).expect("reset from state");
    assert_eq!(
        env.step(&act([0.1, 0.1, 0.1])).expect("step"),
        other.step(&act([0.1, 0.1, 0.1])).expect("step")
    );
    assert!(
        next.obs[..4]
            == env.state().map(|s| s.observation().map(|x| x as f32)).expect("state")[..4]
    );

    let with = |key: &str, value: Value| {
        let mut s = state.clone();
        s[key] = value;
        s
    };
    let bad = [
        (with("p", json!(31.0)), "setpoint"),
        (with("v", json!(101.0)), "`v`"),
        (with("gs_phi_idx", json!(7)), "phi_idx"),
        (with("o", json!([1.0, 2.0])), "length 10"),
        (with("hg", json!(-0.5)), "`hg`"),
        (with("typo", json!(1.0)), "typo"),
    ];
    for (value, needle) in bad {
        match other.reset(None, &ResetOptions { state: Some(value) }) {
            Err(e @ EnvError::InvalidOptions { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains("IndustrialBenchmark-v0") && msg.contains(needle), "{msg}");
            }
            res => panic!("{needle}: expected InvalidOptions, got {:?}", res.map(|r| r.0)),
        }
    }
}

fn setpoints(tasks: &[Task]) -> Vec<f64> {
    tasks.iter().map(|t| t["setpoint"].as_f64().expect("setpoint")).collect()
}

#[test]
fn held_out_setpoints_are_never_trained_on() {
    let train = setpoints(&INDUSTRIAL_BENCHMARK.train_tasks());
    let heldout = setpoints(&INDUSTRIAL_BENCHMARK.heldout_tasks());
    assert_eq!(train, (0..=15).map(|k| 5.0 * f64::from(k)).collect::<Vec<_>>());
    assert_eq!(heldout, vec![80.0, 85.0, 90.0, 95.0, 100.0]);
    assert!(heldout.iter().all(|p| !train.contains(p)));
    for t in INDUSTRIAL_BENCHMARK.train_tasks().iter().chain(&INDUSTRIAL_BENCHMARK.heldout_tasks())
    {
        INDUSTRIAL_BENCHMARK.make(t).expect("every listed task builds");
    }
}

#[test]
fn bad_tasks_name_the_field() {
    for (t, needle) in [
        (json!({"setpoint": 120.0}), "setpoint"),
        (json!({"setpoint": "high"}), "setpoint"),
        (json!({"set_point": 50.0}), "set_point"),
    ] {
        let t = t.as_object().cloned().expect("task");
        let err = INDUSTRIAL_BENCHMARK.make(&t).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("IndustrialBenchmark-v0") && err.contains(needle), "{err}");
    }
    let default = INDUSTRIAL_BENCHMARK.default_task();
    assert_eq!(default["setpoint"], json!(50.0));
}
