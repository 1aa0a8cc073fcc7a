//! The three forms of Lightning Attention-2 compute the same function (fp32, random inputs,
//! lengths that are not a multiple of the block).

mod common;

use agent::model::lightning::{decay_rates, lightning_block, lightning_naive, lightning_step};
use tch::{Device, Kind, Tensor};

const TOL: f64 = 1e-4;

fn max_diff(a: &Tensor, b: &Tensor) -> f64 {
    (a - b).abs().max().double_value(&[])
}

/// Random q, k, v shaped like the model's (after SiLU), and rates from a mid-depth layer.
fn inputs(b: i64, h: i64, t: i64, d: i64, layer: i64) -> (Tensor, Tensor, Tensor, Tensor) {
    let opts = (Kind::Float, Device::Cpu);
    let q = Tensor::randn([b, h, t, d], opts).silu() * 0.5;
    let k = Tensor::randn([b, h, t, d], opts).silu() * 0.5;
    let v = Tensor::randn([b, h, t, d], opts);
    let rates = Tensor::from_slice(&decay_rates(h, layer, 4)).to_kind(Kind::Float);
    (q, k, v, rates)
}

fn recurrent(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    rates: &Tensor,
    init: Option<&Tensor>,
) -> (Tensor, Tensor) {
    let (b, h, t, d) = q.size4().unwrap();
    let mut state =
        init.map_or_else(|| Tensor::zeros([b, h, d, d], (Kind::Float, Device::Cpu)), |s| s.copy());
    let mut outs = Vec::new();
    for i in 0..t {
        let (o, s) = lightning_step(
            &q.narrow(2, i, 1),
            &k.narrow(2, i, 1),
            &v.narrow(2, i, 1),
            rates,
            &state,
        );
        outs.push(o);
        state = s;
    }
    (Tensor::cat(&outs, 2), state)
}

#[test]
fn naive_block_and_recurrent_forms_agree() {
    let _turn = common::torch_turn();
    tch::manual_seed(1);
    for (t, block, layer) in [(37, 8, 0), (37, 16, 2), (50, 64, 1), (5, 4, 3)] {
        let (q, k, v, rates) = inputs(2, 4, t, 8, layer);
        let naive = lightning_naive(&q, &k, &v, &rates);
        let (blocked, state) = lightning_block(&q, &k, &v, &rates, block, None, true);
        let (stepped, final_state) = recurrent(&q, &k, &v, &rates, None);
        assert_eq!(naive.size(), [2, 4, t, 8]);
        assert!(naive.abs().max().double_value(&[]) > 0.1, "outputs are not trivially small");
        let (d_block, d_step) = (max_diff(&naive, &blocked), max_diff(&naive, &stepped));
        assert!(d_block <= TOL, "T {t} block {block}: block form differs by {d_block}");
        assert!(d_step <= TOL, "T {t}: recurrent form differs by {d_step}");
        let d_state = max_diff(&state.unwrap(), &final_state);
        assert!(d_state <= TOL, "T {t} block {block}: final states differ by {d_state}");
    }
}

#[test]
fn block_form_continues_from_a_carried_state() {
    let _turn = common::torch_turn();
    tch::manual_seed(2);
    let (q, k, v, rates) = inputs(1, 2, 45, 4, 1);
    let whole = lightning_naive(&q, &k, &v, &rates);
    let split = 19;
    let (first, state) = lightning_block(
        &q.narrow(2, 0, split),
        &k.narrow(2, 0, split),
        &v.narrow(2, 0, split),
        &rates,
        8,
        None,
        true,
    );
    let rest = 45 - split;
    let (second, _) = lightning_block(
        &q.narrow(2, split, rest),
        &k.narrow(2, split, rest),
        &v.narrow(2, split, rest),
        &rates,
        8,
        state.as_ref(),
        true,
    );
    let d = max_diff(&whole, &Tensor::cat(&[first, second], 2));
    assert!(d <= TOL, "prefill + continuation differs from the whole by {d}");
}

#[test]
fn decay_rates_follow_alibi_slopes_scaled_by_layer() {
    let _turn = common::torch_turn();
    let first = decay_rates(4, 0, 5);
    let last = decay_rates(4, 4, 5);
    let expected = [2f64.powf(-2.0), 2f64.powf(-4.0), 2f64.powf(-6.0), 2f64.powf(-8.0)];
    for h in 0..4 {
        assert!((first[h] - expected[h] * (1.0 + 1e-5)).abs() < 1e-12);
        assert!((last[h] - expected[h] * 1e-5).abs() < 1e-15);
    }
}
