//! In-context evaluation: cold start from an empty context, K consecutive episodes per task
//! with the whole cross-episode history kept (recurrent state in lightning layers, a sliding
//! KV window in softmax layers), every (task, seed) env of a domain group stepped in one
//! batch. Scores are normalised as `(score - random) / (expert - random)`. Controls run the
//! same agent with one thing changed in its context (rewards zeroed, another task's history
//! first), so that a rise can be told apart from a replay of the data's noise schedule.

mod reference;
mod report;
mod run;
mod tasks;

pub use report::{
    Control, ControlResult, ControlsError, Discovery, EXPLOIT_RUN, EXPLOIT_THRESHOLD, EvalReport,
    ExploitationStats, HiddenRewards, ReportError, StateMemory, TaskResult, curve, exploitation,
    first_and_last, median,
};
pub use run::{EvalOptions, evaluate};
pub use tasks::{TaskRef, TaskSet, TaskSetError, families, select_from, select_tasks};

/// A failure of an evaluation; the message names the task, flag or step.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Env(#[from] envs::EnvError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("torch: {0}")]
    Torch(#[from] tch::TchError),
    /// The family's oracle could not be rolled out to measure a reference.
    #[error("{family}: oracle reference: {error}")]
    Oracle { family: String, error: histories::history::RolloutError },
    #[error(
        "the model's output became non-finite (NaN or infinite) for domain group `{group}` at \
         evaluation step {step}: the checkpoint or its quantization is broken"
    )]
    NonFinite { group: String, step: usize },
}
