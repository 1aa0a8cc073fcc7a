//! End to end: a generated dataset -> training runs (resume, loss decrease, bad input).

use std::path::Path;
use std::sync::Mutex;

/// Model initialisation seeds torch's global generator: tests that build models in parallel
/// threads would race on it, so they take turns.
static TORCH_RNG: Mutex<()> = Mutex::new(());

use agent::train::{OptimConfig, RunOptions, TrainConfig, config_for, read_metrics, train};
use datagen::generate::{GenerateOptions, generate};
use datagen::suite::Suite;
use histories::dataset::Dataset;

fn dataset(dir: &Path) -> Dataset {
    dataset_seeded(dir, 1)
}

/// The test dataset generated with another seed: the same groups, other histories.
fn dataset_seeded(dir: &Path, seed: u64) -> Dataset {
    let mut suite = Suite::from_json(
        r#"{
          "name": "train-test", "seed": 1,
          "entries": [
            {"env": "DarkRoom-v0", "tasks": [{"goal": [1, 1]}, {"goal": [7, 2]}, {"goal": [4, 8]}, {"goal": [6, 6]}],
             "demonstrator": {"kind": "oracle"}, "histories_per_task": 2, "transitions_per_history": 600,
             "noise": {"mode": "fixed", "schedule": {"kind": "linear", "start": 0.5, "end": 0.0, "f": 0.3}}}
          ]
        }"#,
        "test",
    )
    .unwrap();
    suite.seed = seed;
    generate(
        &suite,
        &GenerateOptions { out: dir.to_path_buf(), jobs: 2, threads: 1, progress: false },
    )
    .unwrap();
    Dataset::open(dir).unwrap()
}

/// A test's turn at torch's generator, a scratch folder and the test dataset in its `data`.
fn setup() -> (std::sync::MutexGuard<'static, ()>, tempfile::TempDir, Dataset) {
    let turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"));
    (turn, tmp, data)
}

/// Options of a quiet run in `run_dir`, stopping after `stop_after` steps if given.
fn run_opts(run_dir: std::path::PathBuf, stop_after: Option<usize>) -> RunOptions {
    RunOptions { run_dir, progress: false, stop_after, ..Default::default() }
}

fn config(data: &Dataset, steps: usize) -> TrainConfig {
    TrainConfig {
        model: config_for("tiny", data).unwrap(),
        preset: "tiny".into(),
        optim: OptimConfig { lr: 3e-3, warmup_fraction: 0.05, ..OptimConfig::default() },
        data: data.dir.display().to_string(),
        families: vec![],
        suite: "train-test".into(),
        steps,
        batch_size: 4,
        context: 60,
        episode_sparsity: 1,
        val_fraction: 0.25,
        obs_norm: histories::dataset::ObsNorm::Task,
        target: agent::train::ActionTarget::Taken,
        group_target: vec![],
        eval_every: 5,
        eval_batches: 1,
        checkpoint_every: 3,
        snapshot_every: 0,
        group_weights: vec![],
        group_context: vec![],
        seed: 5,
        device: "cpu".into(),
    }
}

#[test]
fn a_resumed_run_gives_the_same_losses_step_for_step() {
    let (_turn, tmp, data) = setup();
    let cfg = config(&data, 8);
    let whole = tmp.path().join("whole");
    let opts = |dir: &Path, stop| run_opts(dir.to_path_buf(), stop);
    let a = train(&cfg, &data, &opts(&whole, None)).unwrap();
    let parts = tmp.path().join("parts");
    let first = train(&cfg, &data, &opts(&parts, Some(4))).unwrap();
    assert_eq!(first.len(), 4);
    // The first invocation stops after step 4 (and checkpoints there); the second resumes.
    let rest = train(&cfg, &data, &opts(&parts, None)).unwrap();
    assert_eq!(rest.first().map(|m| m.step), Some(5));
    let b = read_metrics(&parts).unwrap();
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.step, y.step);
        assert_eq!(x.loss, y.loss, "step {}", x.step);
        assert_eq!(x.val_loss, y.val_loss, "step {}", x.step);
    }
    // Resuming the finished run trains nothing, logs nothing and opens no event file.
    let events = || std::fs::read_dir(parts.join("tb")).unwrap().count();
    let before = events();
    assert!(train(&cfg, &data, &opts(&parts, None)).unwrap().is_empty());
    assert_eq!(read_metrics(&parts).unwrap(), b);
    assert_eq!(events(), before);
}

#[test]
fn snapshots_keep_the_model_of_every_nth_step_as_a_file_that_evaluates_alone() {
    let (_turn, tmp, data) = setup();
    let cfg = TrainConfig { snapshot_every: 2, ..config(&data, 5) };
    let run = tmp.path().join("run");
    train(&cfg, &data, &run_opts(run.clone(), None)).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(run.join("snapshots"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["model-step2.safetensors", "model-step4.safetensors"], "no temporary left");
    // Each file carries the model config; the step-4 weights are not the final (step-5) ones.
    let weights = |path: &Path| {
        let (model_cfg, _) = agent::model::read_model_file(path).unwrap();
        assert_eq!(model_cfg, cfg.model);
        let mut tensors = tch::Tensor::read_safetensors(path).unwrap();
        tensors.sort_by(|a, b| a.0.cmp(&b.0));
        tensors
    };
    let step4 = weights(&agent::train::checkpoint::snapshot_path(&run, 4));
    let last = weights(&run.join("checkpoint/model.safetensors"));
    let changed = step4.iter().zip(&last).any(|((n, a), (m, b))| {
        assert_eq!(n, m);
        !a.equal(b)
    });
    assert!(changed, "step 5 trained on from the step-4 snapshot");
}

#[test]
fn training_drives_the_loss_well_below_its_start() {
    let (_turn, tmp, data) = setup();
    let cfg = config(&data, 60);
    let m = train(&cfg, &data, &run_opts(tmp.path().join("run"), None)).unwrap();
    let head: f64 = m[..5].iter().map(|m| m.loss).sum::<f64>() / 5.0;
    let tail: f64 = m[m.len() - 5..].iter().map(|m| m.loss).sum::<f64>() / 5.0;
    assert!(tail < 0.6 * head, "loss {head:.4} -> {tail:.4}");
}

#[test]
fn a_group_context_trains_on_whole_histories_and_refuses_longer_ones() {
    let (_turn, tmp, data) = setup();
    let group = data.manifest.groups.keys().next().unwrap().clone();
    // Whole 600-step histories: one per micro-batch (4 x 60 / 600 rounds up to 1).
    let mut cfg = config(&data, 2);
    cfg.group_context = vec![(group.clone(), 600)];
    assert_eq!(cfg.batch_shape(&group), (1, 600));
    let m = train(&cfg, &data, &run_opts(tmp.path().join("whole"), None)).unwrap();
    assert_eq!(m.len(), 2);
    assert!(m.iter().all(|s| s.loss.is_finite()));
    // Validation (at the final step) uses the same whole-history windows.
    assert!(m[1].val_loss.get(&group).is_some_and(|l| l.is_finite()), "{:?}", m[1].val_loss);
    // Windows longer than every history are a clear error naming the length.
    cfg.group_context = vec![(group, 601)];
    let e = train(&cfg, &data, &run_opts(tmp.path().join("long"), None)).unwrap_err().to_string();
    assert!(e.contains("601 steps"), "{e}");
}

#[test]
fn bad_inputs_are_clear_errors() {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let err = Dataset::open(&tmp.path().join("nope")).unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
    let data = dataset(&tmp.path().join("data"));
    let mut cfg = config(&data, 2);
    cfg.batch_size = 0;
    let e = train(&cfg, &data, &run_opts(tmp.path().join("r0"), None)).unwrap_err().to_string();
    assert!(e.contains("batch_size"), "{e}");
    // A checkpoint of another architecture cannot be resumed into this one.
    let cfg = config(&data, 2);
    let run = tmp.path().join("r1");
    train(&cfg, &data, &run_opts(run.clone(), None)).unwrap();
    let mut other = cfg.clone();
    other.model.hidden *= 2;
    let e = train(&other, &data, &run_opts(run, None)).unwrap_err().to_string();
    assert!(e.contains("another config"), "{e}");
    // Corrupt weights in a checkpoint are reported with the file.
    let run = tmp.path().join("r2");
    train(&cfg, &data, &run_opts(run.clone(), Some(1))).unwrap();
    std::fs::write(run.join("checkpoint/model.safetensors"), b"garbage").unwrap();
    let e = train(&cfg, &data, &run_opts(run, None)).unwrap_err().to_string();
    assert!(e.contains("model.safetensors"), "{e}");
}

#[test]
fn a_tampered_manifest_or_model_group_is_an_error_before_any_tensor_op() {
    let (_turn, tmp, data) = setup();
    let manifest = histories::manifest::Manifest::path(&data.dir);
    let original = std::fs::read_to_string(&manifest).unwrap();
    let group = data.manifest.groups.keys().next().unwrap().clone();
    // Each tampering of the group's entry, and a word its error must hold.
    let cases = [
        ("obs_dim", serde_json::json!(5), "obs_dim 5"),
        ("act_dim", serde_json::json!(2), "act_dim 2"),
        ("num_actions", serde_json::json!(9), "num_actions 9"),
        ("num_actions", serde_json::json!(3), "num_actions 3"),
        ("action_type", serde_json::json!("continuous"), "continuous"),
        ("action_type", serde_json::json!("lattice"), "lattice"),
        ("tasks", serde_json::json!(7), "tasks 7"),
    ];
    for (field, value, expect) in cases {
        let mut m: serde_json::Value = serde_json::from_str(&original).unwrap();
        m["groups"][&group][field] = value;
        std::fs::write(&manifest, serde_json::to_string(&m).unwrap()).unwrap();
        let e = Dataset::open(&data.dir).unwrap_err().to_string();
        assert!(e.contains(expect), "{field}: {e}");
        let e = Dataset::verify(&data.dir, false).unwrap_err().to_string();
        assert!(e.contains(expect), "{field}: {e}");
    }
    std::fs::write(&manifest, &original).unwrap();
    // A model (config.json) whose group disagrees with the dataset is refused by the trainer.
    for edit in [
        (|g: &mut agent::model::GroupSpec| g.obs_dim = 5) as fn(&mut agent::model::GroupSpec),
        |g| g.action = agent::model::ActionSpec::Discrete { n: 3 },
        |g| g.action = agent::model::ActionSpec::Continuous { dim: 1 },
    ] {
        let mut cfg = config(&data, 2);
        edit(&mut cfg.model.groups[0]);
        let run = tmp.path().join("run");
        let _ = std::fs::remove_dir_all(&run);
        let e = train(&cfg, &data, &run_opts(run, None)).unwrap_err().to_string();
        assert!(e.contains(&format!("domain group `{group}`")) && e.contains("obs_dim"), "{e}");
    }
}

#[test]
fn a_resume_on_another_dataset_is_refused_unless_allowed() {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let data = dataset(&dir);
    let cfg = config(&data, 6);
    let run = tmp.path().join("run");
    let opts = |stop, allow| RunOptions {
        run_dir: run.clone(),
        progress: false,
        stop_after: stop,
        allow_data_change: allow,
        ..Default::default()
    };
    train(&cfg, &data, &opts(Some(2), false)).unwrap();
    let record: agent::train::DataRecord =
        serde_json::from_str(&std::fs::read_to_string(run.join(agent::train::DATA_FILE)).unwrap())
            .unwrap();
    let first = agent::train::data_fingerprint(&dir).unwrap();
    assert_eq!(record.data_fingerprint, first);
    // The same folder now holds another dataset of the same groups.
    std::fs::remove_dir_all(&dir).unwrap();
    let other = dataset_seeded(&dir, 2);
    let second = agent::train::data_fingerprint(&dir).unwrap();
    assert_ne!(first, second);
    let e = train(&cfg, &other, &opts(Some(2), false)).unwrap_err().to_string();
    assert!(e.contains(&first) && e.contains(&second) && e.contains("--allow-data-change"), "{e}");
    // Allowed: it continues, and the record follows the new dataset.
    let m = train(&cfg, &other, &opts(Some(2), true)).unwrap();
    assert_eq!(m.first().map(|m| m.step), Some(3));
    train(&cfg, &other, &opts(Some(1), false)).unwrap();
    // A run from before data.json existed resumes as before.
    std::fs::remove_file(run.join(agent::train::DATA_FILE)).unwrap();
    let m = train(&cfg, &Dataset::open(&dir).unwrap(), &opts(None, false)).unwrap();
    assert_eq!(m.last().map(|m| m.step), Some(6));
    assert!(!run.join(agent::train::DATA_FILE).exists());
}

#[test]
fn a_run_resumed_after_a_kill_logs_each_step_once() {
    let (_turn, tmp, data) = setup();
    let cfg = config(&data, 9);
    let run = tmp.path().join("run");
    // Steps 1-3 and their checkpoint, then steps 4-5 logged by an invocation killed before
    // it checkpointed again (its checkpoint at 5 is replaced by the one at 3).
    train(&cfg, &data, &run_opts(run.clone(), Some(3))).unwrap();
    let copy_dir = |from: &Path, to: &Path| {
        std::fs::create_dir_all(to).unwrap();
        for f in std::fs::read_dir(from).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), to.join(f.file_name())).unwrap();
        }
    };
    let saved = tmp.path().join("checkpoint-at-3");
    copy_dir(&run.join("checkpoint"), &saved);
    train(&cfg, &data, &run_opts(run.clone(), Some(2))).unwrap();
    std::fs::remove_dir_all(run.join("checkpoint")).unwrap();
    copy_dir(&saved, &run.join("checkpoint"));
    // A half-written line from the kill, too.
    let metrics = run.join("metrics.jsonl");
    let mut text = std::fs::read_to_string(&metrics).unwrap();
    text.push_str("{\"step\":6,\"lo");
    std::fs::write(&metrics, text).unwrap();
    // A resume that trains nothing already drops the steps past the checkpoint, and opens
    // no event file.
    assert!(train(&cfg, &data, &run_opts(run.clone(), Some(0))).unwrap().is_empty());
    let steps: Vec<usize> = read_metrics(&run).unwrap().iter().map(|m| m.step).collect();
    assert_eq!(steps, vec![1, 2, 3]);
    let resumed = train(&cfg, &data, &run_opts(run.clone(), None)).unwrap();
    assert_eq!(resumed.first().map(|m| m.step), Some(4));
    let steps: Vec<usize> = read_metrics(&run).unwrap().iter().map(|m| m.step).collect();
    assert_eq!(steps, (1..=9).collect::<Vec<_>>());
    // One event file per invocation, each sorting after the one before.
    let mut files: Vec<String> = std::fs::read_dir(run.join("tb"))
        .unwrap()
        .map(|f| f.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    files.sort();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files.iter().all(|f| f.starts_with("events.out.tfevents.")), "{files:?}");
}

#[test]
fn a_run_beyond_the_memory_limit_is_refused_unless_forced() {
    let (_turn, tmp, data) = setup();
    let cfg = config(&data, 1);
    let need = agent::train::memory::estimate_peak(&cfg).total();
    let opts = |limit: u64, force| RunOptions {
        memory_limit: Some(limit),
        force,
        ..run_opts(tmp.path().join("run"), None)
    };
    let e = train(&cfg, &data, &opts(need / 2, false)).unwrap_err().to_string();
    assert!(e.contains("estimated peak memory") && e.contains("--batch-size"), "{e}");
    assert!(!tmp.path().join("run").exists(), "refused before the run folder is made");
    assert_eq!(train(&cfg, &data, &opts(need / 2, true)).unwrap().len(), 1);
}

#[test]
fn evaluation_runs_every_episode_of_every_seed_and_rejects_other_domains() {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    use agent::eval::{Control, EvalOptions, TaskSet, evaluate, select_tasks};
    use agent::model::Model;
    use agent::model::kv::{KvBudget, KvOptions, KvPolicy};
    use rand::SeedableRng;
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"));
    let cfg = config(&data, 3);
    let run = tmp.path().join("run");
    train(&cfg, &data, &run_opts(run.clone(), None)).unwrap();
    let mut model =
        Model::new(&cfg.model, tch::Device::Cpu, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))
            .unwrap();
    model.load(&run.join("checkpoint/model.safetensors")).unwrap();
    let tasks = select_tasks(&TaskSet::parse("heldout").unwrap(), &data.manifest).unwrap();
    assert_eq!(tasks.len(), 16);
    let opts = EvalOptions {
        episodes: 3,
        seeds: 2,
        seed: 0,
        reference_episodes: 2,
        greedy: false,
        obs_norm: histories::dataset::ObsNorm::Task,
        controls: vec![],
        progress: false,
        kv: None,
    };
    let report = evaluate(&model, &data, None, &tasks[..3], &opts).unwrap();
    for t in &report.tasks {
        assert_eq!(t.returns.len(), 2);
        assert!(t.returns.iter().all(|r| r.len() == 3));
        // Held-out goals are not in the data: the oracle measures the expert return.
        assert!(t.expert_return.unwrap() > t.random_return);
        let n = t.normalized.as_ref().unwrap();
        let span = t.expert_return.unwrap() - t.random_return;
        assert!((n[1][2] - (t.returns[1][2] - t.random_return) / span).abs() < 1e-12);
    }
    assert_eq!(report.curve("heldout", None).len(), 3);
    // The linear reward encoder never hides rewards; a LeakyReLU one (models from before it)
    // whose units are below zero at every reward the context held is named in the report.
    assert!(report.hidden_rewards.is_empty());
    let mut leaky_cfg = cfg.model.clone();
    leaky_cfg.reward_encoder = agent::model::RewardEncoder::LeakyRelu;
    let mut leaky =
        Model::new(&leaky_cfg, tch::Device::Cpu, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))
            .unwrap();
    leaky.load(&run.join("checkpoint/model.safetensors")).unwrap();
    let mut vars = leaky.var_store().variables();
    tch::no_grad(|| {
        let w = vars.get_mut("groups.0.encoder.rew.weight").unwrap();
        w.copy_(&tch::Tensor::from_slice(&[0.5f32, -0.5]).view([2, 1]));
        let b = vars.get_mut("groups.0.encoder.rew.bias").unwrap();
        b.copy_(&tch::Tensor::from_slice(&[-1f32, -1.0]));
    });
    let hidden = evaluate(&leaky, &data, None, &tasks[..3], &opts).unwrap().hidden_rewards;
    assert_eq!(hidden.len(), 1, "{hidden:?}");
    assert_eq!((hidden[0].group.as_str(), hidden[0].lowest), ("obs2-discrete5", 0.0));
    assert!(hidden[0].highest <= 1.0, "{hidden:?}");
    // The report holds the memory the state held: the tiny model's softmax window of 16.
    let memory = report.memory.as_ref().unwrap();
    assert!(memory.kv_cache.contains("sliding window of 16") && memory.kv_peak_bytes > 0.0);
    assert!(memory.kv_full_bytes.is_none() && memory.steps == 60);

    // Compressed caches (`--kv-*`) with a budget covering the history play exactly the
    // runs of a sliding window covering it (same weights, a window of 64 steps).
    let mut wide_cfg = cfg.model.clone();
    wide_cfg.softmax_window = 64;
    let mut wide =
        Model::new(&wide_cfg, tch::Device::Cpu, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))
            .unwrap();
    wide.load(&run.join("checkpoint/model.safetensors")).unwrap();
    let window = evaluate(&wide, &data, None, &tasks[..3], &opts).unwrap();
    for policy in [KvPolicy::Pyramid, KvPolicy::Window] {
        let kv = KvOptions { budget: KvBudget::Entries(60), policy, ..KvOptions::default() };
        let kv_opts = EvalOptions { kv: Some(kv), ..opts.clone() };
        let compressed = evaluate(&wide, &data, None, &tasks[..3], &kv_opts).unwrap();
        for (a, b) in window.tasks.iter().zip(&compressed.tasks) {
            assert_eq!(a.returns, b.returns, "{policy:?}");
        }
        let m = compressed.memory.unwrap();
        assert!(m.kv_options.is_some() && m.kv_full_bytes.unwrap() > 0.0, "{m:?}");
    }
    // A task of another domain group (continuous Pendulum) is refused with a clear message.
    let other = vec![agent::eval::TaskRef {
        family: "Pendulum-v1".into(),
        task: envs::Task::new(),
        split: histories::split::Split::Custom,
    }];
    let e = evaluate(&model, &data, None, &other, &opts).err().unwrap().to_string();
    assert!(e.contains("obs3-box1") && e.contains("not trained on"), "{e}");
    // `--tasks train` is the run's own training tasks, not the family's whole train split.
    let own = select_tasks(&TaskSet::Train, &data.manifest).unwrap();
    assert_eq!(
        own.len(),
        data.manifest.tasks.iter().filter(|t| t.split == histories::split::Split::Train).count()
    );
    assert!(own.len() < envs::family("DarkRoom-v0").unwrap().train_tasks().len());

    // Controls: the same resets and sampling stream as the evaluation, one thing changed.
    let opts = EvalOptions { episodes: 6, controls: Control::ALL.to_vec(), ..opts };
    let report = evaluate(&model, &data, None, &tasks[..3], &opts).unwrap();
    let zero = report.control(Control::ZeroReward).unwrap();
    let other = report.control(Control::OtherTask).unwrap();
    assert_eq!((other.first_scored, other.episodes), (3, 3));
    let random = report.control(Control::RandomReward).unwrap();
    assert_eq!((random.first_scored, random.episodes), (0, 6));
    assert!(random.tasks.iter().all(|t| t.returns.iter().all(|r| r.len() == 6)));
    for (i, t) in report.tasks.iter().enumerate() {
        // With rewards zeroed, a run is the evaluation's own run until its first reward.
        for (main, zero) in t.returns.iter().zip(&zero.tasks[i].returns) {
            let first_reward = main.iter().position(|r| *r > 0.0).unwrap_or(main.len());
            assert_eq!(main[..first_reward], zero[..first_reward]);
        }
        let o = &other.tasks[i];
        assert!(o.returns.iter().all(|r| r.len() == 3));
        // The context's first half came from the next held-out goal (cyclically).
        assert_eq!(o.context_task.as_ref(), Some(&report.tasks[(i + 1) % 3].task));
        assert_eq!(o.task, t.task);
    }

    // An evaluation too large to hold is refused before anything runs, naming the flags.
    let huge = EvalOptions { episodes: 100_000, seeds: 1000, ..opts.clone() };
    let e = evaluate(&model, &data, None, &tasks, &huge).err().unwrap().to_string();
    assert!(e.contains("--episodes") && e.contains("--seeds"), "{e}");

    // A broken checkpoint (a NaN bias) stops evaluation with an error naming the step,
    // instead of scoring whatever action the NaN logits pick.
    // The action decoder's output bias (every step's prediction goes through it; a bias picked
    // from the var store's unordered map was sometimes the reward encoder's, unused at step 0).
    let vars = model.var_store().variables();
    let (name, bias) = vars
        .iter()
        .filter(|(n, _)| n.contains("decoder") && n.ends_with("bias"))
        .max_by_key(|(n, _)| n.as_str())
        .unwrap();
    tch::no_grad(|| {
        let _ = bias.shallow_clone().fill_(f64::NAN);
    });
    let e = evaluate(&model, &data, None, &tasks[..1], &opts).err().unwrap().to_string();
    assert!(e.contains("non-finite") && e.contains("evaluation step 0"), "{name}: {e}");
}

#[test]
fn the_demonstrator_target_trains_on_the_demonstrators_actions_with_the_taken_ones_in_context() {
    use agent::train::ActionTarget;
    use agent::train::data::to_batch;
    use rand::SeedableRng;
    let tmp = tempfile::tempdir().unwrap();
    let data = dataset(&tmp.path().join("data"));
    let cfg = config(&data, 1);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
    let tasks = data.tasks_of_group(&cfg.model.groups[0].name);
    let windows: Vec<_> =
        (0..4).map(|_| data.sample_window(&tasks, 60, &mut rng).unwrap()).collect();
    let spec = &cfg.model.groups[0];
    let flat = |t: &tch::Tensor| Vec::<i64>::try_from(t.flatten(0, -1)).unwrap();
    let taken = to_batch(&windows, 0, spec, ActionTarget::Taken, tch::Device::Cpu);
    let demo = to_batch(&windows, 0, spec, ActionTarget::Demonstrator, tch::Device::Cpu);
    let as_i64 = |f: &dyn Fn(&histories::dataset::Window) -> &Vec<f32>| -> Vec<i64> {
        windows.iter().flat_map(|w| f(w).iter().map(|a| *a as i64)).collect()
    };
    assert_eq!(flat(taken.target_actions.as_ref().unwrap()), as_i64(&|w| &w.actions));
    assert_eq!(flat(demo.target_actions.as_ref().unwrap()), as_i64(&|w| &w.demo_actions));
    // Noise made the taken actions differ from the demonstrator's somewhere.
    assert_ne!(as_i64(&|w| &w.actions), as_i64(&|w| &w.demo_actions));
    // The context is the same either way: the actions taken.
    assert_eq!(flat(&taken.prev_actions), flat(&demo.prev_actions));
}

#[test]
fn every_step_logs_its_model_flops_mfu_and_peak_memory() {
    let (_turn, tmp, data) = setup();
    let cfg = config(&data, 3);
    let peak = agent::usage::PeakRate { tflops: 0.5, source: "test".into() };
    let opts = RunOptions { peak: Some(peak), ..run_opts(tmp.path().join("run"), None) };
    let m = train(&cfg, &data, &opts).unwrap();
    let flops = agent::model::flops_per_token(&cfg.model, cfg.context as i64).per_token();
    for s in &m {
        // The step's FLOPs are its tokens times the per-token count (one micro-batch at the
        // full context here), so model TFLOP/s and tokens/s are in that ratio.
        let expected = s.tokens_per_sec * flops / 1e12;
        assert!((s.model_tflops - expected).abs() <= 1e-9 * expected, "{s:?}");
        assert_eq!(s.mfu, Some(s.model_tflops / 0.5));
        assert!(s.peak_memory.is_some_and(|b| b > 1 << 20), "host VmHWM in bytes: {s:?}");
    }
    // The logged fields reach metrics.jsonl, and an older line without them still parses.
    assert_eq!(read_metrics(&tmp.path().join("run")).unwrap(), m);
    let old = r#"{"step":1,"loss":1.0,"group_loss":{},"lr":0.1,"grad_norm":1.0,
        "tokens_per_sec":10.0,"remoe":[],"val_loss":{}}"#;
    let parsed: agent::train::StepMetrics = serde_json::from_str(old).unwrap();
    assert_eq!((parsed.mfu, parsed.peak_memory), (None, None));
}

#[test]
fn a_remoe_run_logs_each_layers_expert_load_over_the_whole_batch() {
    let (_turn, tmp, data) = setup();
    let mut cfg = config(&data, 3);
    cfg.model.ffn = agent::model::FfnKind::Remoe;
    cfg.optim.accumulation = 2;
    let m = train(&cfg, &data, &run_opts(tmp.path().join("run"), None)).unwrap();
    for s in &m {
        assert_eq!(s.remoe.len(), cfg.model.layers as usize, "every layer is ReMoE: {s:?}");
        assert_eq!(s.remoe_load.len(), s.remoe.len());
        for ((l, sparsity, _), (load_layer, load)) in s.remoe.iter().zip(&s.remoe_load) {
            assert_eq!(l, load_layer);
            assert_eq!(load.len(), cfg.model.experts as usize);
            assert!(load.iter().all(|x| (0.0..=1.0).contains(x)), "{load:?}");
            // The load and the controller's sparsity count the same tokens: both micro-batches.
            let mean = load.iter().sum::<f64>() / load.len() as f64;
            assert!(
                (mean - (1.0 - sparsity)).abs() < 1e-9,
                "mean load {mean}, sparsity {sparsity}"
            );
        }
    }
    assert_eq!(read_metrics(&tmp.path().join("run")).unwrap(), m);
}

#[test]
fn flops_per_token_is_nanogpts_estimate_for_full_softmax_attention() {
    // nanoGPT's estimate_mfu: 6 N + 12 L H Q T, with N the parameters a token uses.
    let data_dir = tempfile::tempdir().unwrap();
    let data = dataset(&data_dir.path().join("data"));
    let mut model = config_for("tiny", &data).unwrap();
    model.pattern = "S".into();
    model.softmax_window = 1 << 20;
    let (_, active) = agent::model::totals(&model, &agent::model::param_table(&model));
    let (l, h, q, t) = (model.layers, model.heads, model.head_dim(), 512);
    let f = agent::model::flops_per_token(&model, t);
    assert_eq!(f.weights, 6.0 * active as f64);
    assert_eq!(f.attention, (12 * l * h * q * t) as f64);
    // A window shorter than the context bounds the span; lightning mixes a block and its state.
    model.softmax_window = 100;
    assert_eq!(agent::model::flops_per_token(&model, t).attention, (12 * l * h * q * 100) as f64);
    model.pattern = "L".into();
    let b = model.lightning_block;
    assert_eq!(
        agent::model::flops_per_token(&model, t).attention,
        (12 * l * h * q * (b + q)) as f64
    );
}

#[test]
fn runs_whose_episodes_end_at_different_steps_all_finish() {
    // Key-to-Door ends at the door, so the runs of a lockstep batch finish at different
    // steps: the finished ones wait while the others play on.
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    use agent::eval::{EvalOptions, TaskRef, evaluate};
    use agent::model::Model;
    use rand::SeedableRng;
    let tmp = tempfile::tempdir().unwrap();
    let suite = Suite::from_json(
        r#"{"name": "doors", "seed": 1, "entries": [
          {"env": "KeyToDoor-v0", "tasks": "train", "max_tasks": 2,
           "demonstrator": {"kind": "oracle"}, "histories_per_task": 1, "transitions_per_history": 300,
           "noise": {"mode": "fixed", "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.3}}}
        ]}"#,
        "doors",
    )
    .unwrap();
    let dir = tmp.path().join("data");
    let opts = GenerateOptions { out: dir.clone(), jobs: 1, threads: 1, progress: false };
    generate(&suite, &opts).unwrap();
    let data = Dataset::open(&dir).unwrap();
    // An untrained model: a random policy (sampled actions).
    let model = Model::new(
        &config_for("tiny", &data).unwrap(),
        tch::Device::Cpu,
        &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
    )
    .unwrap();
    let kd = |key: [usize; 2], door: [usize; 2]| TaskRef {
        family: "KeyToDoor-v0".into(),
        task: serde_json::from_value(serde_json::json!({"key": key, "door": door})).unwrap(),
        split: histories::split::Split::Custom,
    };
    let tasks = [kd([4, 4], [4, 4]), kd([0, 0], [8, 8])];
    let opts = EvalOptions {
        episodes: 6,
        seeds: 2,
        seed: 0,
        reference_episodes: 2,
        greedy: false,
        obs_norm: histories::dataset::ObsNorm::Family,
        controls: vec![],
        progress: false,
        kv: None,
    };
    let report = evaluate(&model, &data, None, &tasks, &opts).unwrap();
    for t in &report.tasks {
        assert!(t.returns.iter().all(|r| r.len() == 6), "{:?}", t.returns);
    }
    // Key and door on the start cell pay in some of the random policy's episodes (which
    // then end early), the far ones in none.
    let paid = |t: usize| report.tasks[t].returns.iter().flatten().filter(|r| **r == 2.0).count();
    assert!(paid(0) >= 2 && paid(1) == 0, "{:?}", report.tasks[0].returns);
}

#[test]
fn a_gaussian_head_trains_on_continuous_histories_and_samples_at_evaluation_unless_greedy() {
    let _turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    use agent::eval::{EvalOptions, TaskRef, evaluate};
    use agent::model::{ActionHead, Model};
    use rand::SeedableRng;
    let tmp = tempfile::tempdir().unwrap();
    let suite = Suite::from_json(
        r#"{"name": "swing", "seed": 1, "entries": [
          {"env": "Pendulum-v1", "tasks": [{"g": 9.0}, {"g": 11.0}],
           "demonstrator": {"kind": "ppo", "total_steps": 2048}, "histories_per_task": 1,
           "transitions_per_history": 400,
           "noise": {"mode": "fixed", "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.3}}}
        ]}"#,
        "swing",
    )
    .unwrap();
    let dir = tmp.path().join("data");
    let generation = GenerateOptions { out: dir.clone(), jobs: 1, threads: 1, progress: false };
    generate(&suite, &generation).unwrap();
    let data = Dataset::open(&dir).unwrap();
    let mut cfg = config(&data, 4);
    cfg.model.set("action_head", "gaussian").unwrap();
    assert_eq!(cfg.model.action_head, ActionHead::Gaussian);
    cfg.suite = "swing".into();
    let run = tmp.path().join("run");
    train(&cfg, &data, &run_opts(run.clone(), None)).unwrap();
    let losses = read_metrics(&run).unwrap();
    assert_eq!(losses.len(), 4);
    assert!(losses.iter().all(|m| m.loss.is_finite()), "a negative log-likelihood per step");
    // The run's config names the head, so a reload builds the same decoder.
    let saved: TrainConfig =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(saved.model.action_head, ActionHead::Gaussian);
    let mut model =
        Model::new(&saved.model, tch::Device::Cpu, &mut rand_chacha::ChaCha8Rng::seed_from_u64(0))
            .unwrap();
    model.load(&run.join("checkpoint/model.safetensors")).unwrap();
    let tasks = [TaskRef {
        family: "Pendulum-v1".into(),
        task: serde_json::from_value(serde_json::json!({"g": 9.0})).unwrap(),
        split: histories::split::Split::Custom,
    }];
    let opts = EvalOptions {
        episodes: 1,
        seeds: 2,
        seed: 0,
        reference_episodes: 1,
        greedy: false,
        obs_norm: histories::dataset::ObsNorm::Family,
        controls: vec![],
        progress: false,
        kv: None,
    };
    let returns = |opts: &EvalOptions| -> Vec<Vec<f64>> {
        let report = evaluate(&model, &data, None, &tasks, opts).unwrap();
        report.tasks[0].returns.clone()
    };
    // The same seed gives the same run; sampling from the Gaussian is not acting its mean.
    let sampled = returns(&opts);
    assert_eq!(sampled, returns(&opts), "one seed, the same sampled run");
    let greedy_opts = EvalOptions { greedy: true, ..opts.clone() };
    let greedy = returns(&greedy_opts);
    assert_ne!(sampled, greedy, "sampled runs act other actions than the mean");
    assert_eq!(greedy, returns(&greedy_opts));
}
