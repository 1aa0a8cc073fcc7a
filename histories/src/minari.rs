//! Export to and import from Minari, Farama's offline-RL dataset format (the layout of
//! minari 0.5, HDF5 storage; [`import_dataset`] says how a foreign dataset's fields are
//! filled). Export: one Minari dataset per task file, its episodes in the order of the learning
//! histories (history 0's episodes first), so the rise of the return along each history is
//! kept. Written as `ROOT/DATASET_ID/data/main_data.hdf5` and `.../data/metadata.json`, which
//! `minari.load_dataset(DATASET_ID)` reads with `MINARI_DATASETS_PATH=ROOT`.
//!
//! Per episode `episode_N` (attributes `id`, `total_steps`, and ours, `icrl_history` and
//! `icrl_episode_in_history`): `observations` (T+1, obs_dim) f32, the last row the episode's
//! final observation; `actions` (T,) i64 for discrete actions or (T, act_dim) f32;
//! `rewards` (T,) f64; `terminations` and `truncations` (T,) bool; and ours, which Minari
//! ignores: `icrl_demo_actions` (like `actions`: the demonstrator's own), `icrl_eps` (T,) f32
//! (the noise level), `icrl_step_num` (T,) i32. The metadata carries the random and
//! demonstrator returns as `ref_min_score` and `ref_max_score`, and the task's attributes
//! under `icrl`.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2};

use crate::format::TaskFile;
use crate::history::History;

/// The Minari version whose dataset layout this writes (one of those minari 0.5.4 reads).
pub const MINARI_VERSION: &str = "0.5.4";

/// An export that could not be made; names the file or what is missing.
#[derive(Debug, thiserror::Error)]
pub enum MinariError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// `text` as a Minari dataset name or namespace: letters, digits, `-` and `_` (Minari's ids
/// allow no other character), every other character becoming `_`.
pub fn minari_name(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect()
}

/// What one exported dataset holds.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Exported {
    pub dataset_id: String,
    pub path: PathBuf,
    pub episodes: usize,
    pub steps: usize,
}

/// Write `file` (read from `source`) as the Minari dataset `dataset_id` under `root`. The
/// dataset folder must not exist yet. Files of format version 1 have no final observations
/// and are refused (Minari needs T+1 observations per episode).
pub fn export_task(
    file: &TaskFile,
    source: &Path,
    dataset_id: &str,
    root: &Path,
) -> Result<Exported, MinariError> {
    let invalid = |message: String| MinariError::Invalid { path: source.to_path_buf(), message };
    if file.histories.iter().any(|h| h.final_observations.is_none()) {
        return Err(invalid(
            "no final observations (a format version 1 file): Minari needs each episode's \
             last observation; regenerate the dataset with this icrl datagen"
                .into(),
        ));
    }
    let dir = root.join(dataset_id);
    if dir.exists() {
        return Err(MinariError::Invalid {
            path: dir,
            message: "already exists; export into another --out or remove it".into(),
        });
    }
    // The dataset is written whole into a hidden temporary folder beside its own and renamed
    // into place, so a killed export leaves no dataset that looks finished (nor one that
    // blocks the retry as "already exists").
    let tmp = crate::fsio::temp_path(&dir);
    let written = write_dataset(file, source, dataset_id, &tmp).and_then(|counts| {
        std::fs::rename(&tmp, &dir)
            .map(|()| counts)
            .map_err(|source| MinariError::Io { path: dir.clone(), source })
    });
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    let (episodes, steps) = written?;
    Ok(Exported { dataset_id: dataset_id.to_string(), path: dir, episodes, steps })
}

/// The dataset's `data/main_data.hdf5` and `data/metadata.json` in `dir` (created).
/// Returns (episodes, steps).
fn write_dataset(
    file: &TaskFile,
    source: &Path,
    dataset_id: &str,
    dir: &Path,
) -> Result<(usize, usize), MinariError> {
    let data = dir.join("data");
    std::fs::create_dir_all(&data)
        .map_err(|source| MinariError::Io { path: data.clone(), source })?;
    let h5 = data.join("main_data.hdf5");
    let (episodes, steps) = write_episodes(file, &h5)
        .map_err(|source| MinariError::Hdf5 { path: h5.clone(), source })?;
    let meta = metadata(file, source, dataset_id, episodes, steps);
    let json = data.join("metadata.json");
    std::fs::write(&json, meta.to_string().as_bytes())
        .map_err(|source| MinariError::Io { path: json.clone(), source })?;
    Ok((episodes, steps))
}

/// `main_data.hdf5`: every episode of every history, in order. Returns (episodes, steps).
fn write_episodes(file: &TaskFile, path: &Path) -> hdf5::Result<(usize, usize)> {
    let f = hdf5::File::create(path)?;
    let discrete = file.meta.action_type == "discrete";
    let (mut id, mut steps) = (0usize, 0usize);
    for (k, h) in file.histories.iter().enumerate() {
        for (e, (start, end)) in episode_bounds(h).into_iter().enumerate() {
            let g = f.create_group(&format!("episode_{id}"))?;
            let t = end - start;
            g.new_attr::<i64>().create("id")?.write_scalar(&(id as i64))?;
            g.new_attr::<i64>().create("total_steps")?.write_scalar(&(t as i64))?;
            g.new_attr::<i64>().create("icrl_history")?.write_scalar(&(k as i64))?;
            g.new_attr::<i64>().create("icrl_episode_in_history")?.write_scalar(&(e as i64))?;
            let (od, ad) = (h.obs_dim, h.act_dim);
            let finals = h.final_observations.as_deref().unwrap_or(&[]);
            let mut obs = h.observations[start * od..end * od].to_vec();
            obs.extend_from_slice(&finals[e * od..(e + 1) * od]);
            let array = |v: Vec<f32>, w: usize| Array2::from_shape_vec((v.len() / w, w), v);
            let to_err = |e: ndarray::ShapeError| hdf5::Error::from(e.to_string().as_str());
            dataset(&g, "observations", &array(obs, od).map_err(to_err)?)?;
            let actions = |v: &[f32], name: &str| -> hdf5::Result<()> {
                let rows = &v[start * ad..end * ad];
                if discrete {
                    dataset(&g, name, &rows.iter().map(|&a| a as i64).collect::<Array1<i64>>())
                } else {
                    dataset(&g, name, &array(rows.to_vec(), ad).map_err(to_err)?)
                }
            };
            actions(&h.actions, "actions")?;
            actions(&h.demo_actions, "icrl_demo_actions")?;
            let rewards: Array1<f64> = h.rewards[start..end].iter().map(|&r| r as f64).collect();
            dataset(&g, "rewards", &rewards)?;
            let flags = |v: &[u8]| v[start..end].iter().map(|&x| x != 0).collect::<Array1<bool>>();
            dataset(&g, "terminations", &flags(&h.terminated))?;
            dataset(&g, "truncations", &flags(&h.truncated))?;
            dataset(&g, "icrl_eps", &Array1::from(h.eps[start..end].to_vec()))?;
            dataset(&g, "icrl_step_num", &Array1::from(h.step_num[start..end].to_vec()))?;
            id += 1;
            steps += t;
        }
    }
    f.flush()?;
    Ok((id, steps))
}

fn dataset<T: hdf5::H5Type, D: ndarray::Dimension>(
    g: &hdf5::Group,
    name: &str,
    data: &ndarray::Array<T, D>,
) -> hdf5::Result<()> {
    g.new_dataset_builder().with_data(data).create(name)?;
    Ok(())
}

/// The rows `start..end` of each episode of `h`, in order.
pub fn episode_bounds(h: &History) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    for t in 0..h.len() {
        if h.terminated[t] != 0 || h.truncated[t] != 0 {
            out.push((start, t + 1));
            start = t + 1;
        }
    }
    out
}

/// A Gymnasium space as Minari serialises it (a JSON text inside the metadata), infinite
/// bounds written as Python's JSON does (`Infinity`).
fn box_space(low: &[f32], high: &[f32]) -> String {
    let list = |v: &[f32]| {
        v.iter()
            .map(|x| match *x {
                x if x == f32::INFINITY => "Infinity".to_string(),
                x if x == f32::NEG_INFINITY => "-Infinity".to_string(),
                x => format!("{x:?}"),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!(
        r#"{{"type": "Box", "dtype": "float32", "shape": [{}], "low": [{}], "high": [{}]}}"#,
        low.len(),
        list(low),
        list(high)
    )
}

fn metadata(
    file: &TaskFile,
    source: &Path,
    dataset_id: &str,
    episodes: usize,
    steps: usize,
) -> serde_json::Value {
    let m = &file.meta;
    let unbounded = vec![f32::INFINITY; m.obs_dim];
    let lows: Vec<f32> = unbounded.iter().map(|x| -x).collect();
    let action_space = if m.action_type == "discrete" {
        format!(r#"{{"type": "Discrete", "dtype": "int64", "start": 0, "n": {}}}"#, m.num_actions)
    } else {
        box_space(&m.action_low, &m.action_high)
    };
    serde_json::json!({
        "dataset_id": dataset_id,
        "minari_version": MINARI_VERSION,
        "data_format": "hdf5",
        "jpeg_encoding": false,
        "total_episodes": episodes,
        "total_steps": steps,
        "observation_space": box_space(&lows, &unbounded),
        "action_space": action_space,
        "ref_min_score": m.random_return,
        "ref_max_score": m.demonstrator_return,
        "algorithm_name": format!("icrl datagen: {} demonstrator under noise distillation", m.demonstrator),
        "author": ["icrl"],
        "author_email": [],
        "code_permalink": "",
        "description": format!(
            "Learning histories of {} on task {} ({} split, {} histories; episodes in history \
             order, see the episode attributes icrl_history and icrl_episode_in_history), \
             exported by icrl from {}",
            m.family,
            serde_json::to_string(&m.task).unwrap_or_default(),
            m.split.as_str(),
            file.histories.len(),
            source.display()
        ),
        "requirements": [],
        "icrl": {
            "family": m.family,
            "task": m.task,
            "split": m.split.as_str(),
            "group": m.group,
            "demonstrator": m.demonstrator,
            "schedule": m.schedule,
            "reward_scale": m.reward_scale,
            "seed": m.seed,
            "histories": file.histories.len(),
            "tool_version": m.tool_version,
            "source": source.display().to_string(),
        },
    })
}

/// A Minari dataset read back as a task file (see [`import_dataset`]).
#[derive(Debug)]
pub struct Imported {
    pub file: crate::format::TaskFile,
    /// Whether the episodes carried their learning history (`icrl_history`); otherwise they
    /// form one history in their stored order.
    pub history_order: bool,
}

/// A Minari space as this format can hold it: a flat Box, or Discrete for actions.
enum SpaceKind {
    Box { low: Vec<f32>, high: Vec<f32> },
    Discrete { n: usize },
}

/// Parses a serialized Minari space (a JSON text that may hold Python's `Infinity`).
fn parse_space(text: &str, what: &str, path: &Path) -> Result<SpaceKind, MinariError> {
    let invalid = |m: String| MinariError::Invalid { path: path.to_path_buf(), message: m };
    // Python's json writes infinite bounds as bare Infinity tokens; serde_json takes null.
    let text = text.replace("-Infinity", "null").replace("Infinity", "null").replace("NaN", "null");
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("{what}: not a space: {e}")))?;
    let bound = |x: &serde_json::Value, inf: f32| x.as_f64().map_or(inf, |f| f as f32);
    match v["type"].as_str() {
        Some("Box") => {
            let shape: Vec<u64> =
                v["shape"].as_array().into_iter().flatten().filter_map(|d| d.as_u64()).collect();
            if shape.len() != 1 || shape[0] == 0 || shape[0] as usize > crate::format::MAX_DIM {
                return Err(invalid(format!(
                    "{what}: a Box of shape {:?}; only flat (1-D) Box spaces convert",
                    v["shape"]
                )));
            }
            let list = |key: &str, inf: f32| -> Vec<f32> {
                v[key].as_array().into_iter().flatten().map(|x| bound(x, inf)).collect()
            };
            let (low, high) = (list("low", f32::NEG_INFINITY), list("high", f32::INFINITY));
            if low.len() != shape[0] as usize || high.len() != shape[0] as usize {
                return Err(invalid(format!("{what}: bounds do not match the shape")));
            }
            Ok(SpaceKind::Box { low, high })
        }
        Some("Discrete") if v["start"].as_i64().unwrap_or(0) == 0 => {
            let n = v["n"].as_u64().filter(|&n| n > 0 && n <= 1 << 20);
            n.map(|n| SpaceKind::Discrete { n: n as usize })
                .ok_or_else(|| invalid(format!("{what}: Discrete without a valid `n`")))
        }
        other => Err(invalid(format!(
            "{what}: a {} space; only Box (1-D) and Discrete (start 0) convert",
            other.unwrap_or("unknown")
        ))),
    }
}

/// Reads the Minari dataset in `dir` (the folder holding `data/`) as one task file: its
/// episodes grouped into learning histories by `icrl_history` where an icrl export wrote
/// it, else one history in stored order. The task's attributes come from the metadata's
/// `icrl` object where there is one, else: family from `env_spec`'s id (or the dataset id),
/// task `{}`, split `custom`, demonstrator `minari`, references from `ref_min_score` and
/// `ref_max_score` (else the lowest and highest episode return). Observations, actions and
/// rewards are read as f32 (a float64 dataset loses precision); an episode whose last step
/// is neither terminated nor truncated is marked truncated; the noise level is 0 and the
/// demonstrator's action the one taken where the dataset has no `icrl_eps` and
/// `icrl_demo_actions`.
pub fn import_dataset(dir: &Path) -> Result<Imported, MinariError> {
    let data = dir.join("data");
    let meta_path = data.join("metadata.json");
    let text = std::fs::read_to_string(&meta_path)
        .map_err(|source| MinariError::Io { path: meta_path.clone(), source })?;
    let invalid = |m: String| MinariError::Invalid { path: meta_path.clone(), message: m };
    let meta: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("not JSON: {e}")))?;
    if meta["data_format"].as_str().unwrap_or("hdf5") != "hdf5" {
        return Err(invalid(format!("data_format {}: only hdf5 converts", meta["data_format"])));
    }
    let space = |key: &str| -> Result<SpaceKind, MinariError> {
        let text = meta[key].as_str().ok_or_else(|| invalid(format!("no `{key}`")))?;
        parse_space(text, key, &meta_path)
    };
    let SpaceKind::Box { .. } = space("observation_space")? else {
        return Err(invalid("observation_space: only a flat Box converts".into()));
    };
    let action = space("action_space")?;
    let h5 = data.join("main_data.hdf5");
    let (episodes, history_order) = read_episodes(&h5, &action)?;
    let file = task_file(&meta, &action, episodes)
        .map_err(|message| MinariError::Invalid { path: h5.clone(), message })?;
    Ok(Imported { file, history_order })
}

/// One Minari episode in this format's terms.
struct Episode {
    history: Option<i64>,
    history_index: Option<i64>,
    observations: Vec<f32>,
    final_observation: Vec<f32>,
    actions: Vec<f32>,
    demo_actions: Option<Vec<f32>>,
    rewards: Vec<f32>,
    terminated: Vec<u8>,
    truncated: Vec<u8>,
    eps: Option<Vec<f32>>,
    step_num: Option<Vec<i32>>,
    obs_dim: usize,
    act_dim: usize,
}

fn read_episodes(path: &Path, action: &SpaceKind) -> Result<(Vec<Episode>, bool), MinariError> {
    let h5err = |source| MinariError::Hdf5 { path: path.to_path_buf(), source };
    let invalid = |m: String| MinariError::Invalid { path: path.to_path_buf(), message: m };
    let f = hdf5::File::open(path).map_err(h5err)?;
    let mut ids: Vec<(u64, String)> = f
        .member_names()
        .map_err(h5err)?
        .into_iter()
        .filter_map(|n| n.strip_prefix("episode_").and_then(|i| i.parse().ok()).map(|i| (i, n)))
        .collect();
    ids.sort();
    if ids.is_empty() {
        return Err(invalid("no episode_N groups".into()));
    }
    let mut out = Vec::with_capacity(ids.len());
    for (_, name) in &ids {
        let g = f.group(name).map_err(h5err)?;
        let ep = read_episode(&g, name, action).map_err(|e| match e {
            EpisodeError::Hdf5(source) => MinariError::Hdf5 { path: path.to_path_buf(), source },
            EpisodeError::Invalid(m) => invalid(format!("{name}: {m}")),
        })?;
        out.push(ep);
    }
    let ordered = out.iter().all(|e| e.history.is_some() && e.history_index.is_some());
    Ok((out, ordered))
}

enum EpisodeError {
    Hdf5(hdf5::Error),
    Invalid(String),
}

impl From<hdf5::Error> for EpisodeError {
    fn from(e: hdf5::Error) -> Self {
        EpisodeError::Hdf5(e)
    }
}

fn read_episode(g: &hdf5::Group, name: &str, action: &SpaceKind) -> Result<Episode, EpisodeError> {
    let bad = |m: String| EpisodeError::Invalid(m);
    let obs_ds = g.dataset("observations").map_err(|_| bad("no `observations`".into()))?;
    let shape = obs_ds.shape();
    if shape.len() != 2 || shape[0] < 2 || shape[1] == 0 {
        return Err(bad(format!("observations of shape {shape:?}, expected (T+1, obs_dim)")));
    }
    let (t, obs_dim) = (shape[0] - 1, shape[1]);
    // Every read is size-checked against the stored bytes first (a forged shape is an error).
    fn read<T: hdf5::H5Type>(ds: &hdf5::Dataset, at: &str) -> Result<Vec<T>, EpisodeError> {
        crate::format::read_bounded(ds, at).map_err(EpisodeError::Invalid)
    }
    let all: Vec<f32> = read(&obs_ds, "observations")?;
    let act_ds = g.dataset("actions").map_err(|_| bad("no `actions`".into()))?;
    let read_actions = |ds: &hdf5::Dataset| -> Result<(Vec<f32>, usize), EpisodeError> {
        match action {
            SpaceKind::Discrete { n } => {
                let v: Vec<i64> = read(ds, "actions")?;
                if v.iter().any(|&a| a < 0 || a as usize >= *n) {
                    return Err(bad(format!("a discrete action outside 0..{n}")));
                }
                Ok((v.into_iter().map(|a| a as f32).collect(), 1))
            }
            SpaceKind::Box { low, .. } => Ok((read(ds, "actions")?, low.len())),
        }
    };
    let (actions, act_dim) = read_actions(&act_ds)?;
    let demo_actions = match g.dataset("icrl_demo_actions") {
        Ok(ds) => Some(read_actions(&ds)?.0),
        Err(_) => None,
    };
    let rewards: Vec<f32> =
        read(&g.dataset("rewards").map_err(|_| bad("no `rewards`".into()))?, "rewards")?;
    let flag = |key: &str| -> Result<Vec<u8>, EpisodeError> {
        let v: Vec<bool> = read(&g.dataset(key).map_err(|_| bad(format!("no `{key}`")))?, key)?;
        Ok(v.into_iter().map(u8::from).collect())
    };
    let (terminated, mut truncated) = (flag("terminations")?, flag("truncations")?);
    if actions.len() != t * act_dim
        || rewards.len() != t
        || terminated.len() != t
        || truncated.len() != t
    {
        return Err(bad(format!("{name}: actions, rewards and flags must have T = {t} rows")));
    }
    if terminated[t - 1] == 0 && truncated[t - 1] == 0 {
        truncated[t - 1] = 1;
    }
    let attr = |key: &str| g.attr(key).and_then(|a| a.read_scalar::<i64>()).ok();
    let optional = |key: &str| g.dataset(key).ok();
    let eps: Option<Vec<f32>> = optional("icrl_eps").map(|d| read(&d, "icrl_eps")).transpose()?;
    let step_num: Option<Vec<i32>> =
        optional("icrl_step_num").map(|d| read(&d, "icrl_step_num")).transpose()?;
    if eps.as_ref().is_some_and(|v| v.len() != t)
        || step_num.as_ref().is_some_and(|v| v.len() != t)
        || demo_actions.as_ref().is_some_and(|v| v.len() != t * act_dim)
    {
        return Err(bad(format!("{name}: icrl_* datasets must have T = {t} rows")));
    }
    Ok(Episode {
        history: attr("icrl_history"),
        history_index: attr("icrl_episode_in_history"),
        observations: all[..t * obs_dim].to_vec(),
        final_observation: all[t * obs_dim..].to_vec(),
        actions,
        demo_actions,
        rewards,
        terminated,
        truncated,
        eps,
        step_num,
        obs_dim,
        act_dim,
    })
}

/// The task file of the episodes (grouped into histories) and the dataset's metadata.
fn task_file(
    meta: &serde_json::Value,
    action: &SpaceKind,
    episodes: Vec<Episode>,
) -> Result<crate::format::TaskFile, String> {
    let (obs_dim, act_dim) = (episodes[0].obs_dim, episodes[0].act_dim);
    if episodes.iter().any(|e| e.obs_dim != obs_dim || e.act_dim != act_dim) {
        return Err("episodes of different observation or action widths".into());
    }
    // Histories: by `icrl_history` where every episode has it, else one in stored order.
    let ordered = episodes.iter().all(|e| e.history.is_some());
    let mut by_history: std::collections::BTreeMap<i64, Vec<Episode>> = Default::default();
    for e in episodes {
        by_history.entry(if ordered { e.history.unwrap_or(0) } else { 0 }).or_default().push(e);
    }
    let histories: Vec<History> = by_history.into_values().map(history_of).collect();
    let icrl = &meta["icrl"];
    let returns: Vec<f64> = histories.iter().flat_map(History::episode_returns).collect();
    let (lowest, highest) = crate::stats::min_max(returns.iter().copied());
    let (group_action, low, high) = match action {
        SpaceKind::Discrete { n } => {
            (crate::group::GroupAction::Discrete { n: *n }, vec![], vec![])
        }
        SpaceKind::Box { low, high } => {
            (crate::group::GroupAction::Continuous { dim: low.len() }, low.clone(), high.clone())
        }
    };
    let group = crate::group::DomainGroup { obs_dim, action: group_action };
    let env_id = meta["env_spec"]
        .as_str()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
        .and_then(|spec| spec["id"].as_str().map(str::to_string));
    let family = icrl["family"]
        .as_str()
        .map(str::to_string)
        .or(env_id)
        .or_else(|| meta["dataset_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| "minari".into());
    let task: envs::Task = match &icrl["task"] {
        serde_json::Value::Object(m) => m.clone(),
        _ => Default::default(),
    };
    let split = icrl["split"].as_str().unwrap_or("custom").parse().map_err(|e| format!("{e}"))?;
    let (obs_mean, obs_std) = crate::format::observation_stats(&histories, obs_dim);
    Ok(crate::format::TaskFile {
        meta: crate::format::TaskMeta {
            family,
            task,
            split,
            group: group.to_string(),
            obs_dim,
            act_dim,
            action_type: group_action.action_type().into(),
            num_actions: group_action.num_actions(),
            action_low: low,
            action_high: high,
            demonstrator: icrl["demonstrator"].as_str().unwrap_or("minari").into(),
            demonstrator_return: meta["ref_max_score"].as_f64().unwrap_or(highest),
            random_return: meta["ref_min_score"].as_f64().unwrap_or(lowest),
            schedule: icrl["schedule"].as_str().unwrap_or(r#"{"kind":"unknown"}"#).into(),
            reward_scale: icrl["reward_scale"].as_f64().unwrap_or(1.0),
            seed: icrl["seed"].as_u64().unwrap_or(0),
            tool_version: icrl["tool_version"].as_str().unwrap_or("minari import").into(),
            obs_mean,
            obs_std,
        },
        histories,
    })
}

/// One history of consecutive episodes (in their `icrl_episode_in_history` order).
fn history_of(mut episodes: Vec<Episode>) -> History {
    episodes.sort_by_key(|e| e.history_index.unwrap_or(0));
    let (obs_dim, act_dim) = (episodes[0].obs_dim, episodes[0].act_dim);
    let mut h =
        History { obs_dim, act_dim, final_observations: Some(Vec::new()), ..Default::default() };
    for e in episodes {
        let t = e.rewards.len();
        h.observations.extend(e.observations);
        h.demo_actions.extend(e.demo_actions.unwrap_or_else(|| e.actions.clone()));
        h.actions.extend(e.actions);
        h.rewards.extend(e.rewards);
        h.terminated.extend(e.terminated);
        h.truncated.extend(e.truncated);
        h.eps.extend(e.eps.unwrap_or_else(|| vec![0.0; t]));
        h.step_num.extend(e.step_num.unwrap_or_else(|| (0..t as i32).collect()));
        if let Some(f) = h.final_observations.as_mut() {
            f.extend(e.final_observation);
        }
    }
    h
}
