//! Mixed precision on CUDA: torch's autocast, in bf16.
//!
//! `tch::autocast` turns CUDA autocast on at torch's default dtype, which is float16, not
//! bf16: float16 overflows past 65504, and a lightning layer's long-memory heads sum
//! `k^T v` over tens of thousands of steps (measured on an H200: the 300M preset's loss was
//! NaN from the first step at 24K and 32K context, fine at 16K). [`autocast_bf16`] sets the
//! dtype first. libtorch has no C entry point for it, so the C++ functions are bound by their
//! mangled names (`at::autocast::set_autocast_dtype(c10::DeviceType, c10::ScalarType)` and
//! its getter; both enums are `int8_t`); a libtorch without them fails at link time, not at
//! run time.

use tch::Kind;

unsafe extern "C" {
    #[link_name = "_ZN2at8autocast18set_autocast_dtypeEN3c1010DeviceTypeENS1_10ScalarTypeE"]
    fn at_autocast_set_dtype(device_type: i8, dtype: i8);
    #[link_name = "_ZN2at8autocast18get_autocast_dtypeEN3c1010DeviceTypeE"]
    fn at_autocast_get_dtype(device_type: i8) -> i8;
    #[link_name = "_ZN2at8autocast19is_autocast_enabledEN3c1010DeviceTypeE"]
    fn at_autocast_is_enabled(device_type: i8) -> bool;
    #[link_name = "_ZN2at8autocast20set_autocast_enabledEN3c1010DeviceTypeEb"]
    fn at_autocast_set_enabled(device_type: i8, enabled: bool);
    #[link_name = "_ZN2at8autocast11clear_cacheEv"]
    fn at_autocast_clear_cache();
}

/// `c10::DeviceType::CPU` and `c10::DeviceType::CUDA`.
const CPU: i8 = 0;
const CUDA: i8 = 1;

/// `c10::ScalarType` codes of the kinds autocast takes.
const HALF: i8 = 5;
const BFLOAT16: i8 = 15;

/// Runs `f` with CUDA autocast in bf16 when `enabled` (else plainly).
pub fn autocast_bf16<T>(enabled: bool, f: impl FnOnce() -> T) -> T {
    if enabled {
        // SAFETY: a plain setter of a (thread-local) dtype in libtorch, called with valid
        // enum values.
        unsafe { at_autocast_set_dtype(CUDA, BFLOAT16) };
    }
    tch::autocast(enabled, f)
}

/// The dtype CUDA autocast computes in on this thread (for tests and diagnostics).
pub fn cuda_autocast_kind() -> Option<Kind> {
    // SAFETY: a plain getter in libtorch.
    match unsafe { at_autocast_get_dtype(CUDA) } {
        HALF => Some(Kind::Half),
        BFLOAT16 => Some(Kind::BFloat16),
        _ => None,
    }
}

/// Runs `f` with CPU autocast in bf16: the stand-in, on a machine without a GPU, for the CUDA
/// autocast that training uses. Matrix products then compute in bf16 beside f32 tensors, as on
/// CUDA, so a kind mismatch between the two shows up in a CPU test (ReMoE's did not, and
/// stopped every CUDA run). Training never autocasts on the CPU; this is for tests.
pub fn cpu_autocast_bf16<T>(f: impl FnOnce() -> T) -> T {
    /// Restores the thread's CPU autocast state, also when `f` panics.
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            // SAFETY: plain setters of libtorch's thread-local autocast state.
            unsafe {
                at_autocast_set_enabled(CPU, self.0);
                if !self.0 {
                    at_autocast_clear_cache();
                }
            }
        }
    }
    // SAFETY: plain getters and setters of libtorch's thread-local autocast state, called
    // with valid enum values.
    let _restore = unsafe {
        let previous = at_autocast_is_enabled(CPU);
        at_autocast_set_dtype(CPU, BFLOAT16);
        at_autocast_set_enabled(CPU, true);
        Restore(previous)
    };
    f()
}
