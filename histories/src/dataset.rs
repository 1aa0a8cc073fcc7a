//! The training-side reader: a dataset folder (manifest + task files) in memory, and random
//! windows of consecutive steps that run across episode boundaries.

use std::path::{Component, Path, PathBuf};

use rand::Rng;

use crate::format::{
    Expected, FormatError, MIN_OBS_STD, TaskMeta, inspect_task_file, read_task_file_expecting,
};
use crate::history::History;
use crate::manifest::{Manifest, ManifestError, ManifestTask};

/// A dataset folder that could not be opened; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Format(#[from] FormatError),
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One task's file in memory.
#[derive(Clone, Debug)]
pub struct TaskData {
    pub file: String,
    pub meta: TaskMeta,
    pub histories: Vec<History>,
}

impl TaskData {
    pub fn transitions(&self) -> usize {
        self.histories.iter().map(History::len).sum()
    }
}

/// A dataset folder in memory.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub tasks: Vec<TaskData>,
}

/// Which statistics normalise a task's observations.
///
/// `Task` (Vintix's choice) uses each task's own dataset mean and std. That is right when
/// tasks differ in scale, but the statistics of a task can reveal the task itself: in Dark
/// Room the mean position leans toward the goal, so a per-task shift tells the agent where
/// the goal is before it has seen a reward, and a task it never trained on gets no such
/// hint. `Family` pools the statistics of every task of a family, so an observation means
/// the same thing in every task of the family, held-out ones included.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObsNorm {
    #[default]
    Task,
    Family,
}

impl ObsNorm {
    /// Parse a flag value: `task` or `family`.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text {
            "task" => Ok(ObsNorm::Task),
            "family" => Ok(ObsNorm::Family),
            other => Err(format!("expected `task` or `family`, got `{other}`")),
        }
    }
}

/// `len` consecutive steps of one history, ready for the model: row `t` holds the observation
/// `o_t` (normalised with the task's statistics), the previous action and reward (zero at an
/// episode start, where `first[t]` is 1 and the model uses its learned padding), the action
/// `a_t` taken and the demonstrator's own action at `o_t` (either can be the training
/// target). Rewards are multiplied by the task's reward scale.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    pub task: usize,
    pub obs: Vec<f32>,
    pub prev_actions: Vec<f32>,
    pub prev_rewards: Vec<f32>,
    pub first: Vec<u8>,
    pub actions: Vec<f32>,
    pub demo_actions: Vec<f32>,
    pub len: usize,
}

/// Keep only the tasks of `families` in `manifest` (all when empty), and the domain groups
/// they use, with their task counts recounted.
fn restrict(manifest: &mut Manifest, families: &[String]) -> Result<(), String> {
    if families.is_empty() {
        return Ok(());
    }
    for f in families {
        if !manifest.tasks.iter().any(|t| &t.family == f) {
            let mut held: Vec<&str> = manifest.tasks.iter().map(|t| t.family.as_str()).collect();
            held.sort();
            held.dedup();
            return Err(format!("no task of family `{f}` (the dataset holds {})", held.join(", ")));
        }
    }
    manifest.tasks.retain(|t| families.contains(&t.family));
    let tasks = &manifest.tasks;
    manifest.groups.retain(|name, _| tasks.iter().any(|t| &t.group == name));
    for (name, g) in manifest.groups.iter_mut() {
        g.tasks = tasks.iter().filter(|t| &t.group == name).count();
    }
    Ok(())
}

impl Dataset {
    /// Open `dir`: the manifest, then every task file it lists (validated).
    pub fn open(dir: &Path) -> Result<Self, DatasetError> {
        Self::open_families(dir, &[])
    }

    /// Open `dir` keeping only the tasks of `families` (every family when empty): the
    /// manifest is restricted to them (their tasks and domain groups) before any task file is
    /// read, so a specialist can train on one family of a many-family dataset. A family the
    /// dataset does not hold is an error.
    pub fn open_families(dir: &Path, families: &[String]) -> Result<Self, DatasetError> {
        let mut manifest = Manifest::read(dir)?;
        restrict(&mut manifest, families).map_err(|message| DatasetError::Invalid {
            path: dir.join(crate::manifest::MANIFEST_FILE),
            message,
        })?;
        let mut tasks = Vec::with_capacity(manifest.tasks.len());
        for t in &manifest.tasks {
            let (path, expected) = listed_file(dir, &manifest, t)?;
            let file = read_task_file_expecting(&path, Some(&expected))?;
            check_listing(&path, &file.meta, t, &manifest)?;
            tasks.push(TaskData {
                file: t.file.clone(),
                meta: file.meta,
                histories: file.histories,
            });
        }
        Ok(Dataset { dir: dir.to_path_buf(), manifest, tasks })
    }

    /// Check every task file `dir`'s manifest lists without keeping it: its declared layout
    /// against the manifest (quick), or, with `full`, every value too (each file is read).
    /// The error names the first bad file.
    pub fn verify(dir: &Path, full: bool) -> Result<Manifest, DatasetError> {
        let manifest = Manifest::read(dir)?;
        for t in &manifest.tasks {
            let (path, expected) = listed_file(dir, &manifest, t)?;
            let meta = if full {
                read_task_file_expecting(&path, Some(&expected))?.meta
            } else {
                inspect_task_file(&path, Some(&expected))?
            };
            check_listing(&path, &meta, t, &manifest)?;
        }
        Ok(manifest)
    }

    /// Task indices of a domain group.
    /// Observation mean and std pooled over every task of `family` (each task weighted by its
    /// transitions), or `None` if the dataset holds no task of the family.
    pub fn family_stats(&self, family: &str) -> Option<(Vec<f32>, Vec<f32>)> {
        let members: Vec<&TaskData> =
            self.tasks.iter().filter(|t| t.meta.family == family).collect();
        let dim = members.first()?.meta.obs_mean.len();
        // Weight by the manifest's transition counts, so the pooled statistics do not depend
        // on which histories a validation split took away.
        let weight = |t: &TaskData| {
            self.manifest
                .tasks
                .iter()
                .find(|m| m.file == t.file)
                .map_or(t.transitions(), |m| m.transitions)
                .max(1) as f64
        };
        let total: f64 = members.iter().map(|t| weight(t)).sum();
        let mut mean = vec![0f64; dim];
        let mut second = vec![0f64; dim];
        for t in &members {
            let w = weight(t) / total;
            for d in 0..dim {
                let (m, s) = (t.meta.obs_mean[d] as f64, t.meta.obs_std[d] as f64);
                mean[d] += w * m;
                second[d] += w * (s * s + m * m);
            }
        }
        let std = (0..dim)
            .map(|d| (second[d] - mean[d] * mean[d]).max(0.0).sqrt().max(MIN_OBS_STD) as f32)
            .collect();
        Some((mean.into_iter().map(|m| m as f32).collect(), std))
    }

    /// Replace every task's observation statistics by its family's pooled ones
    /// ([`ObsNorm::Family`]); a no-op for [`ObsNorm::Task`].
    pub fn apply_obs_norm(&mut self, norm: ObsNorm) {
        if norm == ObsNorm::Task {
            return;
        }
        let families: std::collections::BTreeSet<String> =
            self.tasks.iter().map(|t| t.meta.family.clone()).collect();
        for family in families {
            if let Some((mean, std)) = self.family_stats(&family) {
                for t in self.tasks.iter_mut().filter(|t| t.meta.family == family) {
                    t.meta.obs_mean = mean.clone();
                    t.meta.obs_std = std.clone();
                }
            }
        }
    }

    pub fn tasks_of_group(&self, group: &str) -> Vec<usize> {
        (0..self.tasks.len()).filter(|&i| self.tasks[i].meta.group == group).collect()
    }

    /// The window of `len` steps starting at `start` of history `history` of task `task`.
    /// Returns `None` if it does not fit.
    pub fn window(&self, task: usize, history: usize, start: usize, len: usize) -> Option<Window> {
        let t = self.tasks.get(task)?;
        let h = t.histories.get(history)?;
        if len == 0 || start + len > h.len() {
            return None;
        }
        let (od, ad) = (h.obs_dim, h.act_dim);
        let (mean, std) = (&t.meta.obs_mean, &t.meta.obs_std);
        let scale = t.meta.reward_scale as f32;
        let mut w = Window {
            task,
            obs: Vec::with_capacity(len * od),
            prev_actions: Vec::with_capacity(len * ad),
            prev_rewards: Vec::with_capacity(len),
            first: Vec::with_capacity(len),
            actions: h.actions[start * ad..(start + len) * ad].to_vec(),
            demo_actions: h.demo_actions[start * ad..(start + len) * ad].to_vec(),
            len,
        };
        for i in start..start + len {
            for d in 0..od {
                w.obs.push((h.observations[i * od + d] - mean[d]) / std[d]);
            }
            let first = h.step_num[i] == 0 || i == 0;
            w.first.push(first as u8);
            if first {
                w.prev_actions.extend(std::iter::repeat_n(0.0, ad));
                w.prev_rewards.push(0.0);
            } else {
                w.prev_actions.extend_from_slice(&h.actions[(i - 1) * ad..i * ad]);
                w.prev_rewards.push(h.rewards[i - 1] * scale);
            }
        }
        Some(w)
    }

    /// A uniformly random window of `len` steps among `tasks` (each start position of every
    /// history long enough is equally likely).
    pub fn sample_window(
        &self,
        tasks: &[usize],
        len: usize,
        rng: &mut impl Rng,
    ) -> Result<Window, DatasetError> {
        Ok(self.sample_from(&self.window_slots(tasks, len)?, rng))
    }

    /// Every window of `len` steps that fits in the histories of `tasks`, listed once so that
    /// many windows can be drawn without scanning the histories again.
    pub fn window_slots(&self, tasks: &[usize], len: usize) -> Result<WindowSlots, DatasetError> {
        let mut slots: Vec<(usize, usize, usize)> = Vec::new(); // (task, history, #starts)
        for &t in tasks {
            for (hi, h) in self.tasks[t].histories.iter().enumerate() {
                if h.len() >= len {
                    slots.push((t, hi, h.len() - len + 1));
                }
            }
        }
        let total: usize = slots.iter().map(|s| s.2).sum();
        if total == 0 {
            return Err(DatasetError::Invalid {
                path: self.dir.clone(),
                message: format!(
                    "no history of the chosen tasks has {len} steps; use a shorter context"
                ),
            });
        }
        Ok(WindowSlots { slots, total, len })
    }

    /// A uniformly random window among `slots` (made by [`Dataset::window_slots`] on this
    /// dataset).
    pub fn sample_from(&self, slots: &WindowSlots, rng: &mut impl Rng) -> Window {
        self.window_at(slots, slots.draw(rng))
    }

    /// Window number `k` of `slots` (`k < slots.total()`, as [`WindowSlots::draw`] gives):
    /// drawing the numbers and building the windows apart lets data-parallel ranks draw a
    /// whole batch's numbers from one stream and build only their own share.
    pub fn window_at(&self, slots: &WindowSlots, k: usize) -> Window {
        let mut k = k % slots.total;
        for &(t, hi, n) in &slots.slots {
            if k < n {
                return self.window(t, hi, k, slots.len).expect("start fits by construction");
            }
            k -= n;
        }
        unreachable!("k < total")
    }
}

/// The path of a task file the manifest lists (a plain file name inside `dir`), and what
/// the manifest says of it.
fn listed_file(
    dir: &Path,
    manifest: &Manifest,
    t: &ManifestTask,
) -> Result<(PathBuf, Expected), DatasetError> {
    let invalid = |message: String| DatasetError::Invalid { path: Manifest::path(dir), message };
    let mut parts = Path::new(&t.file).components();
    if !matches!((parts.next(), parts.next()), (Some(Component::Normal(_)), None)) {
        return Err(invalid(format!(
            "task file `{}` is not a file name inside the folder",
            t.file
        )));
    }
    let Some(group) = manifest.groups.get(&t.group) else {
        return Err(invalid(format!(
            "task {} is in group `{}`, which `groups` lacks",
            t.file, t.group
        )));
    };
    let expected = Expected {
        obs_dim: group.obs_dim,
        act_dim: group.act_dim,
        histories: t.histories,
        transitions: t.transitions,
    };
    Ok((dir.join(&t.file), expected))
}

/// The file's family and group are the ones the manifest lists it under, and its action
/// space is its group's (obs_dim and act_dim are checked by the reader through
/// [`Expected`]).
fn check_listing(
    path: &Path,
    meta: &TaskMeta,
    t: &ManifestTask,
    manifest: &Manifest,
) -> Result<(), DatasetError> {
    let invalid = |message: String| DatasetError::Invalid { path: path.to_path_buf(), message };
    if meta.group != t.group || meta.family != t.family {
        return Err(invalid(format!(
            "file says {} / group {}, the manifest says {} / group {}",
            meta.family, meta.group, t.family, t.group
        )));
    }
    if t.task.as_object() != Some(&meta.task) {
        return Err(invalid(format!(
            "file says task {}, the manifest says {}",
            serde_json::Value::Object(meta.task.clone()),
            t.task
        )));
    }
    if let Some(g) = manifest.groups.get(&t.group) {
        if (meta.action_type.as_str(), meta.num_actions) != (g.action_type.as_str(), g.num_actions)
        {
            return Err(invalid(format!(
                "action_type {} with num_actions {}; the manifest's group `{}` says action_type \
                 {} with num_actions {}",
                meta.action_type, meta.num_actions, t.group, g.action_type, g.num_actions
            )));
        }
    }
    Ok(())
}

/// The start positions of windows of one length over some histories (see
/// [`Dataset::window_slots`]).
#[derive(Clone, Debug)]
pub struct WindowSlots {
    slots: Vec<(usize, usize, usize)>,
    total: usize,
    len: usize,
}

impl WindowSlots {
    /// A uniformly random window number, for [`Dataset::window_at`].
    pub fn draw(&self, rng: &mut impl Rng) -> usize {
        rng.random_range(0..self.total)
    }

    /// How many windows there are.
    pub fn total(&self) -> usize {
        self.total
    }
}
