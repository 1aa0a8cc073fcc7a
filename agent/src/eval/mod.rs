//! In-context evaluation: cold start from an empty context, K consecutive episodes per task
//! with the whole cross-episode history kept (recurrent state in lightning layers, a sliding
//! KV window in softmax layers), every (task, seed) env of a domain group stepped in one
//! batch. Scores are normalised as `(score - random) / (expert - random)`.

mod run;
mod tasks;

pub use run::{EvalOptions, EvalReport, TargetCheck, TaskResult, evaluate};
pub use tasks::{TaskRef, TaskSet, select_tasks};
