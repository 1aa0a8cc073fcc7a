mod common;

use common::{Corridor, GoRight};
use histories::format::{
    Expected, TaskFile, TaskMeta, observation_stats, read_task_file, read_task_file_expecting,
    write_task_file,
};
use histories::history::{DemoSource, mean_return_at, roll_out};
use histories::schedule::Schedule;

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
            task: serde_json::from_str(r#"{"len":10}"#).unwrap(),
            split: histories::split::Split::Train,
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

/// A valid task file whose dataset `histories/000000/{field}` is replaced by `make`'s.
fn with_dataset(
    dir: &std::path::Path,
    field: &str,
    make: impl FnOnce(&hdf5::Group) -> hdf5::Result<hdf5::Dataset>,
) -> std::path::PathBuf {
    let path = dir.join(format!("hostile-{field}.h5"));
    write_task_file(&path, &task_file(9)).unwrap();
    let f = hdf5::File::open_rw(&path).unwrap();
    let g = f.group("histories/000000").unwrap();
    g.unlink(field).unwrap();
    make(&g).unwrap();
    path
}

/// Declared sizes used to be trusted: a dataset declaring 10^12 rows aborted the process
/// with a failed allocation. Shapes are checked against the stored bytes before any read.
#[test]
fn hostile_declared_sizes_are_refused_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let huge = with_dataset(dir.path(), "observations", |g| {
        g.new_dataset::<f32>()
            .chunk((1024, 1))
            .shape((1_000_000_000_000usize, 1))
            .create("observations")
    });
    let err = read_task_file(&huge).unwrap_err().to_string();
    assert!(err.contains("hostile-observations.h5"), "{err}");
    assert!(err.contains("histories/000000/observations") && err.contains("truncated"), "{err}");
    // The same rows declared consistently in a second dataset are refused too.
    let huge = with_dataset(dir.path(), "eps", |g| {
        g.new_dataset::<f32>().chunk(1024).shape(1usize << 40).create("eps")
    });
    let err = read_task_file(&huge).unwrap_err().to_string();
    assert!(err.contains("histories/000000/eps"), "{err}");
}

/// f64 rewards or i64 flags used to be converted silently; the format specifies f32 and u8.
#[test]
fn datasets_of_another_type_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let rows = task_file(9).histories[0].len();
    let wide = with_dataset(dir.path(), "rewards", |g| {
        g.new_dataset_builder().with_data(&vec![0f64; rows]).create("rewards")
    });
    let err = read_task_file(&wide).unwrap_err().to_string();
    assert!(err.contains("rewards") && err.contains("float64") && err.contains("float32"), "{err}");
    let flags = with_dataset(dir.path(), "terminated", |g| {
        g.new_dataset_builder().with_data(&vec![0i64; rows]).create("terminated")
    });
    let err = read_task_file(&flags).unwrap_err().to_string();
    assert!(err.contains("terminated") && err.contains("int64") && err.contains("uint8"), "{err}");
}

/// A file that disagrees with its manifest is refused before its arrays are read.
#[test]
fn files_are_checked_against_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.h5");
    let file = task_file(5);
    write_task_file(&path, &file).unwrap();
    let transitions = file.histories.iter().map(|h| h.len()).sum();
    let right = Expected { obs_dim: 1, act_dim: 1, histories: 2, transitions };
    assert_eq!(read_task_file_expecting(&path, Some(&right)).unwrap(), file);
    let cases = [
        (Expected { obs_dim: 3, ..right }, "obs_dim 3"),
        (Expected { act_dim: 2, ..right }, "act_dim 2"),
        (Expected { histories: 1, ..right }, "the manifest says 1"),
        (Expected { transitions: transitions + 1, ..right }, "manifest"),
    ];
    for (want, says) in cases {
        let err = read_task_file_expecting(&path, Some(&want)).unwrap_err().to_string();
        assert!(err.contains("task.h5") && err.contains(says), "{err}");
    }
}

/// A CartPole task of length 1e-308 used to produce a dataset of NaN observations: nothing
/// non-finite is ever written.
#[test]
fn non_finite_values_are_never_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.h5");
    let mut file = task_file(5);
    file.histories[1].observations[7] = f32::NAN;
    let err = write_task_file(&path, &file).unwrap_err().to_string();
    assert!(err.contains("task.h5") && err.contains("histories/000001/observations"), "{err}");
    assert!(err.contains("row 7"), "{err}");
    let mut file = task_file(5);
    file.meta.obs_std[0] = 0.0;
    let err = write_task_file(&path, &file).unwrap_err().to_string();
    assert!(err.contains("obs_std"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing is left behind");
}

/// NaN data, a zero observation std or a NaN reward scale used to surface only as "loss
/// became NaN at step 0"; the reader names the file and field.
#[test]
fn non_finite_or_degenerate_values_are_refused_on_reading() {
    let dir = tempfile::tempdir().unwrap();
    let rows = task_file(9).histories[0].len();
    let nan = with_dataset(dir.path(), "rewards", |g| {
        let mut rewards = vec![0f32; rows];
        rewards[3] = f32::INFINITY;
        g.new_dataset_builder().with_data(&rewards).create("rewards")
    });
    let err = read_task_file(&nan).unwrap_err().to_string();
    assert!(
        err.contains("hostile-rewards.h5") && err.contains("histories/000000/rewards"),
        "{err}"
    );
    type Spoil = fn(&hdf5::File);
    let attrs: [(&str, Spoil); 2] = [
        ("obs_std", |f| f.attr("obs_std").unwrap().write_raw(&[0f32]).unwrap()),
        ("reward_scale", |f| f.attr("reward_scale").unwrap().write_scalar(&f64::NAN).unwrap()),
    ];
    for (name, spoil) in attrs {
        let path = dir.path().join(format!("{name}.h5"));
        write_task_file(&path, &task_file(9)).unwrap();
        spoil(&hdf5::File::open_rw(&path).unwrap());
        let err = read_task_file(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("{name}.h5")) && err.contains(&format!("`{name}`")), "{err}");
    }
}

/// Each episode's final observation is kept (one row per episode end) and round-trips. In the
/// corridor of 10 cells an episode that terminates ends on cell 10, which no stored row holds
/// (rows are observations acted in); a truncated one ends one move from its last row.
#[test]
fn final_observations_are_kept_one_per_episode_end() {
    let file = task_file(21);
    for h in &file.histories {
        let finals = h.final_observations.as_ref().expect("roll_out keeps them");
        assert_eq!(finals.len(), h.episode_ends() * h.obs_dim);
        assert!(h.observations.iter().all(|&o| o < 10.0));
        let ends = (0..h.len()).filter(|&t| h.terminated[t] != 0 || h.truncated[t] != 0);
        let mut terminal = 0;
        for (row, t) in finals.chunks(h.obs_dim).zip(ends) {
            if h.terminated[t] != 0 {
                assert_eq!(row[0], 10.0, "row {t}");
                terminal += 1;
            } else {
                assert!((row[0] - h.observations[t]).abs() <= 1.0, "row {t}: {row:?}");
            }
        }
        assert!(terminal > 0);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("task.h5");
    write_task_file(&path, &file).unwrap();
    assert_eq!(read_task_file(&path).unwrap(), file);
}

/// A version 1 file (no final observations) still reads; a final-observation dataset whose
/// rows do not match the episode ends is refused on writing and on reading.
#[test]
fn version_1_files_read_and_mismatched_final_observations_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = task_file(22);
    for h in &mut file.histories {
        h.final_observations = None;
    }
    let v1 = dir.path().join("v1.h5");
    write_task_file(&v1, &file).unwrap();
    {
        let f = hdf5::File::open_rw(&v1).unwrap();
        f.attr("format_version").unwrap().write_scalar(&1u32).unwrap();
    }
    assert_eq!(read_task_file(&v1).unwrap(), file);

    let mut bad = task_file(22);
    bad.histories[0].final_observations.as_mut().unwrap().push(0.5);
    let err = write_task_file(&dir.path().join("bad.h5"), &bad).unwrap_err().to_string();
    assert!(err.contains("final_observations"), "{err}");

    let path = with_dataset(dir.path(), "final_observations", |g| {
        g.new_dataset_builder()
            .with_data(&ndarray::Array2::<f32>::zeros((3, 1)))
            .create("final_observations")
    });
    let err = read_task_file(&path).unwrap_err().to_string();
    assert!(err.contains("final_observations") && err.contains("episode ends"), "{err}");
}

/// A file without final observations (format version 1) is not exported to Minari: Minari
/// needs each episode's last observation, and none is made up.
#[test]
fn a_version_1_file_is_not_exported_to_minari() {
    let dir = tempfile::tempdir().unwrap();
    let mut file = task_file(23);
    file.histories[1].final_observations = None;
    let err =
        histories::minari::export_task(&file, std::path::Path::new("v1.h5"), "t/x-v0", dir.path())
            .unwrap_err()
            .to_string();
    assert!(err.contains("v1.h5") && err.contains("final observations"), "{err}");
    assert!(!dir.path().join("t").exists(), "nothing written");
    let ok = histories::minari::export_task(
        &task_file(23),
        std::path::Path::new("v2.h5"),
        "t/x-v0",
        dir.path(),
    )
    .unwrap();
    let ends: usize = task_file(23).histories.iter().map(|h| h.episode_ends()).sum();
    assert_eq!(ok.episodes, ends);
    assert_eq!(histories::minari::minari_name("Pendulum-v1__g-10.0"), "Pendulum-v1__g-10_0");
}

/// icrl -> Minari -> icrl gives back the same task file, attributes and arrays alike: the
/// learning histories return in order (episode attributes), each episode's final
/// observation, the references (ref_min/max_score) and the rest (the metadata's `icrl`).
#[test]
fn a_task_file_round_trips_through_minari() {
    let dir = tempfile::tempdir().unwrap();
    let file = task_file(24);
    histories::minari::export_task(&file, std::path::Path::new("t.h5"), "ns/t-v0", dir.path())
        .unwrap();
    let back = histories::minari::import_dataset(&dir.path().join("ns/t-v0")).unwrap();
    assert!(back.history_order);
    assert_eq!(back.file, file);
    // Written whole in a hidden folder and renamed into place: nothing else is left beside it.
    let names: Vec<String> = std::fs::read_dir(dir.path().join("ns"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["t-v0"]);
}

/// A Minari dataset written by others (no `icrl_*` fields) imports as one history in stored
/// order: noise level 0, the demonstrator's action the one taken, steps counted per episode,
/// references from the episode returns where the metadata has none; a space this format
/// cannot hold is refused by name.
#[test]
fn a_foreign_minari_dataset_imports_as_one_history() {
    let dir = tempfile::tempdir().unwrap();
    let file = task_file(25);
    histories::minari::export_task(&file, std::path::Path::new("t.h5"), "ns/t-v0", dir.path())
        .unwrap();
    let data = dir.path().join("ns/t-v0/data");
    {
        let f = hdf5::File::open_rw(data.join("main_data.hdf5")).unwrap();
        for name in f.member_names().unwrap() {
            let g = f.group(&name).unwrap();
            for extra in ["icrl_eps", "icrl_step_num", "icrl_demo_actions"] {
                g.unlink(extra).unwrap();
            }
            g.delete_attr("icrl_history").unwrap();
            g.delete_attr("icrl_episode_in_history").unwrap();
        }
    }
    let meta_path = data.join("metadata.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&meta_path).unwrap()).unwrap();
    for key in ["icrl", "ref_min_score", "ref_max_score"] {
        meta.as_object_mut().unwrap().remove(key);
    }
    meta["env_spec"] = serde_json::Value::String(r#"{"id": "Corridor-v0"}"#.into());
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let back = histories::minari::import_dataset(&dir.path().join("ns/t-v0")).unwrap();
    assert!(!back.history_order);
    let h = &back.file.histories;
    assert_eq!(h.len(), 1);
    let all_obs: Vec<f32> = file.histories.iter().flat_map(|h| h.observations.clone()).collect();
    assert_eq!(h[0].observations, all_obs);
    assert_eq!(h[0].demo_actions, h[0].actions);
    assert!(h[0].eps.iter().all(|&e| e == 0.0));
    assert_eq!(h[0].step_num[..3], [0, 1, 2]);
    let m = &back.file.meta;
    assert_eq!(
        (m.family.as_str(), m.split.as_str(), m.demonstrator.as_str()),
        ("Corridor-v0", "custom", "minari")
    );
    let returns = h[0].episode_returns();
    assert_eq!(m.random_return, returns.iter().cloned().fold(f64::INFINITY, f64::min));

    meta["action_space"] = serde_json::Value::String(r#"{"type": "MultiBinary", "n": 3}"#.into());
    std::fs::write(&meta_path, meta.to_string()).unwrap();
    let err =
        histories::minari::import_dataset(&dir.path().join("ns/t-v0")).unwrap_err().to_string();
    assert!(err.contains("metadata.json") && err.contains("MultiBinary"), "{err}");
}

/// A Minari or Vintix file declaring a huge shape it does not store is an error naming the
/// dataset, before anything is allocated (the task-file format's size check, reused).
#[test]
fn imports_refuse_forged_sizes_before_reading() {
    let dir = tempfile::tempdir().unwrap();
    let file = task_file(26);
    histories::minari::export_task(&file, std::path::Path::new("t.h5"), "ns/t-v0", dir.path())
        .unwrap();
    {
        let f = hdf5::File::open_rw(dir.path().join("ns/t-v0/data/main_data.hdf5")).unwrap();
        let g = f.group("episode_0").unwrap();
        g.unlink("observations").unwrap();
        g.new_dataset::<f32>()
            .chunk((1024, 1))
            .shape((1_000_000_000_000usize, 1))
            .create("observations")
            .unwrap();
    }
    let err =
        histories::minari::import_dataset(&dir.path().join("ns/t-v0")).unwrap_err().to_string();
    assert!(err.contains("observations") && err.contains("truncated or damaged"), "{err}");

    let task = dir.path().join("vx/toy-v0");
    std::fs::create_dir_all(&task).unwrap();
    std::fs::write(task.join("toy-v0.json"), r#"{"task_name": "toy-v0"}"#).unwrap();
    {
        let f = hdf5::File::create(task.join("trajectory_0.h5")).unwrap();
        let rows = 1_000_000_000_000usize;
        let g = f.create_group(&format!("0-{}", rows - 1)).unwrap();
        for key in ["proprio_observation", "action"] {
            g.new_dataset::<f32>().chunk((1024, 1)).shape((rows, 1)).create(key).unwrap();
        }
    }
    let err = histories::vintix::import_task(&task).unwrap_err().to_string();
    assert!(err.contains("trajectory_0.h5") && err.contains("proprio_observation"), "{err}");
}
