//! What an evaluation reports: returns per task and seed, their normalisation, the controls
//! run beside the agent, and the measures read off them (curves, first and last episodes,
//! episodes from first reward to exploitation).

use envs::Task;
use serde::{Deserialize, Serialize};

/// A normalised return at or above this counts as exploiting the task (half of the way from
/// the random policy's return to the demonstrator's): a Dark Room agent that walks to the goal
/// and stays there scores about 1, one that only passes through it scores near 0.
pub const EXPLOIT_THRESHOLD: f64 = 0.5;

/// Exploitation starts at the first episode that begins this many consecutive episodes at or
/// above [`EXPLOIT_THRESHOLD`] (fewer where the evaluation ends first): one lucky episode is
/// not exploitation, and where a single reward per episode makes every rewarded episode score
/// 1 (Dark Room Hard) only reaching the goal again and again counts.
pub const EXPLOIT_RUN: usize = 3;

/// A `--controls` item that names no control.
#[derive(Debug, thiserror::Error)]
#[error("`{item}`: expected `none` or a list of zero-reward, other-task")]
pub struct ControlsError {
    pub item: String,
}

/// Why a report read back from a file is refused; names the task (condition, index, family
/// and split) and what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("`seeds` and `episodes` must be at least 1, got {seeds} and {episodes}")]
    Empty { seeds: usize, episodes: usize },
    #[error("control `{0}` appears twice")]
    DuplicateControl(&'static str),
    #[error("control `{0}`: `episodes` must be at least 1")]
    NoControlEpisodes(&'static str),
    #[error("{task}: {error}")]
    Family { task: String, error: envs::EnvError },
    #[error("{task}: `{table}` must hold {seeds} seeds x {episodes} episodes")]
    Shape { task: String, table: &'static str, seeds: usize, episodes: usize },
    #[error("{task}: `{table}` holds a non-finite value")]
    NonFinite { task: String, table: &'static str },
}

/// A control condition: the same agent, tasks, seeds and env resets as the evaluation, with
/// one thing changed in what the agent sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Control {
    /// Every reward in the agent's context is zero (the reported returns are the env's own).
    /// An agent that adapts to the rewards it received has nothing to adapt to and should stay
    /// near its first episode; one that replays the pace of its training data's noise
    /// schedule rises anyway.
    ZeroReward,
    /// The context starts with the agent's own history on another task of the same family
    /// (the next evaluated one) for the first half of the episodes; then the task switches
    /// and the second half is scored. An agent that adapts finds the new task's reward and
    /// exploits it again; one that keys on its position in the context keeps exploiting the
    /// other task (or whatever its clock says).
    OtherTask,
    /// Every reward in the agent's context is the random policy's mean reward per step on the
    /// task, measured beside the evaluation: the context says the agent does no better than
    /// chance, whatever it does. Zero is not a neutral reward where rewards are dense and
    /// negative (Pendulum's best step earns 0): there the `zero-reward` context reads as an
    /// expert's, and this control is the neutral one. On the grid rooms the two nearly agree
    /// (a random walk earns almost nothing).
    RandomReward,
}

impl Control {
    pub const ALL: [Control; 3] = [Control::ZeroReward, Control::OtherTask, Control::RandomReward];

    /// The flag spelling: `zero-reward`, `other-task` or `random-reward`.
    pub fn name(self) -> &'static str {
        match self {
            Control::ZeroReward => "zero-reward",
            Control::OtherTask => "other-task",
            Control::RandomReward => "random-reward",
        }
    }

    /// One line for reports.
    pub fn describe(self) -> &'static str {
        match self {
            Control::ZeroReward => "rewards zeroed in the agent's context",
            Control::OtherTask => {
                "first half of the context on another task of the family, second half scored"
            }
            Control::RandomReward => {
                "every reward in the agent's context is the random policy's mean reward per step"
            }
        }
    }

    /// `none`, or a comma-separated list of control names.
    pub fn parse_list(text: &str) -> Result<Vec<Control>, ControlsError> {
        if text.trim() == "none" {
            return Ok(vec![]);
        }
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let c = Control::ALL
                .into_iter()
                .find(|c| c.name() == item)
                .ok_or_else(|| ControlsError { item: item.to_string() })?;
            if !out.contains(&c) {
                out.push(c);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The episode (0-based, in the agent's context) at which scoring starts, of `episodes`.
    pub fn first_scored(self, episodes: usize) -> usize {
        match self {
            Control::ZeroReward | Control::RandomReward => 0,
            Control::OtherTask => episodes / 2,
        }
    }
}

/// One task's results under one condition.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    pub family: String,
    pub task: Task,
    pub split: String,
    pub group: String,
    /// `returns[seed][episode]`, scored episodes only.
    pub returns: Vec<Vec<f64>>,
    pub random_return: f64,
    /// The demonstrator's (or oracle's) mean return; `None` if unknown for this task.
    pub expert_return: Option<f64>,
    /// Where the references came from: `dataset`, `reference dataset` or `measured`.
    pub reference_source: String,
    /// `(returns - random) / (expert - random)`, when the expert return is known.
    pub normalized: Option<Vec<Vec<f64>>>,
    /// Sparse, goal-like rewards (the grid families, which have an exact oracle): the
    /// exploitation measure applies.
    #[serde(default)]
    pub sparse_reward: bool,
    /// The other task whose history filled the first half of the context (`other-task`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_task: Option<Task>,
}

impl TaskResult {
    /// Fill `normalized` from the returns and references.
    pub fn normalize(&mut self) {
        self.normalized = self.expert_return.and_then(|expert| {
            let span = expert - self.random_return;
            (span.abs() > 1e-9).then(|| {
                self.returns
                    .iter()
                    .map(|s| s.iter().map(|x| (x - self.random_return) / span).collect())
                    .collect()
            })
        });
    }
}

/// A control's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ControlResult {
    pub control: Control,
    pub description: String,
    /// Episodes in the agent's context before scoring starts.
    pub first_scored: usize,
    /// Scored episodes per (task, seed).
    pub episodes: usize,
    pub tasks: Vec<TaskResult>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub episodes: usize,
    pub seeds: usize,
    pub seed: u64,
    pub tasks: Vec<TaskResult>,
    /// The controls run beside the evaluation (empty when none were asked for).
    #[serde(default)]
    pub controls: Vec<ControlResult>,
    /// The memory the agent's inference state held (KV caches of the softmax layers, and
    /// the whole state).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<StateMemory>,
    /// The domain groups whose reward encoder hid every reward the evaluation put in their
    /// context (a LeakyReLU encoder, from before the linear one, with every unit below zero):
    /// for them no control can show adaptation to reward.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden_rewards: Vec<HiddenRewards>,
}

/// A domain group that could not see its rewards in an evaluation, and the range of the
/// rewards (as the context holds them, scaled) that its agent and `other-task` runs saw.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HiddenRewards {
    pub group: String,
    pub lowest: f64,
    pub highest: f64,
}

/// The memory an evaluation's inference states held, per sequence (one (task, seed) run), in
/// the lockstep batch that held the most.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateMemory {
    /// The softmax layers' caches: `sliding window` (the model's own), or the compressed
    /// caches' settings in words.
    pub kv_cache: String,
    /// The compressed caches' settings (`--kv-*`); `None` for the sliding window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_options: Option<crate::model::kv::KvOptions>,
    /// The most bytes the softmax layers' KV caches held at once, per sequence (buffers as
    /// allocated: spare capacity, codes, scales, zeros and positions included).
    pub kv_peak_bytes: f64,
    /// Mean over steps of the KV bytes held, per sequence.
    pub kv_mean_bytes: f64,
    /// Bytes per sequence that full-precision caches of the whole history would hold at
    /// the end (compressed caches only; the reference of `--kv-budget 100%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kv_full_bytes: Option<f64>,
    /// The most bytes the whole inference state held at once (lightning states included).
    pub state_peak_bytes: f64,
    /// Steps of the longest history.
    pub steps: usize,
}

impl StateMemory {
    /// Folds in one lockstep batch's figures, keeping the larger of each.
    pub fn merge(&mut self, other: &StateMemory) {
        self.kv_peak_bytes = self.kv_peak_bytes.max(other.kv_peak_bytes);
        self.kv_mean_bytes = self.kv_mean_bytes.max(other.kv_mean_bytes);
        self.kv_full_bytes = match (self.kv_full_bytes, other.kv_full_bytes) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.state_peak_bytes = self.state_peak_bytes.max(other.state_peak_bytes);
        self.steps = self.steps.max(other.steps);
    }
}

/// Per episode, the mean normalised return over every (task, seed) of `split` (and `family`)
/// with a normalised score, and the min and max over seeds' task means.
pub fn curve(
    tasks: &[TaskResult],
    episodes: usize,
    split: &str,
    family: Option<&str>,
) -> Vec<(f64, f64, f64)> {
    let rows: Vec<&Vec<Vec<f64>>> = tasks
        .iter()
        .filter(|t| t.split == split && family.is_none_or(|f| t.family == f))
        .filter_map(|t| t.normalized.as_ref())
        .collect();
    let Some(seeds) = rows.first().map(|n| n.len()) else { return vec![] };
    (0..episodes)
        .map(|e| {
            // Per seed: the mean over tasks; then mean, min, max over seeds.
            let per_seed: Vec<f64> = (0..seeds)
                .map(|s| rows.iter().map(|n| n[s][e]).sum::<f64>() / rows.len() as f64)
                .collect();
            let mean = per_seed.iter().sum::<f64>() / per_seed.len() as f64;
            let (lo, hi) = histories::stats::min_max(per_seed.iter().copied());
            (mean, lo, hi)
        })
        .collect()
}

/// The mean normalised return of the first scored episode and of the last `min(5, episodes)`,
/// with that count; `None` without normalised scores.
pub fn first_and_last(
    tasks: &[TaskResult],
    episodes: usize,
    split: &str,
    family: Option<&str>,
) -> Option<(f64, f64, usize)> {
    let c = curve(tasks, episodes, split, family);
    let first = c.first()?.0;
    let k = episodes.min(5);
    let last = c[c.len() - k..].iter().map(|x| x.0).sum::<f64>() / k as f64;
    Some((first, last, k))
}

/// When one run (a task and seed) first got a reward and first exploited it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Discovery {
    /// The first scored episode (1-based) with a positive return.
    pub found: Option<usize>,
    /// The first episode from `found` on that starts [`EXPLOIT_RUN`] consecutive episodes at
    /// or above [`EXPLOIT_THRESHOLD`].
    pub exploited: Option<usize>,
}

impl Discovery {
    pub fn of(returns: &[f64], normalized: &[f64]) -> Self {
        let found = returns.iter().position(|r| *r > 0.0);
        let n = normalized.len();
        let sustained = |e: usize| {
            normalized[e..(e + EXPLOIT_RUN).min(n)].iter().all(|x| *x >= EXPLOIT_THRESHOLD)
        };
        let exploited = found.and_then(|f| (f..n).find(|&e| sustained(e)));
        Discovery { found: found.map(|e| e + 1), exploited: exploited.map(|e| e + 1) }
    }

    /// Episodes from the first reward to exploitation.
    pub fn delay(&self) -> Option<usize> {
        Some(self.exploited? - self.found?)
    }
}

/// The exploitation measure over the runs of one family and split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExploitationStats {
    pub runs: usize,
    /// Runs that never got a reward.
    pub never_found: usize,
    /// Runs that got a reward but never reached the threshold afterwards.
    pub not_exploited: usize,
    /// Medians over the runs that found (exploited) the reward.
    pub median_found: Option<f64>,
    pub median_exploited: Option<f64>,
    /// Median episodes from the first reward to exploitation, over runs that exploited.
    pub median_delay: Option<f64>,
    /// The median delay by when the reward was first found: `(first episode, last episode,
    /// runs, median delay)` for episodes 1-10, 11-20 and 21 on.
    pub delay_by_found: Vec<(usize, usize, usize, Option<f64>)>,
}

/// The median of `values` (`None` if empty).
pub fn median(values: &[f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let m = v.len() / 2;
    Some(if v.len() % 2 == 1 { v[m] } else { (v[m - 1] + v[m]) / 2.0 })
}

/// Episodes from first reward to exploitation over every run of `split` and `family` with
/// sparse rewards and normalised scores; `None` where there are no such runs.
pub fn exploitation(tasks: &[TaskResult], split: &str, family: &str) -> Option<ExploitationStats> {
    let runs: Vec<Discovery> = tasks
        .iter()
        .filter(|t| t.split == split && t.family == family && t.sparse_reward)
        .filter_map(|t| t.normalized.as_ref().map(|n| (t, n)))
        .flat_map(|(t, n)| t.returns.iter().zip(n).map(|(r, n)| Discovery::of(r, n)))
        .collect();
    if runs.is_empty() {
        return None;
    }
    let found: Vec<f64> = runs.iter().filter_map(|d| d.found).map(|e| e as f64).collect();
    let exploited: Vec<f64> = runs.iter().filter_map(|d| d.exploited).map(|e| e as f64).collect();
    let delays: Vec<f64> = runs.iter().filter_map(|d| d.delay()).map(|e| e as f64).collect();
    let bucket = |lo: usize, hi: usize| {
        let d: Vec<f64> = runs
            .iter()
            .filter(|r| r.found.is_some_and(|f| (lo..=hi).contains(&f)))
            .filter_map(|r| r.delay())
            .map(|e| e as f64)
            .collect();
        (lo, hi, d.len(), median(&d))
    };
    Some(ExploitationStats {
        runs: runs.len(),
        never_found: runs.iter().filter(|d| d.found.is_none()).count(),
        not_exploited: runs.iter().filter(|d| d.found.is_some() && d.exploited.is_none()).count(),
        median_found: median(&found),
        median_exploited: median(&exploited),
        median_delay: median(&delays),
        delay_by_found: vec![bucket(1, 10), bucket(11, 20), bucket(21, usize::MAX)],
    })
}

impl EvalReport {
    /// See [`curve`]: the evaluation's own tasks.
    pub fn curve(&self, split: &str, family: Option<&str>) -> Vec<(f64, f64, f64)> {
        curve(&self.tasks, self.episodes, split, family)
    }

    /// See [`first_and_last`]: the evaluation's own tasks.
    pub fn first_and_last(&self, split: &str, family: Option<&str>) -> Option<(f64, f64, usize)> {
        first_and_last(&self.tasks, self.episodes, split, family)
    }

    /// A control's results, if it was run.
    pub fn control(&self, control: Control) -> Option<&ControlResult> {
        self.controls.iter().find(|c| c.control == control)
    }

    /// Check a report read back from a file: every task has `seeds` rows of its condition's
    /// scored episodes (returns and normalised returns alike), every value is finite, and
    /// each control appears once. The message names the task and what is wrong, so that a
    /// damaged or hand-edited report is refused instead of misread.
    pub fn validate(&self) -> Result<(), ReportError> {
        if self.seeds == 0 || self.episodes == 0 {
            return Err(ReportError::Empty { seeds: self.seeds, episodes: self.episodes });
        }
        check_rows("agent", &self.tasks, self.seeds, self.episodes)?;
        for (i, c) in self.controls.iter().enumerate() {
            if self.controls[..i].iter().any(|o| o.control == c.control) {
                return Err(ReportError::DuplicateControl(c.control.name()));
            }
            if c.episodes == 0 {
                return Err(ReportError::NoControlEpisodes(c.control.name()));
            }
            check_rows(c.control.name(), &c.tasks, self.seeds, c.episodes)?;
        }
        Ok(())
    }
}

/// Every task of a condition has `seeds` rows of `episodes` finite values.
fn check_rows(
    condition: &str,
    tasks: &[TaskResult],
    seeds: usize,
    episodes: usize,
) -> Result<(), ReportError> {
    for (i, t) in tasks.iter().enumerate() {
        let name = || format!("{condition}: task {i} ({} {})", t.family, t.split);
        envs::family(&t.family).map_err(|error| ReportError::Family { task: name(), error })?;
        let mut tables = vec![("returns", &t.returns)];
        if let Some(n) = &t.normalized {
            tables.push(("normalized", n));
        }
        for (what, rows) in tables {
            if rows.len() != seeds || rows.iter().any(|r| r.len() != episodes) {
                return Err(ReportError::Shape { task: name(), table: what, seeds, episodes });
            }
            if rows.iter().flatten().any(|x| !x.is_finite()) {
                return Err(ReportError::NonFinite { task: name(), table: what });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn discovery_counts_from_the_first_reward() {
        let d = Discovery::of(&[0.0, 0.0, 3.0, 1.0, 15.0], &[0.0, 0.0, 0.2, 0.1, 0.9]);
        assert_eq!(d, Discovery { found: Some(3), exploited: Some(5) });
        assert_eq!(d.delay(), Some(2));
        // One good episode between misses is not exploitation: it must be sustained.
        let d = Discovery::of(&[1.0, 0.0, 1.0, 1.0, 1.0, 1.0], &[1.0, 0.0, 1.0, 1.0, 1.0, 1.0]);
        assert_eq!(d, Discovery { found: Some(1), exploited: Some(3) });
        // Exploiting in the very episode that found the reward is a delay of 0.
        let d = Discovery::of(&[0.0, 12.0], &[0.0, 0.8]);
        assert_eq!(d.delay(), Some(0));
        let d = Discovery::of(&[0.0, 0.0], &[0.0, 0.0]);
        assert_eq!(d, Discovery { found: None, exploited: None });
        let d = Discovery::of(&[1.0, 0.0], &[0.05, 0.0]);
        assert_eq!(d, Discovery { found: Some(1), exploited: None });
        assert_eq!(d.delay(), None);
    }

    fn row(returns: Vec<Vec<f64>>, sparse: bool) -> TaskResult {
        let mut t = TaskResult {
            family: "F".into(),
            task: Task::new(),
            split: "heldout".into(),
            group: "g".into(),
            returns,
            random_return: 0.0,
            expert_return: Some(10.0),
            reference_source: "measured".into(),
            normalized: None,
            sparse_reward: sparse,
            context_task: None,
        };
        t.normalize();
        t
    }

    #[test]
    fn exploitation_medians_and_buckets() {
        // Seed 0 finds at 2, exploits at 3; seed 1 finds at 1, exploits at 5 (the last
        // episode: the run of 3 is cut by the end); seed 2 never.
        let t = row(
            vec![
                vec![0.0, 1.0, 9.0, 9.0, 9.0],
                vec![1.0, 1.0, 1.0, 1.0, 8.0],
                vec![0.0, 0.0, 0.0, 0.0, 0.0],
            ],
            true,
        );
        let s = exploitation(std::slice::from_ref(&t), "heldout", "F").unwrap();
        assert_eq!((s.runs, s.never_found, s.not_exploited), (3, 1, 0));
        assert_eq!(s.median_found, Some(1.5));
        assert_eq!(s.median_delay, Some(2.5));
        assert_eq!(s.delay_by_found[0], (1, 10, 2, Some(2.5)));
        assert_eq!(s.delay_by_found[1].2, 0);
        // Dense-reward families are not measured.
        let dense = row(vec![vec![1.0, 2.0]], false);
        assert!(exploitation(&[dense], "heldout", "F").is_none());
    }

    #[test]
    fn curves_skip_unnormalised_tasks_and_average_seeds() {
        let a = row(vec![vec![0.0, 10.0], vec![5.0, 10.0]], false);
        let mut b = row(vec![vec![0.0, 0.0], vec![0.0, 0.0]], false);
        b.expert_return = None;
        b.normalize();
        let c = curve(&[a, b], 2, "heldout", None);
        assert_eq!(c, vec![(0.25, 0.0, 0.5), (1.0, 1.0, 1.0)]);
    }

    #[test]
    fn validate_refuses_ragged_or_non_finite_reports() {
        let mut good = EvalReport {
            memory: None,
            episodes: 2,
            seeds: 2,
            seed: 0,
            tasks: vec![row(vec![vec![0.0, 10.0], vec![5.0, 10.0]], false)],
            controls: vec![],
            hidden_rewards: vec![],
        };
        assert!(good.validate().unwrap_err().to_string().contains("`F`"), "an unknown family");
        good.tasks[0].family = "DarkRoom-v0".into();
        good.validate().unwrap();
        let mut ragged = good.clone();
        ragged.tasks[0].returns[1].pop();
        assert!(
            ragged.validate().unwrap_err().to_string().contains("`returns` must hold 2 seeds x 2")
        );
        let mut short = good.clone();
        short.tasks[0].normalized.as_mut().unwrap().pop();
        assert!(short.validate().unwrap_err().to_string().contains("`normalized`"));
        let mut nan = good.clone();
        nan.tasks[0].returns[0][0] = f64::NAN;
        assert!(nan.validate().unwrap_err().to_string().contains("non-finite"));
        let mut control = good.clone();
        control.controls.push(ControlResult {
            control: Control::OtherTask,
            description: String::new(),
            first_scored: 1,
            episodes: 1,
            tasks: good.tasks.clone(),
        });
        assert!(control.validate().unwrap_err().to_string().contains("other-task: task 0"));
    }

    #[test]
    fn control_lists_parse() {
        assert_eq!(Control::parse_list("none").unwrap(), vec![]);
        assert_eq!(
            Control::parse_list("other-task,zero-reward,other-task").unwrap(),
            vec![Control::ZeroReward, Control::OtherTask]
        );
        assert!(Control::parse_list("zero").unwrap_err().to_string().contains("`zero`"));
        assert_eq!(Control::OtherTask.first_scored(30), 15);
    }
}
