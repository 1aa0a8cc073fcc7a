//! The HQQ quantizer: its error against round-to-nearest, the solver's bookkeeping, the
//! grouping layout, metadata compression and input checks.

mod common;

use agent::quant::hqq::{
    grouped_shape, initial_scale_zero, optimize_zero, optimize_zero_fused, optimize_zero_tensors,
    quantize_with_report,
};
use agent::quant::{
    GroupAxis, MetaDtype, Method, Nbits, QuantConfig, SolverConfig, quantize, reconstruction_error,
};
use tch::{Device, Kind, Tensor};

/// Student-t (3 degrees of freedom) entries: heavy tails like trained weights' outliers.
fn student_t(rows: i64, cols: i64, seed: i64) -> Tensor {
    tch::manual_seed(seed);
    let opts = (Kind::Float, Device::Cpu);
    let z = Tensor::randn([rows, cols], opts);
    let chi2 = Tensor::randn([3, rows, cols], opts).square().sum_dim_intlist(0, false, Kind::Float);
    z / (chi2 / 3.0).sqrt() * 0.02
}

fn config(nbits: Nbits, axis: GroupAxis, method: Method) -> QuantConfig {
    QuantConfig { nbits, axis, method, meta_dtype: MetaDtype::F32, ..QuantConfig::default() }
}

fn errors(w: &Tensor, cfg: &QuantConfig) -> (f64, f64) {
    let q = quantize(w, cfg).unwrap();
    let e = reconstruction_error(w, &q.dequantize().unwrap()).unwrap();
    (e.rel_frobenius, e.mean_abs)
}

#[test]
fn hqq_beats_rtn_at_4_3_2_bits_on_a_heavy_tailed_matrix() {
    let _turn = common::torch_turn();
    let w = student_t(256, 512, 1);
    for axis in [GroupAxis::Zero, GroupAxis::One] {
        for nbits in [Nbits::B4, Nbits::B3, Nbits::B2] {
            let (hqq_fro, hqq_mae) = errors(&w, &config(nbits, axis, Method::Hqq));
            let (rtn_fro, rtn_mae) = errors(&w, &config(nbits, axis, Method::Rtn));
            assert!(hqq_mae < rtn_mae, "{nbits} bits {axis:?}: MAE hqq {hqq_mae} vs rtn {rtn_mae}");
            assert!(
                hqq_fro < rtn_fro,
                "{nbits} bits {axis:?}: Frobenius hqq {hqq_fro} vs rtn {rtn_fro}"
            );
        }
    }
}

#[test]
fn rtn_codes_match_a_plain_loop() {
    let _turn = common::torch_turn();
    let w = student_t(8, 64, 2);
    let cfg = QuantConfig { group_size: 16, ..config(Nbits::B3, GroupAxis::One, Method::Rtn) };
    let q = quantize(&w, &cfg).unwrap();
    let codes: Vec<u8> = Vec::<u8>::try_from(&q.codes().unwrap()).unwrap();
    let values: Vec<f32> = Vec::<f32>::try_from(&w.reshape([-1])).unwrap();
    for (g, group) in values.chunks(16).enumerate() {
        let min = group.iter().copied().fold(f32::INFINITY, f32::min);
        let max = group.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let s = ((1.0 / (max - min)) * 7.0).min(2e4);
        let z = -min * s;
        for (i, &v) in group.iter().enumerate() {
            let expected = (v * s + z).round_ties_even().clamp(0.0, 7.0) as u8;
            assert_eq!(codes[g * 16 + i], expected, "group {g} value {i}");
        }
    }
}

#[test]
fn solver_keeps_the_best_zero_and_never_ends_worse_than_rtn() {
    let _turn = common::torch_turn();
    let w = student_t(128, 256, 3);
    for nbits in [Nbits::B4, Nbits::B3, Nbits::B2, Nbits::B1] {
        let cfg = config(nbits, GroupAxis::Zero, Method::Hqq);
        let (q, report) = quantize_with_report(&w, &cfg).unwrap();
        let lowest = report.errors.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(report.best_error(), Some(lowest), "{nbits} bits: best indexes the lowest");
        // Group by group the best zero is kept: no worse than the best single iteration.
        let kept = report.kept_error;
        assert!(kept <= lowest * (1.0 + 1e-6), "{nbits} bits: kept {kept} vs lowest {lowest}");
        assert!(kept < report.errors[0], "{nbits} bits: better than the RTN start");
        // The stored weight reconstructs at exactly the kept error (f32 metadata).
        let mae = reconstruction_error(&w, &q.dequantize().unwrap()).unwrap().mean_abs;
        assert!((mae - kept).abs() <= 1e-5 * kept, "{nbits} bits: stored {mae} vs kept {kept}");
        // The RTN error is the solver's starting point.
        let rtn = errors(&w, &config(nbits, GroupAxis::Zero, Method::Rtn)).1;
        assert!((rtn - report.errors[0]).abs() <= 1e-5 * rtn);
    }
}

#[test]
fn early_stop_cuts_the_run_one_step_after_the_first_rise() {
    let _turn = common::torch_turn();
    let w = student_t(128, 256, 4);
    let grouped = w.reshape(grouped_shape(w.numel() as i64, &QuantConfig::default()));
    let mut stopped_any = false;
    for nbits in [Nbits::B4, Nbits::B3, Nbits::B2] {
        let (scale, zero) = initial_scale_zero(&grouped, 1, nbits).unwrap();
        let full = SolverConfig { early_stop: false, ..SolverConfig::default() };
        let (_, long) = optimize_zero(&grouped, &scale, zero.copy(), 1, nbits, &full).unwrap();
        let (_, short) =
            optimize_zero(&grouped, &scale, zero, 1, nbits, &SolverConfig::default()).unwrap();
        assert_eq!(long.errors.len(), 21, "without early stop all 20 updates run and are tried");
        assert!(!long.stopped_early);
        // The early-stopped run is the same trajectory, cut one look after the first
        // iteration that does not improve on the best so far.
        let rise = (1..long.errors.len()).find(|&i| {
            long.errors[i] >= long.errors[..i].iter().copied().fold(f64::INFINITY, f64::min)
        });
        match rise {
            Some(i) => {
                let end = (i + 2).min(long.errors.len());
                assert_eq!(short.errors, long.errors[..end].to_vec(), "{nbits} bits");
                assert!(short.stopped_early || end == long.errors.len());
                stopped_any |= end < long.errors.len();
            }
            None => assert_eq!(short.errors, long.errors),
        }
        // More iterations can only help the kept zero.
        assert!(long.kept_error <= short.kept_error * (1.0 + 1e-6), "{nbits} bits");
    }
    assert!(stopped_any, "the error rose at some bit width, so early stop was exercised");
}

#[test]
fn axis_zero_groups_are_the_columns_of_the_group_by_rest_view() {
    let _turn = common::torch_turn();
    // Flat weight viewed as [group, numel / group]: column j holds the constant j / 100.
    let group = 16;
    let cols = 24;
    let view = Tensor::arange(cols, (Kind::Float, Device::Cpu)).repeat([group, 1]) / 100.0;
    let w = view.reshape([48, 8]);
    let cfg = |axis| QuantConfig { group_size: group, ..config(Nbits::B1, axis, Method::Rtn) };
    let (_, mae_axis0) = errors(&w, &cfg(GroupAxis::Zero));
    let (_, mae_axis1) = errors(&w, &cfg(GroupAxis::One));
    assert!(mae_axis0 < 1e-6, "constant groups rebuild exactly: {mae_axis0}");
    assert!(mae_axis1 > 1e-3, "axis 1 mixes values within a group: {mae_axis1}");
}

#[test]
fn eight_bits_is_near_lossless_and_constant_weights_exact() {
    let _turn = common::torch_turn();
    let w = student_t(64, 128, 5);
    let (fro, _) = errors(&w, &config(Nbits::B8, GroupAxis::One, Method::Hqq));
    assert!(fro < 0.01, "8-bit relative error {fro}");
    let flat = Tensor::full([32, 64], 0.25, (Kind::Float, Device::Cpu));
    let (_, mae) = errors(&flat, &config(Nbits::B2, GroupAxis::One, Method::Hqq));
    assert!(mae < 1e-7, "a constant weight rebuilds exactly: {mae}");
}

#[test]
fn bits_per_weight_count_the_metadata() {
    let _turn = common::torch_turn();
    let w = student_t(64, 640, 6);
    let f16 = QuantConfig { meta_dtype: MetaDtype::F16, ..QuantConfig::default() };
    let q = quantize(&w, &f16).unwrap();
    assert_eq!(q.bits_per_weight(), 4.5, "4 bits + 2 x 16 bits / 64");
    let q3 = quantize(&w, &QuantConfig { nbits: Nbits::B3, ..f16.clone() }).unwrap();
    assert!((q3.bits_per_weight() - 3.7).abs() < 1e-9, "3.2 bits packed + 0.5");
    // 8-bit scales and zeros: 4 + 2 x 8 / 64 + 2 x 2 x 32 / (64 x 128) bits.
    let meta = QuantConfig { quant_meta: true, ..f16 };
    let qm = quantize(&w, &meta).unwrap();
    let expected = 4.0 + 16.0 / 64.0 + 128.0 / (64.0 * 128.0);
    assert!((qm.bits_per_weight() - expected).abs() < 1e-9, "{}", qm.bits_per_weight());
    let plain = reconstruction_error(&w, &q.dequantize().unwrap()).unwrap().rel_frobenius;
    let packed_meta = reconstruction_error(&w, &qm.dequantize().unwrap()).unwrap().rel_frobenius;
    assert!(packed_meta < plain * 1.1, "8-bit metadata costs little: {packed_meta} vs {plain}");
}

#[test]
fn bad_settings_and_weights_are_refused() {
    let _turn = common::torch_turn();
    let w = student_t(10, 10, 7);
    let err = quantize(&w, &QuantConfig::default()).unwrap_err().to_string();
    assert!(err.contains("100 values") && err.contains("group size 64"), "{err}");
    let err = quantize(&w, &QuantConfig { group_size: 12, ..QuantConfig::default() }).unwrap_err();
    assert!(err.to_string().contains("group_size"), "{err}");
    let err = Nbits::try_from(5).unwrap_err().to_string();
    assert!(err.contains("nbits") && err.contains("got 5"), "{err}");
    let nan = Tensor::zeros([8, 8], (Kind::Float, Device::Cpu));
    let _ = nan.get(3).get(3).fill_(f64::NAN);
    let err = quantize(&nan, &QuantConfig { group_size: 8, ..QuantConfig::default() }).unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
    let bad_solver = QuantConfig {
        solver: SolverConfig { lp_norm: 1.5, ..SolverConfig::default() },
        ..QuantConfig::default()
    };
    assert!(bad_solver.validate().unwrap_err().to_string().contains("lp_norm"));
}

#[test]
fn the_fused_cpu_solver_matches_the_tensor_loop() {
    let _turn = common::torch_turn();
    // Trained-like weights (residuals under the shrinkage threshold) and large ones (most
    // residuals above it, so the power is taken), both axes, every bit width, with and
    // without early stop and beta growth.
    let small = student_t(96, 256, 7);
    let large = Tensor::randn([96, 256], (Kind::Float, Device::Cpu)) * 40.0;
    let solvers = [
        SolverConfig::default(),
        SolverConfig { kappa: 1.0, early_stop: false, ..SolverConfig::default() },
    ];
    for (name, w) in [("small", &small), ("large", &large)] {
        for axis in [GroupAxis::Zero, GroupAxis::One] {
            let cfg = QuantConfig { axis, ..QuantConfig::default() };
            let grouped = w.reshape(grouped_shape(w.numel() as i64, &cfg));
            let dim = if axis == GroupAxis::Zero { 0 } else { 1 };
            for nbits in [Nbits::B8, Nbits::B4, Nbits::B3, Nbits::B2] {
                for solver in &solvers {
                    let (scale, zero) = initial_scale_zero(&grouped, dim, nbits).unwrap();
                    let what = format!("{name} {axis:?} {nbits} bits {solver:?}");
                    let (tz, tr) =
                        optimize_zero_tensors(&grouped, &scale, zero.copy(), dim, nbits, solver)
                            .unwrap();
                    let (fz, fr) =
                        optimize_zero_fused(&grouped, &scale, &zero, dim, nbits, solver).unwrap();
                    assert_eq!(fz.size(), tz.size(), "{what}");
                    assert_eq!(fr.errors.len(), tr.errors.len(), "{what}");
                    assert_eq!((fr.best, fr.stopped_early), (tr.best, tr.stopped_early), "{what}");
                    for (f, t) in fr.errors.iter().zip(&tr.errors) {
                        assert!((f - t).abs() <= 1e-4 * t, "{what}: {:?} vs {:?}", fr, tr);
                    }
                    assert!((fr.kept_error - tr.kept_error).abs() <= 1e-4 * tr.kept_error);
                    // Group by group the zeros reconstruct about as well. (The zeros themselves
                    // are equal up to f32 rounding in most groups, but sums taken in another
                    // order can move a code across a rounding edge, and the group's later
                    // iterations then take another path, here to within 1e-3 of a code.)
                    let group_error = |z: &Tensor| {
                        let codes =
                            (&grouped * &scale + z).round().clamp(0.0, f64::from(nbits.max_code()));
                        let rebuilt = (codes - z) / &scale;
                        (&grouped - rebuilt).abs().mean_dim([dim].as_slice(), true, Kind::Float)
                    };
                    let (fe, te) = (group_error(&fz), group_error(&tz));
                    let worse = i64::try_from((&fe - &te * 1.01 - 1e-7).gt(0.0).sum(Kind::Int64));
                    assert_eq!(worse.unwrap(), 0, "{what}: groups reconstructed worse");
                }
            }
        }
    }
}

#[test]
fn the_fused_solver_gives_the_same_bits_on_any_number_of_threads() {
    let _turn = common::torch_turn();
    let w = student_t(64, 1024, 8);
    let cfg = QuantConfig::default();
    let grouped = w.reshape(grouped_shape(w.numel() as i64, &cfg));
    let (scale, zero) = initial_scale_zero(&grouped, 1, Nbits::B4).unwrap();
    let solve = |threads| {
        tch::set_num_threads(threads);
        optimize_zero(&grouped, &scale, zero.copy(), 1, Nbits::B4, &SolverConfig::default())
            .unwrap()
    };
    let (one, r1) = solve(1);
    let (three, r3) = solve(3);
    assert!(one.equal(&three));
    assert_eq!((r1.errors, r1.kept_error), (r3.errors, r3.kept_error));
}
