//! Policy files: a save/load round trip acts identically; corrupt or mismatched files are
//! errors naming the file and what is wrong.

mod ppo_toy;

use std::path::Path;

use datagen::ppo::saved::{META_FILE, WEIGHTS_FILE};
use datagen::ppo::{PpoConfig, PpoDemonstrator, TrainSpec, TrainedPolicy, train};
use envs::{Action, Task};
use histories::Demonstrator;

fn trained(dir: &Path) -> TrainedPolicy {
    let config = PpoConfig {
        total_steps: 256,
        num_envs: 2,
        num_steps: 128,
        num_minibatches: 2,
        eval_episodes: 2,
        ..PpoConfig::continuous()
    };
    let task = Task::new();
    let spec = TrainSpec {
        env_id: "Target-v0",
        task: &task,
        config: &config,
        seed: 3,
        run_dir: Some(dir),
        progress: false,
    };
    train(&spec, &ppo_toy::make_target).expect("training runs").policy
}

fn actions(policy: &TrainedPolicy) -> Vec<Action> {
    let mut actor = PpoDemonstrator::from_policy(policy);
    [-0.9f32, -0.2, 0.0, 0.4, 1.0].iter().map(|&g| actor.act(&[g])).collect()
}

fn load_error(dir: &Path) -> String {
    TrainedPolicy::load(dir).err().map(|e| e.to_string()).unwrap_or_else(|| "loaded".into())
}

#[test]
fn round_trip_acts_identically_and_matches_torch() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = trained(dir.path());
    policy.save(dir.path()).expect("saves");
    let loaded = TrainedPolicy::load(dir.path()).expect("loads");
    // JSON keeps every field; floats to within their last digit.
    let (a, b) = (&loaded.meta, &policy.meta);
    assert_eq!(
        (&a.env_id, &a.config, &a.action_space, a.seed),
        (&b.env_id, &b.config, &b.action_space, b.seed)
    );
    assert!((a.eval_mean_return - b.eval_mean_return).abs() < 1e-12);
    let (sa, sb) = (a.obs_norm.as_ref().expect("stats"), b.obs_norm.as_ref().expect("stats"));
    assert!(sa.mean.iter().zip(&sb.mean).all(|(x, y)| (x - y).abs() < 1e-12));
    assert_eq!(actions(&loaded), actions(&policy));
    // The plain-Rust actor agrees with the torch forward pass.
    let mut obs = vec![0.4f32];
    loaded.normalize_obs(&mut obs);
    let torch_mean = loaded.net.deterministic(&datagen::ppo::policy::from_rows(&obs, 1));
    let plain = PpoDemonstrator::from_policy(&loaded).actor_output(&[0.4]);
    assert!((torch_mean[0] - plain[0]).abs() < 1e-5, "{torch_mean:?} vs {plain:?}");
    // TensorBoard events and the run config were written to the run folder.
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("run dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.starts_with("events.out.tfevents")), "{names:?}");
    assert!(names.iter().any(|n| n == "config.json"));
    assert!(!names.iter().any(|n| n.contains(".tmp-")), "{names:?}");
}

#[test]
fn corrupt_and_mismatched_files_are_named_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = trained(dir.path());
    policy.save(dir.path()).expect("saves");
    let weights = dir.path().join(WEIGHTS_FILE);
    let meta = dir.path().join(META_FILE);
    let good_weights = std::fs::read(&weights).expect("weights");
    let good_meta = std::fs::read_to_string(&meta).expect("meta");

    // Truncated weights.
    std::fs::write(&weights, &good_weights[..good_weights.len() / 2]).expect("write");
    let err = load_error(dir.path());
    assert!(err.contains(WEIGHTS_FILE) && err.contains("safetensors"), "{err}");
    std::fs::write(&weights, &good_weights).expect("write");

    // Garbage metadata.
    std::fs::write(&meta, "{ not json").expect("write");
    let err = load_error(dir.path());
    assert!(err.contains(META_FILE), "{err}");

    // Metadata that does not match the weights (observation dimension 3 instead of 1).
    let mut value: serde_json::Value = serde_json::from_str(&good_meta).expect("json");
    value["observation_dim"] = 3.into();
    value["obs_norm"] = serde_json::Value::Null;
    std::fs::write(&meta, value.to_string()).expect("write");
    let err = load_error(dir.path());
    assert!(err.contains(".0.weight") && err.contains("shape [64, 1], expected [64, 3]"), "{err}");

    // Unsupported version.
    value["observation_dim"] = 1.into();
    value["format_version"] = 99.into();
    std::fs::write(&meta, value.to_string()).expect("write");
    let err = load_error(dir.path());
    assert!(err.contains("format_version"), "{err}");

    // Missing weights.
    std::fs::write(&meta, &good_meta).expect("write");
    std::fs::remove_file(&weights).expect("remove");
    let err = load_error(dir.path());
    assert!(err.contains(WEIGHTS_FILE) && err.contains("missing"), "{err}");
}
