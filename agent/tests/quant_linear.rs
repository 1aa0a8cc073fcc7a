//! `QuantizedLinear`: the same output as a dense `nn::Linear` holding the dequantized weight,
//! in both modes.

mod common;

use agent::quant::{DequantMode, Nbits, QuantConfig, QuantizedLinear, quantize};
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

fn trained_like_linear(vs: &nn::VarStore, seed: i64) -> nn::Linear {
    tch::manual_seed(seed);
    nn::linear(vs.root() / "proj", 128, 64, Default::default())
}

#[test]
fn output_equals_a_linear_with_the_dequantized_weight_in_both_modes() {
    let _turn = common::torch_turn();
    let vs = nn::VarStore::new(Device::Cpu);
    let dense = trained_like_linear(&vs, 1);
    let cfg = QuantConfig { nbits: Nbits::B3, ..QuantConfig::default() };
    let per_call = QuantizedLinear::from_linear(&dense, &cfg, DequantMode::PerCall).unwrap();
    let cached = QuantizedLinear::from_linear(&dense, &cfg, DequantMode::Cached).unwrap();
    assert_eq!(per_call.mode(), DequantMode::PerCall);
    assert_eq!(cached.mode(), DequantMode::Cached);

    let reference = nn::Linear {
        ws: per_call.weight().dequantize().unwrap(),
        bs: dense.bs.as_ref().map(|b| b.detach()),
    };
    let xs = Tensor::randn([5, 7, 128], (Kind::Float, Device::Cpu));
    let want = reference.forward(&xs);
    let got_per_call = per_call.forward(&xs);
    let got_cached = cached.forward(&xs);
    assert_eq!(got_per_call.size(), [5, 7, 64]);
    assert!(got_per_call.allclose(&want, 1e-6, 1e-6, false));
    assert!(got_cached.equal(&got_per_call), "both modes compute the same thing");
    // And it is a 3-bit approximation of the original layer, not the layer itself.
    let original = dense.forward(&xs);
    let rel =
        (&got_per_call - &original).norm().double_value(&[]) / original.norm().double_value(&[]);
    assert!(rel > 1e-4 && rel < 0.5, "3-bit relative output error {rel}");
}

#[test]
fn switching_modes_keeps_the_output() {
    let _turn = common::torch_turn();
    let vs = nn::VarStore::new(Device::Cpu);
    let dense = trained_like_linear(&vs, 2);
    let mut layer =
        QuantizedLinear::from_linear(&dense, &QuantConfig::default(), DequantMode::PerCall)
            .unwrap();
    let xs = Tensor::randn([3, 128], (Kind::Float, Device::Cpu));
    let before = layer.forward(&xs);
    layer.set_mode(DequantMode::Cached).unwrap();
    assert_eq!(layer.mode(), DequantMode::Cached);
    assert!(layer.forward(&xs).equal(&before));
    layer.set_mode(DequantMode::PerCall).unwrap();
    assert_eq!(layer.mode(), DequantMode::PerCall);
    assert!(layer.forward(&xs).equal(&before));
}

#[test]
fn mismatched_bias_and_non_matrix_weights_are_refused() {
    let _turn = common::torch_turn();
    let w = Tensor::randn([64, 128], (Kind::Float, Device::Cpu));
    let q = quantize(&w, &QuantConfig::default()).unwrap();
    let bias = Tensor::zeros([63], (Kind::Float, Device::Cpu));
    let err = QuantizedLinear::new(q, Some(bias), DequantMode::PerCall, Kind::Float).unwrap_err();
    assert!(err.to_string().contains("63"), "{err}");
    let cube =
        quantize(&Tensor::randn([4, 8, 64], (Kind::Float, Device::Cpu)), &QuantConfig::default())
            .unwrap();
    let err = QuantizedLinear::new(cube, None, DequantMode::Cached, Kind::Float).unwrap_err();
    assert!(err.to_string().contains("[out, in]"), "{err}");
}
