//! Gradients averaged over the ranks in buckets: the gradients of consecutive parameters are
//! copied into one flat tensor of about [`DEFAULT_BUCKET_BYTES`] (PyTorch DDP's default
//! bucket size), all-reduced by one collective, divided by the world size and copied back.
//! One collective per bucket, not per tensor: a model of hundreds of small tensors pays the
//! per-collective latency a few times per step instead of hundreds.
//!
//! One tensor per call: several tensors in one c10d all-reduce are summed *across* each
//! other by Gloo (and refused by NCCL), hence the flattening.

use tch::Tensor;

use super::{DistError, ProcessGroup};

/// PyTorch DDP's default bucket size (`bucket_cap_mb=25`).
pub const DEFAULT_BUCKET_BYTES: usize = 25 << 20;

/// Groups tensors into buckets of at most `bucket_bytes` (a larger tensor is a bucket of its
/// own) and runs one collective per bucket.
#[derive(Clone, Copy, Debug)]
pub struct GradBuckets {
    pub bucket_bytes: usize,
}

impl Default for GradBuckets {
    fn default() -> Self {
        GradBuckets { bucket_bytes: DEFAULT_BUCKET_BYTES }
    }
}

impl GradBuckets {
    /// Index ranges of `tensors` forming buckets: consecutive tensors of one dtype, at most
    /// `bucket_bytes` together unless a single tensor is larger.
    pub fn plan(&self, tensors: &[Tensor]) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let (mut start, mut bytes) = (0, 0usize);
        for (i, t) in tensors.iter().enumerate() {
            let size = t.numel() * t.kind().elt_size_in_bytes();
            let other_kind = i > start && t.kind() != tensors[start].kind();
            if i > start && (bytes + size > self.bucket_bytes || other_kind) {
                out.push(start..i);
                (start, bytes) = (i, 0);
            }
            bytes += size;
        }
        if start < tensors.len() {
            out.push(start..tensors.len());
        }
        out
    }

    /// Average the gradients of `params` over the ranks, in place; parameters without a
    /// gradient are skipped (every rank must have the same set: the ranks of a step train on
    /// the same domain group, so the same parameters receive gradients). Returns the number
    /// of collectives.
    pub fn allreduce_mean(&self, pg: &ProcessGroup, params: &[Tensor]) -> Result<usize, DistError> {
        let grads: Vec<Tensor> = params.iter().map(|p| p.grad()).filter(|g| g.defined()).collect();
        let scale = 1.0 / pg.world_size() as f64;
        self.run(pg, &grads, "gradient bucket", |flat, what| {
            pg.allreduce_sum(flat, what)?;
            let _ = flat.g_mul_scalar_(scale);
            Ok(())
        })
    }

    /// Overwrite `tensors` on every rank with rank `root`'s (weights and optimizer moments at
    /// the start of a run). Returns the number of collectives.
    pub fn broadcast(
        &self,
        pg: &ProcessGroup,
        tensors: &[Tensor],
        root: usize,
    ) -> Result<usize, DistError> {
        self.run(pg, tensors, "state bucket", |flat, what| pg.broadcast(flat, root, what))
    }

    fn run(
        &self,
        pg: &ProcessGroup,
        tensors: &[Tensor],
        name: &str,
        mut op: impl FnMut(&mut Tensor, &str) -> Result<(), DistError>,
    ) -> Result<usize, DistError> {
        let plan = self.plan(tensors);
        let n = plan.len();
        tch::no_grad(|| {
            for (b, range) in plan.into_iter().enumerate() {
                let what = format!("{name} {}/{n}", b + 1);
                let bucket = &tensors[range];
                if let [one] = bucket {
                    if one.is_contiguous() && one.device() == pg.device() {
                        let mut t = one.shallow_clone();
                        op(&mut t, &what)?;
                        continue;
                    }
                }
                let views: Vec<Tensor> = bucket.iter().map(|t| t.reshape([-1])).collect();
                let mut flat = Tensor::cat(&views, 0).to_device(pg.device());
                op(&mut flat, &what)?;
                let flat = flat.to_device(bucket[0].device());
                let mut offset = 0;
                for t in bucket {
                    let len = t.numel() as i64;
                    let mut dst = t.shallow_clone();
                    dst.copy_(&flat.narrow(0, offset, len).view_as(t));
                    offset += len;
                }
            }
            Ok(n)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Kind;

    #[test]
    fn buckets_hold_consecutive_tensors_up_to_the_cap_and_split_on_dtype() {
        let f = |n: i64| Tensor::zeros([n], (Kind::Float, tch::Device::Cpu));
        let d = |n: i64| Tensor::zeros([n], (Kind::Double, tch::Device::Cpu));
        let b = GradBuckets { bucket_bytes: 40 };
        // 4-byte floats: 5+5 fit (40 bytes), 12 alone exceeds, then 2 + a double splits.
        let ts = [f(5), f(5), f(12), f(2), d(1), d(1)];
        assert_eq!(b.plan(&ts), vec![0..2, 2..3, 3..4, 4..6]);
        assert!(b.plan(&[]).is_empty());
    }
}
