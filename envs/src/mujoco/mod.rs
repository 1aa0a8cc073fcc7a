//! MuJoCo locomotion after Gymnasium's v5 envs, through `mujoco-rs` (MuJoCo 3.17.0, the
//! library of the PyPI wheel `mujoco==3.17.0` that the set-up installs). The models are
//! Gymnasium's XML files (`envs/assets/mujoco/`, with Gymnasium's MIT licence).

mod half_cheetah;

pub use half_cheetah::HalfCheetah;

/// Routes MuJoCo's warnings to stderr instead of its default, a `MUJOCO_LOG.TXT` file written
/// into the working directory, and drops the one every Gymnasium model triggers (the
/// deprecated `settotalmass` compiler attribute, which still applies). Set once per process,
/// before the first model loads.
pub(crate) fn route_warnings() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        unsafe extern "C" fn warning(message: *const std::os::raw::c_char) {
            if message.is_null() {
                return;
            }
            // SAFETY: MuJoCo passes a NUL-terminated message that lives for the call.
            let text = unsafe { std::ffi::CStr::from_ptr(message) }.to_string_lossy();
            if !text.contains("settotalmass") {
                eprintln!("mujoco: {text}");
            }
        }
        // SAFETY: a global function pointer of the MuJoCo library, written once (under
        // `Once`) before any model is loaded, i.e. before MuJoCo reads it.
        unsafe {
            mujoco_rs::mujoco_c::mju_user_warning = Some(warning);
        }
    });
}
