//! Step-by-step cross-check of the Industrial Benchmark port against the reference Python
//! package `industrial-benchmark-python` 2.0: the reference's random draws, recorded by
//! `scripts/record_ib_fixtures.py` into `fixtures/industrial_benchmark/replay.json`, are
//! replayed through the port, and every state variable must agree.

use std::collections::VecDeque;
use std::path::PathBuf;

use envs::industrial_benchmark::goldstone::Goldstone;
use envs::industrial_benchmark::{IbState, Noise, StepDetails};
use envs::{Action, Family, ResetOptions};
use serde_json::{Value, json};

/// Relative tolerance (against `max(1, |reference|)`). Both sides compute in f64 with the same
/// operation order; what remains is ulp-level differences of `exp`, `pow`, `cbrt`, `sin`
/// between numpy/scipy and Rust's libm, and numpy's summation order in `np.dot`. The largest
/// deviation measured over the fixture is about 1e-14.
const TOL: f64 = 1e-12;

fn fixture() -> Value {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/industrial_benchmark/replay.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// Replays recorded draws; the kind of each draw must match what the port asks for.
struct Replay {
    draws: VecDeque<(String, f64)>,
    context: String,
}

impl Replay {
    fn new(draws: &Value, context: String) -> Self {
        let draws = draws
            .as_array()
            .expect("draws: array")
            .iter()
            .map(|d| {
                (d[0].as_str().expect("draw kind").to_string(), d[1].as_f64().expect("draw value"))
            })
            .collect();
        Self { draws, context }
    }

    fn next(&mut self, kind: &str) -> f64 {
        let (got, value) = self.draws.pop_front().unwrap_or_else(|| {
            panic!("{}: port drew `{kind}` past the recorded draws", self.context)
        });
        assert_eq!(
            got, kind,
            "{}: port drew `{kind}` where the reference drew `{got}`",
            self.context
        );
        value
    }

    fn finish(&self) {
        assert!(self.draws.is_empty(), "{}: reference drew more: {:?}", self.context, self.draws);
    }
}

impl Noise for Replay {
    fn exponential(&mut self, _scale: f64) -> f64 {
        self.next("exponential")
    }
    fn uniform(&mut self) -> f64 {
        self.next("rand")
    }
    fn bernoulli(&mut self, p: f64) -> f64 {
        let b = self.next("binomial");
        assert!(b == 0.0 || b == 1.0, "{}: binomial draw {b}", self.context);
        assert!((0.001..=0.999).contains(&p), "{}: bernoulli p {p}", self.context);
        b
    }
    fn normal(&mut self, _mean: f64, _std: f64) -> f64 {
        self.next("normal")
    }
    fn standard_normal(&mut self) -> f64 {
        self.next("randn")
    }
}

/// Largest relative deviation seen, over all compared values.
struct Deviation(f64);

impl Deviation {
    fn check(&mut self, name: &str, ours: f64, reference: &Value, context: &str) {
        let r = reference.as_f64().unwrap_or_else(|| panic!("{context}: `{name}` missing"));
        let rel = (ours - r).abs() / r.abs().max(1.0);
        assert!(rel <= TOL, "{context}: `{name}` = {ours}, reference {r} (relative {rel:e})");
        self.0 = self.0.max(rel);
    }
}

fn compare(
    state: &IbState,
    details: &StepDetails,
    reference: &Value,
    dev: &mut Deviation,
    context: &str,
) {
    let scalars = [
        ("p", state.p),
        ("v", state.v),
        ("g", state.g),
        ("h", state.h),
        ("f", state.f),
        ("c", state.c),
        ("hv", state.hv),
        ("hg", state.hg),
        ("he", details.he),
        ("ve", details.ve),
        ("ge", details.ge),
        ("fb", details.fb),
        ("oc", details.oc),
        ("mc", details.mc),
    ];
    for (name, ours) in scalars {
        dev.check(name, ours, &reference[name], context);
    }
    for (i, o) in state.o.iter().enumerate() {
        dev.check(&format!("o[{i}]"), *o, &reference["o"][i], context);
    }
    assert_eq!(
        i64::from(state.gs_domain),
        reference["gs_domain"].as_i64().expect("gs_domain"),
        "{context}"
    );
    assert_eq!(
        i64::from(state.gs_sys_response),
        reference["gs_sys_response"].as_i64().expect("gs_sys_response"),
        "{context}"
    );
    assert_eq!(
        i64::from(state.gs_phi_idx),
        reference["gs_phi_idx"].as_i64().expect("gs_phi_idx"),
        "{context}"
    );
}

fn action_of(step: &Value) -> [f64; 3] {
    let a = step["action"].as_array().expect("action");
    [0, 1, 2].map(|i| a[i].as_f64().expect("action value"))
}

#[test]
fn replayed_reference_draws_reproduce_every_state_variable() {
    let fixture = fixture();
    let gs = Goldstone::new();
    let mut dev = Deviation(0.0);
    let mut steps = 0;
    let mut bifurcations = 0;
    for traj in fixture["trajectories"].as_array().expect("trajectories") {
        let p = traj["setpoint"].as_f64().expect("setpoint");
        let mut state = IbState::initial(p);

        let context = format!("setpoint {p}, warm-up");
        let mut replay = Replay::new(&traj["warmup"]["draws"], context.clone());
        let details = state.step([0.0; 3], &gs, &mut replay);
        replay.finish();
        compare(&state, &details, &traj["warmup"]["state"], &mut dev, &context);

        for (t, step) in traj["steps"].as_array().expect("steps").iter().enumerate() {
            let context = format!("setpoint {p}, step {t}");
            let mut replay = Replay::new(&step["draws"], context.clone());
            let details = state.step(action_of(step), &gs, &mut replay);
            replay.finish();
            compare(&state, &details, &step["state"], &mut dev, &context);
            dev.check("reward", -details.cost, &step["reward"], &context);
            bifurcations += usize::from(details.bifurcation);
            steps += 1;
        }
    }
    assert!(steps >= 300, "fixture too small: {steps} steps");
    assert!(bifurcations > 20, "fixture must exercise the fatigue bifurcation: {bifurcations}");
    eprintln!("replayed {steps} reference steps; largest relative deviation {:e}", dev.0);
}

/// The recorded state as `reset` options: only the Markov state keys.
fn reset_state(reference: &Value) -> Value {
    let keys = [
        "p",
        "v",
        "g",
        "h",
        "f",
        "c",
        "hv",
        "hg",
        "o",
        "gs_domain",
        "gs_sys_response",
        "gs_phi_idx",
    ];
    Value::Object(keys.iter().map(|k| (k.to_string(), reference[*k].clone())).collect())
}

#[test]
fn env_started_from_reference_states_observes_and_steers_like_the_reference() {
    let fixture = fixture();
    let family = envs::industrial_benchmark::INDUSTRIAL_BENCHMARK;
    let mut checked = 0;
    for traj in fixture["trajectories"].as_array().expect("trajectories") {
        let p = traj["setpoint"].as_f64().expect("setpoint");
        let task = json!({ "setpoint": p }).as_object().cloned().expect("task");
        let mut env = family.make(&task).expect("make");
        let steps = traj["steps"].as_array().expect("steps");
        for pair in steps.windows(2).step_by(7) {
            let (before, after) = (&pair[0]["state"], &pair[1]);
            let options = ResetOptions { state: Some(reset_state(before)) };
            let (obs, _) = env.reset(Some(checked), &options).expect("reset from state");
            for (i, key) in ["p", "v", "g", "h", "f", "c"].iter().enumerate() {
                let r = before[*key].as_f64().expect("obs key");
                assert_eq!(obs[i], r as f32, "setpoint {p}: observation `{key}`");
            }
            // The steerings' update is deterministic; the action travels as f32.
            let action = action_of(after).map(|a| a as f32);
            let step = env.step(&Action::Continuous(action.to_vec())).expect("step");
            for (i, key) in [(1, "v"), (2, "g"), (3, "h")] {
                let r = after["state"][key].as_f64().expect("steering");
                assert!(
                    (f64::from(step.obs[i]) - r).abs() < 1e-4,
                    "setpoint {p}: `{key}` {} vs {r}",
                    step.obs[i]
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 30, "checked only {checked} states");
}
