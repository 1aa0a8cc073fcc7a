//! The learning-history file format (version 1), one HDF5 file per task. The specification
//! is `datagen/FORMAT.md`; this module is its only writer and reader.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::types::VarLenUnicode;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::history::History;

/// The format version written into every file; readers refuse other versions.
pub const FORMAT_VERSION: u32 = 1;

/// Attributes of a task file (the root group's attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    /// Env family id, e.g. `DarkRoom-v0`.
    pub family: String,
    /// Task parameters as JSON text, e.g. `{"goal":[2,7]}`.
    pub task: String,
    /// `train` or `heldout`.
    pub split: String,
    /// Domain group: tasks with the same observation and action spaces share encoders.
    pub group: String,
    pub obs_dim: usize,
    pub act_dim: usize,
    /// `discrete` or `continuous`.
    pub action_type: String,
    /// Number of discrete actions (0 for continuous).
    pub num_actions: usize,
    /// Action bounds for continuous actions (empty for discrete).
    pub action_low: Vec<f32>,
    pub action_high: Vec<f32>,
    /// `oracle`, `ppo`, ...
    pub demonstrator: String,
    /// Mean episode return of the demonstrator without noise, and of uniform random actions.
    pub demonstrator_return: f64,
    pub random_return: f64,
    /// The noise schedule as JSON text (see `schedule.rs`).
    pub schedule: String,
    /// Reward scale applied by the trainer (1 for most tasks).
    pub reward_scale: f64,
    pub seed: u64,
    pub tool_version: String,
    /// Per-dimension observation mean and standard deviation over every history of the file.
    pub obs_mean: Vec<f32>,
    pub obs_std: Vec<f32>,
}

/// A task file in memory.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskFile {
    pub meta: TaskMeta,
    pub histories: Vec<History>,
}

/// Reading or writing a task file failed; every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("{path}: {source}")]
    Hdf5 { path: PathBuf, source: hdf5::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

fn invalid(path: &Path, message: impl Into<String>) -> FormatError {
    FormatError::Invalid { path: path.to_path_buf(), message: message.into() }
}

/// Floor of a stored observation std (a constant dimension would otherwise divide by zero).
pub const MIN_OBS_STD: f64 = 1e-6;

/// Observation mean and standard deviation per dimension over all histories (std floored at
/// [`MIN_OBS_STD`] so constant dimensions normalise to zero instead of dividing by zero).
pub fn observation_stats(histories: &[History], obs_dim: usize) -> (Vec<f32>, Vec<f32>) {
    let mut sum = vec![0f64; obs_dim];
    let mut sq = vec![0f64; obs_dim];
    let mut n = 0usize;
    for h in histories {
        for row in h.observations.chunks_exact(obs_dim) {
            for (d, &x) in row.iter().enumerate() {
                sum[d] += x as f64;
                sq[d] += (x as f64) * (x as f64);
            }
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    let mean: Vec<f64> = sum.iter().map(|s| s / n).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, m)| ((s / n - m * m).max(0.0).sqrt().max(MIN_OBS_STD)) as f32)
        .collect();
    (mean.into_iter().map(|m| m as f32).collect(), std)
}

/// Write a task file atomically: everything goes to a temporary file in the same folder,
/// which is renamed over `path` only when complete, so a killed run never leaves a file that
/// looks finished.
pub fn write_task_file(path: &Path, file: &TaskFile) -> Result<(), FormatError> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| invalid(path, "not a file path"))?;
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let result =
        write_to(&tmp, file).map_err(|source| FormatError::Hdf5 { path: tmp.clone(), source });
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, path)
        .map_err(|source| FormatError::Io { path: path.to_path_buf(), source })
}

fn write_to(path: &Path, file: &TaskFile) -> hdf5::Result<()> {
    let f = hdf5::File::create(path)?;
    let m = &file.meta;
    write_str(&f, "format", "icrl-learning-history")?;
    f.new_attr::<u32>().create("format_version")?.write_scalar(&FORMAT_VERSION)?;
    write_str(&f, "family", &m.family)?;
    write_str(&f, "task", &m.task)?;
    write_str(&f, "split", &m.split)?;
    write_str(&f, "group", &m.group)?;
    f.new_attr::<u64>().create("obs_dim")?.write_scalar(&(m.obs_dim as u64))?;
    f.new_attr::<u64>().create("act_dim")?.write_scalar(&(m.act_dim as u64))?;
    write_str(&f, "action_type", &m.action_type)?;
    f.new_attr::<u64>().create("num_actions")?.write_scalar(&(m.num_actions as u64))?;
    write_vec(&f, "action_low", &m.action_low)?;
    write_vec(&f, "action_high", &m.action_high)?;
    write_str(&f, "demonstrator", &m.demonstrator)?;
    f.new_attr::<f64>().create("demonstrator_return")?.write_scalar(&m.demonstrator_return)?;
    f.new_attr::<f64>().create("random_return")?.write_scalar(&m.random_return)?;
    write_str(&f, "schedule", &m.schedule)?;
    f.new_attr::<f64>().create("reward_scale")?.write_scalar(&m.reward_scale)?;
    f.new_attr::<u64>().create("seed")?.write_scalar(&m.seed)?;
    write_str(&f, "tool_version", &m.tool_version)?;
    write_vec(&f, "obs_mean", &m.obs_mean)?;
    write_vec(&f, "obs_std", &m.obs_std)?;
    f.new_attr::<u64>().create("num_histories")?.write_scalar(&(file.histories.len() as u64))?;
    let group = f.create_group("histories")?;
    for (i, h) in file.histories.iter().enumerate() {
        let g = group.create_group(&format!("{i:06}"))?;
        let t = h.len();
        write_2d(&g, "observations", &h.observations, t, h.obs_dim)?;
        write_2d(&g, "actions", &h.actions, t, h.act_dim)?;
        write_2d(&g, "demo_actions", &h.demo_actions, t, h.act_dim)?;
        write_1d(&g, "rewards", &h.rewards)?;
        write_1d(&g, "terminated", &h.terminated)?;
        write_1d(&g, "truncated", &h.truncated)?;
        write_1d(&g, "step_num", &h.step_num)?;
        write_1d(&g, "eps", &h.eps)?;
    }
    f.flush()?;
    Ok(())
}

/// Rows per chunk: about 64K values per chunk, whatever the row width.
fn chunk_rows(t: usize, width: usize) -> usize {
    (65_536 / width.max(1)).clamp(1, t.max(1))
}

fn write_str(loc: &hdf5::Location, name: &str, value: &str) -> hdf5::Result<()> {
    let v =
        VarLenUnicode::from_str(value).map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
    loc.new_attr::<VarLenUnicode>().create(name)?.write_scalar(&v)
}

fn write_vec(loc: &hdf5::Location, name: &str, value: &[f32]) -> hdf5::Result<()> {
    loc.new_attr_builder().with_data(&Array1::from(value.to_vec())).create(name)?;
    Ok(())
}

fn write_1d<T: hdf5::H5Type + Clone>(g: &hdf5::Group, name: &str, data: &[T]) -> hdf5::Result<()> {
    let arr = Array1::from(data.to_vec());
    g.new_dataset_builder()
        .chunk(chunk_rows(data.len(), 1))
        .shuffle()
        .deflate(4)
        .with_data(&arr)
        .create(name)?;
    Ok(())
}

fn write_2d(g: &hdf5::Group, name: &str, data: &[f32], t: usize, width: usize) -> hdf5::Result<()> {
    let arr = Array2::from_shape_vec((t, width), data.to_vec())
        .map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
    g.new_dataset_builder()
        .chunk((chunk_rows(t, width), width.max(1)))
        .shuffle()
        .deflate(4)
        .with_data(&arr)
        .create(name)?;
    Ok(())
}

/// Read and validate a task file. Any missing field, wrong version or inconsistent shape is
/// an error naming the file and what was expected.
pub fn read_task_file(path: &Path) -> Result<TaskFile, FormatError> {
    if !path.exists() {
        return Err(invalid(path, "no such file"));
    }
    let h5 = |source| FormatError::Hdf5 { path: path.to_path_buf(), source };
    let f = hdf5::File::open(path)
        .map_err(|e| invalid(path, format!("not a readable HDF5 file ({e})")))?;
    let version: u32 = f.attr("format_version").and_then(|a| a.read_scalar()).map_err(|_| {
        invalid(path, "attribute `format_version` missing: not an icrl learning-history file")
    })?;
    if version != FORMAT_VERSION {
        return Err(invalid(
            path,
            format!("format version {version}, this build reads version {FORMAT_VERSION}"),
        ));
    }
    let s = |name: &str| -> Result<String, FormatError> {
        f.attr(name)
            .and_then(|a| a.read_scalar::<VarLenUnicode>())
            .map(|v| v.as_str().to_string())
            .map_err(|_| {
                invalid(path, format!("string attribute `{name}` missing or of the wrong type"))
            })
    };
    let u = |name: &str| -> Result<u64, FormatError> {
        f.attr(name)
            .and_then(|a| a.read_scalar::<u64>())
            .map_err(|_| invalid(path, format!("attribute `{name}` missing")))
    };
    let x = |name: &str| -> Result<f64, FormatError> {
        f.attr(name)
            .and_then(|a| a.read_scalar::<f64>())
            .map_err(|_| invalid(path, format!("attribute `{name}` missing")))
    };
    let v = |name: &str| -> Result<Vec<f32>, FormatError> {
        f.attr(name)
            .and_then(|a| a.read_raw::<f32>())
            .map_err(|_| invalid(path, format!("attribute `{name}` missing")))
    };
    let meta = TaskMeta {
        family: s("family")?,
        task: s("task")?,
        split: s("split")?,
        group: s("group")?,
        obs_dim: u("obs_dim")? as usize,
        act_dim: u("act_dim")? as usize,
        action_type: s("action_type")?,
        num_actions: u("num_actions")? as usize,
        action_low: v("action_low")?,
        action_high: v("action_high")?,
        demonstrator: s("demonstrator")?,
        demonstrator_return: x("demonstrator_return")?,
        random_return: x("random_return")?,
        schedule: s("schedule")?,
        reward_scale: x("reward_scale")?,
        seed: u("seed")?,
        tool_version: s("tool_version")?,
        obs_mean: v("obs_mean")?,
        obs_std: v("obs_std")?,
    };
    if meta.obs_dim == 0 || meta.act_dim == 0 {
        return Err(invalid(path, "obs_dim and act_dim must be positive"));
    }
    if meta.obs_mean.len() != meta.obs_dim || meta.obs_std.len() != meta.obs_dim {
        return Err(invalid(
            path,
            format!("obs_mean/obs_std must have obs_dim = {} values", meta.obs_dim),
        ));
    }
    let expected = u("num_histories")? as usize;
    let group = f.group("histories").map_err(|_| invalid(path, "group `histories` missing"))?;
    let mut names = group.member_names().map_err(h5)?;
    names.sort();
    if names.len() != expected {
        return Err(invalid(
            path,
            format!("{} histories stored, attribute num_histories says {expected}", names.len()),
        ));
    }
    let mut histories = Vec::with_capacity(names.len());
    for name in names {
        let g = group.group(&name).map_err(h5)?;
        let where_ = |field: &str| format!("histories/{name}/{field}");
        let read_f32 = |field: &str| -> Result<(Vec<f32>, Vec<usize>), FormatError> {
            let ds = g
                .dataset(field)
                .map_err(|_| invalid(path, format!("dataset `{}` missing", where_(field))))?;
            let shape = ds.shape();
            let data = ds.read_raw::<f32>().map_err(|e| {
                invalid(path, format!("dataset `{}` unreadable: {e}", where_(field)))
            })?;
            Ok((data, shape))
        };
        let (observations, obs_shape) = read_f32("observations")?;
        let t = obs_shape.first().copied().unwrap_or(0);
        let check = |field: &str, shape: &[usize], want: &[usize]| -> Result<(), FormatError> {
            if shape != want {
                return Err(invalid(
                    path,
                    format!("dataset `{}` has shape {shape:?}, expected {want:?}", where_(field)),
                ));
            }
            Ok(())
        };
        check("observations", &obs_shape, &[t, meta.obs_dim])?;
        let (actions, s) = read_f32("actions")?;
        check("actions", &s, &[t, meta.act_dim])?;
        let (demo_actions, s) = read_f32("demo_actions")?;
        check("demo_actions", &s, &[t, meta.act_dim])?;
        let (rewards, s) = read_f32("rewards")?;
        check("rewards", &s, &[t])?;
        let (eps, s) = read_f32("eps")?;
        check("eps", &s, &[t])?;
        let read_other = |field: &str| -> Result<hdf5::Dataset, FormatError> {
            let ds = g
                .dataset(field)
                .map_err(|_| invalid(path, format!("dataset `{}` missing", where_(field))))?;
            check(field, &ds.shape(), &[t])?;
            Ok(ds)
        };
        let unreadable = |field: &str, e: hdf5::Error| {
            invalid(path, format!("dataset `{}` unreadable: {e}", where_(field)))
        };
        let terminated =
            read_other("terminated")?.read_raw::<u8>().map_err(|e| unreadable("terminated", e))?;
        let truncated =
            read_other("truncated")?.read_raw::<u8>().map_err(|e| unreadable("truncated", e))?;
        let step_num =
            read_other("step_num")?.read_raw::<i32>().map_err(|e| unreadable("step_num", e))?;
        histories.push(History {
            obs_dim: meta.obs_dim,
            act_dim: meta.act_dim,
            observations,
            actions,
            rewards,
            terminated,
            truncated,
            step_num,
            eps,
            demo_actions,
        });
    }
    Ok(TaskFile { meta, histories })
}
