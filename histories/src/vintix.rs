//! Import of Vintix's published learning histories (dunnolab/vintix, "Dataset Structure", and
//! its loader `vintix/data/torch_dataloaders.py`): a task is a folder `TASK/` holding
//! `TASK.json` (its metadata, with `task_name`) and one `.h5` file per learning history
//! (trajectory), read in file-name order. A file holds groups named `START-END` (the rows'
//! transaction numbers, END inclusive; 10,000 rows each, the last fewer), read in START
//! order, with `proprio_observation` (N, obs_dim) f32, `action` (N, act_dim) f32, `reward`
//! (N,) f32 and `step_num` (N,) i32, and optionally `demonstrator_action` (like `action`).
//! Row `t` is the observation, the action taken in it and the reward that followed, as in
//! this format; an episode starts where `step_num` is 0.
//!
//! What the layout lacks is filled so: every episode end is `truncated` (Vintix keeps no
//! termination flag), no final observations, noise level 0, the demonstrator's action the
//! one taken unless `demonstrator_action` is there, action bounds the lowest and highest
//! action stored, references the metadata's `random_score` / `expert_score` where it has
//! them, else the lowest and highest episode return; family the task name, task `{}`, split
//! `custom`.

use std::path::{Path, PathBuf};

use crate::format::{TaskFile, TaskMeta, observation_stats};
use crate::history::History;

/// An import that could not be made; names the file or folder.
#[derive(Debug, thiserror::Error)]
pub enum VintixError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Whether `dir` is a Vintix task folder (it holds `BASENAME.json`).
pub fn is_task_folder(dir: &Path) -> bool {
    dir.file_name().is_some_and(|n| dir.join(format!("{}.json", n.to_string_lossy())).is_file())
}

/// Reads the Vintix task folder `dir` as one task file (see the module's documentation).
pub fn import_task(dir: &Path) -> Result<TaskFile, VintixError> {
    let base = dir.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let meta_path = dir.join(format!("{base}.json"));
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|source| VintixError::Io { path: meta_path.clone(), source })?;
    let meta: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        VintixError::Invalid { path: meta_path.clone(), message: format!("not JSON: {e}") }
    })?;
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| VintixError::Io { path: dir.to_path_buf(), source })?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "h5"))
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(VintixError::Invalid {
            path: dir.to_path_buf(),
            message: "no .h5 trajectory files".into(),
        });
    }
    let histories = files.iter().map(|f| read_history(f)).collect::<Result<Vec<_>, _>>()?;
    let (obs_dim, act_dim) = (histories[0].obs_dim, histories[0].act_dim);
    if histories.iter().any(|h| (h.obs_dim, h.act_dim) != (obs_dim, act_dim)) {
        return Err(VintixError::Invalid {
            path: dir.to_path_buf(),
            message: "trajectories of different observation or action widths".into(),
        });
    }
    let name = meta["task_name"].as_str().unwrap_or(&base).to_string();
    Ok(task_file(&name, &meta, histories))
}

fn task_file(name: &str, meta: &serde_json::Value, histories: Vec<History>) -> TaskFile {
    let (obs_dim, act_dim) = (histories[0].obs_dim, histories[0].act_dim);
    let mut low = vec![f32::INFINITY; act_dim];
    let mut high = vec![f32::NEG_INFINITY; act_dim];
    for h in &histories {
        for row in h.actions.chunks(act_dim) {
            for (i, &a) in row.iter().enumerate() {
                low[i] = low[i].min(a);
                high[i] = high[i].max(a);
            }
        }
    }
    let returns: Vec<f64> = histories.iter().flat_map(History::episode_returns).collect();
    let (lowest, highest) = crate::stats::min_max(returns.iter().copied());
    let group = crate::group::DomainGroup {
        obs_dim,
        action: crate::group::GroupAction::Continuous { dim: act_dim },
    };
    let (obs_mean, obs_std) = observation_stats(&histories, obs_dim);
    TaskFile {
        meta: TaskMeta {
            family: name.to_string(),
            task: Default::default(),
            split: crate::split::Split::Custom,
            group: group.to_string(),
            obs_dim,
            act_dim,
            action_type: "continuous".into(),
            num_actions: 0,
            action_low: low,
            action_high: high,
            demonstrator: "vintix".into(),
            demonstrator_return: meta["expert_score"].as_f64().unwrap_or(highest),
            random_return: meta["random_score"].as_f64().unwrap_or(lowest),
            schedule: r#"{"kind":"unknown"}"#.into(),
            reward_scale: meta["reward_scale"].as_f64().filter(|s| *s > 0.0).unwrap_or(1.0),
            seed: 0,
            tool_version: "vintix import".into(),
            obs_mean,
            obs_std,
        },
        histories,
    }
}

/// `START-END` of a group name, if it is one.
fn group_range(name: &str) -> Option<(u64, u64)> {
    let (a, b) = name.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

/// One trajectory file as one learning history.
fn read_history(path: &Path) -> Result<History, VintixError> {
    let h5 = |source| VintixError::Hdf5 { path: path.to_path_buf(), source };
    let invalid = |message: String| VintixError::Invalid { path: path.to_path_buf(), message };
    let f = hdf5::File::open(path).map_err(h5)?;
    let mut groups: Vec<(u64, u64, String)> = f
        .member_names()
        .map_err(h5)?
        .into_iter()
        .filter_map(|n| group_range(&n).map(|(a, b)| (a, b, n)))
        .collect();
    groups.sort();
    if groups.is_empty() {
        return Err(invalid("no START-END groups".into()));
    }
    let (mut obs, mut act, mut demo, mut rew, mut steps) = (vec![], vec![], vec![], vec![], vec![]);
    let (mut obs_dim, mut act_dim, mut has_demo) = (0, 0, true);
    let mut next = groups[0].0;
    for (start, end, name) in &groups {
        if *start != next || end < start {
            return Err(invalid(format!("group {name} does not follow row {next}")));
        }
        let g = f.group(name).map_err(h5)?;
        let ds = |key: &str| g.dataset(key).map_err(|_| invalid(format!("{name}: no `{key}`")));
        let rows = (end - start + 1) as usize;
        let width = |d: &hdf5::Dataset, key: &str| -> Result<usize, VintixError> {
            match d.shape().as_slice() {
                [n, w] if *n == rows && *w > 0 && *w <= crate::format::MAX_DIM => Ok(*w),
                s => Err(invalid(format!("{name}/{key}: shape {s:?}, expected ({rows}, width)"))),
            }
        };
        let o = ds("proprio_observation")?;
        let a = ds("action")?;
        obs_dim = width(&o, "proprio_observation")?;
        act_dim = width(&a, "action")?;
        // Size-checked reads: a forged shape is an error, not an unbounded allocation.
        let read_f32 = |d: &hdf5::Dataset, key: &str| {
            crate::format::read_bounded::<f32>(d, &format!("{name}/{key}")).map_err(&invalid)
        };
        obs.extend(read_f32(&o, "proprio_observation")?);
        act.extend(read_f32(&a, "action")?);
        match g.dataset("demonstrator_action") {
            Ok(d) if width(&d, "demonstrator_action")? == act_dim => {
                demo.extend(read_f32(&d, "demonstrator_action")?)
            }
            _ => has_demo = false,
        }
        let r: Vec<f32> = read_f32(&ds("reward")?, "reward")?;
        let s: Vec<i32> =
            crate::format::read_bounded(&ds("step_num")?, &format!("{name}/step_num"))
                .map_err(&invalid)?;
        if r.len() != rows || s.len() != rows {
            return Err(invalid(format!("{name}: reward and step_num must have {rows} rows")));
        }
        rew.extend(r);
        steps.extend(s);
        next = end + 1;
    }
    if steps.first() != Some(&0) {
        return Err(invalid("the trajectory does not start an episode (step_num 0)".into()));
    }
    let n = rew.len();
    // An episode ends before the next step_num 0, and at the trajectory's end.
    let truncated: Vec<u8> = (0..n).map(|t| u8::from(t + 1 == n || steps[t + 1] == 0)).collect();
    Ok(History {
        obs_dim,
        act_dim,
        observations: obs,
        demo_actions: if has_demo { demo } else { act.clone() },
        actions: act,
        rewards: rew,
        terminated: vec![0; n],
        truncated,
        step_num: steps,
        eps: vec![0.0; n],
        final_observations: None,
    })
}
