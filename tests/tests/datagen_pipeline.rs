//! End to end: suites -> HDF5 learning histories -> the training reader.

use std::path::Path;

use datagen::generate::{GenerateOptions, generate};
use datagen::suite::Suite;
use histories::dataset::Dataset;
use histories::format::read_task_file;

fn small_suite() -> Suite {
    Suite::from_json(
        r#"{
          "name": "test", "seed": 3,
          "entries": [
            {"env": "DarkRoom-v0", "tasks": [{"goal": [1, 1]}, {"goal": [7, 2]}, {"goal": [4, 8]}],
             "demonstrator": {"kind": "oracle"}, "histories_per_task": 2, "transitions_per_history": 400,
             "noise": {"mode": "fixed", "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.1}}},
            {"env": "Pendulum-v1", "tasks": [{}],
             "demonstrator": {"kind": "ppo", "total_steps": 2048}, "histories_per_task": 1,
             "transitions_per_history": 600, "reward_scale": 0.1,
             "noise": {"mode": "calibrated", "grid": 3, "episodes": 1, "tail": 0.1}}
          ]
        }"#,
        "test suite",
    )
    .expect("valid suite")
}

fn run(dir: &Path, jobs: usize) {
    generate(
        &small_suite(),
        &GenerateOptions { out: dir.to_path_buf(), jobs, threads: 1, progress: false },
    )
    .expect("generate");
}

fn files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .filter(|n| n.ends_with(".h5"))
        .collect();
    names.sort();
    names
}

#[test]
fn same_seed_same_arrays_whatever_the_thread_count() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run(a.path(), 1);
    run(b.path(), 2);
    assert_eq!(files(a.path()), files(b.path()));
    assert_eq!(files(a.path()).len(), 4);
    for name in files(a.path()) {
        let (x, y) = (
            read_task_file(&a.path().join(&name)).unwrap(),
            read_task_file(&b.path().join(&name)).unwrap(),
        );
        assert_eq!(x, y, "{name}");
    }
}

#[test]
fn a_killed_run_resumes_with_every_task_once_and_valid() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let reference = dir.path().join("DarkRoom-v0__goal-7-2.h5");
    let original = read_task_file(&reference).unwrap();
    // Simulate a kill: the manifest and one task are missing, a half-written temporary is left.
    std::fs::remove_file(dir.path().join("manifest.json")).unwrap();
    std::fs::remove_file(&reference).unwrap();
    std::fs::write(dir.path().join(".DarkRoom-v0__goal-7-2.h5.tmp"), b"half a file").unwrap();
    run(dir.path(), 2);
    assert_eq!(files(dir.path()).len(), 4);
    assert_eq!(read_task_file(&reference).unwrap(), original);
    let data = Dataset::open(dir.path()).unwrap();
    assert_eq!(data.tasks.len(), 4);
    assert!(!dir.path().join(".DarkRoom-v0__goal-7-2.h5.tmp").exists());
}

#[test]
fn dark_room_histories_rise_from_random_to_expert() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let data = Dataset::open(dir.path()).unwrap();
    for t in data.manifest.tasks.iter().filter(|t| t.family == "DarkRoom-v0") {
        assert!(t.demonstrator_return > t.random_return + 5.0, "{t:?}");
        // The last 10% of episodes are noise-free: the oracle's return exactly.
        assert_eq!(t.last_return, t.demonstrator_return, "{t:?}");
        assert!(t.first_return < 0.3 * t.demonstrator_return, "{t:?}");
    }
    assert_eq!(data.manifest.groups.len(), 2);
}

#[test]
fn windows_cross_episode_boundaries_with_previous_actions_and_padding() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let data = Dataset::open(dir.path()).unwrap();
    let task = data.tasks.iter().position(|t| t.meta.family == "DarkRoom-v0").unwrap();
    let (t, h) = (&data.tasks[task], &data.tasks[task].histories[0]);
    // Dark Room episodes are 20 steps: a 50-step window from step 15 spans three episodes.
    let w = data.window(task, 0, 15, 50).unwrap();
    for i in 0..50 {
        let s = 15 + i;
        assert_eq!(w.first[i] == 1, h.step_num[s] == 0);
        if w.first[i] == 0 {
            assert_eq!(w.prev_actions[i], h.actions[s - 1]);
            assert_eq!(w.prev_rewards[i], h.rewards[s - 1] * t.meta.reward_scale as f32);
        } else {
            assert_eq!((w.prev_actions[i], w.prev_rewards[i]), (0.0, 0.0));
        }
        assert_eq!(w.actions[i], h.actions[s]);
        let x = h.observations[s * 2];
        assert!((w.obs[i * 2] - (x - t.meta.obs_mean[0]) / t.meta.obs_std[0]).abs() < 1e-6);
    }
    assert_eq!(w.first.iter().filter(|&&f| f == 1).count(), 3);
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let w = data.sample_window(&data.tasks_of_group(&t.meta.group), 64, &mut rng).unwrap();
    assert_eq!(w.len, 64);
    assert!(data.sample_window(&[task], 100_000, &mut rng).is_err());
}

#[test]
fn the_documented_python_reader_runs() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let doc = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../histories/FORMAT.md"),
    )
    .unwrap();
    let start = doc.find("```python\n").expect("a python block in FORMAT.md") + "```python\n".len();
    let snippet = &doc[start..start + doc[start..].find("```").unwrap()];
    let script = dir.path().join("read.py");
    std::fs::write(&script, snippet).unwrap();
    let python = std::env::var("VIRTUAL_ENV")
        .map(|v| Path::new(&v).join("bin/python"))
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"));
    let out = std::process::Command::new(&python)
        .arg(&script)
        .arg(dir.path().join("DarkRoom-v0__goal-1-1.h5"))
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}\n{}", stdout, String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("DarkRoom-v0") && stdout.contains("episodes 20"), "{stdout}");
}

#[test]
fn family_statistics_pool_every_task_of_the_family() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let mut data = Dataset::open(dir.path()).unwrap();
    // Dark Room's per-task mean position leans toward the task's goal: it reveals the task.
    let rooms: Vec<usize> =
        (0..data.tasks.len()).filter(|&t| data.tasks[t].meta.family == "DarkRoom-v0").collect();
    assert_eq!(rooms.len(), 3);
    assert!(
        rooms.iter().any(|&t| data.tasks[t].meta.obs_mean != data.tasks[rooms[0]].meta.obs_mean)
    );
    // Pooled over the family: the mean and std of all the family's observations at once.
    let (mean, std) = data.family_stats("DarkRoom-v0").unwrap();
    let mut all: Vec<[f64; 2]> = Vec::new();
    for &t in &rooms {
        for h in &data.tasks[t].histories {
            all.extend(h.observations.chunks_exact(2).map(|o| [o[0] as f64, o[1] as f64]));
        }
    }
    for d in 0..2 {
        let m = all.iter().map(|o| o[d]).sum::<f64>() / all.len() as f64;
        let v = all.iter().map(|o| (o[d] - m).powi(2)).sum::<f64>() / all.len() as f64;
        assert!((mean[d] as f64 - m).abs() < 1e-4, "mean {d}: {} vs {m}", mean[d]);
        assert!((std[d] as f64 - v.sqrt()).abs() < 1e-4, "std {d}: {} vs {}", std[d], v.sqrt());
    }
    assert!(data.family_stats("CartPole-v1").is_none());
    let pendulum = data.tasks.iter().position(|t| t.meta.family == "Pendulum-v1").unwrap();
    let before = data.tasks[pendulum].meta.obs_mean.clone();
    data.apply_obs_norm(histories::dataset::ObsNorm::Family);
    for &t in &rooms {
        assert_eq!((&data.tasks[t].meta.obs_mean, &data.tasks[t].meta.obs_std), (&mean, &std));
    }
    // A family of one task keeps its own statistics.
    assert_eq!(data.tasks[pendulum].meta.obs_mean, before);
}

#[test]
fn a_dataset_opens_restricted_to_some_families() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), 2);
    let all = Dataset::open(dir.path()).unwrap();
    assert_eq!(all.manifest.groups.len(), 2);
    let rooms = Dataset::open_families(dir.path(), &["DarkRoom-v0".into()]).unwrap();
    assert_eq!(rooms.tasks.len(), 3);
    assert!(rooms.tasks.iter().all(|t| t.meta.family == "DarkRoom-v0"));
    assert!(rooms.manifest.tasks.iter().all(|t| t.family == "DarkRoom-v0"));
    // Only the groups its tasks use, with their counts.
    let groups: Vec<(&String, usize)> =
        rooms.manifest.groups.iter().map(|(n, g)| (n, g.tasks)).collect();
    assert_eq!(groups, [(&"obs2-discrete5".to_string(), 3)]);
    // The kept tasks are the same as in the whole dataset.
    let same = all.tasks.iter().find(|t| t.file == rooms.tasks[0].file).unwrap();
    assert_eq!(same.histories[0].observations, rooms.tasks[0].histories[0].observations);
    let err = Dataset::open_families(dir.path(), &["CartPole-v1".into()]).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("CartPole-v1") && msg.contains("DarkRoom-v0, Pendulum-v1"), "{msg}");
}

#[test]
fn a_saved_demonstrator_serves_every_task_of_its_family_and_no_other() {
    let saved = |env: &str, policy: &str| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../demonstrators").join(policy);
        Suite::from_json(
            &format!(
                r#"{{"name": "saved", "seed": 1, "entries": [
                  {{"env": "{env}", "tasks": "train", "max_tasks": 2,
                    "demonstrator": {{"kind": "saved", "dir": {:?}}},
                    "histories_per_task": 1, "transitions_per_history": 1000,
                    "noise": {{"mode": "fixed", "schedule": {{"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.2}}}}}}
                ]}}"#,
                dir.display().to_string()
            ),
            "saved suite",
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let opts =
        GenerateOptions { out: dir.path().to_path_buf(), jobs: 2, threads: 1, progress: false };
    let manifest = generate(&saved("Pendulum-v1", "Pendulum-v1").unwrap(), &opts).unwrap();
    assert_eq!(manifest.tasks.len(), 2);
    for t in &manifest.tasks {
        assert_eq!(t.demonstrator, "ppo");
        // The saved swing-up policy is far better than random on varied physics too.
        assert!(t.demonstrator_return > t.random_return + 300.0, "{t:?}");
    }
    // No training happened: nothing was cached beside the histories.
    assert!(!dir.path().join("demonstrators").exists());
    // Another family's policy is refused when the suite is read, before any work.
    let err = saved("Pendulum-v1", "CartPole-v1").unwrap_err().to_string();
    assert!(err.contains("trained on CartPole-v1, not Pendulum-v1"), "{err}");
}

#[test]
fn key_to_door_searcher_histories_rise_and_other_families_are_refused() {
    let suite = |env: &str| {
        Suite::from_json(
            &format!(
                r#"{{"name": "search", "seed": 2, "entries": [
                  {{"env": "{env}", "tasks": "train", "max_tasks": 3,
                    "demonstrator": {{"kind": "searcher"}},
                    "histories_per_task": 2, "transitions_per_history": 600,
                    "noise": {{"mode": "fixed", "schedule": {{"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.3}}}}}}
                ]}}"#
            ),
            "searcher suite",
        )
        .unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let opts =
        GenerateOptions { out: dir.path().to_path_buf(), jobs: 1, threads: 1, progress: false };
    let manifest = generate(&suite("KeyToDoor-v0"), &opts).unwrap();
    for t in &manifest.tasks {
        assert_eq!(t.demonstrator, "searcher");
        // Noise-free at the end, the searcher has found key and door: the oracle's 2.
        assert_eq!((t.demonstrator_return, t.last_return), (2.0, 2.0), "{t:?}");
        assert!(t.first_return < t.last_return - 0.5, "{t:?}");
    }
    let other = tempfile::tempdir().unwrap();
    let opts = GenerateOptions { out: other.path().to_path_buf(), ..opts };
    let err = generate(&suite("CartPole-v1"), &opts).unwrap_err().to_string();
    assert!(err.contains("CartPole-v1") && err.contains("grid rooms"), "{err}");
}

#[test]
fn varied_noise_gives_each_history_its_schedule_in_turn() {
    let suite = Suite::from_json(
        r#"{"name": "varied", "seed": 4, "entries": [
          {"env": "DarkRoom-v0", "tasks": [{"goal": [3, 5]}], "demonstrator": {"kind": "searcher"},
           "histories_per_task": 3, "transitions_per_history": 400,
           "noise": {"mode": "varied", "schedules": [
             {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.8},
             {"kind": "calibrated", "points": [[0, 1], [0.3, 0], [0.5, 0], [0.5001, 1], [0.8, 0], [1, 0]]}
           ]}}
        ]}"#,
        "varied suite",
    )
    .unwrap();
    let datagen::suite::NoiseSpec::Varied { schedules } = &suite.entries[0].noise else {
        panic!("a varied noise spec")
    };
    let dir = tempfile::tempdir().unwrap();
    let opts =
        GenerateOptions { out: dir.path().to_path_buf(), jobs: 1, threads: 1, progress: false };
    generate(&suite, &opts).unwrap();
    let file = read_task_file(&dir.path().join(&files(dir.path())[0])).unwrap();
    assert_eq!(file.histories.len(), 3);
    for (h, history) in file.histories.iter().enumerate() {
        let schedule = &schedules[h % 2];
        for (n, &eps) in history.eps.iter().enumerate() {
            assert_eq!(eps, schedule.eps(n, 400) as f32, "history {h}, step {n}");
        }
    }
    // The restarting schedule is noisy again after its first noise-free stretch.
    let restart = &file.histories[1].eps;
    assert!(
        restart[120..=200].iter().all(|&e| e == 0.0) && restart[201..210].iter().all(|&e| e > 0.9)
    );
    let stored: Vec<histories::schedule::Schedule> =
        serde_json::from_str(&file.meta.schedule).unwrap();
    assert_eq!(&stored, schedules);

    // An empty list or a bad schedule in it is refused, naming the field.
    for (noise, expected) in [
        (r#"{"mode": "varied", "schedules": []}"#, "`schedules` must hold 1..=1000"),
        (
            r#"{"mode": "varied", "schedules": [{"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.1}, {"kind": "vintix", "f": 0.1, "p": -1}]}"#,
            "schedules[1]",
        ),
    ] {
        let text = format!(
            r#"{{"name": "bad", "seed": 0, "entries": [{{"env": "DarkRoom-v0", "tasks": "train",
              "demonstrator": {{"kind": "oracle"}}, "histories_per_task": 1,
              "transitions_per_history": 100, "noise": {noise}}}]}}"#
        );
        let err = Suite::from_json(&text, "bad.json").unwrap_err().to_string();
        assert!(err.contains(expected), "{err}");
    }
}
