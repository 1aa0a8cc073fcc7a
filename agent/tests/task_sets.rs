//! Every task an evaluation can select by name is valid under the families' sane parameter
//! ranges, the `shifted` tasks beyond the training ranges included.

use agent::eval::{TaskSet, select_from};

#[test]
fn every_named_task_set_builds_its_envs() {
    let ids: Vec<String> = envs::families().iter().map(|f| f.id().to_string()).collect();
    // A run trained on every family's whole train split: the widest training ranges.
    let trained: Vec<(String, envs::Task)> = envs::families()
        .iter()
        .flat_map(|f| f.train_tasks().into_iter().map(|t| (f.id().to_string(), t)))
        .collect();
    for set in [TaskSet::Train, TaskSet::Heldout, TaskSet::Shifted] {
        let tasks = select_from(&set, &ids, &trained).unwrap();
        assert!(!tasks.is_empty(), "{set:?}");
        for t in &tasks {
            envs::make(&t.family, &t.task).unwrap_or_else(|e| panic!("{set:?}: {e}"));
        }
    }
    let shifted = select_from(&TaskSet::Shifted, &ids, &trained).unwrap();
    assert!(shifted.iter().any(|t| t.family == "Acrobot-v1"), "gravity families are shifted");
}
