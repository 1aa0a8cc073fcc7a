//! `icrl datagen`: run a suite. Each task's histories are generated independently (in
//! parallel over tasks), written to a temporary file and renamed when complete; finished
//! task files are skipped on a rerun, so a killed run resumes where it stopped. The manifest
//! is written last.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use envs::{Env, Space, Task};
use histories::demonstrator::Demonstrator;
use histories::format::{TaskFile, TaskMeta, observation_stats, read_task_file, write_task_file};
use histories::fsio::{is_temp_name, write_atomic};
use histories::group::{DomainGroup, GroupAction};
use histories::history::{DemoSource, History, mean_episode_at, mean_return_at, roll_out};
use histories::lock::FolderLock;
use histories::manifest::{GroupInfo, Manifest, ManifestTask};
use histories::names::task_slug;
use histories::progress::Progress;
use histories::schedule::{NoisePoint, Schedule, calibrate, linearity_r2};
use histories::split::Split;
use rayon::prelude::*;

use crate::ppo::{PpoConfig, PpoDemonstrator, TrainSpec, TrainedPolicy, train};
use crate::searcher::{GridSearcher, KeyDoorSearcher};
use crate::seed::derive_seed;
use crate::suite::{DemonstratorSpec, NoiseSpec, Suite, SuiteEntry, ppo_config};

/// Episodes used to measure the demonstrator's and the random policy's mean return.
const REFERENCE_EPISODES: usize = 20;

/// How to run a suite.
#[derive(Clone, Debug)]
pub struct GenerateOptions {
    /// Output folder (created if missing).
    pub out: PathBuf,
    /// Worker threads (tasks generated at once).
    pub jobs: usize,
    /// Torch intra-op threads (each worker's PPO and policy networks); 1 is fastest for these
    /// tiny networks with one worker per core.
    pub threads: usize,
    /// Show a progress bar.
    pub progress: bool,
}

/// One task of a suite.
#[derive(Clone, Debug)]
pub struct Job {
    pub entry: usize,
    pub family: String,
    pub task: Task,
    pub split: Split,
    /// Output file name (inside the output folder).
    pub file: String,
    pub seed: u64,
}

/// A failure, naming the task (and file) it happened on.
#[derive(Debug, thiserror::Error)]
#[error("{context}: {message}")]
pub struct GenerateError {
    pub context: String,
    pub message: String,
}

fn fail(context: impl Into<String>, message: impl ToString) -> GenerateError {
    GenerateError { context: context.into(), message: message.to_string() }
}

/// Expand a suite into its jobs, in a fixed order (the order fixes the per-task seeds).
pub fn plan(suite: &Suite) -> Result<Vec<Job>, GenerateError> {
    suite.validate().map_err(|e| fail("suite", e))?;
    let mut jobs = Vec::new();
    for (i, entry) in suite.entries.iter().enumerate() {
        let family = envs::family(&entry.env).map_err(|e| fail(&entry.env, e))?;
        let train = family.train_tasks();
        let heldout = family.heldout_tasks();
        let split_of = |t: &Task| {
            if train.contains(t) {
                Split::Train
            } else if heldout.contains(t) {
                Split::Heldout
            } else {
                Split::Custom
            }
        };
        let tasks = entry.tasks(family);
        for task in tasks {
            let file = format!("{}__{}.h5", entry.env, task_slug(&task));
            let seed = derive_seed(suite.seed, jobs.len() as u64);
            jobs.push(Job {
                entry: i,
                family: entry.env.clone(),
                split: split_of(&task),
                task,
                file,
                seed,
            });
        }
    }
    let mut names: Vec<&str> = jobs.iter().map(|j| j.file.as_str()).collect();
    names.sort();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(fail("suite", format!("two tasks map to the same file `{}`", w[0])));
    }
    Ok(jobs)
}

/// The file in an output folder that ties it to its suite.
pub const SUITE_FILE: &str = "suite.json";

/// Run the suite; returns the manifest it wrote. Everything is checked before the output
/// folder is created; the folder is locked ([`FolderLock`]) for the whole run.
pub fn generate(suite: &Suite, opts: &GenerateOptions) -> Result<Manifest<Suite>, GenerateError> {
    let jobs = plan(suite)?;
    let out = &opts.out;
    std::fs::create_dir_all(out).map_err(|e| fail(out.display().to_string(), e))?;
    let _lock = FolderLock::acquire(out).map_err(|e| fail("datagen", e))?;
    claim_folder(suite, out)?;
    remove_stale_temporaries(out);
    // Tiny policy networks: one torch thread per worker beats sharing threads across workers.
    tch::set_num_threads(opts.threads.max(1) as i32);

    let planned: u64 = jobs
        .iter()
        .map(|j| {
            let e = &suite.entries[j.entry];
            (e.histories_per_task * e.transitions_per_history) as u64
        })
        .sum();
    let bar = Progress::new(opts.progress, planned, "datagen", "steps");
    let start = Instant::now();
    let results: Mutex<Vec<(usize, ManifestTask)>> = Mutex::new(Vec::new());
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs.max(1))
        .build()
        .map_err(|e| fail("thread pool", e))?;
    pool.install(|| {
        // One task per unit of work: tasks take seconds to minutes, and rayon's default
        // splitting would hand one worker a run of pending tasks while the others skip over
        // finished ones (a resumed run) and then idle.
        jobs.par_iter().enumerate().with_max_len(1).try_for_each(|(i, job)| {
            let entry = &suite.entries[job.entry];
            let summary = run_job(job, entry, out, &bar)?;
            bar.println(format!(
                "{:<48} {:>8} steps  return {:>9.3} -> {:>9.3} (random {:.3}, demonstrator {:.3})  R^2 {:.2}",
                summary.file,
                summary.transitions,
                summary.first_return,
                summary.last_return,
                summary.random_return,
                summary.demonstrator_return,
                summary.r2,
            ));
            results.lock().map_err(|_| fail("datagen", "a worker panicked"))?.push((i, summary));
            Ok::<(), GenerateError>(())
        })
    })?;
    bar.finish_and_clear();
    let mut tasks = results.into_inner().map_err(|_| fail("datagen", "a worker panicked"))?;
    tasks.sort_by_key(|(i, _)| *i);
    let tasks: Vec<ManifestTask> = tasks.into_iter().map(|(_, t)| t).collect();
    let groups = domain_groups(&tasks, &jobs)?;
    let manifest = Manifest {
        format_version: histories::format::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        suite: suite.clone(),
        tasks,
        groups,
    };
    manifest.write(out).map_err(|e| fail(out.display().to_string(), e))?;
    if opts.progress {
        let transitions = manifest.transitions();
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "datagen: {} tasks, {} transitions in {:.1} s ({:.0} transitions/s) -> {}",
            manifest.tasks.len(),
            transitions,
            secs,
            transitions as f64 / secs.max(1e-9),
            out.display()
        );
    }
    Ok(manifest)
}

/// The manifest's domain groups: the spaces shared by the tasks of each group, and its
/// task count.
fn domain_groups(
    tasks: &[ManifestTask],
    jobs: &[Job],
) -> Result<BTreeMap<String, GroupInfo>, GenerateError> {
    let mut groups: BTreeMap<String, GroupInfo> = BTreeMap::new();
    for (t, job) in tasks.iter().zip(jobs) {
        let env = envs::make(&job.family, &job.task).map_err(|e| fail(&job.file, e))?;
        let (obs, act) = (env.observation_space(), env.action_space());
        let action = GroupAction::of(act);
        let g = groups.entry(t.group.clone()).or_insert_with(|| GroupInfo {
            obs_dim: obs.flat_dim(),
            act_dim: act.flat_dim(),
            action_type: action.action_type().into(),
            num_actions: action.num_actions(),
            tasks: 0,
        });
        g.tasks += 1;
    }
    Ok(groups)
}

/// A folder belongs to one suite (its `suite.json`): resuming with other settings would mix
/// two datasets in one folder.
fn claim_folder(suite: &Suite, out: &Path) -> Result<(), GenerateError> {
    let path = out.join(SUITE_FILE);
    let ctx = path.display().to_string();
    if !path.exists() {
        let text = serde_json::to_string_pretty(suite).map_err(|e| fail(&ctx, e))?;
        return write_atomic(&path, text.as_bytes()).map_err(|e| fail("datagen", e));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| fail(&ctx, e))?;
    let old: Suite = serde_json::from_str(&text).map_err(|e| fail(&ctx, e))?;
    if &old != suite {
        return Err(fail(
            out.display().to_string(),
            format!(
                "holds a dataset of another suite or settings ({ctx}); choose another --out or \
                 delete the folder"
            ),
        ));
    }
    Ok(())
}

/// Temporary files of a killed run are never valid: remove them before starting (the
/// folder's lock guarantees no other run is writing them).
fn remove_stale_temporaries(dir: &Path) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().to_string();
            if is_temp_name(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Generate (or reuse) one task's file and summarise it.
fn run_job(
    job: &Job,
    entry: &SuiteEntry,
    out: &Path,
    bar: &Progress,
) -> Result<ManifestTask, GenerateError> {
    let path = out.join(&job.file);
    let ctx = job.file.clone();
    if path.exists() {
        // Finished by an earlier run (files only appear complete, by rename).
        let file = read_task_file(&path)
            .map_err(|e| fail(&ctx, format!("{e}; delete the file to regenerate it")))?;
        bar.inc((entry.histories_per_task * entry.transitions_per_history) as u64);
        return Ok(summarize(&job.file, &file));
    }
    let mut env = envs::make(&job.family, &job.task).map_err(|e| fail(&ctx, e))?;
    let mut policy = demonstrator_for(job, entry, env.as_ref(), out, bar)?;
    let mut demo = match policy.as_deref_mut() {
        None => DemoSource::Oracle,
        Some(p) => DemoSource::Policy(p),
    };
    let env_ref: &mut dyn Env = env.as_mut();
    // The searcher's expert is the oracle it turns into once it has found the goal (its own
    // first episodes, still searching, would understate what the histories reach).
    let expert = match entry.demonstrator {
        DemonstratorSpec::Searcher => {
            mean_return_at(env_ref, &mut DemoSource::Oracle, 0.0, REFERENCE_EPISODES, job.seed ^ 1)
        }
        _ => mean_return_at(env_ref, &mut demo, 0.0, REFERENCE_EPISODES, job.seed ^ 1),
    }
    .map_err(|e| fail(&ctx, e))?;
    let random = mean_return_at(env_ref, &mut demo, 1.0, REFERENCE_EPISODES, job.seed ^ 2)
        .map_err(|e| fail(&ctx, e))?;
    let schedules = noise_schedules(entry, env_ref, &mut demo, job.seed, &ctx)?;
    let mut histories: Vec<History> = Vec::with_capacity(entry.histories_per_task);
    for h in 0..entry.histories_per_task {
        let seed = derive_seed(job.seed, 1000 + h as u64);
        let schedule = &schedules[h % schedules.len()];
        let history = roll_out(env_ref, &mut demo, schedule, entry.transitions_per_history, seed)
            .map_err(|e| fail(&ctx, e))?;
        bar.inc(entry.transitions_per_history as u64);
        histories.push(history);
    }
    let (obs_space, act_space) =
        (env_ref.observation_space().clone(), env_ref.action_space().clone());
    let (obs_mean, obs_std) = observation_stats(&histories, obs_space.flat_dim());
    let group = DomainGroup::of(&obs_space, &act_space);
    let (action_low, action_high) = match &act_space {
        Space::Box { low, high } => (low.clone(), high.clone()),
        Space::Discrete { .. } => (vec![], vec![]),
    };
    let file = TaskFile {
        meta: TaskMeta {
            family: job.family.clone(),
            task: job.task.clone(),
            split: job.split,
            group: group.to_string(),
            obs_dim: obs_space.flat_dim(),
            act_dim: act_space.flat_dim(),
            action_type: group.action.action_type().into(),
            num_actions: group.action.num_actions(),
            action_low,
            action_high,
            demonstrator: demo.kind().into(),
            demonstrator_return: expert,
            random_return: random,
            schedule: match schedules.as_slice() {
                [one] => serde_json::to_string(one),
                many => serde_json::to_string(many),
            }
            .map_err(|e| fail(&ctx, e))?,
            reward_scale: entry.reward_scale,
            seed: job.seed,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            obs_mean,
            obs_std,
        },
        histories,
    };
    write_task_file(&path, &file).map_err(|e| fail(&ctx, e))?;
    Ok(summarize(&job.file, &file))
}

/// The demonstrator `entry` names for `job` (none: the env's oracle); a PPO demonstrator is
/// trained here.
fn demonstrator_for(
    job: &Job,
    entry: &SuiteEntry,
    env: &dyn Env,
    out: &Path,
    bar: &Progress,
) -> Result<Option<Box<dyn Demonstrator>>, GenerateError> {
    Ok(match &entry.demonstrator {
        DemonstratorSpec::Oracle => None,
        DemonstratorSpec::Searcher => Some(searcher_for(&job.family, env)?),
        DemonstratorSpec::Saved { dir } => {
            let ctx = format!("{} (saved demonstrator {dir})", job.file);
            let policy =
                TrainedPolicy::load(&crate::suite::saved_dir(dir)).map_err(|e| fail(&ctx, e))?;
            if policy.meta.env_id != job.family {
                return Err(fail(
                    &ctx,
                    format!("the policy was trained on {}, not {}", policy.meta.env_id, job.family),
                ));
            }
            if &policy.meta.action_space != env.action_space() {
                return Err(fail(&ctx, "the policy's action space is not the task's"));
            }
            Some(Box::new(PpoDemonstrator::from_policy(&policy)))
        }
        DemonstratorSpec::Ppo { total_steps, attempts, hyperparams } => {
            bar.set_message(format!("training PPO for {}", job.file));
            let discrete = matches!(env.action_space(), Space::Discrete { .. });
            let config = ppo_config(&job.family, discrete, *total_steps, *attempts, *hyperparams)
                .map_err(|e| fail(&job.file, e))?;
            Some(ppo_demonstrator(job, config, out)?)
        }
    })
}

/// The noise schedules of `entry`'s histories, taken in turn (one unless varied): fixed,
/// varied, or calibrated on `demo`'s returns at a grid of noise levels (episodes seeded from
/// `seed`).
fn noise_schedules(
    entry: &SuiteEntry,
    env: &mut dyn Env,
    demo: &mut DemoSource<'_>,
    seed: u64,
    ctx: &str,
) -> Result<Vec<Schedule>, GenerateError> {
    Ok(match &entry.noise {
        NoiseSpec::Fixed { schedule } => vec![schedule.clone()],
        NoiseSpec::Varied { schedules } => schedules.clone(),
        NoiseSpec::Calibrated { grid, episodes, tail } => {
            let mut curve = Vec::with_capacity(*grid);
            for k in 0..*grid {
                let eps = k as f64 / (*grid - 1) as f64;
                let (ret, len) = mean_episode_at(env, demo, eps, *episodes, seed ^ (16 + k as u64))
                    .map_err(|e| fail(ctx, e))?;
                curve.push(NoisePoint { eps, ret, len });
            }
            vec![calibrate(&curve, *tail, 2 * grid).map_err(|e| fail(ctx, e))?]
        }
    })
}

/// The searching demonstrator of a grid room task: Dark Room's ([`GridSearcher`]) or
/// Key-to-Door's ([`KeyDoorSearcher`]), for a square grid whose observation is the agent's
/// cell.
fn searcher_for(family: &str, env: &dyn Env) -> Result<Box<dyn Demonstrator>, GenerateError> {
    let size = match env.observation_space() {
        Space::Box { low, high } if low.len() == 2 && high[0] == high[1] => high[0] as usize + 1,
        _ => 0,
    };
    Ok(match family {
        _ if size == 0 => return Err(searcher_families(family)),
        "KeyToDoor-v0" => Box::new(KeyDoorSearcher::new(size)),
        f if f.starts_with("DarkRoom") => Box::new(GridSearcher::new(size)),
        _ => return Err(searcher_families(family)),
    })
}

fn searcher_families(family: &str) -> GenerateError {
    fail(
        family,
        "the `searcher` demonstrator works on the grid rooms (DarkRoom-v0, DarkRoomHard-v0, \
         KeyToDoor-v0) only",
    )
}

/// Train (or load the cached) PPO demonstrator of a task.
fn ppo_demonstrator(
    job: &Job,
    config: PpoConfig,
    out: &Path,
) -> Result<Box<dyn Demonstrator>, GenerateError> {
    let ctx = format!("{} (PPO demonstrator)", job.file);
    let dir = out.join("demonstrators").join(job.file.trim_end_matches(".h5"));
    let policy = if dir.join(crate::ppo::saved::META_FILE).exists() {
        TrainedPolicy::load(&dir).map_err(|e| fail(&ctx, e))?
    } else {
        let family = job.family.clone();
        let task = job.task.clone();
        let make_env = move || envs::make(&family, &task);
        let spec = TrainSpec {
            env_id: &job.family,
            task: &job.task,
            config: &config,
            seed: derive_seed(job.seed, 7),
            run_dir: None,
            progress: false,
        };
        let outcome = train(&spec, &make_env).map_err(|e| fail(&ctx, e))?;
        outcome.policy.save(&dir).map_err(|e| fail(&ctx, e))?;
        outcome.policy
    };
    Ok(Box::new(PpoDemonstrator::from_policy(&policy)))
}

/// The manifest entry of a task file.
pub fn summarize(name: &str, file: &TaskFile) -> ManifestTask {
    let m = &file.meta;
    let (mut first, mut last, mut r2, mut episodes) = (0.0, 0.0, 0.0, 0usize);
    for h in &file.histories {
        let returns = h.episode_returns();
        episodes += returns.len();
        let k = (returns.len() / 10).max(1).min(returns.len().max(1));
        if !returns.is_empty() {
            first += returns[..k].iter().sum::<f64>() / k as f64;
            last += returns[returns.len() - k..].iter().sum::<f64>() / k as f64;
        }
        let r = linearity_r2(&smooth(&returns, 10));
        r2 += if r.is_finite() { r } else { 0.0 };
    }
    let n = file.histories.len().max(1) as f64;
    ManifestTask {
        file: name.to_string(),
        family: m.family.clone(),
        task: serde_json::Value::Object(m.task.clone()),
        split: m.split,
        group: m.group.clone(),
        histories: file.histories.len(),
        transitions: file.histories.iter().map(History::len).sum(),
        episodes,
        demonstrator: m.demonstrator.clone(),
        demonstrator_return: m.demonstrator_return,
        random_return: m.random_return,
        first_return: first / n,
        last_return: last / n,
        r2: r2 / n,
    }
}

/// Means of consecutive blocks of `k` values (the rise is judged on smoothed returns: single
/// episodes are too noisy for R^2 to say anything about the schedule). At most 50 blocks,
/// and at least 10 where there are 10 values: a history of 30 episodes gives 10 points, not
/// 3, whose R^2 would be near 1 for almost any rise.
pub fn smooth(values: &[f64], k: usize) -> Vec<f64> {
    let k = (values.len() / 50).max(k.min(values.len() / 10)).max(1);
    values.chunks(k).map(|c| c.iter().sum::<f64>() / c.len() as f64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_are_smoothed_into_ten_to_fifty_points() {
        let values: Vec<f64> = (0..1000).map(|i| i as f64).collect();
        let points = |n: usize| smooth(&values[..n], 10);
        // Long histories: blocks of 10 episodes, up to 50 points.
        assert_eq!(points(200).len(), 20);
        assert_eq!(points(1000).len(), 50);
        // Short ones keep 10 points (a 30-episode history used to give 3), or every episode.
        assert_eq!(points(30).len(), 10);
        assert_eq!(points(50).len(), 10);
        assert_eq!(points(10).len(), 10);
        assert_eq!(points(4).len(), 4);
        assert_eq!(points(30)[0], 1.0);
        // A rise that saturates a third of the way along 30 episodes: 3 points hide most of
        // the plateau (R^2 0.75), 10 points show it (0.63).
        let saturating: Vec<f64> = (0..30).map(|i| i.min(10) as f64).collect();
        let three: Vec<f64> = saturating.chunks(10).map(|c| c.iter().sum::<f64>() / 10.0).collect();
        assert!((linearity_r2(&three) - 0.75).abs() < 1e-9);
        let ten = linearity_r2(&smooth(&saturating, 10));
        assert!((ten - 0.633).abs() < 1e-3, "{ten}");
    }
}
