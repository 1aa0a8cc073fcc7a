//! AdamW written out, so its moments can go into checkpoints (tch cannot save optimizer
//! state): decoupled weight decay on matrices only, bias-corrected moments, global
//! gradient-norm clipping.

use std::collections::BTreeMap;

use tch::{Kind, Tensor};

use super::checkpoint::CheckpointError;
use super::config::OptimConfig;

/// One parameter with its moments.
struct Slot {
    name: String,
    param: Tensor,
    m: Tensor,
    v: Tensor,
    decay: bool,
}

pub struct AdamW {
    slots: Vec<Slot>,
    /// Optimizer steps taken (bias correction uses it).
    pub step: usize,
}

impl AdamW {
    /// Track every trainable variable of `vars` (name -> tensor); weight decay goes to
    /// tensors of two or more dimensions (matrices), never to norms, biases or paddings.
    pub fn new(vars: BTreeMap<String, Tensor>) -> Self {
        let slots = vars
            .into_iter()
            .filter(|(_, t)| t.requires_grad())
            .map(|(name, param)| {
                let decay = param.dim() >= 2;
                let m = param.zeros_like().detach();
                let v = param.zeros_like().detach();
                Slot { name, param, m, v, decay }
            })
            .collect();
        AdamW { slots, step: 0 }
    }

    /// The trained parameters (shallow clones), in name order: the same order on every
    /// data-parallel rank.
    pub fn params(&self) -> Vec<Tensor> {
        self.slots.iter().map(|s| s.param.shallow_clone()).collect()
    }

    pub fn zero_grad(&mut self) {
        for s in &mut self.slots {
            let mut g = s.param.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        }
    }

    /// Global L2 norm of the gradients (before clipping).
    pub fn grad_norm(&self) -> f64 {
        tch::no_grad(|| {
            let mut total = 0.0;
            for s in &self.slots {
                let g = s.param.grad();
                if g.defined() {
                    total += g.to_kind(Kind::Float).square().sum(Kind::Float).double_value(&[]);
                }
            }
            total.sqrt()
        })
    }

    /// Scale gradients so that their global norm is at most `max` (no-op for `max == 0`);
    /// returns the norm before clipping.
    pub fn clip_grad_norm(&mut self, max: f64) -> f64 {
        let norm = self.grad_norm();
        if max > 0.0 && norm > max {
            let scale = max / (norm + 1e-6);
            tch::no_grad(|| {
                for s in &mut self.slots {
                    let mut g = s.param.grad();
                    if g.defined() {
                        let _ = g.g_mul_scalar_(scale);
                    }
                }
            });
        }
        norm
    }

    /// One AdamW update at learning rate `lr`.
    pub fn apply(&mut self, cfg: &OptimConfig, lr: f64) {
        self.step += 1;
        let t = self.step as i32;
        let (b1, b2) = (cfg.beta1, cfg.beta2);
        let bc1 = 1.0 - b1.powi(t);
        let bc2 = 1.0 - b2.powi(t);
        tch::no_grad(|| {
            for s in &mut self.slots {
                let g = s.param.grad();
                if !g.defined() {
                    continue;
                }
                let g = g.to_kind(s.m.kind());
                let _ = s.m.g_mul_scalar_(b1).g_add_(&(&g * (1.0 - b1)));
                let _ = s.v.g_mul_scalar_(b2).g_add_(&(g.square() * (1.0 - b2)));
                if s.decay && cfg.weight_decay > 0.0 {
                    let _ = s.param.g_mul_scalar_(1.0 - lr * cfg.weight_decay);
                }
                let denom = (&s.v / bc2).sqrt() + cfg.eps;
                let update = (&s.m / bc1) / denom * lr;
                let _ = s.param.g_sub_(&update.to_kind(s.param.kind()));
            }
        });
    }

    /// The moments as named tensors (`m.<param>`, `v.<param>`) for a checkpoint.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut out = Vec::with_capacity(2 * self.slots.len());
        for s in &self.slots {
            out.push((format!("m.{}", s.name), s.m.shallow_clone()));
            out.push((format!("v.{}", s.name), s.v.shallow_clone()));
        }
        out
    }

    /// Restore moments saved by [`AdamW::state`]; every moment must be present with the
    /// parameter's shape.
    pub fn load_state(
        &mut self,
        tensors: &BTreeMap<String, Tensor>,
        step: usize,
    ) -> Result<(), CheckpointError> {
        for s in &mut self.slots {
            for (prefix, dst) in [("m", &mut s.m), ("v", &mut s.v)] {
                let key = format!("{prefix}.{}", s.name);
                let src = tensors.get(&key).ok_or_else(|| {
                    CheckpointError::Optimizer(format!("optimizer state `{key}` missing"))
                })?;
                if src.size() != dst.size() {
                    return Err(CheckpointError::Optimizer(format!(
                        "optimizer state `{key}` has shape {:?}, the parameter has {:?}",
                        src.size(),
                        dst.size()
                    )));
                }
                tch::no_grad(|| dst.copy_(src));
            }
        }
        self.step = step;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_adamw_formulas_on_one_step() {
        let p = Tensor::from_slice(&[1.0f32, -2.0]).reshape([1, 2]).set_requires_grad(true);
        let mut vars = BTreeMap::new();
        vars.insert("w".to_string(), p.shallow_clone());
        let mut opt = AdamW::new(vars);
        let cfg = OptimConfig { weight_decay: 0.1, ..Default::default() };
        let loss = (&p * &p).sum(Kind::Float); // grad = 2p
        loss.backward();
        opt.apply(&cfg, 0.01);
        // Step 1: m_hat = g, v_hat = g^2, update = g / (|g| + eps) = sign(g).
        let got: Vec<f32> = Vec::try_from(p.detach().flatten(0, -1)).unwrap();
        let expect = [1.0 * (1.0 - 0.001) - 0.01, -2.0 * (1.0 - 0.001) + 0.01];
        for (g, e) in got.iter().zip(expect) {
            assert!((*g as f64 - e).abs() < 1e-6, "{got:?} vs {expect:?}");
        }
    }

    #[test]
    fn clipping_bounds_the_global_norm() {
        let p = Tensor::from_slice(&[3.0f32, 4.0]).set_requires_grad(true);
        let mut vars = BTreeMap::new();
        vars.insert("b".to_string(), p.shallow_clone());
        let mut opt = AdamW::new(vars);
        (&p * &p).sum(Kind::Float).backward(); // grad (6, 8), norm 10
        let before = opt.clip_grad_norm(1.0);
        assert!((before - 10.0).abs() < 1e-5);
        assert!((opt.grad_norm() - 1.0).abs() < 1e-4);
    }
}
