//! The native PPO engine (`backend: native`) against the torch path: the same loss and
//! gradient on a minibatch whose ratios and values fall on both sides of the clip, the same
//! clipped Adam step, and whole runs that learn.

mod ppo_toy;

use datagen::ppo::loss::{TensorMinibatch, ppo_loss};
use datagen::ppo::native::{LossConfig, Minibatch, NativeActorCritic};
use datagen::ppo::policy::{ActorCritic, SdeNoise, to_vec};
use datagen::ppo::{Backend, PpoConfig, train};
use envs::{Space, Task};
use ppo_toy::spec;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use tch::{Tensor, nn, nn::OptimizerConfig};

const ROWS: usize = 96;
const OBS: usize = 5;

fn net(space: &Space, sde: bool, rng: &mut ChaCha8Rng) -> ActorCritic {
    tch::set_num_threads(1);
    let net = ActorCritic::new(OBS, space, 64, -0.3, sde, rng).unwrap();
    // Non-zero biases, so that their gradients are exercised.
    tch::no_grad(|| {
        for (_, mut v) in net.vs.variables() {
            let noise: Vec<f32> =
                (0..v.numel()).map(|_| 0.05 * rng.sample::<f32, _>(StandardNormal)).collect();
            let _ = v.g_add_(&Tensor::from_slice(&noise).view_as(&v));
        }
    });
    net
}

/// The torch variables in the native layout (actor, critic; weight, bias per layer; log-std).
fn torch_order(net: &ActorCritic) -> Vec<Tensor> {
    let vars = net.vs.variables();
    let mut names = Vec::new();
    for mlp in ["actor", "critic"] {
        for layer in 0..3 {
            for kind in ["weight", "bias"] {
                names.push(format!("{mlp}.{layer}.{kind}"));
            }
        }
    }
    if vars.contains_key("log_std") {
        names.push("log_std".into());
    }
    names.iter().map(|n| vars[n].shallow_clone()).collect()
}

fn flat(tensors: &[Tensor]) -> Vec<f32> {
    tensors.iter().flat_map(to_vec).collect()
}

struct Data {
    obs: Vec<f32>,
    actions: Vec<f32>,
    old_log_probs: Vec<f32>,
    advantages: Vec<f32>,
    returns: Vec<f32>,
    old_values: Vec<f32>,
}

/// A minibatch whose old log-probabilities and values are the current ones moved by up to
/// +-0.5, so that ratios and values land inside and outside the 0.2 clip.
fn data(net: &ActorCritic, space: &Space, rng: &mut ChaCha8Rng) -> Data {
    let normal = |rng: &mut ChaCha8Rng, n: usize| -> Vec<f32> {
        (0..n).map(|_| rng.sample::<f32, _>(StandardNormal)).collect()
    };
    let obs = normal(rng, ROWS * OBS);
    let width = match space {
        Space::Box { low, .. } => low.len(),
        _ => 1,
    };
    let actions: Vec<f32> = match space {
        Space::Discrete { n } => (0..ROWS).map(|_| rng.random_range(0..*n) as f32).collect(),
        _ => normal(rng, ROWS * width),
    };
    let t_obs = Tensor::from_slice(&obs).view([ROWS as i64, OBS as i64]);
    let t_act = Tensor::from_slice(&actions).view([ROWS as i64, width as i64]);
    let (lp, _, v) = tch::no_grad(|| net.evaluate(&t_obs, &t_act));
    let shift = |rng: &mut ChaCha8Rng, xs: Vec<f32>| -> Vec<f32> {
        xs.into_iter().map(|x| x + rng.random_range(-0.5..0.5)).collect()
    };
    Data {
        old_log_probs: shift(rng, to_vec(&lp)),
        old_values: shift(rng, to_vec(&v)),
        advantages: normal(rng, ROWS),
        returns: normal(rng, ROWS),
        obs,
        actions,
    }
}

fn tensors(d: &Data, width: usize) -> TensorMinibatch {
    TensorMinibatch {
        obs: Tensor::from_slice(&d.obs).view([ROWS as i64, OBS as i64]),
        actions: Tensor::from_slice(&d.actions).view([ROWS as i64, width as i64]),
        old_log_probs: Tensor::from_slice(&d.old_log_probs),
        advantages: Tensor::from_slice(&d.advantages),
        returns: Tensor::from_slice(&d.returns),
        old_values: Tensor::from_slice(&d.old_values),
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn native_loss_gradient_and_step_equal_the_torch_paths() {
    let boxed = Space::Box { low: vec![-1.0, -2.0], high: vec![1.0, 2.0] };
    let heads = [(Space::Discrete { n: 3 }, false), (boxed.clone(), false), (boxed, true)];
    for (k, (space, sde)) in heads.iter().enumerate() {
        for clip_vloss in [true, false] {
            let mut rng = ChaCha8Rng::seed_from_u64(k as u64);
            let net = net(space, *sde, &mut rng);
            let d = data(&net, space, &mut rng);
            let width = match space {
                Space::Box { low, .. } => low.len(),
                _ => 1,
            };
            let cfg = PpoConfig { clip_vloss, ent_coef: 0.05, ..PpoConfig::discrete() };
            let mut native = NativeActorCritic::from_net(&net, 1e-5).unwrap();
            assert_eq!(native.params(), flat(&torch_order(&net)).as_slice());

            // Loss and gradient.
            let mut opt =
                nn::Adam { eps: 1e-5, ..Default::default() }.build(&net.vs, 1e-3).unwrap();
            let (total, want) = ppo_loss(&net, &tensors(&d, width), &cfg);
            opt.zero_grad();
            total.backward();
            let torch_grads: Vec<Tensor> = torch_order(&net).iter().map(|v| v.grad()).collect();
            let mb = Minibatch {
                obs: &d.obs,
                actions: &d.actions,
                old_log_probs: &d.old_log_probs,
                advantages: &d.advantages,
                returns: &d.returns,
                old_values: &d.old_values,
            };
            let got = native.gradients(&mb, &LossConfig::of(&cfg));
            let what = format!("{space:?}, gSDE {sde}, clip_vloss {clip_vloss}");
            assert!(
                want.clipfrac > 0.1 && want.clipfrac < 0.9,
                "{what}: clipfrac {}",
                want.clipfrac
            );
            for (name, a, b) in [
                ("policy loss", got.policy_loss, want.policy_loss),
                ("value loss", got.value_loss, want.value_loss),
                ("entropy", got.entropy, want.entropy),
                ("approx_kl", got.approx_kl, want.approx_kl),
                ("old_approx_kl", got.old_approx_kl, want.old_approx_kl),
                ("clipfrac", got.clipfrac, want.clipfrac),
            ] {
                assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}: {name} {a} vs {b}");
            }
            let want_grads = flat(&torch_grads);
            let scale = want_grads.iter().fold(0f32, |m, g| m.max(g.abs()));
            let diff = max_abs_diff(native.grads(), &want_grads);
            assert!(diff <= 1e-5 * scale.max(1.0), "{what}: gradient off by {diff} (max {scale})");

            // The clipped Adam step from the same gradient: torch's gradients are set to the
            // native ones, so only clipping and Adam are compared.
            let mut offset = 0;
            for var in torch_order(&net) {
                let n = var.numel();
                let mut grad = var.grad();
                let values = Tensor::from_slice(&native.grads()[offset..offset + n]);
                tch::no_grad(|| grad.copy_(&values.view_as(&grad)));
                offset += n;
            }
            for _ in 0..3 {
                opt.clip_grad_norm(cfg.max_grad_norm);
                opt.step();
                native.apply_gradients(1e-3, cfg.max_grad_norm);
            }
            let diff = max_abs_diff(native.params(), &flat(&torch_order(&net)));
            assert!(diff <= 1e-6, "{what}: parameters off by {diff} after three steps");
        }
    }
}

fn tiny(discrete: bool, total_steps: usize) -> PpoConfig {
    ppo_toy::tiny(discrete, total_steps, Backend::Native)
}

#[test]
fn native_runs_learn_the_toy_tasks_and_repeat_bit_for_bit() {
    let task = Task::new();
    let chain = PpoConfig { learning_rate: 2.5e-3, ..tiny(true, 6_144) };
    let out = train(&spec(&chain, &task, 1, "Chain-v0"), &ppo_toy::make_chain).unwrap();
    // Walking straight right: 5 steps, return 1 - 5 * 0.01.
    assert!((out.policy.meta.eval_mean_return - 0.95).abs() < 1e-6);

    let target = PpoConfig { learning_rate: 3e-3, update_epochs: 4, ..tiny(false, 8_192) };
    let run = |seed| train(&spec(&target, &task, seed, "Target-v0"), &ppo_toy::make_target);
    let (a, b) = (run(2).unwrap(), run(2).unwrap());
    // A uniform random action scores about -6.7 per episode, the zero action about -3.3.
    assert!(a.policy.meta.eval_mean_return > -1.5, "{}", a.policy.meta.eval_mean_return);
    let bits = |u: &[datagen::ppo::UpdateStats]| {
        u.iter().map(|s| [s.value_loss.to_bits(), s.policy_loss.to_bits()]).collect::<Vec<_>>()
    };
    assert_eq!(bits(&a.updates), bits(&b.updates));
    // The saved policy is the native engine's weights (copied back into torch).
    assert_eq!(a.policy.meta.eval_mean_return, b.policy.meta.eval_mean_return);
}

#[test]
fn both_engines_sample_the_same_actions_from_the_same_stream() {
    let boxed = Space::Box { low: vec![-1.0, -2.0], high: vec![1.0, 2.0] };
    let heads = [(Space::Discrete { n: 3 }, false), (boxed.clone(), false), (boxed, true)];
    for (k, (space, sde)) in heads.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(10 + k as u64);
        let net = net(space, *sde, &mut rng);
        let mut native = NativeActorCritic::from_net(&net, 1e-5).unwrap();
        let obs: Vec<f32> = (0..4 * OBS).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
        // gSDE's matrices drawn from the torch head and from the native log-std.
        let (mut torch_rng, mut native_rng) = (rng.clone(), rng.clone());
        let (mut torch_noise, mut native_noise) = (SdeNoise::default(), SdeNoise::default());
        torch_noise.draw(&net, 4, &mut torch_rng);
        if *sde {
            native_noise.draw_from(native.log_std(), 4, &mut native_rng);
        }
        let t_obs = Tensor::from_slice(&obs).view([4, OBS as i64]);
        let a = net.sample(&t_obs, &mut torch_rng, Some(&torch_noise));
        let b = native.sample(&obs, &mut native_rng, Some(&native_noise));
        let what = format!("{space:?}, gSDE {sde}");
        let diff = max_abs_diff(&a.actions, &b.actions);
        assert!(diff <= 1e-5, "{what}: actions {:?} vs {:?}", a.actions, b.actions);
        assert!(max_abs_diff(&a.log_probs, &b.log_probs) <= 1e-4, "{what}: log-probabilities");
        assert!(max_abs_diff(&a.values, &b.values) <= 1e-5, "{what}: values");
        // The streams were used alike and are left in the same state.
        assert_eq!(torch_rng.random::<u64>(), native_rng.random::<u64>(), "{what}");
    }
}
