//! Export to Minari, Farama's offline-RL dataset format (the layout of minari 0.5, HDF5
//! storage): one Minari dataset per task file, its episodes in the order of the learning
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
    let data = dir.join("data");
    std::fs::create_dir_all(&data)
        .map_err(|source| MinariError::Io { path: data.clone(), source })?;
    let h5 = data.join("main_data.hdf5");
    let (episodes, steps) = write_episodes(file, &h5)
        .map_err(|source| MinariError::Hdf5 { path: h5.clone(), source })?;
    let meta = metadata(file, source, dataset_id, episodes, steps);
    let json = data.join("metadata.json");
    crate::fsio::write_atomic(&json, meta.to_string().as_bytes())
        .map_err(|e| MinariError::Invalid { path: json.clone(), message: e.to_string() })?;
    Ok(Exported { dataset_id: dataset_id.to_string(), path: dir, episodes, steps })
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
