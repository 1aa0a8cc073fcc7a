//! The arithmetic of the native PPO path: small row-major matrix products and `tanh`,
//! written as plain loops that the compiler vectorises, and compiled twice: for the CPU's
//! AVX2 + FMA when it has them (chosen at run time, as `matrixmultiply` does) and for the
//! baseline instruction set otherwise.
//!
//! The shapes are PPO's: a few hundred rows by 64 hidden units, with one side as small as
//! the observation (3-8) or the action (1-2). A general GEMM library packs both operands
//! on every call, which on these shapes cost as much as the arithmetic; here the right
//! operand is always contiguous rows, read in place, and a 4 x 16 block of the result
//! stays in registers over the whole inner dimension.

/// Rows and columns of the register block of [`matmul`].
const BLOCK_ROWS: usize = 4;
const BLOCK_COLS: usize = 16;

/// `c (m x n) = a (m x k) b (k x n)`, plus `c` when `accumulate`. `a` is read with the
/// strides `(row, column)`; `b` and `c` are contiguous row-major.
#[allow(clippy::too_many_arguments)]
pub fn matmul(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(m == 0 || k == 0 || (m - 1) * rsa + (k - 1) * csa < a.len(), "matmul: a too short");
    assert!(b.len() >= k * n && c.len() >= m * n, "matmul: b or c too short");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { matmul_avx2((m, k, n), a, (rsa, csa), b, c, accumulate) };
        return;
    }
    matmul_body::<false>((m, k, n), a, (rsa, csa), b, c, accumulate);
}

/// `c (m x n) = a (m x k) w^T` for `w (n x k)`, both contiguous row-major: a dot product
/// per entry, for the output layer's few columns where [`matmul`]'s blocks do not fit.
pub fn matmul_nt((m, k, n): (usize, usize, usize), a: &[f32], w: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && w.len() >= n * k && c.len() >= m * n, "matmul_nt: too short");
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { matmul_nt_avx2((m, k, n), a, w, c) };
        return;
    }
    matmul_nt_body::<false>((m, k, n), a, w, c);
}

/// `tanh` of every value in place: Eigen's 13/6-degree rational approximation (the one
/// torch's and XLA's vectorised CPU kernels use), within a few ulp of the exact value and
/// exactly +-1 beyond |x| = 9. libm's `tanhf` took half of a native PPO run's time.
pub fn tanh_in_place(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU has AVX2 and FMA (checked just above).
        unsafe { tanh_avx2(xs) };
        return;
    }
    tanh_body::<false>(xs);
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    static FEATURES: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FEATURES.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    })
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
fn matmul_avx2(
    shape: (usize, usize, usize),
    a: &[f32],
    strides: (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    matmul_body::<true>(shape, a, strides, b, c, accumulate);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn matmul_nt_avx2(shape: (usize, usize, usize), a: &[f32], w: &[f32], c: &mut [f32]) {
    matmul_nt_body::<true>(shape, a, w, c);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn tanh_avx2(xs: &mut [f32]) {
    tanh_body::<true>(xs);
}

/// `acc + x y`, fused where the CPU has FMA (without it `mul_add` would call libm).
#[inline(always)]
fn madd<const FMA: bool>(acc: f32, x: f32, y: f32) -> f32 {
    if FMA { x.mul_add(y, acc) } else { acc + x * y }
}

#[inline(always)]
fn matmul_body<const FMA: bool>(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let full_cols = n - n % BLOCK_COLS;
    let mut row = 0;
    while row < m {
        let rows = BLOCK_ROWS.min(m - row);
        for col in (0..full_cols).step_by(BLOCK_COLS) {
            if rows == BLOCK_ROWS {
                block::<FMA, BLOCK_ROWS>(row, col, k, n, a, (rsa, csa), b, c, accumulate);
            } else {
                for r in row..row + rows {
                    block::<FMA, 1>(r, col, k, n, a, (rsa, csa), b, c, accumulate);
                }
            }
        }
        // Columns past the last full block (n below 16, e.g. the action or the observation).
        for r in row..row + rows {
            for col in full_cols..n {
                let mut acc = if accumulate { c[r * n + col] } else { 0.0 };
                for i in 0..k {
                    acc = madd::<FMA>(acc, a[r * rsa + i * csa], b[i * n + col]);
                }
                c[r * n + col] = acc;
            }
        }
        row += rows;
    }
}

/// One `R x 16` block of `c` at (`row`, `col`), its accumulators in registers over `k`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn block<const FMA: bool, const R: usize>(
    row: usize,
    col: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    let mut acc = [[0f32; BLOCK_COLS]; R];
    if accumulate {
        for (r, acc) in acc.iter_mut().enumerate() {
            acc.copy_from_slice(&c[(row + r) * n + col..][..BLOCK_COLS]);
        }
    }
    for i in 0..k {
        let b_row: &[f32; BLOCK_COLS] =
            b[i * n + col..][..BLOCK_COLS].try_into().expect("a block of 16");
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = a[(row + r) * rsa + i * csa];
            for (acc, y) in acc.iter_mut().zip(b_row) {
                *acc = madd::<FMA>(*acc, x, *y);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        c[(row + r) * n + col..][..BLOCK_COLS].copy_from_slice(acc);
    }
}

#[inline(always)]
fn matmul_nt_body<const FMA: bool>(
    (m, k, n): (usize, usize, usize),
    a: &[f32],
    w: &[f32],
    c: &mut [f32],
) {
    for r in 0..m {
        let x = &a[r * k..][..k];
        for j in 0..n {
            c[r * n + j] = dot::<FMA>(x, &w[j * k..][..k]);
        }
    }
}

/// `x . y` with 16 partial sums, so that the loop vectorises.
#[inline(always)]
fn dot<const FMA: bool>(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0f32; BLOCK_COLS];
    let (xs, ys) = (x.chunks_exact(BLOCK_COLS), y.chunks_exact(BLOCK_COLS));
    let mut tail = 0.0;
    for (a, b) in xs.remainder().iter().zip(ys.remainder()) {
        tail = madd::<FMA>(tail, *a, *b);
    }
    for (xc, yc) in xs.zip(ys) {
        for ((acc, a), b) in acc.iter_mut().zip(xc).zip(yc) {
            *acc = madd::<FMA>(*acc, *a, *b);
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn tanh_body<const FMA: bool>(xs: &mut [f32]) {
    // Numerator (odd) and denominator (even) coefficients, lowest power first.
    const ALPHA: [f32; 7] = [
        4.893_524_6e-3,
        6.372_619_3e-4,
        1.485_722_4e-5,
        5.122_297e-8,
        -8.604_672e-11,
        2.000_188e-13,
        -2.760_768_5e-16,
    ];
    const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];
    for v in xs.iter_mut() {
        let x = v.clamp(-9.0, 9.0);
        let x2 = x * x;
        let mut p = ALPHA[6];
        for &a in ALPHA[..6].iter().rev() {
            p = madd::<FMA>(a, p, x2);
        }
        let mut q = BETA[3];
        for &b in BETA[..3].iter().rev() {
            q = madd::<FMA>(b, q, x2);
        }
        *v = x * p / q;
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    use super::*;

    fn naive(
        (m, k, n): (usize, usize, usize),
        a: &[f32],
        (rsa, csa): (usize, usize),
        b: &[f32],
        c: &[f32],
        accumulate: bool,
    ) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for r in 0..m {
            for j in 0..n {
                let mut acc = if accumulate { f64::from(c[r * n + j]) } else { 0.0 };
                for i in 0..k {
                    acc += f64::from(a[r * rsa + i * csa]) * f64::from(b[i * n + j]);
                }
                out[r * n + j] = acc;
            }
        }
        out
    }

    #[test]
    fn matmul_equals_a_plain_triple_loop_on_ragged_shapes_and_strides() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for (m, k, n) in [(1, 1, 1), (3, 4, 64), (128, 64, 64), (7, 64, 2), (64, 9, 4), (5, 2, 17)]
        {
            for transposed in [false, true] {
                for accumulate in [false, true] {
                    let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let b: Vec<f32> = (0..k * n).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let c0: Vec<f32> = (0..m * n).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let strides = if transposed { (1, m) } else { (k, 1) };
                    let mut c = c0.clone();
                    matmul((m, k, n), &a, strides, &b, &mut c, accumulate);
                    let want = naive((m, k, n), &a, strides, &b, &c0, accumulate);
                    for (got, want) in c.iter().zip(&want) {
                        assert!(
                            (f64::from(*got) - want).abs() <= 1e-5 * (1.0 + want.abs()),
                            "({m}, {k}, {n}) transposed {transposed}: {got} vs {want}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn matmul_nt_equals_a_plain_triple_loop() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for (m, k, n) in [(1, 1, 1), (128, 64, 2), (5, 37, 3)] {
            let a: Vec<f32> = (0..m * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let w: Vec<f32> = (0..n * k).map(|_| rng.random_range(-1.0..1.0)).collect();
            let mut c = vec![0f32; m * n];
            matmul_nt((m, k, n), &a, &w, &mut c);
            let wt: Vec<f32> = (0..k * n).map(|i| w[(i % n) * k + i / n]).collect();
            let want = naive((m, k, n), &a, (k, 1), &wt, &c, false);
            for (got, want) in c.iter().zip(&want) {
                assert!((f64::from(*got) - want).abs() <= 1e-5 * (1.0 + want.abs()));
            }
        }
    }

    #[test]
    fn tanh_is_within_a_few_ulp_of_the_exact_value() {
        let xs: Vec<f32> = (-2000..=2000).map(|i| i as f32 * 0.006).collect();
        let mut ys = xs.clone();
        tanh_in_place(&mut ys);
        for (x, y) in xs.iter().zip(&ys) {
            let exact = f64::from(*x).tanh();
            assert!((f64::from(*y) - exact).abs() <= 4.0 * f64::from(f32::EPSILON), "tanh({x})");
        }
        let mut edges = [f32::INFINITY, -f32::INFINITY, 50.0, -50.0];
        tanh_in_place(&mut edges);
        assert_eq!(edges, [1.0, -1.0, 1.0, -1.0]);
    }
}
