//! The whole model: step-by-step inference equals the training forward, per-environment
//! resets, exact parameter counts, checkpoints, batch validation, and a training smoke test.

mod common;

use agent::model::autocast::cpu_autocast_bf16;
use agent::model::{
    ActionHead, ActionSpec, Batch, Config, FfnKind, InferenceState, LOG_STD_RANGE, Model,
    ModelError, RouterTally, StepOutput, param_table, totals,
};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tch::nn::{Adam, OptimizerConfig};
use tch::{Device, Kind, Tensor};

fn model(cfg: &Config, seed: u64) -> Model {
    Model::new(cfg, Device::Cpu, &mut StdRng::seed_from_u64(seed)).unwrap()
}

/// A random batch of group `group`: episode starts at t = 0 and about one step in six.
fn random_batch(cfg: &Config, group: usize, b: i64, t: i64) -> Batch {
    let opts = (Kind::Float, Device::Cpu);
    let spec = &cfg.groups[group];
    let actions = |_: ()| match spec.action {
        ActionSpec::Continuous { dim } => Tensor::randn([b, t, dim], opts),
        ActionSpec::Discrete { n } => Tensor::randint(n, [b, t], (Kind::Int64, Device::Cpu)),
    };
    let start = Tensor::rand([b, t], opts).lt(0.15);
    let _ = start.narrow(1, 0, 1).fill_(1);
    Batch {
        group,
        obs: Tensor::randn([b, t, spec.obs_dim], opts),
        prev_actions: actions(()),
        prev_rewards: Tensor::randn([b, t], opts),
        episode_start: start,
        target_actions: Some(actions(())),
        loss_mask: None,
    }
}

/// One inference step on timestep `i` of the batch.
fn step_at(model: &Model, state: &mut InferenceState, batch: &Batch, i: i64) -> StepOutput {
    let at = |x: &Tensor| x.select(1, i);
    model
        .step(
            state,
            &at(&batch.obs),
            &at(&batch.prev_actions),
            &at(&batch.prev_rewards),
            &at(&batch.episode_start),
        )
        .unwrap()
}

/// Runs the batch through `step` one timestep at a time; returns `(B, T, out)`.
fn stepwise(model: &Model, batch: &Batch) -> Tensor {
    let (b, t) = (batch.obs.size()[0], batch.obs.size()[1]);
    let mut state = model.new_state(batch.group, b).unwrap();
    let outs: Vec<Tensor> =
        (0..t).map(|i| step_at(model, &mut state, batch, i).prediction).collect();
    Tensor::stack(&outs, 1)
}

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

#[test]
fn stepwise_inference_equals_the_training_forward() {
    let _turn = common::torch_turn();
    tch::manual_seed(7);
    // Hybrid lightning + softmax, a sequence longer than the softmax window and not a
    // multiple of the lightning block or the softmax chunk; both kinds of action space.
    let heads = [ActionHead::Deterministic, ActionHead::Gaussian, ActionHead::Deterministic];
    for ((pattern, ffn), action_head) in
        [("LS", FfnKind::Gelu), ("SL", FfnKind::Remoe), ("L", FfnKind::Swiglu)]
            .into_iter()
            .zip(heads)
    {
        let cfg = Config { pattern: pattern.into(), ffn, action_head, ..Config::tiny() };
        let m = model(&cfg, 8);
        for group in 0..cfg.groups.len() {
            let batch = random_batch(&cfg, group, 3, 23);
            let whole = m.forward(&batch).unwrap().predictions;
            let steps = stepwise(&m, &batch);
            let d = max_diff(&whole, &steps);
            assert!(d <= 1e-4, "pattern {pattern}, group {group}: step form differs by {d}");
        }
    }
}

/// Tolerances of the bf16 checks below. bf16 keeps 8 significant bits (a relative rounding
/// of at most 2^-9 per value); through the tiny preset's blocks of attention, FFN and norms
/// the predictions stay within 2% of their largest magnitude, and six AdamW steps track the
/// f32 losses within 2% (measured on the CPU: 0.5-0.6% and 0.1-0.3% for lightning, softmax
/// and hybrid ReMoE).
const BF16_PREDICTION_TOL: f64 = 0.02;
const BF16_LOSS_TOL: f64 = 0.02;

/// Six AdamW steps of `cfg`'s model cast to `kind`, alternating two batches; returns the
/// predictions of the first batch before training and the six losses. Every used parameter's
/// gradient is checked to exist, be finite and be of `kind` (no op left it in f32).
fn train_in(cfg: &Config, kind: Kind, batches: &[Batch]) -> (Tensor, Vec<f64>) {
    let mut m = model(cfg, 24);
    m.set_kind(kind);
    let vars = m.var_store().variables();
    let mut opt = agent::train::optim::AdamW::new(
        vars.iter().map(|(k, v)| (k.clone(), v.shallow_clone())).collect(),
    );
    let first = m.forward(&batches[0]).unwrap().predictions;
    let mut losses = Vec::new();
    for step in 0..6 {
        let batch = &batches[step % batches.len()];
        let loss = m.forward(batch).unwrap().loss.unwrap();
        losses.push(loss.double_value(&[]));
        loss.backward();
        // The backbone's and the batch's group's parameters (another group's are unused).
        let own = format!("groups.{}.", batch.group);
        for (name, p) in
            vars.iter().filter(|(n, _)| !n.starts_with("groups.") || n.starts_with(&own))
        {
            let g = p.grad();
            assert!(g.defined(), "{kind:?}: no gradient for {name}");
            assert_eq!(g.kind(), kind, "{name}'s gradient");
            assert!(g.isfinite().all().int64_value(&[]) == 1, "{kind:?}: {name}'s gradient");
        }
        opt.apply(&agent::train::OptimConfig::default(), 3e-3);
        opt.zero_grad();
    }
    (first, losses)
}

#[test]
fn bf16_lightning_softmax_and_remoe_layers_train_close_to_f32() {
    let _turn = common::torch_turn();
    // The GPU path computes in bf16: on the CPU, the same model cast to bf16 (weights,
    // forward, backward, AdamW) must accept every op and stay close to f32.
    for (pattern, ffn) in [("L", FfnKind::Gelu), ("S", FfnKind::Gelu), ("LS", FfnKind::Remoe)] {
        let cfg = Config { pattern: pattern.into(), ffn, ..Config::tiny() };
        tch::manual_seed(23);
        let batches: Vec<Batch> = (0..2).map(|i| random_batch(&cfg, i, 2, 20)).collect();
        let (full, f32_losses) = train_in(&cfg, Kind::Float, &batches);
        let (half, bf16_losses) = train_in(&cfg, Kind::BFloat16, &batches);
        let what = format!("pattern {pattern}, {ffn:?}");
        assert_eq!(half.kind(), Kind::Float, "{what}: predictions are returned in f32");
        let scale = full.abs().max().double_value(&[]).max(1.0);
        let d = max_diff(&half, &full);
        assert!(d <= BF16_PREDICTION_TOL * scale, "{what}: bf16 differs by {d} (scale {scale})");
        assert!(d > 0.0, "{what}: bf16 predictions equal f32's exactly: bf16 was not used");
        for (step, (a, b)) in f32_losses.iter().zip(&bf16_losses).enumerate() {
            assert!(
                (a - b).abs() <= BF16_LOSS_TOL * a.abs().max(0.1),
                "{what}, step {step}: loss {b} in bf16, {a} in f32"
            );
        }
        assert!(bf16_losses[4] < bf16_losses[0], "{what}: bf16 training {bf16_losses:?}");
    }
}

#[test]
fn lightning_softmax_and_remoe_layers_train_under_autocast() {
    let _turn = common::torch_turn();
    // Training on CUDA keeps f32 weights and autocasts matrix products to bf16, so f32 and
    // bf16 tensors meet inside the model; CPU autocast makes the same mix here. (A ReMoE
    // layer's mix once stopped every CUDA run; the all-bf16 test above cannot see such a
    // mismatch.)
    for (pattern, ffn) in [("L", FfnKind::Gelu), ("S", FfnKind::Gelu), ("LS", FfnKind::Remoe)] {
        let cfg = Config { pattern: pattern.into(), ffn, ..Config::tiny() };
        let what = format!("pattern {pattern}, {ffn:?}");
        let m = model(&cfg, 25);
        tch::manual_seed(26);
        let batch = random_batch(&cfg, 0, 2, 20);
        let exact = m.forward(&batch).unwrap().loss.unwrap().double_value(&[]);
        let out = cpu_autocast_bf16(|| m.forward(&batch)).unwrap();
        assert_eq!(out.predictions.kind(), Kind::Float, "{what}: predictions in f32");
        let loss = out.loss.unwrap();
        let mixed = loss.double_value(&[]);
        assert!(mixed != exact, "{what}: autocast changed nothing: bf16 was not used");
        assert!(
            (mixed - exact).abs() <= BF16_LOSS_TOL * exact.abs().max(0.1),
            "{what}: loss {mixed} under autocast, {exact} in f32"
        );
        loss.backward();
        for (name, p) in
            m.var_store().variables().iter().filter(|(n, _)| !n.starts_with("groups.1."))
        {
            let g = p.grad();
            assert!(g.defined(), "{what}: no gradient for {name}");
            assert_eq!(g.kind(), Kind::Float, "{what}: {name}'s gradient stays f32");
            assert!(g.isfinite().all().int64_value(&[]) == 1, "{what}: {name}'s gradient");
        }
    }
}

#[test]
fn bf16_steps_equal_the_bf16_forward() {
    let _turn = common::torch_turn();
    tch::manual_seed(19);
    let cfg = Config::tiny();
    let mut m = model(&cfg, 21);
    let batch = random_batch(&cfg, 0, 2, 20);
    let full = m.forward(&batch).unwrap().predictions;
    m.set_kind(Kind::BFloat16);
    let half = m.forward(&batch).unwrap().predictions;
    let steps = stepwise(&m, &batch);
    let scale = full.abs().max().double_value(&[]).max(1.0);
    let d_steps = max_diff(&steps, &half);
    assert!(
        d_steps <= BF16_PREDICTION_TOL * scale,
        "bf16 steps differ from the bf16 forward by {d_steps}"
    );
}

#[test]
fn resetting_one_environment_restarts_only_its_history() {
    let _turn = common::torch_turn();
    tch::manual_seed(9);
    let cfg = Config::tiny();
    let m = model(&cfg, 10);
    let batch = random_batch(&cfg, 0, 2, 20);
    let split = 12;
    let mut state = m.new_state(0, 2).unwrap();
    let mut outs = Vec::new();
    for i in 0..20 {
        if i == split {
            state.reset(1).unwrap();
        }
        let at = |x: &Tensor| x.select(1, i);
        let start = at(&batch.episode_start);
        if i == split {
            let _ = start.narrow(0, 1, 1).fill_(1); // a new task begins with an episode start
        }
        outs.push(
            m.step(
                &mut state,
                &at(&batch.obs),
                &at(&batch.prev_actions),
                &at(&batch.prev_rewards),
                &start,
            )
            .unwrap()
            .prediction,
        );
    }
    let steps = Tensor::stack(&outs, 1); // (2, 20, 3)
    let whole = m.forward(&batch).unwrap().predictions;
    assert!(max_diff(&steps.get(0), &whole.get(0)) <= 1e-4, "environment 0 keeps its history");

    let tail = |x: &Tensor| x.narrow(0, 1, 1).narrow(1, split, 20 - split).copy();
    let fresh = Batch {
        group: 0,
        obs: tail(&batch.obs),
        prev_actions: tail(&batch.prev_actions),
        prev_rewards: tail(&batch.prev_rewards),
        episode_start: {
            let s = tail(&batch.episode_start);
            let _ = s.narrow(1, 0, 1).fill_(1);
            s
        },
        target_actions: None,
        loss_mask: None,
    };
    let restarted = m.forward(&fresh).unwrap().predictions.get(0);
    let d = max_diff(&steps.get(1).narrow(0, split, 20 - split), &restarted);
    assert!(d <= 1e-4, "environment 1 after its reset differs from a fresh history by {d}");
}

#[test]
fn analytic_parameter_counts_equal_the_built_model() {
    let _turn = common::torch_turn();
    let remoe = Config { ffn: FfnKind::Remoe, ..Config::tiny() };
    let swiglu =
        Config { ffn: FfnKind::Swiglu, pattern: "SSL".into(), layers: 3, ..Config::tiny() };
    let gaussian = Config { action_head: ActionHead::Gaussian, ..Config::tiny() };
    for cfg in [Config::tiny(), remoe, swiglu, gaussian, Config::small()] {
        let m = model(&cfg, 11);
        let vars = m.var_store().variables();
        let rows = param_table(&cfg);
        for row in &rows {
            let prefix = format!("{}.", row.module);
            let alt = format!("{}_", row.module); // blocks.N.norm covers norm_mixer and norm_ffn
            let built: i64 = vars
                .iter()
                .filter(|(n, _)| n.starts_with(&prefix) || n.starts_with(&alt))
                .map(|(_, t)| t.numel() as i64)
                .sum();
            assert_eq!(built, row.total, "module {} ({})", row.module, row.what);
        }
        let (total, active) = totals(&cfg, &rows);
        assert_eq!(total, m.num_parameters(), "every parameter is in some row");
        assert!(active <= total);
    }
}

#[test]
fn presets_have_the_promised_sizes() {
    let _turn = common::torch_turn();
    let (small, _) = totals(&Config::small(), &param_table(&Config::small()));
    assert!((1_000_000..10_000_000).contains(&small), "small: {small}");
    for name in ["vintix-300m", "vintix-300m-remoe"] {
        let cfg = Config::preset(name).unwrap();
        cfg.validate().unwrap();
        let (total, active) = totals(&cfg, &param_table(&cfg));
        assert!((280_000_000..=340_000_000).contains(&total), "{name}: {total}");
        assert_eq!((cfg.layers, cfg.hidden, cfg.heads, cfg.context), (20, 1024, 16, 8192));
        if cfg.ffn == FfnKind::Remoe {
            assert!(
                active < total * 3 / 4,
                "{name}: ReMoE activates a fraction: {active} of {total}"
            );
        }
    }
    assert!(matches!(Config::preset("huge"), Err(ModelError::UnknownPreset { .. })));
}

#[test]
fn checkpoints_round_trip_weights_and_remoe_state() {
    let _turn = common::torch_turn();
    tch::manual_seed(12);
    let cfg = Config { ffn: FfnKind::Remoe, ..Config::tiny() };
    let mut a = model(&cfg, 13);
    let batch = random_batch(&cfg, 1, 2, 9);
    let out = a.forward(&batch).unwrap();
    let mut tally = RouterTally::default();
    tally.add(&out.aux);
    a.update_remoe(&tally);
    a.update_remoe(&tally);
    // One lambda for every layer (ReMoE's global controller), each layer's own sparsity kept.
    let state = a.remoe_state();
    assert_eq!(state[0].1.lambda, state[1].1.lambda);
    let per_layer: Vec<f64> = out.aux.router.iter().map(|(_, c)| c.sparsity().unwrap()).collect();
    assert_eq!(state[0].1.sparsity, Some(per_layer[0]));
    assert_eq!(state[1].1.sparsity, Some(per_layer[1]));
    // Counts over two micro-batches add up before the sparsity is taken.
    let mut two = tally.clone();
    two.add(&a.forward(&random_batch(&cfg, 1, 3, 9)).unwrap().aux);
    assert!(two.total().entries() > tally.total().entries());
    let path =
        std::env::temp_dir().join(format!("icrl-model-test-{}.safetensors", std::process::id()));
    a.save(&path).unwrap();
    let mut b = model(&cfg, 14);
    assert!(
        max_diff(&a.forward(&batch).unwrap().predictions, &b.forward(&batch).unwrap().predictions)
            > 1e-3
    );
    b.load(&path).unwrap();
    let d =
        max_diff(&a.forward(&batch).unwrap().predictions, &b.forward(&batch).unwrap().predictions);
    assert_eq!(d, 0.0, "same weights, same outputs");
    assert_eq!(a.remoe_state(), b.remoe_state());
    assert_eq!(b.remoe_state().len(), 2);
    assert!(b.remoe_state()[0].1.sparsity.is_some());

    let other = Config { hidden: 48, ..Config::tiny() };
    let err = model(&other, 15).load(&path).unwrap_err();
    assert!(matches!(err, ModelError::Checkpoint { .. }), "{err}");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn malformed_batches_are_errors_naming_the_field() {
    let _turn = common::torch_turn();
    let cfg = Config::tiny();
    let m = model(&cfg, 16);
    let mut batch = random_batch(&cfg, 0, 2, 5);
    batch.obs = Tensor::zeros([2, 5, 7], (Kind::Float, Device::Cpu));
    let err = m.forward(&batch).unwrap_err().to_string();
    assert!(err.contains("`obs`"), "{err}");
    let mut batch = random_batch(&cfg, 1, 2, 5);
    batch.target_actions = Some(Tensor::full([2, 5], 9, (Kind::Int64, Device::Cpu)));
    let err = m.forward(&batch).unwrap_err().to_string();
    assert!(err.contains("`target_actions`") && err.contains("0..5"), "{err}");
    batch.group = 7;
    assert!(matches!(m.forward(&batch), Err(ModelError::Group { group: 7, count: 2 })));
    let bad = Config { heads: 3, ..Config::tiny() };
    assert!(Model::new(&bad, Device::Cpu, &mut StdRng::seed_from_u64(0)).is_err());
}

#[test]
fn a_gaussian_head_is_trained_by_the_negative_log_likelihood_and_acts_its_mean() {
    let _turn = common::torch_turn();
    tch::manual_seed(23);
    let cfg = Config { action_head: ActionHead::Gaussian, ..Config::tiny() };
    let ActionSpec::Continuous { dim } = cfg.groups[0].action else { panic!("group 0") };
    let m = model(&cfg, 24);
    let batch = random_batch(&cfg, 0, 2, 9);
    let out = m.forward(&batch).unwrap();
    assert_eq!(out.predictions.size(), [2, 9, 2 * dim], "a mean and a log std per dimension");
    // The loss, recomputed value by value in f64: the mean over steps and dimensions of
    // -log N(target; mean, exp(clamped log std)).
    let p: Vec<f64> = Vec::try_from(out.predictions.to_kind(Kind::Double).flatten(0, -1)).unwrap();
    let target = batch.target_actions.as_ref().unwrap();
    let a: Vec<f64> = Vec::try_from(target.to_kind(Kind::Double).flatten(0, -1)).unwrap();
    let d = dim as usize;
    let mut nll = 0.0;
    for (row, a) in p.chunks(2 * d).zip(a.chunks(d)) {
        for k in 0..d {
            let log_std = row[d + k].clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1);
            let z = (a[k] - row[k]) / log_std.exp();
            nll += 0.5 * z * z + log_std + 0.5 * (2.0 * std::f64::consts::PI).ln();
        }
    }
    nll /= (2 * 9 * d) as f64;
    let loss = out.task_loss.unwrap().double_value(&[]);
    assert!((loss - nll).abs() < 1e-4 * nll.abs().max(1.0), "loss {loss}, by hand {nll}");
    // Inference acts the mean and reports the standard deviation.
    let step = step_at(&m, &mut m.new_state(0, 2).unwrap(), &batch, 0);
    let first = out.predictions.select(1, 0);
    assert!(max_diff(&step.action, &first.narrow(-1, 0, dim)) < 1e-5);
    let std = first.narrow(-1, dim, dim).clamp(LOG_STD_RANGE.0, LOG_STD_RANGE.1).exp();
    assert!(max_diff(step.std.as_ref().unwrap(), &std) < 1e-5);
    let deterministic = model(&Config::tiny(), 24);
    let plain = step_at(&deterministic, &mut deterministic.new_state(0, 2).unwrap(), &batch, 0);
    assert!(plain.std.is_none());
}

/// Targets that are pure noise, `U(-1, 1)` whatever the context (a history at epsilon 1):
/// trained on them, a deterministic head predicts their mean (about 0, so an agent that
/// stands still), a Gaussian head also their spread (standard deviation 1/sqrt(3) = 0.577).
#[test]
fn a_gaussian_head_learns_the_spread_of_noisy_targets_that_a_deterministic_one_averages_away() {
    let _turn = common::torch_turn();
    tch::manual_seed(29);
    let fit = |action_head: ActionHead| {
        let cfg = Config { action_head, ..Config::tiny() };
        let m = model(&cfg, 30);
        let mut opt = Adam::default().build(m.var_store(), 3e-3).unwrap();
        let mut batch = random_batch(&cfg, 0, 8, 16);
        for _ in 0..300 {
            let target = Tensor::rand([8, 16, 3], (Kind::Float, Device::Cpu)) * 2.0 - 1.0;
            batch.target_actions = Some(target);
            opt.backward_step(&m.forward(&batch).unwrap().loss.unwrap());
        }
        batch.target_actions = None;
        m.forward(&batch).unwrap().predictions
    };
    let mean_of = |t: &Tensor| t.mean(Kind::Float).double_value(&[]);
    let plain = fit(ActionHead::Deterministic);
    assert!(plain.abs().max().double_value(&[]) < 0.25, "deterministic: near 0 everywhere");
    let gaussian = fit(ActionHead::Gaussian);
    let (mean, log_std) = (gaussian.narrow(-1, 0, 3), gaussian.narrow(-1, 3, 3));
    assert!(mean.abs().max().double_value(&[]) < 0.25, "Gaussian mean near 0 everywhere");
    let std = mean_of(&log_std.exp());
    assert!((std - 1.0 / 3f64.sqrt()).abs() < 0.06, "Gaussian std {std}, expected 0.577");
}

#[test]
fn a_few_adam_steps_fit_a_fixed_batch() {
    let _turn = common::torch_turn();
    tch::manual_seed(17);
    let cfg = Config { ffn: FfnKind::Remoe, ..Config::tiny() };
    let mut m = model(&cfg, 18);
    let mut opt = Adam::default().build(m.var_store(), 3e-3).unwrap();
    for group in [0, 1] {
        let batch = random_batch(&cfg, group, 4, 16);
        let first = m.forward(&batch).unwrap().task_loss.unwrap().double_value(&[]);
        for _ in 0..40 {
            let out = m.forward(&batch).unwrap();
            opt.backward_step(&out.loss.unwrap());
            let mut tally = RouterTally::default();
            tally.add(&out.aux);
            m.update_remoe(&tally);
        }
        let last = m.forward(&batch).unwrap().task_loss.unwrap().double_value(&[]);
        assert!(last < 0.7 * first, "group {group}: loss {first} -> {last}");
    }
}

#[test]
fn cuda_autocast_computes_in_bf16_not_torchs_default_f16() {
    let _turn = common::torch_turn();
    // torch's CUDA autocast defaults to float16 (which overflowed at long context); the
    // trainer's autocast sets bf16. The dtype is a thread-local setting, readable on a CPU.
    std::thread::spawn(|| {
        assert_eq!(agent::model::autocast::cuda_autocast_kind(), Some(Kind::Half));
        let inside = agent::model::autocast::autocast_bf16(true, || {
            agent::model::autocast::cuda_autocast_kind()
        });
        assert_eq!(inside, Some(Kind::BFloat16));
    })
    .join()
    .unwrap();
}
