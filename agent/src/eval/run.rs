//! The evaluation loop: every (task, seed) env of a domain group in one batch, stepped in
//! lockstep through the model's inference API until each has finished its K episodes.

use std::collections::BTreeMap;

use datagen::dataset::{Dataset, ObsNorm};
use datagen::format::TaskMeta;
use datagen::history::{DemoSource, mean_return_at};
use envs::{Action, Env, ResetOptions, Space, Task};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

use super::tasks::TaskRef;
use crate::model::{ActionSpec, Model};

/// Evaluation settings.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Consecutive episodes per (task, seed), from an empty context.
    pub episodes: usize,
    /// Seeds per task.
    pub seeds: usize,
    /// Base seed (env resets of seed i of task j derive from it).
    pub seed: u64,
    /// Episodes used to measure random and oracle returns where the data has none.
    pub reference_episodes: usize,
    /// Discrete actions: take the arg-max instead of sampling from the predicted
    /// distribution (AD samples; a greedy agent cannot explore a dark room).
    pub greedy: bool,
    /// Observation statistics, as in training (the run's `obs_norm`).
    pub obs_norm: ObsNorm,
}

/// One task's results.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TaskResult {
    pub family: String,
    pub task: Task,
    pub split: String,
    pub group: String,
    /// `returns[seed][episode]`.
    pub returns: Vec<Vec<f64>>,
    pub random_return: f64,
    /// The demonstrator's (or oracle's) mean return; `None` if unknown for this task.
    pub expert_return: Option<f64>,
    /// Where the references came from: `dataset`, `reference dataset` or `measured`.
    pub reference_source: String,
    /// `(returns - random) / (expert - random)`, when the expert return is known.
    pub normalized: Option<Vec<Vec<f64>>>,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EvalReport {
    pub episodes: usize,
    pub seeds: usize,
    pub seed: u64,
    pub tasks: Vec<TaskResult>,
}

impl EvalReport {
    /// Mean normalised return of episode `e` over every (task, seed) of `split` (and family,
    /// if given), with the min and max over seeds' task means.
    pub fn curve(&self, split: &str, family: Option<&str>) -> Vec<(f64, f64, f64)> {
        let rows: Vec<&TaskResult> = self
            .tasks
            .iter()
            .filter(|t| {
                t.split == split && family.is_none_or(|f| t.family == f) && t.normalized.is_some()
            })
            .collect();
        if rows.is_empty() {
            return vec![];
        }
        (0..self.episodes)
            .map(|e| {
                // Per seed: the mean over tasks; then mean, min, max over seeds.
                let per_seed: Vec<f64> = (0..self.seeds)
                    .map(|s| {
                        rows.iter()
                            .map(|t| t.normalized.as_ref().map_or(0.0, |n| n[s][e]))
                            .sum::<f64>()
                            / rows.len() as f64
                    })
                    .collect();
                let mean = per_seed.iter().sum::<f64>() / per_seed.len() as f64;
                let lo = per_seed.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = per_seed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (mean, lo, hi)
            })
            .collect()
    }
}

/// One of the in-context targets, checked on an evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetCheck {
    /// What is measured, e.g. `DarkRoom-v0 heldout: first episode`.
    pub what: String,
    pub value: f64,
    /// The target, e.g. `<= 0.4`.
    pub target: String,
    pub met: bool,
}

impl EvalReport {
    /// The mean normalised return of the first episode and of the last `min(5, episodes)`
    /// episodes of `split` (and `family`), with that count; `None` without normalised scores.
    pub fn first_and_last(&self, split: &str, family: Option<&str>) -> Option<(f64, f64, usize)> {
        let curve = self.curve(split, family);
        let first = curve.first()?.0;
        let k = self.episodes.min(5);
        let last = curve[curve.len() - k..].iter().map(|c| c.0).sum::<f64>() / k as f64;
        Some((first, last, k))
    }

    /// The in-context targets on held-out tasks: Dark Room (ADε's rise): the first episode's
    /// mean normalised return at most 0.4 and the last 5 episodes' at least 0.8; continuous
    /// families: the last 5 episodes at least 0.7 and above the first episode. Families
    /// without normalised scores are skipped.
    pub fn targets(&self) -> Vec<TargetCheck> {
        let mut families: Vec<(String, bool)> = self
            .tasks
            .iter()
            .filter(|t| t.split == "heldout" && t.normalized.is_some())
            .map(|t| (t.family.clone(), t.group.contains("-box")))
            .collect();
        families.sort();
        families.dedup();
        let mut checks = Vec::new();
        for (family, continuous) in families {
            let Some((first, last, k)) = self.first_and_last("heldout", Some(&family)) else {
                continue;
            };
            let name = |what: &str| format!("{family} heldout: {what}");
            let last_name = name(&format!("last {k} of {} episodes", self.episodes));
            let mut check = |what: String, value: f64, target: &str, met: bool| {
                checks.push(TargetCheck { what, value, target: target.into(), met })
            };
            if family.starts_with("DarkRoom") {
                check(name("first episode"), first, "<= 0.4", first <= 0.4);
                check(last_name, last, ">= 0.8", last >= 0.8);
            } else if continuous {
                check(last_name.clone(), last, ">= 0.7", last >= 0.7);
                check(
                    format!("{last_name} minus first episode"),
                    last - first,
                    "> 0 (rises)",
                    last > first,
                );
            }
        }
        checks
    }
}

/// References of one task: observation statistics, reward scale, random and expert returns.
struct Reference {
    obs_mean: Vec<f32>,
    obs_std: Vec<f32>,
    reward_scale: f32,
    random: f64,
    expert: Option<f64>,
    source: String,
}

fn same_task(meta: &TaskMeta, family: &str, task: &Task) -> bool {
    meta.family == family && serde_json::from_str::<Task>(&meta.task).is_ok_and(|t| &t == task)
}

fn reference(
    t: &TaskRef,
    env: &mut dyn Env,
    data: &Dataset,
    extra: Option<&Dataset>,
    opts: &EvalOptions,
) -> Result<Reference, String> {
    // With family statistics every task of the family, seen or not, is normalised alike.
    let family = match opts.obs_norm {
        ObsNorm::Task => None,
        ObsNorm::Family => Some(data.family_stats(&t.family).ok_or_else(|| {
            format!("{}: the training data holds no task of this family", t.family)
        })?),
    };
    for (d, source) in [(Some(data), "dataset"), (extra, "reference dataset")] {
        if let Some(meta) = d
            .and_then(|d| d.tasks.iter().find(|x| same_task(&x.meta, &t.family, &t.task)))
            .map(|x| &x.meta)
        {
            let (obs_mean, obs_std) =
                family.clone().unwrap_or_else(|| (meta.obs_mean.clone(), meta.obs_std.clone()));
            return Ok(Reference {
                obs_mean,
                obs_std,
                reward_scale: meta.reward_scale as f32,
                random: meta.random_return,
                expert: Some(meta.demonstrator_return),
                source: source.into(),
            });
        }
    }
    // An unseen task: the family's average statistics, returns measured here.
    let fam: Vec<&TaskMeta> =
        data.tasks.iter().map(|x| &x.meta).filter(|m| m.family == t.family).collect();
    if fam.is_empty() {
        return Err(format!("{}: the training data holds no task of this family", t.family));
    }
    let dim = fam[0].obs_mean.len();
    let avg = |f: &dyn Fn(&TaskMeta) -> &Vec<f32>| -> Vec<f32> {
        (0..dim).map(|d| fam.iter().map(|m| f(m)[d]).sum::<f32>() / fam.len() as f32).collect()
    };
    let seed = opts.seed ^ 0x5eed;
    let mut oracle = DemoSource::Oracle;
    let has_oracle = {
        let _ = env.reset(Some(seed), &ResetOptions::default()).map_err(|e| e.to_string())?;
        env.oracle_action().is_some()
    };
    let random = random_return(env, opts.reference_episodes, seed)?;
    let expert = if has_oracle {
        Some(
            mean_return_at(env, &mut oracle, 0.0, opts.reference_episodes, seed)
                .map_err(|e| e.to_string())?,
        )
    } else {
        None
    };
    let (obs_mean, obs_std) =
        family.unwrap_or_else(|| (avg(&|m| &m.obs_mean), avg(&|m| &m.obs_std)));
    Ok(Reference {
        obs_mean,
        obs_std,
        reward_scale: fam[0].reward_scale as f32,
        random,
        expert,
        source: if has_oracle {
            "measured (oracle)".into()
        } else {
            "measured (random only)".into()
        },
    })
}

/// An index drawn with probability proportional to `probs`.
fn sample_index(probs: &[f32], rng: &mut impl rand::Rng) -> usize {
    let total: f32 = probs.iter().sum();
    let mut x = rng.random::<f32>() * total;
    for (i, p) in probs.iter().enumerate() {
        if x < *p {
            return i;
        }
        x -= p;
    }
    probs.len() - 1
}

fn random_return(env: &mut dyn Env, episodes: usize, seed: u64) -> Result<f64, String> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let space = env.action_space().clone();
    let mut total = 0.0;
    for e in 0..episodes.max(1) {
        env.reset(Some(seed.wrapping_add(e as u64)), &ResetOptions::default())
            .map_err(|e| e.to_string())?;
        loop {
            let s = env.step(&space.sample(&mut rng)).map_err(|e| e.to_string())?;
            total += s.reward;
            if s.terminated || s.truncated {
                break;
            }
        }
    }
    Ok(total / episodes.max(1) as f64)
}

/// Evaluate `model` on `tasks`. `data` is the training dataset (statistics and references);
/// `extra` an optional reference dataset for tasks the agent never trained on.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    extra: Option<&Dataset>,
    tasks: &[TaskRef],
    opts: &EvalOptions,
) -> Result<EvalReport, String> {
    if opts.episodes == 0 || opts.seeds == 0 {
        return Err("--episodes and --seeds must be at least 1".into());
    }
    let cfg = model.config();
    let mut results = Vec::with_capacity(tasks.len());
    // Group tasks by the model's domain group of their spaces.
    let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    let mut envs_of: Vec<Vec<Box<dyn Env>>> = Vec::with_capacity(tasks.len());
    let mut refs = Vec::with_capacity(tasks.len());
    for (i, t) in tasks.iter().enumerate() {
        let mut env = envs::make(&t.family, &t.task).map_err(|e| e.to_string())?;
        let group_name =
            datagen::generate::domain_group(env.observation_space(), env.action_space());
        let g = cfg.groups.iter().position(|g| g.name == group_name).ok_or_else(|| {
            format!(
                "{} {}: its spaces form domain group `{group_name}`, which the agent was not trained on (its groups: {})",
                t.family,
                serde_json::to_string(&t.task).unwrap_or_default(),
                cfg.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
            )
        })?;
        by_group.entry(g).or_default().push(i);
        refs.push(reference(t, env.as_mut(), data, extra, opts)?);
        let mut copies = vec![env];
        for _ in 1..opts.seeds {
            copies.push(envs::make(&t.family, &t.task).map_err(|e| e.to_string())?);
        }
        envs_of.push(copies);
        results.push(TaskResult {
            family: t.family.clone(),
            task: t.task.clone(),
            split: t.split.clone(),
            group: group_name,
            returns: vec![Vec::with_capacity(opts.episodes); opts.seeds],
            random_return: refs[i].random,
            expert_return: refs[i].expert,
            reference_source: refs[i].source.clone(),
            normalized: None,
        });
    }
    let device = model.device();
    for (g, members) in by_group {
        let spec = &cfg.groups[g];
        // Slots: (task index, seed).
        let slots: Vec<(usize, usize)> =
            members.iter().flat_map(|&i| (0..opts.seeds).map(move |s| (i, s))).collect();
        let n = slots.len();
        let mut state = model.new_state(g, n as i64).map_err(|e| e.to_string())?;
        let act_dim = match spec.action {
            ActionSpec::Continuous { dim } => dim as usize,
            ActionSpec::Discrete { .. } => 1,
        };
        let mut obs: Vec<Vec<f32>> = Vec::with_capacity(n);
        for &(i, s) in &slots {
            let seed = opts.seed.wrapping_mul(1_000_003).wrapping_add((i * 1000 + s) as u64);
            let (o, _) = envs_of[i][s]
                .reset(Some(seed), &ResetOptions::default())
                .map_err(|e| e.to_string())?;
            obs.push(o);
        }
        let mut prev_action = vec![0f32; n * act_dim];
        let mut prev_reward = vec![0f32; n];
        let mut start = vec![1u8; n];
        let mut acc = vec![0f64; n];
        let mut done = vec![false; n];
        let mut rng = ChaCha8Rng::seed_from_u64(opts.seed ^ 0xac7 ^ ((g as u64) << 8));
        while done.iter().any(|d| !d) {
            let mut flat = Vec::with_capacity(n * spec.obs_dim as usize);
            for (k, &(i, _)) in slots.iter().enumerate() {
                let r = &refs[i];
                flat.extend(
                    obs[k].iter().zip(&r.obs_mean).zip(&r.obs_std).map(|((x, m), s)| (x - m) / s),
                );
            }
            let obs_t =
                Tensor::from_slice(&flat).reshape([n as i64, spec.obs_dim]).to_device(device);
            let prev_a = match spec.action {
                ActionSpec::Continuous { dim } => {
                    Tensor::from_slice(&prev_action).reshape([n as i64, dim])
                }
                ActionSpec::Discrete { .. } => {
                    Tensor::from_slice(&prev_action).to_kind(Kind::Int64)
                }
            }
            .to_device(device);
            let prev_r = Tensor::from_slice(&prev_reward).to_device(device);
            let start_t = Tensor::from_slice(&start).to_kind(Kind::Bool).to_device(device);
            let out = model
                .step(&mut state, &obs_t, &prev_a, &prev_r, &start_t)
                .map_err(|e| e.to_string())?;
            let actions: Vec<f32> = match spec.action {
                ActionSpec::Discrete { .. } if !opts.greedy => {
                    let probs = out.prediction.softmax(-1, Kind::Float).to_device(Device::Cpu);
                    let probs: Vec<f32> =
                        Vec::<f32>::try_from(probs.flatten(0, -1)).map_err(|e| e.to_string())?;
                    let width = probs.len() / n;
                    probs.chunks(width).map(|row| sample_index(row, &mut rng) as f32).collect()
                }
                _ => Vec::<f32>::try_from(
                    out.action.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1),
                )
                .map_err(|e| e.to_string())?,
            };
            for (k, &(i, s)) in slots.iter().enumerate() {
                if done[k] {
                    continue;
                }
                let env = &mut envs_of[i][s];
                let row = &actions[k * act_dim..(k + 1) * act_dim];
                let action = match env.action_space() {
                    Space::Discrete { .. } => Action::Discrete(row[0].max(0.0) as usize),
                    Space::Box { low, high } => Action::Continuous(
                        row.iter()
                            .zip(low.iter().zip(high))
                            .map(|(a, (l, h))| a.clamp(*l, *h))
                            .collect(),
                    ),
                };
                let step = env.step(&action).map_err(|e| e.to_string())?;
                acc[k] += step.reward;
                prev_action[k * act_dim..(k + 1) * act_dim].copy_from_slice(row);
                prev_reward[k] = step.reward as f32 * refs[i].reward_scale;
                if step.terminated || step.truncated {
                    results[i].returns[s].push(acc[k]);
                    acc[k] = 0.0;
                    if results[i].returns[s].len() >= opts.episodes {
                        done[k] = true;
                    } else {
                        let (o, _) =
                            env.reset(None, &ResetOptions::default()).map_err(|e| e.to_string())?;
                        obs[k] = o;
                        start[k] = 1;
                    }
                } else {
                    obs[k] = step.obs;
                    start[k] = 0;
                }
            }
        }
    }
    for r in &mut results {
        if let Some(expert) = r.expert_return {
            let span = expert - r.random_return;
            if span.abs() > 1e-9 {
                r.normalized = Some(
                    r.returns
                        .iter()
                        .map(|s| s.iter().map(|x| (x - r.random_return) / span).collect())
                        .collect(),
                );
            }
        }
    }
    Ok(EvalReport { episodes: opts.episodes, seeds: opts.seeds, seed: opts.seed, tasks: results })
}
