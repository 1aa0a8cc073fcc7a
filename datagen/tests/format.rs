mod common;

use common::{Corridor, GoRight};
use datagen::format::{TaskFile, TaskMeta, observation_stats, read_task_file, write_task_file};
use datagen::history::{DemoSource, mean_return_at, roll_out};
use datagen::schedule::Schedule;

fn task_file(seed: u64) -> TaskFile {
    let schedule = Schedule::Vintix { f: 0.1, p: 1.0 };
    let mut env = Corridor::new(10);
    let histories: Vec<_> = (0..2)
        .map(|i| {
            roll_out(&mut env, &mut DemoSource::Policy(&mut GoRight), &schedule, 600, seed + i)
                .unwrap()
        })
        .collect();
    let (obs_mean, obs_std) = observation_stats(&histories, 1);
    TaskFile {
        meta: TaskMeta {
            family: "Corridor-v0".into(),
            task: r#"{"len":10}"#.into(),
            split: "train".into(),
            group: "obs1-discrete2".into(),
            obs_dim: 1,
            act_dim: 1,
            action_type: "discrete".into(),
            num_actions: 2,
            action_low: vec![],
            action_high: vec![],
            demonstrator: "oracle".into(),
            demonstrator_return: 1.0,
            random_return: 0.1,
            schedule: serde_json::to_string(&schedule).unwrap(),
            reward_scale: 1.0,
            seed,
            tool_version: "test".into(),
            obs_mean,
            obs_std,
        },
        histories,
    }
}

#[test]
fn rollout_ends_on_an_episode_boundary_and_improves() {
    let file = task_file(3);
    let h = &file.histories[0];
    assert!(h.len() >= 600);
    let last = h.len() - 1;
    assert!(h.terminated[last] == 1 || h.truncated[last] == 1);
    // step_num restarts at 0 after every episode end.
    for t in 1..h.len() {
        let ended = h.terminated[t - 1] == 1 || h.truncated[t - 1] == 1;
        assert_eq!(h.step_num[t] == 0, ended, "t={t}");
    }
    // Noise falls, so late episodes succeed more often than early ones.
    let returns = h.episode_returns();
    let q = returns.len() / 4;
    let early: f64 = returns[..q].iter().sum::<f64>() / q as f64;
    let late: f64 = returns[returns.len() - q..].iter().sum::<f64>() / q as f64;
    assert!(late > early + 0.3, "early {early}, late {late}");
    assert_eq!(late, 1.0);
}

#[test]
fn fixed_noise_returns_bracket_random_and_expert() {
    let mut env = Corridor::new(10);
    let expert =
        mean_return_at(&mut env, &mut DemoSource::Policy(&mut GoRight), 0.0, 20, 1).unwrap();
    let random =
        mean_return_at(&mut env, &mut DemoSource::Policy(&mut GoRight), 1.0, 50, 1).unwrap();
    assert_eq!(expert, 1.0);
    assert!(random < 0.5, "{random}");
}

#[test]
fn write_read_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.h5");
    let file = task_file(5);
    write_task_file(&path, &file).unwrap();
    let back = read_task_file(&path).unwrap();
    assert_eq!(back, file);
    // Nothing temporary is left behind.
    let names: Vec<_> =
        std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names.len(), 1, "{names:?}");
}

#[test]
fn same_seed_same_arrays() {
    assert_eq!(task_file(11), task_file(11));
    assert_ne!(task_file(11).histories, task_file(12).histories);
}

#[test]
fn truncated_or_foreign_files_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.h5");
    write_task_file(&path, &task_file(7)).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let cut = dir.path().join("cut.h5");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = read_task_file(&cut).unwrap_err().to_string();
    assert!(err.contains("cut.h5"), "{err}");
    let text = dir.path().join("text.h5");
    std::fs::write(&text, b"not hdf5").unwrap();
    let err = read_task_file(&text).unwrap_err().to_string();
    assert!(err.contains("text.h5") && err.contains("HDF5"), "{err}");
    let err = read_task_file(&dir.path().join("missing.h5")).unwrap_err().to_string();
    assert!(err.contains("missing.h5"), "{err}");
}
