//! Which tasks to evaluate: the run's own training tasks, a family's held-out split, a
//! self-correction set with physics beyond the run's training ranges, or an explicit list.

use envs::Task;
use histories::manifest::Manifest;
use histories::split::Split;
use serde::{Deserialize, Serialize};

/// A task to evaluate, with the split it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRef {
    pub family: String,
    pub task: Task,
    pub split: Split,
}

/// A `--tasks` value that does not parse, or names tasks the run cannot be evaluated on.
#[derive(Debug, thiserror::Error)]
pub enum TaskSetError {
    #[error("--tasks `{item}`: expected train, heldout, shifted or FAMILY:JSON[;FAMILY:JSON...]")]
    Syntax { item: String },
    #[error("--tasks `{item}`: task is not a JSON object: {error}")]
    NotJson { item: String, error: serde_json::Error },
    /// A family of the run's dataset that is not registered (its message names it).
    #[error("{0}")]
    Family(envs::EnvError),
    #[error("--tasks: family `{family}` is not one the agent was trained on ({})", .trained.join(", "))]
    NotTrained { family: String, trained: Vec<String> },
}

/// Named task sets of `icrl eval --tasks`.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskSet {
    /// The tasks the run trained on: its dataset's train-split tasks (not the family's whole
    /// train split, of which a dataset may hold a few).
    Train,
    /// The family's held-out split.
    Heldout,
    /// Self-correction: each family's default task with gravity set 10% below the lowest
    /// and 10% above the highest gravity of the run's training tasks (families without a
    /// gravity parameter have no shifted tasks).
    Shifted,
    /// `family:JSON` entries, e.g. `DarkRoom-v0:{"goal":[1,2]}`.
    List(Vec<(String, Task)>),
}

impl TaskSet {
    pub fn parse(text: &str) -> Result<Self, TaskSetError> {
        match text {
            "train" => Ok(TaskSet::Train),
            "heldout" => Ok(TaskSet::Heldout),
            "shifted" => Ok(TaskSet::Shifted),
            _ => {
                let mut list = Vec::new();
                for item in text.split(';').filter(|s| !s.trim().is_empty()) {
                    let (family, json) = item
                        .split_once(':')
                        .ok_or_else(|| TaskSetError::Syntax { item: item.to_string() })?;
                    let task: Task = serde_json::from_str(json)
                        .map_err(|error| TaskSetError::NotJson { item: item.to_string(), error })?;
                    list.push((family.trim().to_string(), task));
                }
                Ok(TaskSet::List(list))
            }
        }
    }
}

/// The families of a dataset, sorted.
pub fn families(manifest: &Manifest) -> Vec<String> {
    let mut f: Vec<String> = manifest.tasks.iter().map(|t| t.family.clone()).collect();
    f.sort();
    f.dedup();
    f
}

/// The tasks of `set` for the families of the run's dataset `manifest`.
pub fn select_tasks(set: &TaskSet, manifest: &Manifest) -> Result<Vec<TaskRef>, TaskSetError> {
    let trained: Vec<(String, Task)> = manifest
        .tasks
        .iter()
        .filter(|t| t.split == Split::Train)
        .filter_map(|t| Some((t.family.clone(), t.task.as_object()?.clone())))
        .collect();
    select_from(set, &families(manifest), &trained)
}

/// The tasks of `set` for `families`, given the run's training tasks as (family, task).
pub fn select_from(
    set: &TaskSet,
    families: &[String],
    trained: &[(String, Task)],
) -> Result<Vec<TaskRef>, TaskSetError> {
    let mut out = Vec::new();
    for id in families {
        let family = envs::family(id).map_err(TaskSetError::Family)?;
        let own: Vec<Task> =
            trained.iter().filter(|(f, _)| f == id).map(|(_, t)| t.clone()).collect();
        let tasks = match set {
            TaskSet::Train => own.into_iter().map(|t| (t, Split::Train)).collect(),
            TaskSet::Heldout => {
                family.heldout_tasks().into_iter().map(|t| (t, Split::Heldout)).collect()
            }
            TaskSet::Shifted => {
                family.shifted_tasks(&own).into_iter().map(|t| (t, Split::Shifted)).collect()
            }
            TaskSet::List(list) => list
                .iter()
                .filter(|(f, _)| f == id)
                .map(|(_, t)| (t.clone(), Split::Custom))
                .collect::<Vec<_>>(),
        };
        out.extend(tasks.into_iter().map(|(task, split)| TaskRef {
            family: id.clone(),
            task,
            split,
        }));
    }
    if let TaskSet::List(list) = set {
        for (f, _) in list {
            if !families.contains(f) {
                return Err(TaskSetError::NotTrained {
                    family: f.clone(),
                    trained: families.to_vec(),
                });
            }
        }
    }
    Ok(out)
}
