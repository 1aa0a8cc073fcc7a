//! ReMoE: the sparse (gathered per expert) computation equals the dense masked one, and the
//! adaptive regulariser drives a toy layer to the target sparsity.

mod common;

use agent::model::autocast::cpu_autocast_bf16;
use agent::model::remoe::{Dispatch, Remoe, RemoeController};
use agent::model::{Config, FfnKind};
use tch::nn::{Adam, OptimizerConfig, VarStore};
use tch::{Device, Kind, Tensor};

fn remoe_config(hidden: i64, inner: i64, experts: i64, active: i64) -> Config {
    Config {
        hidden,
        ffn: FfnKind::Remoe,
        ffn_hidden: inner,
        experts,
        active_experts: active,
        ..Config::tiny()
    }
}

/// A layer of 6 experts (2 active) at width 32, and an input of 3 x 11 tokens, from `seed`.
fn toy_layer(seed: i64) -> (VarStore, Remoe, Tensor) {
    tch::manual_seed(seed);
    let cfg = remoe_config(32, 48, 6, 2);
    let vs = VarStore::new(Device::Cpu);
    let moe = Remoe::new(&vs.root(), &cfg).unwrap();
    let x = Tensor::randn([3, 11, 32], (Kind::Float, Device::Cpu));
    (vs, moe, x)
}

#[test]
fn sparse_forward_and_gradients_equal_the_dense_masked_computation() {
    let _turn = common::torch_turn();
    let (vs, moe, x) = toy_layer(5);
    assert_eq!(Dispatch::for_device(Device::Cpu), Dispatch::Gathered);
    assert_eq!(Dispatch::for_device(Device::Cuda(0)), Dispatch::Masked);
    let (sparse, stats) = moe.forward(&x);
    let (dense, dense_stats) = moe.forward_with(&x, Dispatch::Masked);
    assert_eq!(stats.count, dense_stats.count, "both ways count the same router outputs");
    let d = (&sparse - &dense).abs().max().double_value(&[]);
    assert!(d <= 1e-5, "sparse and dense outputs differ by {d}");
    let sparsity = stats.count.sparsity().unwrap();
    assert_eq!(stats.count.entries(), (3 * 11 * 6) as f64);
    assert!(sparsity > 0.2 && sparsity < 0.8, "a fresh router is partly sparse: {sparsity}");
    let zeros = moe
        .route(&x.view([-1, 32]))
        .eq(0.0)
        .to_kind(Kind::Float)
        .mean(Kind::Float)
        .double_value(&[]);
    assert!((zeros - sparsity).abs() < 1e-6, "sparsity is the fraction of zero router outputs");
    // Each expert's load is the fraction of tokens its router output is positive on.
    let by_hand = Vec::<f64>::try_from(
        moe.route(&x.view([-1, 32])).gt(0.0).to_kind(Kind::Double).mean_dim(0, false, Kind::Double),
    )
    .unwrap();
    let load = stats.count.load().unwrap();
    assert_eq!(load.len(), 6);
    for (a, b) in load.iter().zip(&by_hand) {
        assert!((a - b).abs() < 1e-9, "expert load {a}, by hand {b}");
    }
    let mean = load.iter().sum::<f64>() / 6.0;
    assert!((mean - (1.0 - sparsity)).abs() < 1e-9, "mean load {mean}, sparsity {sparsity}");

    let grads = |y: &Tensor| -> Vec<Tensor> {
        vs.trainable_variables().iter().for_each(|v| {
            let mut g = v.grad();
            if g.defined() {
                let _ = g.zero_();
            }
        });
        (y * y).sum(Kind::Float).backward();
        vs.trainable_variables().iter().map(|v| v.grad().copy()).collect()
    };
    let g_sparse = grads(&moe.forward(&x).0);
    let g_dense = grads(&moe.forward_with(&x, Dispatch::Masked).0);
    for (a, b) in g_sparse.iter().zip(&g_dense) {
        let d = (a - b).abs().max().double_value(&[]);
        assert!(d <= 1e-4, "gradients differ by {d}");
    }
}

/// Under autocast the experts compute in bf16 while the residual stream stays f32 (on CUDA
/// this once stopped every ReMoE run at its first step); CPU autocast makes the same mix here.
#[test]
fn both_dispatches_run_under_autocast_and_keep_the_residual_kind() {
    let _turn = common::torch_turn();
    let (_vs, moe, x) = toy_layer(7);
    let (exact, _) = moe.forward(&x);
    for dispatch in [Dispatch::Gathered, Dispatch::Masked] {
        let (y, stats) = cpu_autocast_bf16(|| moe.forward_with(&x, dispatch));
        assert_eq!(y.kind(), Kind::Float, "{dispatch:?}: the output keeps the residual's kind");
        let d = (&y - &exact).abs().max().double_value(&[]);
        let scale = exact.abs().max().double_value(&[]);
        assert!(d > 0.0, "{dispatch:?}: autocast computed in bf16, so the sums differ a little");
        assert!(d <= 0.02 * scale, "{dispatch:?}: bf16 sums within 2% of f32: {d} of {scale}");
        assert!(stats.count.tokens > 0.0);
        // And the backward pass goes through the mixed kinds.
        cpu_autocast_bf16(|| moe.forward_with(&x, dispatch).0.square().sum(Kind::Float)).backward();
    }
}

#[test]
fn controller_reaches_the_target_sparsity_on_a_toy_task() {
    let _turn = common::torch_turn();
    tch::manual_seed(6);
    let cfg = remoe_config(16, 16, 8, 2); // target 0.75
    let vs = VarStore::new(Device::Cpu);
    let moe = Remoe::new(&vs.root(), &cfg).unwrap();
    let mut ctl = RemoeController::new(&cfg);
    let mut opt = Adam::default().build(&vs, 3e-3).unwrap();
    // Router inputs with a non-zero mean, as hidden states have: for inputs symmetric about
    // zero every direction w has P(x . w > 0) = 1/2, and no router could be sparser than 1/2.
    let x = Tensor::randn([512, 16], (Kind::Float, Device::Cpu)) + 0.5;
    let target = x.matmul(&Tensor::randn([16, 16], (Kind::Float, Device::Cpu))).tanh();
    let mut history = Vec::new();
    for _ in 0..600 {
        let (y, stats) = moe.forward(&x);
        let loss = (y - &target).square().mean(Kind::Float) + stats.reg * ctl.lambda;
        opt.backward_step(&loss);
        let sparsity = stats.count.sparsity().unwrap();
        ctl.update(Some(sparsity), sparsity);
        history.push(sparsity);
    }
    let early = history[..10].iter().sum::<f64>() / 10.0;
    // Lambda moves by a factor 1.2 every step, so sparsity oscillates about the target:
    // judge the mean over the last 200 steps.
    let late = history[history.len() - 200..].iter().sum::<f64>() / 200.0;
    assert!(early < 0.7, "starts below the target: {early}");
    assert!(
        (late - 0.75).abs() <= 0.02,
        "sparsity settles at {late}, target 0.75 (lambda {})",
        ctl.lambda
    );
    assert!(ctl.lambda > cfg.remoe_lambda0, "lambda grew from lambda_0");
}

#[test]
fn controller_steps_lambda_by_alpha() {
    let _turn = common::torch_turn();
    let cfg = remoe_config(16, 16, 4, 1); // target 0.75
    let mut ctl = RemoeController::new(&cfg);
    ctl.update(Some(0.5), 0.5);
    assert!((ctl.lambda - 1.2e-8).abs() < 1e-20);
    ctl.update(Some(0.9), 0.9);
    // Lambda follows the sparsity over all layers, not this layer's own.
    ctl.update(Some(0.1), 0.9);
    assert!((ctl.lambda - 1e-8 / 1.2).abs() < 1e-20);
    assert_eq!(ctl.sparsity, Some(0.1));
}
