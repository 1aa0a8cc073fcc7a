//! The learning-history file format (version 2; version 1 still reads), one HDF5 file per task. The specification
//! is `histories/FORMAT.md`; this module is its only writer and reader.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use hdf5::H5Type;
use hdf5::types::{TypeDescriptor, VarLenUnicode};
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

use crate::fsio::write_atomic_with;
use crate::history::History;
use crate::split::Split;

/// The format version written into every file (and manifest).
pub const FORMAT_VERSION: u32 = 2;

/// The versions this build reads: 1 (no `final_observations`) and 2.
pub const READABLE_VERSIONS: [u32; 2] = [1, 2];

/// Attributes of a task file (the root group's attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskMeta {
    /// Env family id, e.g. `DarkRoom-v0`.
    pub family: String,
    /// Task parameters, e.g. `{"goal":[2,7]}`; the file holds them as JSON text, written and
    /// parsed here alone.
    pub task: envs::Task,
    /// The family's split the task belongs to.
    pub split: Split,
    /// Domain group ([`crate::group::DomainGroup`]'s name): tasks with the same observation
    /// and action spaces share encoders.
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

/// The first value of `file` the format forbids, described by field: a non-finite number in
/// any array or statistic, or an observation std or reward scale that is not positive.
/// Writers and readers both check it, so no NaN reaches a dataset or a training run.
pub fn first_bad_value(file: &TaskFile) -> Option<String> {
    let m = &file.meta;
    let scalars = [
        ("demonstrator_return", m.demonstrator_return),
        ("random_return", m.random_return),
        ("reward_scale", m.reward_scale),
    ];
    if let Some((name, v)) = scalars.iter().find(|(_, v)| !v.is_finite()) {
        return Some(format!("attribute `{name}` is {v}, expected a finite number"));
    }
    if m.reward_scale <= 0.0 {
        return Some(format!("attribute `reward_scale` is {}, expected > 0", m.reward_scale));
    }
    let vectors =
        [("obs_mean", &m.obs_mean), ("action_low", &m.action_low), ("action_high", &m.action_high)];
    if let Some((name, i)) = vectors.iter().find_map(|(n, v)| Some((n, first_non_finite(v)?))) {
        return Some(format!("attribute `{name}` holds a non-finite value at index {i}"));
    }
    if let Some(i) = m.obs_std.iter().position(|s| !(s.is_finite() && *s > 0.0)) {
        return Some(format!(
            "attribute `obs_std` is {} at index {i}, expected a finite number > 0",
            m.obs_std[i]
        ));
    }
    file.histories.iter().enumerate().find_map(|(k, h)| {
        if let Some(finals) = &h.final_observations {
            if finals.len() != h.episode_ends() * h.obs_dim {
                return Some(format!(
                    "dataset `histories/{k:06}/final_observations` has {} values, expected one \
                     row of obs_dim = {} per episode end ({})",
                    finals.len(),
                    h.obs_dim,
                    h.episode_ends()
                ));
            }
        }
        let empty = Vec::new();
        let arrays = [
            ("observations", &h.observations, h.obs_dim),
            ("actions", &h.actions, h.act_dim),
            ("demo_actions", &h.demo_actions, h.act_dim),
            ("rewards", &h.rewards, 1),
            ("eps", &h.eps, 1),
            ("final_observations", h.final_observations.as_ref().unwrap_or(&empty), h.obs_dim),
        ];
        arrays.iter().find_map(|(name, values, width)| {
            let i = first_non_finite(values)?;
            Some(format!(
                "dataset `histories/{k:06}/{name}` holds a non-finite value ({}) at row {}",
                values[i],
                i / width.max(&1)
            ))
        })
    })
}

fn first_non_finite(values: &[f32]) -> Option<usize> {
    values.iter().position(|x| !x.is_finite())
}

/// Write a task file atomically: everything goes to a temporary file in the same folder,
/// which is renamed over `path` only when complete, so a killed run never leaves a file that
/// looks finished. A file holding a value the format forbids ([`first_bad_value`]) is
/// refused before anything is written.
pub fn write_task_file(path: &Path, file: &TaskFile) -> Result<(), FormatError> {
    if let Some(bad) = first_bad_value(file) {
        return Err(invalid(path, format!("refusing to write: {bad}")));
    }
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = path.file_name().ok_or_else(|| invalid(path, "not a file path"))?;
    write_atomic_with(
        &dir.join(name),
        |tmp| write_to(tmp, file).map_err(|source| FormatError::Hdf5 { path: tmp.into(), source }),
        |source| FormatError::Io { path: path.to_path_buf(), source },
    )
}

fn write_to(path: &Path, file: &TaskFile) -> hdf5::Result<()> {
    let f = hdf5::File::create(path)?;
    let m = &file.meta;
    write_str(&f, "format", "icrl-learning-history")?;
    f.new_attr::<u32>().create("format_version")?.write_scalar(&FORMAT_VERSION)?;
    write_str(&f, "family", &m.family)?;
    let task =
        serde_json::to_string(&m.task).map_err(|e| hdf5::Error::from(e.to_string().as_str()))?;
    write_str(&f, "task", &task)?;
    write_str(&f, "split", m.split.as_str())?;
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
        if let Some(finals) = &h.final_observations {
            let rows = finals.len() / h.obs_dim.max(1);
            write_2d(&g, "final_observations", finals, rows, h.obs_dim)?;
        }
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

/// What a dataset's manifest says of a task file. [`read_task_file_expecting`] checks the
/// file's declared sizes against it before any array is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub histories: usize,
    pub transitions: usize,
}

/// Largest observation or action width a file may declare.
pub const MAX_DIM: usize = 1 << 16;
/// Largest number of values one dataset may declare (16 GiB of f32).
pub const MAX_VALUES: u64 = 1 << 32;
/// Deflate shrinks data at most about 1032:1, so a dataset declaring many more bytes than
/// the file stores for it is truncated or forged; it is refused before it is read.
const MAX_COMPRESSION: u64 = 1100;
/// Stored-size slack for tiny datasets.
const STORAGE_SLACK: u64 = 4096;

/// Read and validate a task file. Any missing field, wrong version, type or inconsistent
/// shape is an error naming the file and what was expected; declared sizes are checked
/// (against the stored bytes) before anything is allocated.
pub fn read_task_file(path: &Path) -> Result<TaskFile, FormatError> {
    read_task_file_expecting(path, None)
}

/// [`read_task_file`], also checking the file against what the manifest says of it.
pub fn read_task_file_expecting(
    path: &Path,
    expected: Option<&Expected>,
) -> Result<TaskFile, FormatError> {
    let Checked { meta, histories, .. } = open_checked(path, expected)?;
    let histories = histories
        .iter()
        .map(|(name, g)| read_history(path, g, name, &meta))
        .collect::<Result<_, _>>()?;
    let file = TaskFile { meta, histories };
    match first_bad_value(&file) {
        Some(bad) => Err(invalid(path, bad)),
        None => Ok(file),
    }
}

/// Every check of [`read_task_file_expecting`] that needs no array read (attributes, types,
/// shapes, sizes against the stored bytes and the manifest): a quick check of a whole
/// dataset folder. Returns the file's attributes.
pub fn inspect_task_file(
    path: &Path,
    expected: Option<&Expected>,
) -> Result<TaskMeta, FormatError> {
    open_checked(path, expected).map(|c| c.meta)
}

/// An open task file whose attributes and declared layout are checked.
struct Checked {
    /// Kept open while its groups are read.
    _file: hdf5::File,
    meta: TaskMeta,
    /// Each history's group, by name, in order.
    histories: Vec<(String, hdf5::Group)>,
}

/// Open a task file and check everything but the arrays' values.
fn open_checked(path: &Path, expected: Option<&Expected>) -> Result<Checked, FormatError> {
    if !path.exists() {
        return Err(invalid(path, "no such file"));
    }
    let f = hdf5::File::open(path)
        .map_err(|e| invalid(path, format!("not a readable HDF5 file ({e})")))?;
    let meta = read_meta(&f, path)?;
    check_dims(path, &meta, expected)?;
    let expected_histories = attr_u64(&f, path, "num_histories")?;
    let group = f.group("histories").map_err(|_| invalid(path, "group `histories` missing"))?;
    let mut names = group
        .member_names()
        .map_err(|source| FormatError::Hdf5 { path: path.to_path_buf(), source })?;
    names.sort();
    if names.len() as u64 != expected_histories {
        return Err(invalid(
            path,
            format!(
                "{} histories stored, attribute num_histories says {expected_histories}",
                names.len()
            ),
        ));
    }
    let mut groups = Vec::with_capacity(names.len());
    let mut rows = 0usize;
    for name in names {
        let g = group
            .group(&name)
            .map_err(|_| invalid(path, format!("`histories/{name}` is not a group")))?;
        rows = rows.saturating_add(history_rows(path, &g, &name, &meta)?);
        groups.push((name, g));
    }
    if let Some(want) = expected {
        if groups.len() != want.histories || rows != want.transitions {
            return Err(invalid(
                path,
                format!(
                    "holds {} histories of {rows} transitions, the manifest says {} of {}",
                    groups.len(),
                    want.histories,
                    want.transitions
                ),
            ));
        }
    }
    Ok(Checked { _file: f, meta, histories: groups })
}

/// The root group's attributes.
fn read_meta(f: &hdf5::File, path: &Path) -> Result<TaskMeta, FormatError> {
    let version: u32 = f.attr("format_version").and_then(|a| a.read_scalar()).map_err(|_| {
        invalid(path, "attribute `format_version` missing: not an icrl learning-history file")
    })?;
    if !READABLE_VERSIONS.contains(&version) {
        return Err(invalid(
            path,
            format!("format version {version}, this build reads versions {READABLE_VERSIONS:?}"),
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
    let u = |name: &str| attr_u64(f, path, name);
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
    Ok(TaskMeta {
        family: s("family")?,
        task: serde_json::from_str(&s("task")?).map_err(|e| {
            invalid(path, format!("attribute `task`: not a JSON object of task parameters: {e}"))
        })?,
        split: s("split")?.parse().map_err(|e| invalid(path, format!("attribute `split`: {e}")))?,
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
    })
}

fn attr_u64(f: &hdf5::File, path: &Path, name: &str) -> Result<u64, FormatError> {
    f.attr(name)
        .and_then(|a| a.read_scalar::<u64>())
        .map_err(|_| invalid(path, format!("attribute `{name}` missing")))
}

/// `obs_dim` and `act_dim` are positive, bounded, agree with the statistics and the manifest.
fn check_dims(
    path: &Path,
    meta: &TaskMeta,
    expected: Option<&Expected>,
) -> Result<(), FormatError> {
    let (od, ad) = (meta.obs_dim, meta.act_dim);
    if !(1..=MAX_DIM).contains(&od) || !(1..=MAX_DIM).contains(&ad) {
        return Err(invalid(
            path,
            format!("obs_dim {od} and act_dim {ad} must be in 1..={MAX_DIM}"),
        ));
    }
    if meta.obs_mean.len() != od || meta.obs_std.len() != od {
        return Err(invalid(path, format!("obs_mean/obs_std must have obs_dim = {od} values")));
    }
    if let Some(want) = expected.filter(|w| (w.obs_dim, w.act_dim) != (od, ad)) {
        return Err(invalid(
            path,
            format!(
                "obs_dim {od}, act_dim {ad}; the manifest's group says obs_dim {}, act_dim {}",
                want.obs_dim, want.act_dim
            ),
        ));
    }
    Ok(())
}

/// The element type a dataset of the format must have.
#[derive(Clone, Copy)]
enum Elem {
    F32,
    U8,
    I32,
}

impl Elem {
    fn descriptor(self) -> TypeDescriptor {
        match self {
            Elem::F32 => f32::type_descriptor(),
            Elem::U8 => u8::type_descriptor(),
            Elem::I32 => i32::type_descriptor(),
        }
    }
}

/// Every dataset of a history: name, element type, and row width (`None`: one value a row).
fn history_fields(meta: &TaskMeta) -> [(&'static str, Elem, Option<usize>); 8] {
    [
        ("observations", Elem::F32, Some(meta.obs_dim)),
        ("actions", Elem::F32, Some(meta.act_dim)),
        ("demo_actions", Elem::F32, Some(meta.act_dim)),
        ("rewards", Elem::F32, None),
        ("eps", Elem::F32, None),
        ("terminated", Elem::U8, None),
        ("truncated", Elem::U8, None),
        ("step_num", Elem::I32, None),
    ]
}

/// A history's row count, from its datasets' declared types and shapes alone: every dataset
/// present, of its type, with the same rows and the width the attributes say, and no more
/// values than its stored bytes can hold. Nothing is read.
fn history_rows(
    path: &Path,
    g: &hdf5::Group,
    name: &str,
    meta: &TaskMeta,
) -> Result<usize, FormatError> {
    let mut rows = None;
    for (field, elem, width) in history_fields(meta) {
        let at = format!("histories/{name}/{field}");
        let ds = g.dataset(field).map_err(|_| invalid(path, format!("dataset `{at}` missing")))?;
        let dtype = ds.dtype().and_then(|t| t.to_descriptor()).ok();
        if dtype.as_ref() != Some(&elem.descriptor()) {
            let got = dtype.map_or("an unreadable type".to_string(), |t| t.to_string());
            return Err(invalid(
                path,
                format!("dataset `{at}` holds {got}, the format specifies {}", elem.descriptor()),
            ));
        }
        let shape = ds.shape();
        let t = *rows.get_or_insert(shape.first().copied().unwrap_or(0));
        let want: Vec<usize> = std::iter::once(t).chain(width).collect();
        if shape != want {
            return Err(invalid(
                path,
                format!("dataset `{at}` has shape {shape:?}, expected {want:?}"),
            ));
        }
        check_declared_size(path, &at, &ds, &shape, elem)?;
    }
    // Version 2: each episode's final observation, (episode ends, obs_dim); optional (absent
    // in version 1 files). Its row count is checked against the flags when they are read.
    if let Ok(ds) = g.dataset("final_observations") {
        let at = format!("histories/{name}/final_observations");
        let dtype = ds.dtype().and_then(|t| t.to_descriptor()).ok();
        let shape = ds.shape();
        if dtype.as_ref() != Some(&Elem::F32.descriptor())
            || shape.len() != 2
            || shape[1] != meta.obs_dim
            || shape[0] > rows.unwrap_or(0)
        {
            return Err(invalid(
                path,
                format!(
                    "dataset `{at}` must be f32 of shape (episode ends, obs_dim = {}) with at \
                     most one row per step, got shape {shape:?}",
                    meta.obs_dim
                ),
            ));
        }
        check_declared_size(path, &at, &ds, &shape, Elem::F32)?;
    }
    Ok(rows.unwrap_or(0))
}

/// A dataset declares at most [`MAX_VALUES`] values, and no more bytes than its stored bytes
/// could decompress to.
fn check_declared_size(
    path: &Path,
    at: &str,
    ds: &hdf5::Dataset,
    shape: &[usize],
    elem: Elem,
) -> Result<(), FormatError> {
    declared_size_fits(at, ds, shape, elem.descriptor().size())
        .map_err(|message| invalid(path, message))
}

/// The size check of [`check_declared_size`] for a dataset of `elem_size`-byte values; the
/// error names the dataset `at`.
fn declared_size_fits(
    at: &str,
    ds: &hdf5::Dataset,
    shape: &[usize],
    elem_size: usize,
) -> Result<(), String> {
    let values = shape.iter().try_fold(1u64, |n, &d| n.checked_mul(d as u64));
    let bytes = values.and_then(|v| v.checked_mul(elem_size as u64));
    let stored = ds.storage_size();
    let fits = values.is_some_and(|v| v <= MAX_VALUES)
        && bytes.is_some_and(|b| b <= stored.saturating_mul(MAX_COMPRESSION) + STORAGE_SLACK);
    if !fits {
        return Err(format!(
            "dataset `{at}` declares shape {shape:?} but stores {stored} bytes (at most \
             {MAX_VALUES} values, {MAX_COMPRESSION}x the stored bytes): the file is truncated \
             or damaged"
        ));
    }
    Ok(())
}

/// Reads a dataset of a file this format does not own (Minari's, Vintix's) as `T`, after the
/// same size check as a task file's datasets (declared shape against stored bytes), so a
/// forged shape is an error instead of an unbounded allocation.
pub(crate) fn read_bounded<T: H5Type>(ds: &hdf5::Dataset, at: &str) -> Result<Vec<T>, String> {
    let elem = ds.dtype().map(|t| t.size()).unwrap_or(1).max(std::mem::size_of::<T>());
    declared_size_fits(at, ds, &ds.shape(), elem)?;
    ds.read_raw::<T>().map_err(|e| format!("dataset `{at}` unreadable: {e}"))
}

/// Read one history whose datasets [`history_rows`] checked.
fn read_history(
    path: &Path,
    g: &hdf5::Group,
    name: &str,
    meta: &TaskMeta,
) -> Result<History, FormatError> {
    fn read<T: hdf5::H5Type>(
        path: &Path,
        g: &hdf5::Group,
        name: &str,
        field: &str,
    ) -> Result<Vec<T>, FormatError> {
        g.dataset(field).and_then(|ds| ds.read_raw::<T>()).map_err(|e| {
            invalid(path, format!("dataset `histories/{name}/{field}` unreadable: {e}"))
        })
    }
    let mut h = History {
        obs_dim: meta.obs_dim,
        act_dim: meta.act_dim,
        observations: read(path, g, name, "observations")?,
        actions: read(path, g, name, "actions")?,
        rewards: read(path, g, name, "rewards")?,
        terminated: read(path, g, name, "terminated")?,
        truncated: read(path, g, name, "truncated")?,
        step_num: read(path, g, name, "step_num")?,
        eps: read(path, g, name, "eps")?,
        demo_actions: read(path, g, name, "demo_actions")?,
        final_observations: None,
    };
    if g.link_exists("final_observations") {
        let finals: Vec<f32> = read(path, g, name, "final_observations")?;
        let ends = h.episode_ends();
        if finals.len() != ends * meta.obs_dim {
            return Err(invalid(
                path,
                format!(
                    "dataset `histories/{name}/final_observations` has {} rows, the history \
                     has {ends} episode ends",
                    finals.len() / meta.obs_dim.max(1)
                ),
            ));
        }
        h.final_observations = Some(finals);
    }
    Ok(h)
}
