//! What data-parallel training adds to the loop ([`crate::dist`]): the ranks check that they
//! run one config, take rank 0's state at the start (weights, optimizer moments, ReMoE
//! controllers, step and sampler stream, so that only rank 0 reads the run folder), and after
//! each step's backward pass average their gradients and sum the step's scalars.
//!
//! Every rank draws the same group and the same window numbers from the one sampler stream
//! and trains on its own share of them ([`super::data::Sampler::rank_windows`]); with the
//! loss a mean over each rank's batch, the averaged gradient is the gradient of the whole
//! batch, so N ranks with batch B train as one process with batch N x B.

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;
use tch::{Kind, Tensor};

use super::optim::AdamW;
use super::trainer::TrainError;
use crate::dist::{DistError, GradBuckets, ProcessGroup};
use crate::model::{Model, RouterTally};

/// Refuse to train unless this rank's config (as JSON) is rank 0's: ranks started with other
/// flags would train different models and fail obscurely later.
pub(super) fn check_config(pg: &ProcessGroup, text: &str) -> Result<(), TrainError> {
    let main = pg.broadcast_bytes(text.as_bytes(), 0, "the training config").map_err(dist)?;
    if pg.is_main() || main == text.as_bytes() {
        return Ok(());
    }
    let field = first_difference(&String::from_utf8_lossy(&main), text);
    Err(dist(DistError::Mismatch {
        rank: pg.rank(),
        world: pg.world_size(),
        message: format!(
            "this rank's training config differs from rank 0's (field `{field}`): start every \
             rank with the same flags"
        ),
    }))
}

/// Refuse to train unless this rank's dataset has rank 0's manifest fingerprint (each rank
/// reads its own copy of the dataset, at the config's path).
pub(super) fn check_data(pg: &ProcessGroup, fingerprint: &str) -> Result<(), TrainError> {
    let main =
        pg.broadcast_bytes(fingerprint.as_bytes(), 0, "the dataset fingerprint").map_err(dist)?;
    if pg.is_main() || main == fingerprint.as_bytes() {
        return Ok(());
    }
    Err(dist(DistError::Mismatch {
        rank: pg.rank(),
        world: pg.world_size(),
        message: format!(
            "this rank's dataset has manifest fingerprint {fingerprint}, rank 0's {}: give \
             every rank the same dataset",
            String::from_utf8_lossy(&main)
        ),
    }))
}

/// The first top-level field where two configs differ (`?` if they do not parse).
fn first_difference(a: &str, b: &str) -> String {
    let parse = |t: &str| serde_json::from_str::<BTreeMap<String, serde_json::Value>>(t).ok();
    let (Some(a), Some(b)) = (parse(a), parse(b)) else { return "?".into() };
    a.keys().chain(b.keys()).find(|k| a.get(*k) != b.get(*k)).cloned().unwrap_or_else(|| "?".into())
}

/// Give every rank rank 0's training state: the step, the sampler stream, the ReMoE
/// controllers, every weight and every optimizer moment.
pub(super) fn sync_state(
    pg: &ProcessGroup,
    model: &mut Model,
    opt: &mut AdamW,
    rng: &mut ChaCha8Rng,
    start: &mut usize,
) -> Result<(), TrainError> {
    // Scalars as i64 words (f64 values by their bits, so they cross exactly).
    let word_pos = rng.get_word_pos();
    let mut words: Vec<i64> = vec![*start as i64, word_pos as i64, (word_pos >> 64) as i64];
    words.extend(rng.get_seed().chunks(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())));
    words.extend(model.remoe_values().into_iter().map(|v| v.to_bits() as i64));
    let mut t = Tensor::from_slice(&words).to_device(pg.device());
    pg.broadcast(&mut t, 0, "the step, sampler state and ReMoE controllers").map_err(dist)?;
    let words = Vec::<i64>::try_from(t.to_device(tch::Device::Cpu))
        .map_err(|e| TrainError::Invalid(format!("reading rank 0's training state: {e}")))?;
    if !pg.is_main() {
        *start = words[0] as usize;
        let mut seed = [0u8; 32];
        for (chunk, w) in seed.chunks_mut(8).zip(&words[3..7]) {
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        use rand::SeedableRng;
        *rng = ChaCha8Rng::from_seed(seed);
        rng.set_word_pos((words[1] as u64 as u128) | ((words[2] as u64 as u128) << 64));
        let remoe: Vec<f64> = words[7..].iter().map(|&w| f64::from_bits(w as u64)).collect();
        model.set_remoe_values(&remoe);
        opt.step = *start;
    }
    let vars: BTreeMap<String, Tensor> = model.var_store().variables().into_iter().collect();
    let mut tensors: Vec<Tensor> = vars.into_values().collect();
    tensors.extend(opt.state().into_iter().map(|(_, t)| t));
    GradBuckets::default().broadcast(pg, &tensors, 0).map_err(dist)?;
    Ok(())
}

/// After the step's backward passes: average the gradients over the ranks (bucketed), and
/// the micro-batch losses; sum the ReMoE router counts (the whole batch's sparsity).
pub(super) fn reduce_step(
    pg: &ProcessGroup,
    opt: &AdamW,
    losses: &mut [f64],
    router: &mut RouterTally,
) -> Result<(), TrainError> {
    GradBuckets::default().allreduce_mean(pg, &opt.params()).map_err(dist)?;
    let mut values: Vec<f64> = losses.to_vec();
    for c in router.counts_mut() {
        values.push(c.tokens);
        values.extend(&c.active);
    }
    let mut t = Tensor::from_slice(&values).to_kind(Kind::Double).to_device(pg.device());
    pg.allreduce_sum(&mut t, "the step's losses and router counts").map_err(dist)?;
    let sums = Vec::<f64>::try_from(t.to_device(tch::Device::Cpu))
        .map_err(|e| TrainError::Invalid(format!("reading the step's summed losses: {e}")))?;
    let world = pg.world_size() as f64;
    for (l, s) in losses.iter_mut().zip(&sums) {
        *l = s / world;
    }
    // `sums` has the layout of `values`: the losses, then per layer its tokens and experts.
    let mut at = losses.len();
    for c in router.counts_mut() {
        let n = c.active.len();
        c.tokens = sums[at];
        c.active.copy_from_slice(&sums[at + 1..at + 1 + n]);
        at += 1 + n;
    }
    Ok(())
}

/// Replace each of `values` by its mean over the ranks.
pub(super) fn average(pg: &ProcessGroup, values: &mut [f64], what: &str) -> Result<(), TrainError> {
    let mut t = Tensor::from_slice(values).to_kind(Kind::Double).to_device(pg.device());
    pg.allreduce_sum(&mut t, what).map_err(dist)?;
    let sums = Vec::<f64>::try_from(t.to_device(tch::Device::Cpu))
        .map_err(|e| TrainError::Invalid(format!("reading {what}: {e}")))?;
    let world = pg.world_size() as f64;
    values.iter_mut().zip(sums).for_each(|(v, s)| *v = s / world);
    Ok(())
}

fn dist(e: DistError) -> TrainError {
    TrainError::Dist(e)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_differing_field_is_named() {
        let a = r#"{"batch_size": 4, "seed": 1, "steps": 3}"#;
        let b = r#"{"batch_size": 4, "seed": 2, "steps": 4}"#;
        assert_eq!(super::first_difference(a, b), "seed");
        assert_eq!(super::first_difference("x", b), "?");
    }
}
