//! The HQQ quantizer (half-quadratic quantization, mobiusml/hqq; METHODS.md section 5) and
//! its round-to-nearest (RTN) baseline.
//!
//! Affine quantization per group: `W_q = clamp(round(W s + z), 0, 2^b - 1)`, dequantized as
//! `W_r = (W_q - z) / s`. Both methods start from the group's min and max,
//! `s = (2^b - 1) / (max - min)` (s = 1 where the range is at most 1e-4, then s <= 2e4) and
//! `z = -min s`. RTN stops there; HQQ keeps `s` and optimises `z` for the sparsity-promoting
//! loss `|W - W_r|_p^p` (p < 1) by half-quadratic splitting with an auxiliary error `W_e`:
//!
//! ```text
//! W_e = shrink_p(W - W_r, beta)     shrink_p(x, beta) = sign(x) relu(|x| - |x|^(p-1) / beta)
//! z   = mean_group(W_q - (W - W_e) s)
//! beta <- kappa beta
//! ```
//!
//! Grouping follows the reference package so that results compare one to one: the weight is
//! read flat in row-major order; with axis 1 each group is `group_size` consecutive values
//! (consecutive input channels of a `[out, in]` matrix); with axis 0 the flat weight is viewed
//! as `[group_size, numel / group_size]` and each column is a group (values `numel /
//! group_size` apart, i.e. one input channel across strided output rows). Either way the
//! codes stay in the weight's own row-major order and the scales and zeros are one per group.
//!
//! All maths runs in f32 on the weight's device (CPU or CUDA).

use serde::Serialize;
use tch::{Kind, Tensor};

use super::QuantError;
use super::config::{GroupAxis, Method, Nbits, QuantConfig, SolverConfig};
use super::pack;

/// Scales and zeros quantized to 8 bits (optional) use groups of this many values.
pub const META_GROUP: i64 = 128;

/// Ranges at or below this get scale 1 (a constant group).
const MIN_RANGE: f64 = 1e-4;

/// Upper clamp of the (inverse) scale `s`, as in the reference (half-precision safety).
const MAX_SCALE: f64 = 2e4;

/// Per-group scales or zeros: plain floats, or themselves quantized to 8 bits.
#[derive(Debug)]
pub enum MetaTensor {
    /// One value per group (`[n_groups]`, in the configured storage type).
    Plain(Tensor),
    /// 8-bit codes (`[n_groups]`, u8) with an f32 step and zero per 128 codes.
    Quantized { codes: Tensor, step: Tensor, zero: Tensor },
}

impl MetaTensor {
    /// The values as f32, `[n]`.
    pub fn dequantize(&self) -> Result<Tensor, QuantError> {
        match self {
            MetaTensor::Plain(values) => Ok(values.f_to_kind(Kind::Float)?),
            MetaTensor::Quantized { codes, step, zero } => {
                let n = codes.size()[0];
                let groups = step.size()[0];
                let padded = codes
                    .f_to_kind(Kind::Float)?
                    .f_constant_pad_nd([0, groups * META_GROUP - n])?;
                let grouped = padded.f_reshape([groups, META_GROUP])?;
                let values = grouped
                    .f_sub(&zero.f_unsqueeze(1)?)?
                    .f_mul(&step.f_unsqueeze(1)?)?
                    .f_reshape([-1])?
                    .f_narrow(0, 0, n)?;
                Ok(values)
            }
        }
    }

    /// Bytes this takes in a checkpoint.
    pub fn bytes(&self) -> i64 {
        match self {
            MetaTensor::Plain(values) => {
                values.numel() as i64 * values.kind().elt_size_in_bytes() as i64
            }
            MetaTensor::Quantized { codes, step, zero } => {
                (codes.numel() + 4 * step.numel() + 4 * zero.numel()) as i64
            }
        }
    }

    fn to_device(&self, device: tch::Device) -> Result<MetaTensor, QuantError> {
        Ok(match self {
            MetaTensor::Plain(values) => MetaTensor::Plain(values.f_to_device(device)?),
            MetaTensor::Quantized { codes, step, zero } => MetaTensor::Quantized {
                codes: codes.f_to_device(device)?,
                step: step.f_to_device(device)?,
                zero: zero.f_to_device(device)?,
            },
        })
    }

    /// Quantizes `values` (`[n]`, f32) to 8 bits, RTN, in groups of [`META_GROUP`].
    fn quantize_8bit(values: &Tensor) -> Result<MetaTensor, QuantError> {
        let n = values.size()[0];
        let groups = (n + META_GROUP - 1) / META_GROUP;
        // Pad with the last value so the padding never widens a group's range.
        let last = values.f_narrow(0, n - 1, 1)?.f_expand([groups * META_GROUP - n], false)?;
        let grouped = Tensor::f_cat(&[values, &last], 0)?.f_reshape([groups, META_GROUP])?;
        let (scale, zero) = initial_scale_zero(&grouped, 1, Nbits::B8)?;
        let codes = round_codes(&grouped, &scale, &zero, Nbits::B8)?
            .f_reshape([-1])?
            .f_narrow(0, 0, n)?
            .f_to_kind(Kind::Uint8)?;
        Ok(MetaTensor::Quantized {
            codes,
            step: scale.f_reciprocal()?.f_reshape([-1])?,
            zero: zero.f_reshape([-1])?,
        })
    }
}

/// A quantized weight: packed codes with one scale and zero per group.
#[derive(Debug)]
pub struct QuantizedTensor {
    /// The settings it was quantized with.
    pub config: QuantConfig,
    /// The original weight's shape.
    pub shape: Vec<i64>,
    /// Packed codes in row-major order, 1-D (see [`pack`]).
    pub packed: Tensor,
    /// Per-group dequantization step `1 / s`.
    pub scale: MetaTensor,
    /// Per-group zero point `z`.
    pub zero: MetaTensor,
}

impl QuantizedTensor {
    pub fn numel(&self) -> i64 {
        self.shape.iter().product()
    }

    pub fn n_groups(&self) -> i64 {
        self.numel() / self.config.group_size
    }

    /// The unpacked codes, `[numel]` u8.
    pub fn codes(&self) -> Result<Tensor, QuantError> {
        pack::unpack_codes(&self.packed, self.config.nbits, self.numel())
    }

    /// The reconstructed weight `(W_q - z) / s` in f32 with the original shape.
    pub fn dequantize(&self) -> Result<Tensor, QuantError> {
        let codes = self.codes()?.f_to_kind(Kind::Float)?;
        let grouped = codes.f_reshape(grouped_shape(self.numel(), &self.config))?;
        let stats_shape = stats_shape(self.n_groups(), self.config.axis);
        let step = self.scale.dequantize()?.f_reshape(stats_shape.clone())?;
        let zero = self.zero.dequantize()?.f_reshape(stats_shape)?;
        Ok(grouped.f_sub(&zero)?.f_mul(&step)?.f_reshape(self.shape.as_slice())?)
    }

    /// Bytes of codes, scales and zeros (what the checkpoint stores, less its header).
    pub fn bytes(&self) -> i64 {
        pack::packed_bytes(self.config.nbits, self.numel()) + self.scale.bytes() + self.zero.bytes()
    }

    /// Storage bits per weight, metadata included.
    pub fn bits_per_weight(&self) -> f64 {
        8.0 * self.bytes() as f64 / self.numel() as f64
    }

    pub fn device(&self) -> tch::Device {
        self.packed.device()
    }

    /// A copy on another device.
    pub fn to_device(&self, device: tch::Device) -> Result<QuantizedTensor, QuantError> {
        Ok(QuantizedTensor {
            config: self.config.clone(),
            shape: self.shape.clone(),
            packed: self.packed.f_to_device(device)?,
            scale: self.scale.to_device(device)?,
            zero: self.zero.to_device(device)?,
        })
    }
}

/// What the solver did: the mean absolute error of each zero it tried.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SolverReport {
    /// `errors[i]`: mean |W - W_r| with the zero after i updates (`errors[0]` is the RTN
    /// starting point; at most `iters + 1` entries).
    pub errors: Vec<f64>,
    /// Index into `errors` of the lowest error.
    pub best: usize,
    /// Mean |W - W_r| of the zero kept: each group's best zero over all iterations, so at
    /// most `errors[best]`.
    pub kept_error: f64,
    /// Whether the loop stopped before `iters` iterations because the error rose.
    pub stopped_early: bool,
}

impl SolverReport {
    pub fn best_error(&self) -> Option<f64> {
        self.errors.get(self.best).copied()
    }
}

/// Quantizes a weight of any shape (numel a multiple of the group size) on its own device.
pub fn quantize(weight: &Tensor, config: &QuantConfig) -> Result<QuantizedTensor, QuantError> {
    quantize_with_report(weight, config).map(|(q, _)| q)
}

/// [`quantize`], also returning the solver's report (empty for RTN).
pub fn quantize_with_report(
    weight: &Tensor,
    config: &QuantConfig,
) -> Result<(QuantizedTensor, SolverReport), QuantError> {
    config.validate()?;
    let shape = weight.size();
    let numel: i64 = shape.iter().product();
    if !weight.is_floating_point() {
        return Err(QuantError::InvalidWeight {
            reason: format!("expected a floating-point tensor, got {:?}", weight.kind()),
        });
    }
    if numel == 0 || numel % config.group_size != 0 {
        return Err(QuantError::InvalidWeight {
            reason: format!(
                "{numel} values (shape {shape:?}) is not a positive multiple of the group size {}",
                config.group_size
            ),
        });
    }
    let w = weight.f_to_kind(Kind::Float)?;
    if !bool::try_from(w.f_isfinite()?.f_all()?)? {
        return Err(QuantError::InvalidWeight { reason: "it holds NaN or infinite values".into() });
    }
    let grouped = w.f_reshape(grouped_shape(numel, config))?;
    let dim = config.axis.dim();
    let (scale, zero) = initial_scale_zero(&grouped, dim, config.nbits)?;
    let (zero, report) = match config.method {
        Method::Rtn => (zero, SolverReport::default()),
        Method::Hqq => optimize_zero(&grouped, &scale, zero, dim, config.nbits, &config.solver)?,
    };
    let codes = round_codes(&grouped, &scale, &zero, config.nbits)?;
    let packed = pack::pack_codes(&codes, config.nbits)?;
    let step = scale.f_reciprocal()?.f_reshape([-1])?;
    let zero = zero.f_reshape([-1])?;
    let (scale, zero) = if config.quant_meta {
        (MetaTensor::quantize_8bit(&step)?, MetaTensor::quantize_8bit(&zero)?)
    } else {
        (
            MetaTensor::Plain(to_meta(&step, "scale", config)?),
            MetaTensor::Plain(to_meta(&zero, "zero point", config)?),
        )
    };
    let quantized = QuantizedTensor { config: config.clone(), shape, packed, scale, zero };
    Ok((quantized, report))
}

/// `values` (f32) in the storage type of `config.meta_dtype`, refused if a value does not
/// fit there (f16 ends at 65504: a weight spanning +-1e6 has steps beyond it).
fn to_meta(values: &Tensor, what: &str, config: &QuantConfig) -> Result<Tensor, QuantError> {
    let stored = values.f_to_kind(config.meta_dtype.kind())?;
    if bool::try_from(stored.f_isfinite()?.f_all()?)? {
        return Ok(stored);
    }
    let largest = values.f_abs()?.f_max()?.double_value(&[]);
    Err(QuantError::InvalidWeight {
        reason: format!(
            "its per-group {what} reaches {largest:e}, beyond the range of meta_dtype {}; \
             store scales and zeros in f32 or bf16 (`--meta-dtype f32`)",
            serde_json::to_string(&config.meta_dtype).unwrap_or_default().trim_matches('"')
        ),
    })
}

/// The grouped view of a flat weight of `numel` values.
pub fn grouped_shape(numel: i64, config: &QuantConfig) -> [i64; 2] {
    let groups = numel / config.group_size;
    match config.axis {
        GroupAxis::Zero => [config.group_size, groups],
        GroupAxis::One => [groups, config.group_size],
    }
}

/// The shape of the per-group statistics beside the grouped view (`keepdim`).
fn stats_shape(groups: i64, axis: GroupAxis) -> Vec<i64> {
    match axis {
        GroupAxis::Zero => vec![1, groups],
        GroupAxis::One => vec![groups, 1],
    }
}

/// Initial inverse scale `s` and zero `z` from each group's min and max (along `dim`).
pub fn initial_scale_zero(
    grouped: &Tensor,
    dim: i64,
    nbits: Nbits,
) -> Result<(Tensor, Tensor), QuantError> {
    let min = grouped.f_amin([dim], true)?;
    let max = grouped.f_amax([dim], true)?;
    let range = max.f_sub(&min)?;
    let scale = range.f_reciprocal()?.f_mul_scalar(f64::from(nbits.max_code()))?;
    let flat = range.f_abs()?.f_le(MIN_RANGE)?;
    let scale = scale.f_masked_fill(&flat, 1.0)?.f_clamp_max(MAX_SCALE)?;
    let zero = min.f_neg()?.f_mul(&scale)?;
    Ok((scale, zero))
}

/// `clamp(round(W s + z), 0, 2^b - 1)` as f32.
fn round_codes(
    grouped: &Tensor,
    scale: &Tensor,
    zero: &Tensor,
    nbits: Nbits,
) -> Result<Tensor, QuantError> {
    let mut codes = grouped.f_mul(scale)?.f_add(zero)?;
    let _ = codes.f_round_()?;
    let _ = codes.f_clamp_(0.0, f64::from(nbits.max_code()))?;
    Ok(codes)
}

/// The half-quadratic solver: optimises the zero point with the scale fixed.
///
/// Early stop: when the mean absolute error stops falling, the solver takes one more step
/// (the zero the failing iteration computed is still tried, as the reference's early stop
/// returns it) and stops. Groups are independent once the scale is fixed, so the zero kept is,
/// group by group, the one with the lowest error among all tried: never worse than the best
/// single iteration (nor than the RTN start).
///
/// Written to allocate three tensors per iteration, with the same maths as the module header:
/// - the residual `W - W_r = (W s + z - W_q) / s` reuses `W s + z`;
/// - `shrink_p(x, beta) = sign(x) relu(|x| - |x|^(p-1) / beta) = x relu(1 - |x|^(p-2) / beta)`
///   (both 0 at x = 0);
/// - with `s` constant in a group, `mean(W_q - (W - W_e) s) = mean(W_q) - s (mean(W) -
///   mean(W_e))`, where `mean(W)` is fixed, so only two reductions are left.
///
/// On the CPU (f32) this runs [`optimize_zero_fused`]; elsewhere (CUDA) as tensor operations,
/// [`optimize_zero_tensors`]. The two agree to f32 rounding (a test holds them together).
pub fn optimize_zero(
    grouped: &Tensor,
    scale: &Tensor,
    zero: Tensor,
    dim: i64,
    nbits: Nbits,
    solver: &SolverConfig,
) -> Result<(Tensor, SolverReport), QuantError> {
    if grouped.device() == tch::Device::Cpu && grouped.kind() == Kind::Float {
        optimize_zero_fused(grouped, scale, &zero, dim, nbits, solver)
    } else {
        optimize_zero_tensors(grouped, scale, zero, dim, nbits, solver)
    }
}

/// [`optimize_zero`] as tensor operations: every iteration is a few passes over the whole
/// weight, each a kernel on its device.
pub fn optimize_zero_tensors(
    grouped: &Tensor,
    scale: &Tensor,
    zero: Tensor,
    dim: i64,
    nbits: Nbits,
    solver: &SolverConfig,
) -> Result<(Tensor, SolverReport), QuantError> {
    let dims = [dim];
    let max_code = f64::from(nbits.max_code());
    let inv_scale = scale.f_reciprocal()?;
    let scaled = grouped.f_mul(scale)?;
    let mean_w = grouped.f_mean_dim(dims.as_slice(), true, Kind::Float)?;
    let mut beta = solver.beta;
    let mut zero = zero;
    let mut best_zero = zero.f_detach_copy()?;
    let mut best_group_error: Option<Tensor> = None;
    let mut stop = StopRule::new(solver);
    let mut report = SolverReport::default();
    // `iters` zero updates, so `iters + 1` zeros to evaluate (the last one, the reference's
    // result, included).
    for _ in 0..=solver.iters {
        let mut residual = scaled.f_add(&zero)?;
        let mut codes = residual.f_round()?;
        let _ = codes.f_clamp_(0.0, max_code)?;
        let _ = residual.f_sub_(&codes)?;
        let _ = residual.f_mul_(&inv_scale)?;
        let mut aux = residual.f_abs()?;
        let group_error = aux.f_mean_dim(dims.as_slice(), true, Kind::Float)?;
        let error = group_error.f_mean(Kind::Float)?.f_double_value(&[])?;
        best_group_error = Some(match best_group_error {
            None => group_error,
            Some(best) => {
                let better = group_error.f_lt_tensor(&best)?;
                best_zero = zero.f_where_self(&better, &best_zero)?;
                group_error.f_minimum(&best)?
            }
        });
        if !stop.go_on(&mut report, error) {
            break;
        }
        // W_e = shrink_p(residual, beta), in place over |residual|.
        let _ = aux.f_pow_(solver.lp_norm - 2.0)?;
        let _ = aux.f_mul_scalar_(-1.0 / beta)?;
        let _ = aux.f_add_scalar_(1.0)?;
        let _ = aux.f_relu_()?;
        let _ = aux.f_mul_(&residual)?;
        let mean_codes = codes.f_mean_dim(dims.as_slice(), true, Kind::Float)?;
        let mean_aux = aux.f_mean_dim(dims.as_slice(), true, Kind::Float)?;
        zero = mean_codes.f_sub(&mean_w.f_sub(&mean_aux)?.f_mul(scale)?)?;
        beta *= solver.kappa;
    }
    if let Some(best) = best_group_error {
        report.kept_error = best.f_mean(Kind::Float)?.f_double_value(&[])?;
    }
    Ok((best_zero, report))
}

/// The solvers' stopping rule over the mean error of each iteration: at most `iters` updates;
/// with early stop, one more look after the first error that is not a new best.
struct StopRule {
    iters: usize,
    early_stop: bool,
    last_look: bool,
}

impl StopRule {
    fn new(solver: &SolverConfig) -> Self {
        StopRule { iters: solver.iters, early_stop: solver.early_stop, last_look: false }
    }

    /// Records the next iteration's mean error in `report`; whether to compute another.
    fn go_on(&mut self, report: &mut SolverReport, error: f64) -> bool {
        let iteration = report.errors.len();
        let improved = report.errors.get(report.best).is_none_or(|&best| error < best);
        report.errors.push(error);
        if improved {
            report.best = iteration;
        }
        if iteration == self.iters {
            return false;
        }
        if self.last_look {
            report.stopped_early = true;
            return false;
        }
        if !improved && self.early_stop {
            self.last_look = true;
        }
        true
    }
}

/// Groups per work item of the fused solver: a work item's error is summed in a fixed order,
/// so the result does not depend on the number of threads.
const FUSED_CHUNK: usize = 512;

/// [`optimize_zero`] on the CPU, fused per group: one pass over the weight per iteration
/// (the tensor loop makes about a dozen, each a kernel over the whole weight), a group's
/// values and residuals staying in cache between the error and the zero update, and the
/// groups shared among torch's intra-op threads. Same maths, same early stop (decided on the
/// mean error over all groups after each iteration), same keep-the-best-zero-per-group rule.
///
/// Two things make it cheap besides the single pass: the shrinkage
/// `relu(1 - |x|^(p-2) / beta) x` is 0 wherever `|x| <= beta^(1 / (p-2))` (p < 2), which is
/// nearly every residual of trained weights (0.17 at beta 10, p 0.7), so the power is only
/// taken above that threshold; and a code is rounded after the clamp to `[0, 2^b - 1]`
/// (the same value, the bounds being integers), where adding and subtracting 1.5 * 2^23 rounds
/// half to even like `torch.round`, without a call.
pub fn optimize_zero_fused(
    grouped: &Tensor,
    scale: &Tensor,
    zero: &Tensor,
    dim: i64,
    nbits: Nbits,
    solver: &SolverConfig,
) -> Result<(Tensor, SolverReport), QuantError> {
    // Groups as rows: with axis 0 the groups are the columns of `[group_size, groups]`.
    let rows = if dim == 0 {
        grouped.f_transpose(0, 1)?.f_contiguous()?
    } else {
        grouped.f_contiguous()?
    };
    let group_size = rows.size()[1] as usize;
    let values = Vec::<f32>::try_from(rows.f_reshape([-1])?)?;
    let scales = Vec::<f32>::try_from(scale.f_reshape([-1])?)?;
    let mut zeros = Vec::<f32>::try_from(zero.f_reshape([-1])?)?;
    let groups = scales.len();
    let mut best_zero = zeros.clone();
    let mut best_error = vec![f32::INFINITY; groups];
    let chunks = groups.div_ceil(FUSED_CHUNK);
    let threads = (tch::get_num_threads().max(1) as usize).min(chunks);
    let chunks_per_thread = chunks.div_ceil(threads);
    let groups_per_thread = chunks_per_thread * FUSED_CHUNK;
    let max_code = nbits.max_code() as f32;
    let exponent = (solver.lp_norm - 2.0) as f32;
    let mut beta = solver.beta;
    let mut stop = StopRule::new(solver);
    let mut report = SolverReport::default();
    for _ in 0..=solver.iters {
        let update = ZeroUpdate {
            max_code,
            exponent,
            factor: (-1.0 / beta) as f32,
            // Below this |residual| the shrinkage is 0 (a margin keeps rounding at the edge
            // on the computed side).
            threshold: (beta.powf(1.0 / f64::from(exponent)) * (1.0 - 1e-4)) as f32,
        };
        let mut sums = vec![0f64; chunks];
        std::thread::scope(|scope| {
            let parts = zeros
                .chunks_mut(groups_per_thread)
                .zip(best_zero.chunks_mut(groups_per_thread))
                .zip(best_error.chunks_mut(groups_per_thread))
                .zip(sums.chunks_mut(chunks_per_thread))
                .enumerate();
            for (k, (((zeros, best_zero), best_error), sums)) in parts {
                let first = k * groups_per_thread;
                let (values, scales, update) = (&values, &scales, &update);
                scope.spawn(move || {
                    let mut residual = vec![0f32; group_size];
                    for (local, zero) in zeros.iter_mut().enumerate() {
                        let g = first + local;
                        let w = &values[g * group_size..(g + 1) * group_size];
                        let tried = *zero;
                        let error = update.step(w, scales[g], zero, &mut residual);
                        // Strictly lower: on a tie the earlier zero stays, as in the tensor loop.
                        if error < best_error[local] {
                            best_error[local] = error;
                            best_zero[local] = tried;
                        }
                        sums[local / FUSED_CHUNK] += f64::from(error);
                    }
                });
            }
        });
        let error = sums.iter().sum::<f64>() / groups as f64;
        if !stop.go_on(&mut report, error) {
            break;
        }
        beta *= solver.kappa;
    }
    report.kept_error = best_error.iter().map(|&e| f64::from(e)).sum::<f64>() / groups as f64;
    let best = Tensor::from_slice(&best_zero).f_reshape(zero.size())?;
    Ok((best, report))
}

/// One iteration of the solver on one group, in f32 as the tensor loop computes it.
struct ZeroUpdate {
    max_code: f32,
    /// p - 2.
    exponent: f32,
    /// -1 / beta.
    factor: f32,
    /// |x| at or below which `relu(1 - |x|^(p-2) / beta)` is 0.
    threshold: f32,
}

impl ZeroUpdate {
    /// The group's mean |W - W_r| with the zero `*zero`, which is then replaced by the next
    /// iteration's zero. `residual` is scratch of the group's length.
    fn step(&self, w: &[f32], scale: f32, zero: &mut f32, residual: &mut [f32]) -> f32 {
        const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
        let n = w.len() as f32;
        let inv_scale = 1.0 / scale;
        let z = *zero;
        let (mut abs_sum, mut code_sum, mut w_sum) = (0f32, 0f32, 0f32);
        for (r, &x) in residual.iter_mut().zip(w) {
            let shifted = x * scale + z;
            let code = (shifted.clamp(0.0, self.max_code) + ROUND) - ROUND;
            let e = (shifted - code) * inv_scale;
            *r = e;
            abs_sum += e.abs();
            code_sum += code;
            w_sum += x;
        }
        let mut shrunk_sum = 0f32;
        for &e in residual.iter() {
            let a = e.abs();
            if a > self.threshold {
                shrunk_sum += (a.powf(self.exponent) * self.factor + 1.0).max(0.0) * e;
            }
        }
        *zero = code_sum / n - (w_sum / n - shrunk_sum / n) * scale;
        abs_sum / n
    }
}

/// Relative Frobenius and mean absolute error of a reconstruction.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ReconstructionError {
    /// `||W - W_r||_F / ||W||_F`.
    pub rel_frobenius: f64,
    /// `mean |W - W_r|`.
    pub mean_abs: f64,
}

pub fn reconstruction_error(
    weight: &Tensor,
    rebuilt: &Tensor,
) -> Result<ReconstructionError, QuantError> {
    let w = weight.f_to_kind(Kind::Float)?;
    let diff = w.f_sub(&rebuilt.f_to_kind(Kind::Float)?.f_reshape(w.size())?)?;
    let diff_norm = diff.f_norm()?.f_double_value(&[])?;
    let norm = w.f_norm()?.f_double_value(&[])?;
    let mean_abs = diff.f_abs()?.f_mean(Kind::Float)?.f_double_value(&[])?;
    let rel_frobenius = if norm > 0.0 { diff_norm / norm } else { diff_norm };
    Ok(ReconstructionError { rel_frobenius, mean_abs })
}
