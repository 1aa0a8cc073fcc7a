//! Dataset suites: which tasks, which demonstrator, how much data and which noise schedule.
//! A suite is a JSON file or a named preset (`icrl datagen --suite dark-room`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ppo::{Hyperparams, PpoConfig};
use histories::manifest::SuiteRecord;
use histories::schedule::Schedule;

/// The preset suites' files (`datagen/presets/NAME.json`), by name.
const PRESET_FILES: &[(&str, &str)] = &[
    ("dark-room", include_str!("../presets/dark-room.json")),
    ("key-to-door", include_str!("../presets/key-to-door.json")),
    ("classic-control", include_str!("../presets/classic-control.json")),
    ("industrial-benchmark", include_str!("../presets/industrial-benchmark.json")),
    ("mujoco", include_str!("../presets/mujoco.json")),
    ("dark-room-benchmark", include_str!("../presets/dark-room-benchmark.json")),
    ("benchmark", include_str!("../presets/benchmark.json")),
    ("quickstart", include_str!("../presets/quickstart.json")),
    ("heldout-reference", include_str!("../presets/heldout-reference.json")),
];

/// A whole dataset recipe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Suite {
    /// Name used for the output manifest and training run names.
    pub name: String,
    /// Drives every random choice of the dataset (per-task seeds derive from it).
    pub seed: u64,
    pub entries: Vec<SuiteEntry>,
}

/// One family's share of a suite.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteEntry {
    /// Env family id, e.g. `DarkRoom-v0`.
    pub env: String,
    /// `train`, `heldout`, `all`, `shifted`, or an explicit list of task objects.
    pub tasks: TaskSelection,
    /// Keep only the first N tasks of the selection (small runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tasks: Option<usize>,
    pub demonstrator: DemonstratorSpec,
    /// Learning histories per task.
    pub histories_per_task: usize,
    /// Transitions per history (the last episode is finished, so histories end on an
    /// episode boundary and may be a little longer).
    pub transitions_per_history: usize,
    pub noise: NoiseSpec,
    /// Reward scale the trainer applies to this family's rewards (Vintix: per task).
    #[serde(default = "one")]
    pub reward_scale: f64,
}

fn one() -> f64 {
    1.0
}

impl SuiteEntry {
    /// Check the entry (the message names the field; the caller adds the entry).
    pub fn validate(&self) -> Result<(), String> {
        let family = envs::family(&self.env).map_err(|x| x.to_string())?;
        self.validate_sizes()?;
        if let DemonstratorSpec::Saved { dir } = &self.demonstrator {
            let meta = crate::ppo::TrainedPolicy::read_meta(&saved_dir(dir))
                .map_err(|x| format!("demonstrator: {x}"))?;
            if meta.env_id != self.env {
                return Err(format!(
                    "demonstrator {dir}: trained on {}, not {}",
                    meta.env_id, self.env
                ));
            }
        }
        if let DemonstratorSpec::Ppo { total_steps, attempts, hyperparams } = &self.demonstrator {
            let env = family.make(&family.default_task()).map_err(|x| x.to_string())?;
            let discrete = matches!(env.action_space(), envs::Space::Discrete { .. });
            ppo_config(&self.env, discrete, *total_steps, *attempts, *hyperparams)
                .and_then(|c| c.validate())
                .map_err(|x| format!("demonstrator: {x}"))?;
        }
        if !(self.reward_scale.is_finite() && self.reward_scale > 0.0) {
            return Err(format!(
                "`reward_scale` must be a finite number > 0, got {}",
                self.reward_scale
            ));
        }
        match &self.noise {
            NoiseSpec::Fixed { schedule } => schedule.validate().map_err(|x| x.to_string())?,
            NoiseSpec::Varied { schedules } => {
                if !(1..=MAX_VARIED_SCHEDULES).contains(&schedules.len()) {
                    return Err(format!(
                        "varied noise: `schedules` must hold 1..={MAX_VARIED_SCHEDULES} \
                         schedules, got {}",
                        schedules.len()
                    ));
                }
                for (i, s) in schedules.iter().enumerate() {
                    s.validate().map_err(|x| format!("varied noise: schedules[{i}]: {x}"))?;
                }
            }
            NoiseSpec::Calibrated { .. } => {}
        }
        let tasks = self.tasks(family);
        if tasks.is_empty() {
            return Err(format!(
                "`tasks` selects no task of {} (`shifted` needs a family with a gravity \
                 parameter)",
                self.env
            ));
        }
        for (k, task) in tasks.iter().enumerate() {
            family
                .make(task)
                .map_err(|x| format!("`tasks`[{k}] {}: {x}", Value::Object(task.clone())))?;
        }
        Ok(())
    }

    /// Every size within its bound, so none can overflow or exhaust memory.
    fn validate_sizes(&self) -> Result<(), String> {
        bounded("histories_per_task", self.histories_per_task, MAX_HISTORIES_PER_TASK)?;
        bounded(
            "transitions_per_history",
            self.transitions_per_history,
            MAX_TRANSITIONS_PER_HISTORY,
        )?;
        let per_task = self.histories_per_task * self.transitions_per_history;
        if per_task > MAX_TRANSITIONS_PER_TASK {
            return Err(format!(
                "`histories_per_task` x `transitions_per_history` = {per_task} transitions per \
                 task, at most {MAX_TRANSITIONS_PER_TASK}"
            ));
        }
        if self.max_tasks == Some(0) {
            return Err("`max_tasks` must be at least 1".into());
        }
        if let TaskSelection::List(list) = &self.tasks {
            if list.is_empty() {
                return Err("`tasks` is an empty list".into());
            }
        }
        if let DemonstratorSpec::Ppo { total_steps, attempts, .. } = &self.demonstrator {
            total_steps
                .map_or(Ok(()), |n| bounded("demonstrator.total_steps", n, MAX_PPO_STEPS))?;
            attempts.map_or(Ok(()), |n| bounded("demonstrator.attempts", n, MAX_PPO_ATTEMPTS))?;
        }
        if let NoiseSpec::Calibrated { grid, episodes, tail } = &self.noise {
            if *grid < 2 || *grid > MAX_GRID {
                return Err(format!(
                    "calibrated noise: `grid` must be in 2..={MAX_GRID}, got {grid}"
                ));
            }
            bounded("noise.episodes", *episodes, MAX_CALIBRATION_EPISODES)?;
            if !(0.0..1.0).contains(tail) {
                return Err(format!("calibrated noise: `tail` must be in [0, 1), got {tail}"));
            }
        }
        Ok(())
    }

    /// The entry's tasks, in order: its split or list, cut to `max_tasks`.
    pub fn tasks(&self, family: &dyn envs::Family) -> Vec<envs::Task> {
        let tasks = match &self.tasks {
            TaskSelection::Split(SplitName::Train) => family.train_tasks(),
            TaskSelection::Split(SplitName::Heldout) => family.heldout_tasks(),
            TaskSelection::Split(SplitName::All) => {
                family.train_tasks().into_iter().chain(family.heldout_tasks()).collect()
            }
            TaskSelection::Split(SplitName::Shifted) => family.shifted_tasks(&family.train_tasks()),
            TaskSelection::List(list) => list.clone(),
        };
        tasks.into_iter().take(self.max_tasks.unwrap_or(usize::MAX)).collect()
    }
}

/// Which tasks of a family.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum TaskSelection {
    Split(SplitName),
    List(Vec<serde_json::Map<String, Value>>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Heldout,
    All,
    /// The family's shifted tasks ([`envs::Family::shifted_tasks`]: gravity 10% beyond the
    /// train split's range, and for MuJoCo a viscous medium): the tasks
    /// of `icrl eval --tasks shifted` for a run trained on the whole train split, so a dataset
    /// of them gives those tasks their references.
    Shifted,
}

/// Where the demonstrator comes from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DemonstratorSpec {
    /// The env's exact oracle (grid families).
    Oracle,
    /// A saved PPO policy (an `icrl ppo --out` folder, e.g. `demonstrators/Pendulum-v1`)
    /// for every task of the entry: no training, so a suite's histories are written at the
    /// speed of the rollouts. Its env must be the entry's; on tasks with other physics it is
    /// a fixed, possibly suboptimal demonstrator (its return is measured per task).
    Saved { dir: String },
    /// The oracle without knowledge of the task ([`crate::searcher`]): it tries the nearest
    /// untried cell of the history until rewarded, then walks to the rewarded cell (in
    /// Key-to-Door: the key, then the door). Grid rooms only (Dark Room, Dark Room Hard,
    /// Key-to-Door); its expert return is the oracle's.
    Searcher,
    /// A PPO policy trained per task (cached under the output folder, so a resumed run
    /// does not train again).
    Ppo {
        /// Env steps of PPO training per task (default: the per-env preset's).
        #[serde(default)]
        total_steps: Option<usize>,
        /// Independent runs, each with a new seed, until one reaches the preset's
        /// `solve_return`; the first solved run is kept, else the best (default: the per-env
        /// preset's). Needs a preset with a `solve_return`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempts: Option<usize>,
        /// The preset family: `cleanrl` (the default) or `zoo` (rl-baselines3-zoo's tuned
        /// settings, [`PpoConfig::zoo`]; an env without them is refused).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        hyperparams: Option<Hyperparams>,
    },
}

/// Where a [`DemonstratorSpec::Saved`] folder is: `dir` as given (absolute, or relative to
/// the working directory) when it holds a policy, else a relative `dir` inside the repository
/// this binary was built from (so the presets' `demonstrators/NAME` are found from any
/// working directory of a clone).
pub fn saved_dir(dir: &str) -> std::path::PathBuf {
    let given = std::path::PathBuf::from(dir);
    let meta = crate::ppo::saved::META_FILE;
    if given.is_absolute() || given.join(meta).exists() {
        return given;
    }
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(dir);
    if repo.join(meta).exists() { repo } else { given }
}

/// The config a [`DemonstratorSpec::Ppo`] demonstrator trains with on `env_id`: the per-env
/// preset of the chosen family ([`PpoConfig::preset_in`]) with the suite's overrides.
pub fn ppo_config(
    env_id: &str,
    discrete_actions: bool,
    total_steps: Option<usize>,
    attempts: Option<usize>,
    hyperparams: Option<Hyperparams>,
) -> Result<PpoConfig, String> {
    let mut config =
        PpoConfig::preset_in(env_id, discrete_actions, hyperparams.unwrap_or_default())?;
    if let Some(steps) = total_steps {
        config.total_steps = steps;
    }
    if let Some(attempts) = attempts {
        config.attempts = attempts;
    }
    Ok(config)
}

/// The noise schedule: fixed, varied from history to history, or calibrated per task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "lowercase", deny_unknown_fields)]
pub enum NoiseSpec {
    /// One schedule for every task.
    Fixed { schedule: Schedule },
    /// The schedules in turn: history `h` of every task follows `schedules[h % n]`. Noise
    /// phases of several lengths or shapes (a schedule that restarts mid-history is a
    /// `calibrated` one with those points), so that a position in a history no longer tells
    /// its noise level.
    Varied { schedules: Vec<Schedule> },
    /// Measure the demonstrator's mean return at `grid` evenly spaced noise levels in [0, 1]
    /// (`episodes` episodes each), then pick the schedule that makes the expected return
    /// rise linearly along the history, with a zero-noise tail fraction `tail`.
    Calibrated { grid: usize, episodes: usize, tail: f64 },
}

/// A suite that cannot run; the message names the entry and field.
#[derive(Debug, thiserror::Error)]
#[error("suite `{suite}`: {message}")]
pub struct SuiteError {
    pub suite: String,
    pub message: String,
}

/// Bounds of a suite's sizes, so that no size can overflow or exhaust memory.
pub const MAX_TRANSITIONS_PER_HISTORY: usize = 100_000_000;
pub const MAX_HISTORIES_PER_TASK: usize = 100_000;
/// Transitions of one task (all its histories, held in memory together).
pub const MAX_TRANSITIONS_PER_TASK: usize = 1_000_000_000;
/// Noise levels and episodes per level of a calibrated schedule.
pub const MAX_GRID: usize = 1_000;
pub const MAX_CALIBRATION_EPISODES: usize = 100_000;
/// Schedules of a varied noise spec.
pub const MAX_VARIED_SCHEDULES: usize = 1_000;
/// PPO demonstrator overrides.
pub const MAX_PPO_STEPS: usize = 10_000_000_000;
pub const MAX_PPO_ATTEMPTS: usize = 100;

/// `value` lies in `1..=max`, else a message naming `field` and the bound.
fn bounded(field: &str, value: usize, max: usize) -> Result<(), String> {
    if (1..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("`{field}` must be in 1..={max}, got {value}"))
    }
}

impl Suite {
    /// Check every field a user can get wrong before any work starts: sizes within their
    /// bounds, and every task's parameters (an env is built for each).
    pub fn validate(&self) -> Result<(), SuiteError> {
        let err = |message: String| SuiteError { suite: self.name.clone(), message };
        if self.entries.is_empty() {
            return Err(err("`entries` is empty".into()));
        }
        for (i, e) in self.entries.iter().enumerate() {
            e.validate().map_err(|x| err(format!("entries[{i}] ({}): {x}", e.env)))?;
        }
        Ok(())
    }

    /// Parse a suite file's JSON text.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, SuiteError> {
        let suite: Suite = serde_json::from_str(text).map_err(|e| SuiteError {
            suite: origin.to_string(),
            message: format!("not a valid suite: {e}"),
        })?;
        suite.validate()?;
        Ok(suite)
    }

    /// The suite a dataset's manifest records ([`SuiteRecord`]: name, seed, entries as JSON),
    /// read back as this type, so it prints with its fields in the order it was written.
    pub fn from_record(record: SuiteRecord) -> Result<Self, serde_json::Error> {
        serde_json::to_value(record).and_then(serde_json::from_value)
    }

    /// Names of the presets, for `--help` and error messages (those of [`PRESET_FILES`]).
    pub const PRESETS: &'static [&'static str] = &[
        "dark-room",
        "key-to-door",
        "classic-control",
        "industrial-benchmark",
        "mujoco",
        "dark-room-benchmark",
        "benchmark",
        "quickstart",
        "heldout-reference",
    ];

    /// A named preset: the suite file `datagen/presets/{name}.json` (built in; the folder's
    /// README says why each preset is as it is).
    pub fn preset(name: &str) -> Option<Self> {
        let (_, text) = PRESET_FILES.iter().find(|(n, _)| *n == name)?;
        // The files are checked by the tests (each parses, is valid and names itself).
        Some(serde_json::from_str(text).expect("a built-in preset file parses"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shifted_tasks_are_those_eval_scores_for_the_whole_train_split() {
        let entry = |env: &str| {
            let text = format!(
                r#"{{"env": "{env}", "tasks": "shifted", "demonstrator": {{"kind": "oracle"}},
                    "histories_per_task": 1, "transitions_per_history": 100,
                    "noise": {{"mode": "fixed", "schedule": {{"kind": "linear", "start": 1.0,
                    "end": 0.0, "f": 0.5}}}}}}"#
            );
            serde_json::from_str::<SuiteEntry>(&text).unwrap()
        };
        let pendulum = envs::family("Pendulum-v1").unwrap();
        let tasks = entry("Pendulum-v1").tasks(pendulum);
        let g: Vec<f64> = pendulum.train_tasks().iter().filter_map(|t| t["g"].as_f64()).collect();
        let lo = g.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = g.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let shifted: Vec<f64> = tasks.iter().map(|t| t["g"].as_f64().unwrap()).collect();
        assert_eq!(shifted, [lo * 0.9, hi * 1.1]);
        // A family without gravity has none: the entry is refused, naming it.
        let err = entry("DarkRoom-v0").validate().unwrap_err();
        assert!(err.contains("selects no task of DarkRoom-v0"), "{err}");
    }

    #[test]
    fn the_scripts_suite_files_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/suites");
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            let origin = path.display().to_string();
            if let Err(e) = Suite::from_json(&text, &origin) {
                // A suite of saved demonstrators needs their folders, which a clone lacks.
                assert!(e.to_string().contains("demonstrator"), "{origin}: {e}");
            }
        }
    }

    #[test]
    fn every_preset_is_valid_and_round_trips_through_json() {
        let names: Vec<&str> = PRESET_FILES.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, Suite::PRESETS);
        for (name, file) in PRESET_FILES {
            let suite = Suite::preset(name).unwrap();
            suite.validate().unwrap();
            assert_eq!(suite.name, *name, "presets/{name}.json names itself");
            let text = serde_json::to_string_pretty(&suite).unwrap();
            assert_eq!(Suite::from_json(&text, name).unwrap(), suite);
            // The file is exactly what a suite prints as (so `suite.json` of a preset's
            // dataset is the preset's file).
            assert_eq!(text + "\n", *file, "presets/{name}.json");
        }
        assert!(Suite::preset("nope").is_none());
    }

    #[test]
    fn bad_suites_name_the_field() {
        let mut s = Suite::preset("dark-room").unwrap();
        s.entries[0].env = "DarkRoom-v9".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("entries[0]") && e.contains("DarkRoom-v9"), "{e}");
        let e = Suite::from_json(r#"{"name":"x","seed":0,"entries":[],"oops":1}"#, "x.json")
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.json") && e.contains("oops"), "{e}");
    }

    /// Sizes of 10^12 used to pass validation and abort the run ("capacity overflow").
    #[test]
    fn sizes_are_bounded_with_the_bound_in_the_message() {
        let base = Suite::preset("key-to-door").unwrap();
        let calibrated = |grid, episodes| NoiseSpec::Calibrated { grid, episodes, tail: 0.1 };
        type Spoil = fn(&mut SuiteEntry);
        let cases: [(Spoil, &str, String); 6] = [
            (
                |e| e.histories_per_task = 1_000_000_000_000,
                "histories_per_task",
                MAX_HISTORIES_PER_TASK.to_string(),
            ),
            (
                |e| e.transitions_per_history = 100_000_000_000_000,
                "transitions_per_history",
                MAX_TRANSITIONS_PER_HISTORY.to_string(),
            ),
            (
                |e| e.histories_per_task = usize::MAX,
                "histories_per_task",
                MAX_HISTORIES_PER_TASK.to_string(),
            ),
            (
                |e| {
                    e.histories_per_task = 100_000;
                    e.transitions_per_history = 100_000
                },
                "per task",
                MAX_TRANSITIONS_PER_TASK.to_string(),
            ),
            (
                |e| {
                    e.noise =
                        NoiseSpec::Calibrated { grid: 100_000_000_000_000, episodes: 10, tail: 0.1 }
                },
                "grid",
                MAX_GRID.to_string(),
            ),
            (|e| e.max_tasks = Some(0), "max_tasks", "at least 1".into()),
        ];
        for (spoil, field, bound) in cases {
            let mut s = base.clone();
            spoil(&mut s.entries[0]);
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains("entries[0]") && e.contains(field) && e.contains(&bound), "{e}");
        }
        let mut s = base.clone();
        s.entries[0].noise = calibrated(11, usize::MAX);
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("episodes") && e.contains(&MAX_CALIBRATION_EPISODES.to_string()), "{e}");
    }

    /// SUITES.md promises every value is checked before any work starts; task parameters
    /// used to be checked only when the task's env was built, after the folder was set up.
    #[test]
    fn task_parameters_are_checked_up_front() {
        let mut s = Suite::preset("classic-control").unwrap();
        let tasks = r#"[{"gravity": 9.8}, {"gravity": -1.0}]"#;
        s.entries[0].tasks = TaskSelection::List(serde_json::from_str(tasks).unwrap());
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("entries[0] (CartPole-v1)") && e.contains("`tasks`[1]"), "{e}");
        assert!(e.contains("gravity"), "{e}");
        s.entries[0].tasks = TaskSelection::List(vec![]);
        assert!(s.validate().unwrap_err().to_string().contains("empty"));
    }

    #[test]
    fn ppo_overrides_are_checked_against_the_env_preset() {
        let mut s = Suite::preset("classic-control").unwrap();
        let pendulum = s.entries.iter().position(|e| e.env == "Pendulum-v1").unwrap();
        let config = |e: &SuiteEntry| match e.demonstrator {
            DemonstratorSpec::Ppo { total_steps, attempts, hyperparams } => {
                ppo_config(&e.env, false, total_steps, attempts, hyperparams).unwrap()
            }
            _ => unreachable!("classic-control trains PPO"),
        };
        // The preset's override reaches the config; the rest is the env's preset.
        let c = config(&s.entries[pendulum]);
        assert_eq!(c.attempts, 3);
        assert_eq!(c.total_steps, PpoConfig::preset("Pendulum-v1", false).total_steps);
        let cases = [
            ("Pendulum-v1", Some(10), None, "total_steps"),
            ("Pendulum-v1", None, Some(0), "attempts"),
            // Acrobot's preset has no return that counts as solved.
            ("Acrobot-v1", None, Some(2), "solve_return"),
        ];
        for (env, total_steps, attempts, field) in cases {
            let i = s.entries.iter().position(|e| e.env == env).unwrap();
            let old = std::mem::replace(
                &mut s.entries[i].demonstrator,
                DemonstratorSpec::Ppo { total_steps, attempts, hyperparams: None },
            );
            let e = s.validate().unwrap_err().to_string();
            assert!(e.contains(&format!("entries[{i}] ({env})")) && e.contains(field), "{e}");
            s.entries[i].demonstrator = old;
        }
        s.validate().unwrap();
        // Suites written before `attempts` existed still read, and say the same.
        let old = r#"{"kind":"ppo","total_steps":null}"#;
        let spec: DemonstratorSpec = serde_json::from_str(old).unwrap();
        assert_eq!(
            spec,
            DemonstratorSpec::Ppo { total_steps: None, attempts: None, hyperparams: None }
        );
        assert_eq!(serde_json::to_string(&spec).unwrap(), old);
        // The zoo's settings are chosen per entry, and refused where the zoo has none.
        let i = s.entries.iter().position(|e| e.env == "Pendulum-v1").unwrap();
        s.entries[i].demonstrator = DemonstratorSpec::Ppo {
            total_steps: None,
            attempts: None,
            hyperparams: Some(Hyperparams::Zoo),
        };
        assert!(config(&s.entries[i]).use_sde);
        s.validate().unwrap();
        s.entries[i].env = "IndustrialBenchmark-v0".into();
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("IndustrialBenchmark-v0") && e.contains("zoo"), "{e}");
    }

    #[test]
    fn the_documented_example_suite_is_valid() {
        let doc = include_str!("../SUITES.md");
        let start = doc.find("```json\n").expect("SUITES.md has a json example") + 8;
        let len = doc[start..].find("```").expect("the json example is closed");
        let suite = Suite::from_json(&doc[start..start + len], "SUITES.md").unwrap();
        assert_eq!(suite.entries.len(), 2);
        assert_eq!(
            suite.entries[0].demonstrator,
            DemonstratorSpec::Ppo {
                total_steps: Some(500_000),
                attempts: Some(3),
                hyperparams: None
            }
        );
        assert_eq!(suite.entries[1].reward_scale, 1.0);
    }
}
