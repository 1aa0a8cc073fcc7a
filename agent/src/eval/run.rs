//! The evaluation loop: every (task, seed) env of a domain group in one batch, stepped in
//! lockstep through the model's inference API until each has finished its K episodes; then
//! the same for each control condition.

use std::collections::BTreeMap;

use envs::{Action, Env, ResetOptions, Space, Task};
use histories::dataset::{Dataset, ObsNorm};
use histories::group::DomainGroup;
use histories::progress::Progress;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Device, Kind, Tensor};

use super::EvalError;
use super::reference::{Reference, ReferenceOptions, reference};
use super::report::{Control, ControlResult, EvalReport, HiddenRewards, TaskResult};
use super::tasks::TaskRef;
use std::cell::RefCell;

use super::report::StateMemory;
use crate::model::kv::KvOptions;
use crate::model::{ActionSpec, AttentionKind, GroupSpec, InferenceState, Model};

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
    /// Take the most likely action (the arg-max of a discrete group, the mean of a Gaussian
    /// head) instead of sampling from the predicted distribution (AD samples; a greedy agent
    /// cannot explore a dark room).
    pub greedy: bool,
    /// Observation statistics, as in training (the run's `obs_norm`).
    pub obs_norm: ObsNorm,
    /// Controls run beside the evaluation, with the same tasks, seeds and env resets.
    pub controls: Vec<Control>,
    /// Show progress (episodes played over every condition): a bar on a terminal, else a
    /// line every 30 s.
    pub progress: bool,
    /// Compressed (and optionally quantized) KV caches in the softmax layers; `None`: the
    /// model's own sliding window.
    pub kv: Option<KvOptions>,
}

/// The most episodes one evaluation plays over all tasks, seeds and conditions (their
/// returns are held in memory, 8 bytes each, and at CPU speed 10^7 grid episodes take hours).
pub const MAX_EPISODES: usize = 10_000_000;

/// One stretch of a run: `episodes` episodes on task `task` (an index into the evaluated
/// tasks), scored or not.
#[derive(Clone, Copy, Debug)]
struct Segment {
    task: usize,
    episodes: usize,
    scored: bool,
}

/// One (task, seed) run of a lockstep batch.
struct Slot {
    /// The evaluated task's place among the batch's members, and the seed.
    member: usize,
    seed: usize,
    segments: Vec<Segment>,
    segment: usize,
    episodes_in_segment: usize,
    env: Box<dyn Env>,
    obs: Vec<f32>,
    acc: f64,
    returns: Vec<f64>,
    finished: bool,
}

impl Slot {
    fn current(&self) -> Segment {
        self.segments[self.segment]
    }
}

/// The env-reset seed of a run: the same in every condition for the scored task, so a
/// control sees the same start states as the evaluation.
fn reset_seed(opts: &EvalOptions, task: usize, seed: usize, scored: bool) -> u64 {
    let base = opts.seed.wrapping_mul(1_000_003).wrapping_add((task * 1000 + seed) as u64);
    if scored { base } else { base ^ 0xd0_0000_0000 }
}

/// A fresh env for `seg`, reset with its run's seed.
fn start_segment(
    tasks: &[TaskRef],
    opts: &EvalOptions,
    seg: Segment,
    seed: usize,
) -> Result<(Box<dyn Env>, Vec<f32>), EvalError> {
    let t = &tasks[seg.task];
    let mut env = envs::make(&t.family, &t.task)?;
    let (obs, _) =
        env.reset(Some(reset_seed(opts, seg.task, seed, seg.scored)), &ResetOptions::default())?;
    Ok((env, obs))
}

/// The other evaluated task of the same family whose history fills the first half of the
/// context in the `other-task` control: the next one in the list (cyclically); `None` if the
/// family has only this task.
fn other_task(tasks: &[TaskRef], i: usize) -> Option<usize> {
    let same: Vec<usize> =
        (0..tasks.len()).filter(|&j| tasks[j].family == tasks[i].family).collect();
    let k = same.iter().position(|&j| j == i)?;
    (same.len() > 1).then(|| same[(k + 1) % same.len()])
}

/// The segments of task `i`'s runs under `control` (`None`: the evaluation itself); `None`
/// if the control does not apply to the task.
fn plan(
    tasks: &[TaskRef],
    i: usize,
    control: Option<Control>,
    episodes: usize,
) -> Option<Vec<Segment>> {
    let own = |n| Segment { task: i, episodes: n, scored: true };
    match control {
        None | Some(Control::ZeroReward | Control::RandomReward) => Some(vec![own(episodes)]),
        Some(Control::OtherTask) => {
            let first = Control::OtherTask.first_scored(episodes);
            if first == 0 {
                return None;
            }
            let other = other_task(tasks, i)?;
            Some(vec![
                Segment { task: other, episodes: first, scored: false },
                own(episodes - first),
            ])
        }
    }
}

/// Evaluate `model` on `tasks`, then run each control of `opts.controls`. `data` is the
/// training dataset (statistics and references); `extra` an optional reference dataset whose
/// random and demonstrator returns serve tasks absent from the training data.
pub fn evaluate(
    model: &Model,
    data: &Dataset,
    extra: Option<&Dataset>,
    tasks: &[TaskRef],
    opts: &EvalOptions,
) -> Result<EvalReport, EvalError> {
    check_size(tasks, opts)?;
    let (groups, refs) = prepare(model, data, extra, tasks, opts)?;
    let mut conditions = vec![None];
    conditions.extend(opts.controls.iter().copied().map(Some));
    // Every condition's plan, once: the progress total and the runs come from the same plans.
    let plans: Vec<Vec<Option<Vec<Segment>>>> = conditions
        .iter()
        .map(|c| (0..tasks.len()).map(|i| plan(tasks, i, *c, opts.episodes)).collect())
        .collect();
    let total: usize = plans
        .iter()
        .flatten()
        .flatten()
        .map(|p| p.iter().map(|s| s.episodes).sum::<usize>() * opts.seeds)
        .sum();
    let bar = Progress::new(opts.progress, total as u64, "eval", "episodes");
    let memory = RefCell::new(StateMemory {
        kv_cache: match &opts.kv {
            _ if !model.config().layer_kinds().contains(&AttentionKind::Softmax) => {
                "none (no softmax layers)".into()
            }
            Some(kv) => kv.describe(),
            None => format!("sliding window of {} steps", model.config().softmax_window),
        },
        kv_options: opts.kv.clone(),
        ..Default::default()
    });
    let rewards = RefCell::new(BTreeMap::new());
    let ctx =
        Lockstep { model, tasks, refs: &refs, opts, bar: &bar, memory: &memory, rewards: &rewards };
    let mut report = EvalReport {
        episodes: opts.episodes,
        seeds: opts.seeds,
        seed: opts.seed,
        tasks: vec![],
        controls: vec![],
        memory: None,
        hidden_rewards: vec![],
    };
    for (control, plans) in conditions.into_iter().zip(&plans) {
        let rows = ctx.run_condition(&groups, plans, ContextReward::of(control))?;
        match control {
            None => report.tasks = rows,
            Some(control) => {
                let first_scored = control.first_scored(opts.episodes);
                report.controls.push(ControlResult {
                    control,
                    description: control.describe().into(),
                    first_scored,
                    episodes: opts.episodes - first_scored,
                    tasks: rows,
                })
            }
        }
    }
    bar.finish_and_clear();
    report.memory = Some(memory.into_inner());
    report.hidden_rewards = hidden_rewards(model, rewards.into_inner());
    Ok(report)
}

/// The groups whose reward encoder hid every reward of its range, from each group's
/// (lowest, highest) reward in the context of the runs that saw the env's rewards.
fn hidden_rewards(model: &Model, seen: BTreeMap<usize, (f32, f32)>) -> Vec<HiddenRewards> {
    seen.into_iter()
        .filter(|&(g, (lo, hi))| model.hides_rewards(g, lo as f64, hi as f64))
        .map(|(g, (lo, hi))| HiddenRewards {
            group: model.config().groups[g].name.clone(),
            lowest: lo as f64,
            highest: hi as f64,
        })
        .collect()
}

/// Refuses an evaluation too large to hold, naming the flags to lower.
fn check_size(tasks: &[TaskRef], opts: &EvalOptions) -> Result<(), EvalError> {
    if opts.episodes == 0 || opts.seeds == 0 {
        return Err(EvalError::Invalid("--episodes and --seeds must be at least 1".into()));
    }
    let runs = tasks.len().saturating_mul(opts.seeds).saturating_mul(1 + opts.controls.len());
    if runs.saturating_mul(opts.episodes) > MAX_EPISODES {
        return Err(EvalError::Invalid(format!(
            "{} tasks x {} seeds x {} episodes x {} conditions is more than {MAX_EPISODES} \
             episodes in all: lower --episodes or --seeds, or fewer --tasks or --controls",
            tasks.len(),
            opts.seeds,
            opts.episodes,
            1 + opts.controls.len()
        )));
    }
    Ok(())
}

/// Per task: its domain group in the model (index and name); and per task its references.
type Prepared = (Vec<(usize, String)>, Vec<Reference>);

/// Each task's domain group (index and name) in the model, and its references.
fn prepare(
    model: &Model,
    data: &Dataset,
    extra: Option<&Dataset>,
    tasks: &[TaskRef],
    opts: &EvalOptions,
) -> Result<Prepared, EvalError> {
    let cfg = model.config();
    let mut groups = Vec::with_capacity(tasks.len());
    let mut refs = Vec::with_capacity(tasks.len());
    for t in tasks {
        let mut env = envs::make(&t.family, &t.task)?;
        let group_name = DomainGroup::of(env.observation_space(), env.action_space()).to_string();
        let g = cfg.groups.iter().position(|g| g.name == group_name).ok_or_else(|| {
            EvalError::Invalid(format!(
                "{} {}: its spaces form domain group `{group_name}`, which the agent was not trained on (its groups: {})",
                t.family,
                serde_json::to_string(&t.task).unwrap_or_default(),
                cfg.groups.iter().map(|g| g.name.as_str()).collect::<Vec<_>>().join(", ")
            ))
        })?;
        groups.push((g, group_name));
        let how = ReferenceOptions {
            episodes: opts.reference_episodes,
            obs_norm: opts.obs_norm,
            seed: opts.seed,
            step_reward: opts.controls.contains(&Control::RandomReward),
        };
        refs.push(reference(t, env.as_mut(), data, extra, how)?);
    }
    Ok((groups, refs))
}

/// What every lockstep batch of one evaluation shares.
struct Lockstep<'a> {
    model: &'a Model,
    tasks: &'a [TaskRef],
    refs: &'a [Reference],
    opts: &'a EvalOptions,
    bar: &'a Progress,
    /// The inference states' memory, over every lockstep batch so far.
    memory: &'a RefCell<StateMemory>,
    /// Per domain group, the lowest and highest reward its context held in runs that saw
    /// the env's own rewards.
    rewards: &'a RefCell<BTreeMap<usize, (f32, f32)>>,
}

/// The reward the agent's context holds for a step, by condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContextReward {
    /// The env's reward (the evaluation, `other-task`).
    Own,
    /// Zero (`zero-reward`).
    Zero,
    /// The random policy's mean reward per step on the task (`random-reward`).
    RandomLevel,
}

impl ContextReward {
    fn of(control: Option<Control>) -> ContextReward {
        match control {
            None | Some(Control::OtherTask) => ContextReward::Own,
            Some(Control::ZeroReward) => ContextReward::Zero,
            Some(Control::RandomReward) => ContextReward::RandomLevel,
        }
    }

    /// The context's reward for a step that earned `reward` on the task of `r`, scaled as in
    /// training.
    fn seen(self, reward: f64, r: &Reference) -> Result<f32, EvalError> {
        let raw = match self {
            ContextReward::Own => reward,
            ContextReward::Zero => 0.0,
            ContextReward::RandomLevel => r.random_step_reward.ok_or_else(|| {
                EvalError::Invalid(
                    "random-reward control: the random policy's reward per step was not measured"
                        .into(),
                )
            })?,
        };
        Ok(raw as f32 * r.reward_scale)
    }
}

impl Lockstep<'_> {
    /// One condition: every task with a plan, its domain groups each in one lockstep batch;
    /// the result rows in task order.
    fn run_condition(
        &self,
        groups: &[(usize, String)],
        plans: &[Option<Vec<Segment>>],
        reward: ContextReward,
    ) -> Result<Vec<TaskResult>, EvalError> {
        let mut by_group: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
        for (i, p) in plans.iter().enumerate() {
            if p.is_some() {
                by_group.entry(groups[i].0).or_default().push(i);
            }
        }
        let mut returns: Vec<Vec<Vec<f64>>> = vec![vec![]; self.tasks.len()];
        for (g, members) in by_group {
            // The same sampling stream in every condition (common random numbers): a control
            // run differs from the evaluation's only after what the control changes.
            let rng_seed = self.opts.seed ^ 0xac7 ^ ((g as u64) << 8);
            let runs = self.run_group(g, &members, plans, reward, rng_seed)?;
            for (i, r) in members.iter().zip(runs) {
                returns[*i] = r;
            }
        }
        Ok(returns
            .into_iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let plan = plans[i].as_ref()?;
                let context =
                    plan.iter().find(|s| !s.scored).map(|s| self.tasks[s.task].task.clone());
                Some(self.row(i, &groups[i].1, r, context))
            })
            .collect())
    }

    /// Task `i`'s result row, normalised.
    fn row(
        &self,
        i: usize,
        group: &str,
        returns: Vec<Vec<f64>>,
        context_task: Option<Task>,
    ) -> TaskResult {
        let (t, r) = (&self.tasks[i], &self.refs[i]);
        let mut row = TaskResult {
            family: t.family.clone(),
            task: t.task.clone(),
            split: t.split.to_string(),
            group: group.to_string(),
            returns,
            random_return: r.random,
            expert_return: r.expert,
            reference_source: r.source.clone(),
            normalized: None,
            sparse_reward: r.sparse_reward,
            context_task,
        };
        row.normalize();
        row
    }

    /// Run every (task, seed) of `members` (tasks of domain group `g`) through its segments
    /// in one batch; returns, per member, the scored episodes' returns per seed.
    fn run_group(
        &self,
        g: usize,
        members: &[usize],
        plans: &[Option<Vec<Segment>>],
        reward: ContextReward,
        rng_seed: u64,
    ) -> Result<Vec<Vec<Vec<f64>>>, EvalError> {
        let opts = self.opts;
        let spec = &self.model.config().groups[g];
        let mut slots = Vec::new();
        for (member, &i) in members.iter().enumerate() {
            let segments = plans[i].clone().expect("members have a plan");
            for seed in 0..opts.seeds {
                let (env, obs) = start_segment(self.tasks, opts, segments[0], seed)?;
                slots.push(Slot {
                    member,
                    seed,
                    segments: segments.clone(),
                    segment: 0,
                    episodes_in_segment: 0,
                    env,
                    obs,
                    acc: 0.0,
                    returns: vec![],
                    finished: false,
                });
            }
        }
        let n = slots.len();
        let act_dim = match spec.action {
            ActionSpec::Continuous { dim } => dim as usize,
            ActionSpec::Discrete { .. } => 1,
        };
        let mut state = match &opts.kv {
            Some(kv) => self.model.new_state_kv(g, n as i64, kv)?,
            None => self.model.new_state(g, n as i64)?,
        };
        let (mut kv_peak, mut kv_sum, mut state_peak) = (0i64, 0f64, 0i64);
        let mut input = StepInput {
            prev_action: vec![0f32; n * act_dim],
            prev_reward: vec![0f32; n],
            start: vec![1u8; n],
        };
        let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
        let mut step = 0usize;
        // The lowest and highest reward the batch's context held (runs with the env's own).
        let mut seen: Option<(f32, f32)> = None;
        while slots.iter().any(|s| !s.finished) {
            let actions = self.act(spec, &mut state, &slots, &input, step, &mut rng)?;
            let kv = state.kv_bytes();
            (kv_peak, kv_sum) = (kv_peak.max(kv), kv_sum + kv as f64);
            state_peak = state_peak.max(state.bytes());
            let StepInput { prev_action, prev_reward, start } = &mut input;
            for (k, slot) in slots.iter_mut().enumerate() {
                if slot.finished {
                    continue;
                }
                let row = &actions[k * act_dim..(k + 1) * act_dim];
                let action = executed(slot.env.action_space(), row);
                let out = slot.env.step(&action)?;
                slot.acc += out.reward;
                // The context holds what the env executed (a clipped continuous action), as the
                // training data does.
                match &action {
                    Action::Discrete(a) => prev_action[k] = *a as f32,
                    Action::Continuous(a) => {
                        prev_action[k * act_dim..(k + 1) * act_dim].copy_from_slice(a)
                    }
                }
                prev_reward[k] = reward.seen(out.reward, &self.refs[slot.current().task])?;
                if reward == ContextReward::Own {
                    let r = prev_reward[k];
                    seen = Some(seen.map_or((r, r), |(lo, hi)| (lo.min(r), hi.max(r))));
                }
                if out.terminated || out.truncated {
                    self.end_episode(slot)?;
                    start[k] = 1;
                } else {
                    slot.obs = out.obs;
                    start[k] = 0;
                }
            }
            step += 1;
        }
        if let Some((lo, hi)) = seen {
            let mut rewards = self.rewards.borrow_mut();
            let range = rewards.entry(g).or_insert((lo, hi));
            *range = (range.0.min(lo), range.1.max(hi));
        }
        let per = |bytes: f64| bytes / n as f64;
        self.memory.borrow_mut().merge(&StateMemory {
            kv_peak_bytes: per(kv_peak as f64),
            kv_mean_bytes: per(kv_sum / step.max(1) as f64),
            kv_full_bytes: state.kv_full_bytes().map(|b| per(b as f64)),
            state_peak_bytes: per(state_peak as f64),
            steps: step,
            ..Default::default()
        });
        let mut out = vec![vec![vec![]; opts.seeds]; members.len()];
        for slot in slots {
            out[slot.member][slot.seed] = slot.returns;
        }
        Ok(out)
    }

    /// Close an episode: record its return if scored, then reset (the same env) or start the
    /// next segment (a fresh env) or finish.
    fn end_episode(&self, slot: &mut Slot) -> Result<(), EvalError> {
        if slot.current().scored {
            slot.returns.push(slot.acc);
        }
        slot.acc = 0.0;
        slot.episodes_in_segment += 1;
        self.bar.inc(1);
        if slot.episodes_in_segment < slot.current().episodes {
            slot.obs = slot.env.reset(None, &ResetOptions::default())?.0;
            return Ok(());
        }
        if slot.segment + 1 == slot.segments.len() {
            // Runs of a batch finish at different steps (episodes of uneven length): a
            // finished run keeps its last segment, whose task still names the normalisation
            // of the input row the batch computes for it (and then ignores).
            slot.finished = true;
            return Ok(());
        }
        slot.segment += 1;
        slot.episodes_in_segment = 0;
        let (env, obs) = start_segment(self.tasks, self.opts, slot.current(), slot.seed)?;
        slot.env = env;
        slot.obs = obs;
        Ok(())
    }

    /// One model step for every slot: the actions as flat rows of the group's action width.
    fn act(
        &self,
        spec: &GroupSpec,
        state: &mut InferenceState,
        slots: &[Slot],
        input: &StepInput,
        step: usize,
        rng: &mut ChaCha8Rng,
    ) -> Result<Vec<f32>, EvalError> {
        let n = slots.len() as i64;
        let device = self.model.device();
        let mut flat = Vec::with_capacity(slots.len() * spec.obs_dim as usize);
        for slot in slots {
            let r = &self.refs[slot.current().task];
            flat.extend(
                slot.obs.iter().zip(&r.obs_mean).zip(&r.obs_std).map(|((x, m), s)| (x - m) / s),
            );
        }
        let obs = Tensor::from_slice(&flat).reshape([n, spec.obs_dim]).to_device(device);
        let prev_a = match spec.action {
            ActionSpec::Continuous { dim } => {
                Tensor::from_slice(&input.prev_action).reshape([n, dim])
            }
            ActionSpec::Discrete { .. } => {
                Tensor::from_slice(&input.prev_action).to_kind(Kind::Int64)
            }
        }
        .to_device(device);
        let prev_r = Tensor::from_slice(&input.prev_reward).to_device(device);
        let start_t = Tensor::from_slice(&input.start).to_kind(Kind::Bool).to_device(device);
        let out = self.model.step(state, &obs, &prev_a, &prev_r, &start_t)?;
        let prediction = out.prediction.to_kind(Kind::Float).to_device(Device::Cpu);
        if !bool::try_from(prediction.isfinite().all())? {
            return Err(EvalError::NonFinite { group: spec.name.clone(), step });
        }
        let flat = |t: &Tensor| -> Result<Vec<f32>, tch::TchError> {
            Vec::try_from(t.to_kind(Kind::Float).to_device(Device::Cpu).flatten(0, -1))
        };
        Ok(match (&spec.action, &out.std) {
            _ if self.opts.greedy => flat(&out.action)?,
            (ActionSpec::Discrete { .. }, _) => {
                let probs = flat(&prediction.softmax(-1, Kind::Float))?;
                let width = probs.len() / slots.len();
                probs.chunks(width).map(|row| sample_index(row, rng) as f32).collect()
            }
            (ActionSpec::Continuous { .. }, Some(std)) => {
                let (mean, std) = (flat(&out.action)?, flat(std)?);
                mean.iter()
                    .zip(&std)
                    .map(|(m, s)| m + s * rng.sample::<f32, _>(StandardNormal))
                    .collect()
            }
            (ActionSpec::Continuous { .. }, None) => flat(&out.action)?,
        })
    }
}

/// The model's inputs besides the observations, one row per slot: the action executed and
/// the reward received at the previous step (zero at an episode start), and episode starts.
struct StepInput {
    prev_action: Vec<f32>,
    prev_reward: Vec<f32>,
    start: Vec<u8>,
}

/// The action the env executes for a model output row: an index, or the vector clipped to
/// the action space's bounds.
fn executed(space: &Space, row: &[f32]) -> Action {
    match space {
        Space::Discrete { .. } => Action::Discrete(row[0].max(0.0) as usize),
        Space::Box { low, high } => Action::Continuous(
            row.iter().zip(low.iter().zip(high)).map(|(a, (l, h))| a.clamp(*l, *h)).collect(),
        ),
    }
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

#[cfg(test)]
mod tests {
    use histories::split::Split;

    use super::*;

    fn task(family: &str, goal: i64) -> TaskRef {
        let mut t = envs::Task::new();
        t.insert("goal".into(), serde_json::json!([goal, 0]));
        TaskRef { family: family.into(), task: t, split: Split::Heldout }
    }

    #[test]
    fn other_task_control_takes_the_next_task_of_the_family() {
        let tasks = [task("A", 0), task("B", 1), task("A", 2), task("A", 3)];
        assert_eq!(other_task(&tasks, 0), Some(2));
        assert_eq!(other_task(&tasks, 3), Some(0));
        assert_eq!(other_task(&tasks, 1), None);
        let p = plan(&tasks, 2, Some(Control::OtherTask), 30).unwrap();
        assert_eq!((p[0].task, p[0].episodes, p[0].scored), (3, 15, false));
        assert_eq!((p[1].task, p[1].episodes, p[1].scored), (2, 15, true));
        assert!(plan(&tasks, 1, Some(Control::OtherTask), 30).is_none());
        assert!(plan(&tasks, 0, Some(Control::OtherTask), 1).is_none());
        assert_eq!(plan(&tasks, 1, Some(Control::ZeroReward), 30).unwrap()[0].episodes, 30);
        let p = plan(&tasks, 1, Some(Control::RandomReward), 30).unwrap();
        assert_eq!((p.len(), p[0].task, p[0].episodes, p[0].scored), (1, 1, 30, true));
    }

    #[test]
    fn each_condition_puts_its_own_reward_in_the_context() {
        let r = Reference {
            obs_mean: vec![],
            obs_std: vec![],
            reward_scale: 0.5,
            random: -1200.0,
            expert: Some(-150.0),
            source: "test".into(),
            sparse_reward: false,
            random_step_reward: Some(-6.0),
        };
        let seen = |c: Option<Control>| ContextReward::of(c).seen(-2.0, &r).unwrap();
        assert_eq!(seen(None), -1.0);
        assert_eq!(seen(Some(Control::OtherTask)), -1.0);
        assert_eq!(seen(Some(Control::ZeroReward)), 0.0);
        assert_eq!(seen(Some(Control::RandomReward)), -3.0);
        let unmeasured = Reference { random_step_reward: None, ..r };
        let e = ContextReward::RandomLevel.seen(-2.0, &unmeasured).unwrap_err().to_string();
        assert!(e.contains("random-reward"), "{e}");
    }

    #[test]
    fn continuous_actions_are_clipped_to_the_space() {
        let space = Space::Box { low: vec![-2.0], high: vec![2.0] };
        assert_eq!(executed(&space, &[3.5]), Action::Continuous(vec![2.0]));
        assert_eq!(executed(&Space::Discrete { n: 4 }, &[2.0]), Action::Discrete(2));
    }
}
