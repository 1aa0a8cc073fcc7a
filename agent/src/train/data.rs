//! From a learning-history dataset to model batches: domain groups, a validation split of
//! histories, episode sparsity, and batches of random windows from one group at a time.

use histories::dataset::{Dataset, TaskData, Window};
use histories::group::GroupAction;
use histories::history::History;
use rand::Rng;
use rand::seq::SliceRandom;
use tch::{Device, Kind, Tensor};

use super::config::ActionTarget;
use crate::model::{ActionSpec, Batch, GroupSpec};

/// The model's domain groups, in the dataset manifest's (sorted) order.
pub fn group_specs(data: &Dataset) -> Vec<GroupSpec> {
    data.manifest
        .groups
        .iter()
        .map(|(name, g)| GroupSpec {
            name: name.clone(),
            obs_dim: g.obs_dim as i64,
            action: match g.action() {
                GroupAction::Discrete { n } => ActionSpec::Discrete { n: n as i64 },
                GroupAction::Continuous { dim } => ActionSpec::Continuous { dim: dim as i64 },
            },
        })
        .collect()
}

/// Keep every `k`-th episode of a history (the first included).
pub fn sparsify(h: &History, k: usize) -> History {
    if k <= 1 {
        return h.clone();
    }
    let mut out = History { obs_dim: h.obs_dim, act_dim: h.act_dim, ..Default::default() };
    let (od, ad) = (h.obs_dim, h.act_dim);
    let mut episode = 0usize;
    for t in 0..h.len() {
        if episode % k == 0 {
            out.observations.extend_from_slice(&h.observations[t * od..(t + 1) * od]);
            out.actions.extend_from_slice(&h.actions[t * ad..(t + 1) * ad]);
            out.demo_actions.extend_from_slice(&h.demo_actions[t * ad..(t + 1) * ad]);
            out.rewards.push(h.rewards[t]);
            out.terminated.push(h.terminated[t]);
            out.truncated.push(h.truncated[t]);
            out.step_num.push(h.step_num[t]);
            out.eps.push(h.eps[t]);
        }
        if h.terminated[t] != 0 || h.truncated[t] != 0 {
            episode += 1;
        }
    }
    out
}

/// Which (task, history) pairs train and which validate, per group.
pub struct Split {
    /// Per group: the dataset restricted to training histories, as task indices into
    /// `train` (a dataset whose tasks keep only their training histories).
    pub train: Dataset,
    pub val: Dataset,
}

/// Split every task's histories: a seeded `fraction` of all (task, history) pairs of each
/// group goes to validation, never leaving a group without training data.
pub fn split(data: &Dataset, fraction: f64, sparsity: usize, rng: &mut impl Rng) -> Split {
    // Both sides start with every task's metadata and no histories (no copy of the data).
    let empty = Dataset {
        dir: data.dir.clone(),
        manifest: data.manifest.clone(),
        tasks: data
            .tasks
            .iter()
            .map(|t| TaskData { file: t.file.clone(), meta: t.meta.clone(), histories: Vec::new() })
            .collect(),
    };
    let (mut train, mut val) = (empty.clone(), empty);
    for group in data.manifest.groups.keys() {
        let mut pairs: Vec<(usize, usize)> = data
            .tasks_of_group(group)
            .into_iter()
            .flat_map(|t| (0..data.tasks[t].histories.len()).map(move |h| (t, h)))
            .collect();
        pairs.shuffle(rng);
        let n_val =
            ((pairs.len() as f64 * fraction).round() as usize).min(pairs.len().saturating_sub(1));
        for (i, (t, h)) in pairs.into_iter().enumerate() {
            let hist = sparsify(&data.tasks[t].histories[h], sparsity);
            if i < n_val {
                val.tasks[t].histories.push(hist)
            } else {
                train.tasks[t].histories.push(hist)
            }
        }
    }
    Split { train, val }
}

/// Stack windows of one group into a model batch on `device`, with `target`'s actions as the
/// targets (the context always holds the actions taken).
pub fn to_batch(
    windows: &[Window],
    group: usize,
    spec: &GroupSpec,
    target: ActionTarget,
    device: Device,
) -> Batch {
    let b = windows.len() as i64;
    let t = windows[0].len as i64;
    let cat = |f: &dyn Fn(&Window) -> &[f32]| -> Vec<f32> {
        windows.iter().flat_map(|w| f(w).iter().copied()).collect()
    };
    let obs = Tensor::from_slice(&cat(&|w| &w.obs)).reshape([b, t, spec.obs_dim]);
    let prev_rewards = Tensor::from_slice(&cat(&|w| &w.prev_rewards)).reshape([b, t]);
    let starts: Vec<u8> = windows.iter().flat_map(|w| w.first.iter().copied()).collect();
    let episode_start = Tensor::from_slice(&starts).reshape([b, t]).to_kind(Kind::Bool);
    let prev = Tensor::from_slice(&cat(&|w| &w.prev_actions));
    let target = Tensor::from_slice(&match target {
        ActionTarget::Taken => cat(&|w| &w.actions),
        ActionTarget::Demonstrator => cat(&|w| &w.demo_actions),
    });
    let (prev_actions, target_actions) = match spec.action {
        ActionSpec::Continuous { dim } => (prev.reshape([b, t, dim]), target.reshape([b, t, dim])),
        ActionSpec::Discrete { .. } => {
            (prev.reshape([b, t]).to_kind(Kind::Int64), target.reshape([b, t]).to_kind(Kind::Int64))
        }
    };
    Batch {
        group,
        obs: obs.to_device(device),
        prev_actions: prev_actions.to_device(device),
        prev_rewards: prev_rewards.to_device(device),
        episode_start: episode_start.to_device(device),
        target_actions: Some(target_actions.to_device(device)),
        loss_mask: None,
    }
}

/// Picks a group by weight, then `batch_size` random windows of that group.
pub struct Sampler {
    /// Per model group: task indices of the dataset that have data.
    tasks: Vec<Vec<usize>>,
    /// Cumulative sampling weights per group.
    cumulative: Vec<f64>,
}

impl Sampler {
    /// `weights[g]` is group g's weight; groups without tasks get weight 0.
    pub fn new(data: &Dataset, groups: &[GroupSpec], weights: &[f64]) -> Self {
        let tasks: Vec<Vec<usize>> = groups
            .iter()
            .map(|g| {
                data.tasks_of_group(&g.name)
                    .into_iter()
                    .filter(|&t| !data.tasks[t].histories.is_empty())
                    .collect()
            })
            .collect();
        let mut acc = 0.0;
        let cumulative = weights
            .iter()
            .zip(&tasks)
            .map(|(w, t)| {
                acc += if t.is_empty() { 0.0 } else { *w };
                acc
            })
            .collect();
        Sampler { tasks, cumulative }
    }

    /// Whether any group can be sampled.
    pub fn is_empty(&self) -> bool {
        self.cumulative.last().copied().unwrap_or(0.0) <= 0.0
    }

    pub fn pick_group(&self, rng: &mut impl Rng) -> usize {
        let total = self.cumulative.last().copied().unwrap_or(0.0);
        let x = rng.random::<f64>() * total;
        self.cumulative.iter().position(|&c| x < c).unwrap_or(self.cumulative.len() - 1)
    }

    /// A batch of `batch_size` windows of `context` steps from `group`.
    pub fn windows(
        &self,
        data: &Dataset,
        group: usize,
        batch_size: usize,
        context: usize,
        rng: &mut impl Rng,
    ) -> Result<Vec<Window>, histories::dataset::DatasetError> {
        self.rank_windows(data, group, batch_size, context, (0, 1), rng)
    }

    /// Rank `share.0`'s part of a data-parallel batch over `share.1` ranks: the numbers of
    /// `share.1 * batch_size` windows are drawn from `rng` (the same stream on every rank),
    /// and this rank builds the `share.0`-th run of `batch_size` of them. So the ranks
    /// together train on exactly the windows one process draws for the whole batch, and
    /// every rank's stream follows from the one stream a checkpoint keeps, whatever the
    /// number of ranks.
    pub fn rank_windows(
        &self,
        data: &Dataset,
        group: usize,
        batch_size: usize,
        context: usize,
        share: (usize, usize),
        rng: &mut impl Rng,
    ) -> Result<Vec<Window>, histories::dataset::DatasetError> {
        let (rank, world) = share;
        // List the group's windows once per batch, not once per window.
        let slots = data.window_slots(&self.tasks[group], context)?;
        let numbers: Vec<usize> = (0..world * batch_size).map(|_| slots.draw(rng)).collect();
        Ok(numbers[rank * batch_size..(rank + 1) * batch_size]
            .iter()
            .map(|&k| data.window_at(&slots, k))
            .collect())
    }
}
