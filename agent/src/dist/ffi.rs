//! The shim's C ABI (`agent/csrc/c10d_shim.cpp`). Handles are opaque pointers; a null handle
//! or a non-zero status means failure, with the message in [`last_error`].

use std::ffi::{CStr, c_char, c_int, c_void};

unsafe extern "C" {
    fn icrl_c10d_last_error() -> *const c_char;
    pub fn icrl_c10d_has_nccl() -> c_int;
    pub fn icrl_store_new(
        host: *const c_char,
        port: c_int,
        is_server: c_int,
        world: c_int,
        timeout_ms: i64,
        prefix: *const c_char,
    ) -> *mut c_void;
    pub fn icrl_store_free(store: *mut c_void);
    pub fn icrl_pg_gloo_new(
        store: *mut c_void,
        rank: c_int,
        size: c_int,
        interfaces: *const c_char,
        hostname: *const c_char,
        timeout_ms: i64,
        threads: c_int,
    ) -> *mut c_void;
    pub fn icrl_pg_nccl_new(
        store: *mut c_void,
        rank: c_int,
        size: c_int,
        device: c_int,
        timeout_ms: i64,
    ) -> *mut c_void;
    pub fn icrl_pg_free(pg: *mut c_void);
    /// `tensor` is an `at::Tensor*` (a tch `Tensor::as_mut_ptr()`).
    pub fn icrl_pg_allreduce_sum(pg: *mut c_void, tensor: *mut c_void) -> c_int;
    pub fn icrl_pg_broadcast(pg: *mut c_void, tensor: *mut c_void, root: c_int) -> c_int;
    pub fn icrl_pg_barrier(pg: *mut c_void) -> c_int;
}

/// The message of this thread's last failed shim call.
pub fn last_error() -> String {
    // SAFETY: the shim returns a pointer to a thread-local, NUL-terminated string that lives
    // until this thread's next shim call; it is copied at once.
    unsafe { CStr::from_ptr(icrl_c10d_last_error()) }.to_string_lossy().trim().to_string()
}
