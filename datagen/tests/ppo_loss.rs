//! The PPO objective's behaviour: the clipped side carries no gradient, value clipping is
//! pessimistic, and the diagnostics are what their names say.

use datagen::ppo::loss::{
    approx_kl, clip_fraction, clipped_policy_loss, explained_variance, normalize_advantages,
    value_loss,
};
use tch::{Kind, Tensor};

/// d loss / d ratio for one sample with advantage `adv` at ratio `r`.
fn policy_grad(r: f64, adv: f64) -> f64 {
    let ratio = Tensor::from_slice(&[r as f32]).set_requires_grad(true);
    let loss = clipped_policy_loss(&ratio, &Tensor::from_slice(&[adv as f32]), 0.2);
    loss.backward();
    f64::try_from(ratio.grad().sum(Kind::Float)).expect("scalar gradient")
}

#[test]
fn ratio_outside_the_clip_range_gives_zero_gradient_on_the_clipped_side() {
    // Positive advantage: increasing the ratio beyond 1 + eps earns nothing more.
    assert_eq!(policy_grad(1.5, 2.0), 0.0);
    assert!((policy_grad(1.1, 2.0) + 2.0).abs() < 1e-6);
    // ... but a ratio below 1 - eps still gets the full (unclipped, pessimistic) gradient.
    assert!((policy_grad(0.5, 2.0) + 2.0).abs() < 1e-6);
    // Negative advantage: decreasing the ratio below 1 - eps earns nothing more.
    assert_eq!(policy_grad(0.5, -1.0), 0.0);
    assert!((policy_grad(0.9, -1.0) - 1.0).abs() < 1e-6);
    assert!((policy_grad(1.5, -1.0) - 1.0).abs() < 1e-6);
}

#[test]
fn clipped_loss_is_the_pessimistic_bound() {
    let ratio = Tensor::from_slice(&[1.5f32, 0.5, 1.0]);
    let adv = Tensor::from_slice(&[1.0f32, 1.0, -2.0]);
    // Per sample: max(-1.5, -1.2) = -1.2; max(-0.5, -0.8) = -0.5; max(2, 2) = 2.
    let loss = f64::try_from(clipped_policy_loss(&ratio, &adv, 0.2)).expect("scalar");
    assert!((loss - (-1.2 - 0.5 + 2.0) / 3.0).abs() < 1e-6, "{loss}");
}

#[test]
fn value_clipping_takes_the_larger_error() {
    let values = Tensor::from_slice(&[3.0f32]);
    let old = Tensor::from_slice(&[1.0f32]);
    let returns = Tensor::from_slice(&[3.0f32]);
    let plain = f64::try_from(value_loss(&values, &old, &returns, None)).expect("scalar");
    assert_eq!(plain, 0.0);
    // Clipped prediction is 1 + 0.2 = 1.2, error 1.8: loss 0.5 * 1.8^2.
    let clipped = f64::try_from(value_loss(&values, &old, &returns, Some(0.2))).expect("scalar");
    assert!((clipped - 0.5 * 1.8 * 1.8).abs() < 1e-5, "{clipped}");
}

#[test]
fn diagnostics_measure_what_they_name() {
    let zero = Tensor::zeros([4], (Kind::Float, tch::Device::Cpu));
    assert_eq!(approx_kl(&zero), 0.0);
    let log_ratio = Tensor::from_slice(&[0.3f32, -0.3, 0.1, -0.5]);
    assert!(approx_kl(&log_ratio) > 0.0);
    let ratio = Tensor::from_slice(&[1.0f32, 1.3, 0.7, 1.1]);
    assert!((clip_fraction(&ratio, 0.2) - 0.5).abs() < 1e-9);
    let target = [1.0f32, 2.0, 3.0, 4.0];
    assert!((explained_variance(&target, &target) - 1.0).abs() < 1e-12);
    assert!(explained_variance(&[2.5; 4], &target).abs() < 1e-12);
    assert!(explained_variance(&target, &[1.0; 4]).is_nan());
    let adv = normalize_advantages(&Tensor::from_slice(&[1.0f32, 2.0, 3.0, 10.0]));
    assert!(f64::try_from(adv.mean(Kind::Float)).expect("scalar").abs() < 1e-6);
    assert!((f64::try_from(adv.std(true)).expect("scalar") - 1.0).abs() < 1e-4);
}
