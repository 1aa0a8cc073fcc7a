//! The softmax layer's chunked sliding-window ALiBi attention against a plain masked softmax,
//! and its KV-cache step form against the training form.

mod common;

use agent::model::softmax::{alibi_slopes, softmax_attention};
use agent::model::{Config, Model};
use rand::SeedableRng;
use rand::rngs::StdRng;
use tch::{Device, Kind, Tensor};

/// The reference: explicit `softmax(q k^T / sqrt(d) + bias) v` with the window mask.
///
/// ```python
/// s = q @ k.transpose(-2, -1) / d**0.5 - slope[:, None, None] * (i - j)
/// s = s.masked_fill(~((i - j >= 0) & (i - j < window)), -inf)
/// o = s.softmax(-1) @ v
/// ```
fn reference(q: &Tensor, k: &Tensor, v: &Tensor, slopes: &[f64], window: i64) -> Tensor {
    let (_, h, t, d) = q.size4().unwrap();
    let pos = Tensor::arange(t, (Kind::Float, Device::Cpu));
    let dist = pos.unsqueeze(1) - pos.unsqueeze(0); // (T, T): i - j
    let keep = dist.ge(0.0).logical_and(&dist.lt(window as f64));
    let slope = Tensor::from_slice(slopes).to_kind(Kind::Float).view([1, h, 1, 1]);
    let scores =
        q.matmul(&k.transpose(-2, -1)) / (d as f64).sqrt() - slope * dist.view([1, 1, t, t]);
    let scores = scores.masked_fill(&keep.logical_not().view([1, 1, t, t]), f64::NEG_INFINITY);
    scores.softmax(-1, Kind::Float).matmul(v)
}

#[test]
fn chunked_attention_matches_a_plain_masked_softmax() {
    let _turn = common::torch_turn();
    tch::manual_seed(3);
    let opts = (Kind::Float, Device::Cpu);
    for (t, window, chunk) in [
        (29, 7, 8),
        (29, 100, 8),
        (16, 16, 16),
        (33, 1, 5),
        (40, 12, 64),
        (203, 37, 24),
        (90, 50, 7),
    ] {
        let (q, k, v) = (
            Tensor::randn([2, 4, t, 8], opts),
            Tensor::randn([2, 4, t, 8], opts),
            Tensor::randn([2, 4, t, 8], opts),
        );
        let slopes = alibi_slopes(4);
        let s = Tensor::from_slice(&slopes).to_kind(Kind::Float);
        let got = softmax_attention(&q, &k, &v, &s, window, chunk);
        let want = reference(&q, &k, &v, &slopes, window);
        let d = (&got - &want).abs().max().double_value(&[]);
        assert!(d <= 1e-5, "T {t} window {window} chunk {chunk}: differs by {d}");
    }
}

#[test]
fn kv_cache_steps_match_the_training_form_past_the_window() {
    let _turn = common::torch_turn();
    let cfg = Config {
        pattern: "S".into(),
        layers: 1,
        softmax_window: 6,
        softmax_chunk: 4,
        ..Config::tiny()
    };
    let model = Model::new(&cfg, Device::Cpu, &mut StdRng::seed_from_u64(4)).unwrap();
    let agent::model::block::Mixer::Softmax(attn) = &model_blocks_mixer(&model) else {
        panic!("softmax layer expected")
    };
    let x = Tensor::randn([3, 15, cfg.hidden], (Kind::Float, Device::Cpu));
    let whole = attn.forward(&x);
    let mut cache = attn.empty_cache(3, Kind::Float);
    let steps: Vec<Tensor> = (0..15).map(|t| attn.step(&x.narrow(1, t, 1), &mut cache)).collect();
    let d = (whole - Tensor::cat(&steps, 1)).abs().max().double_value(&[]);
    assert!(d <= 1e-5, "step form differs by {d}");
    assert_eq!(cache.len(), 6, "the cache keeps exactly the window");
}

fn model_blocks_mixer(model: &Model) -> &agent::model::block::Mixer {
    &model.blocks()[0].mixer
}
