//! The env checker over every registered family (so a newly registered family is covered
//! automatically): its default task and several train and held-out tasks.

use envs::checker::check_family_task;
use envs::families;

/// Train and held-out tasks checked per family (spread over each list).
const TRAIN_CHECKED: usize = 3;
const HELDOUT_CHECKED: usize = 2;

fn spread<T: Clone>(items: &[T], count: usize) -> Vec<T> {
    let step = (items.len() / count.max(1)).max(1);
    items.iter().step_by(step).take(count).cloned().collect()
}

#[test]
fn every_family_passes_the_env_checker() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for family in families() {
        let (train, heldout) = (family.train_tasks(), family.heldout_tasks());
        assert!(!train.is_empty() && !heldout.is_empty(), "{}: empty split", family.id());
        let mut tasks = vec![family.default_task()];
        tasks.extend(spread(&train, TRAIN_CHECKED));
        tasks.extend(spread(&heldout, HELDOUT_CHECKED));
        for task in &tasks {
            checked += 1;
            if let Err(e) = check_family_task(*family, task) {
                failures.push(e.to_string());
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn train_and_heldout_tasks_are_disjoint_and_buildable() {
    for family in families() {
        let (train, heldout) = (family.train_tasks(), family.heldout_tasks());
        assert_eq!(train, family.train_tasks(), "{}: split not fixed", family.id());
        for task in &heldout {
            assert!(
                !train.contains(task),
                "{}: held-out task {task:?} is also a train task",
                family.id()
            );
        }
        for task in spread(&train, 10).iter().chain(&heldout) {
            family.make(task).unwrap_or_else(|e| panic!("{}: {e}", family.id()));
        }
    }
}
