//! The dataset manifest (`manifest.json`): what a dataset folder holds, written last and
//! atomically, so a folder with a manifest is a finished dataset.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::format::READABLE_VERSIONS;
use crate::fsio::{WriteError, write_atomic};
use crate::group::GroupAction;
use crate::split::Split;

pub const MANIFEST_FILE: &str = "manifest.json";

/// A dataset's manifest. `S` is the suite that made the dataset: the generator writes its own
/// typed suite (`datagen::suite::Suite`, so its fields keep their order in the file); readers
/// that only need the suite's name and seed use the default, [`SuiteRecord`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest<S = SuiteRecord> {
    pub format_version: u32,
    pub tool_version: String,
    /// The suite that made the dataset, as run (presets expanded).
    pub suite: S,
    pub tasks: Vec<ManifestTask>,
    /// Domain groups: name -> the observation and action spaces shared by their tasks.
    pub groups: BTreeMap<String, GroupInfo>,
}

/// One task file and its summary statistics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ManifestTask {
    /// File name inside the dataset folder.
    pub file: String,
    pub family: String,
    pub task: Value,
    /// The family's split the task belongs to.
    pub split: Split,
    pub group: String,
    pub histories: usize,
    pub transitions: usize,
    pub episodes: usize,
    pub demonstrator: String,
    pub demonstrator_return: f64,
    pub random_return: f64,
    /// Mean return of the first and last 10% of episodes of each history.
    pub first_return: f64,
    pub last_return: f64,
    /// How linearly the episode return rises along the histories (mean R^2 over histories).
    pub r2: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupInfo {
    pub obs_dim: usize,
    pub act_dim: usize,
    pub action_type: String,
    pub num_actions: usize,
    pub tasks: usize,
}

/// The suite that made a dataset as the format sees it: its name and seed, and its entries as
/// JSON (their meaning belongs to the generator, which reads them as its own suite type).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SuiteRecord {
    /// The suite's name (training run names start with it).
    pub name: String,
    /// The seed every random choice of the dataset derives from.
    pub seed: u64,
    pub entries: Vec<Value>,
}

impl GroupInfo {
    /// The group's action space: discrete with `num_actions` actions, otherwise continuous
    /// with `act_dim` values (a read manifest's groups are consistent, see
    /// [`Manifest::read`]).
    pub fn action(&self) -> GroupAction {
        if self.action_type == "discrete" {
            GroupAction::Discrete { n: self.num_actions }
        } else {
            GroupAction::Continuous { dim: self.act_dim }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

impl Manifest {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(MANIFEST_FILE)
    }

    /// Read `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Self, ManifestError> {
        Self::read_as(dir)
    }
}

impl<S> Manifest<S> {
    /// Transitions over every task.
    pub fn transitions(&self) -> usize {
        self.tasks.iter().map(|t| t.transitions).sum()
    }

    /// The same manifest with its suite converted by `f` (e.g. a [`SuiteRecord`] read back as
    /// the generator's suite type).
    pub fn map_suite<T, E>(self, f: impl FnOnce(S) -> Result<T, E>) -> Result<Manifest<T>, E> {
        let Manifest { format_version, tool_version, suite, tasks, groups } = self;
        Ok(Manifest { format_version, tool_version, suite: f(suite)?, tasks, groups })
    }

    /// The first group whose fields contradict each other or the task list: an action type
    /// other than `discrete` (act_dim 1, num_actions >= 1) or `continuous` (num_actions 0),
    /// a zero width, or a `tasks` count that is not the number of tasks listed in it.
    fn first_inconsistent_group(&self) -> Option<String> {
        self.groups.iter().find_map(|(name, g)| {
            let listed = self.tasks.iter().filter(|t| &t.group == name).count();
            let problem = match g.action_type.as_str() {
                _ if g.obs_dim == 0 || g.act_dim == 0 => {
                    format!("obs_dim {} and act_dim {} must be >= 1", g.obs_dim, g.act_dim)
                }
                "discrete" if g.act_dim != 1 || g.num_actions == 0 => format!(
                    "discrete with act_dim {} and num_actions {}, expected act_dim 1 and \
                     num_actions >= 1",
                    g.act_dim, g.num_actions
                ),
                "continuous" if g.num_actions != 0 => {
                    format!("continuous with num_actions {}, expected 0", g.num_actions)
                }
                "discrete" | "continuous" if g.tasks != listed => {
                    format!("says tasks {}, the task list has {listed} in it", g.tasks)
                }
                "discrete" | "continuous" => return None,
                other => format!("action_type `{other}`, expected `discrete` or `continuous`"),
            };
            Some(format!("group `{name}`: {problem}"))
        })
    }
}

impl<S: DeserializeOwned> Manifest<S> {
    /// Read `dir/manifest.json` with its suite as `S`.
    pub fn read_as(dir: &Path) -> Result<Self, ManifestError> {
        let path = Manifest::path(dir);
        if !dir.is_dir() {
            return Err(ManifestError::Invalid {
                path: dir.to_path_buf(),
                message: "no such dataset folder".into(),
            });
        }
        let text = std::fs::read_to_string(&path).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            message: format!(
                "cannot read the manifest ({e}); is this a finished `icrl datagen` output folder?"
            ),
        })?;
        let manifest: Self = serde_json::from_str(&text).map_err(|e| ManifestError::Invalid {
            path: path.clone(),
            message: format!("invalid manifest: {e}"),
        })?;
        if !READABLE_VERSIONS.contains(&manifest.format_version) {
            return Err(ManifestError::Invalid {
                path,
                message: format!(
                    "format version {}, this build reads versions {READABLE_VERSIONS:?}",
                    manifest.format_version
                ),
            });
        }
        if let Some(message) = manifest.first_inconsistent_group() {
            return Err(ManifestError::Invalid { path, message });
        }
        Ok(manifest)
    }
}

impl<S: Serialize> Manifest<S> {
    /// Write `dir/manifest.json` atomically.
    pub fn write(&self, dir: &Path) -> Result<(), ManifestError> {
        let text = serde_json::to_string_pretty(self).map_err(|e| ManifestError::Invalid {
            path: Manifest::path(dir),
            message: e.to_string(),
        })?;
        write_atomic(&Manifest::path(dir), text.as_bytes())
            .map_err(|WriteError { path, source }| ManifestError::Io { path, source })
    }
}
