//! What a run uses of the machine: memory now and at its peak, and the peak arithmetic rate
//! that model FLOPs utilisation (MFU) is stated against.
//!
//! Memory is the host's resident set on the CPU (`VmRSS`, high-water mark `VmHWM` from
//! `/proc/self/status`) and, on CUDA, the device memory in use (`cudaMemGetInfo`: total -
//! free). torch's caching allocator keeps what it reserved, so on CUDA the memory in use after
//! a step is the allocator's reserved high-water mark (plus the CUDA context).

use std::ffi::{CStr, c_char, c_int, c_void};

use tch::Device;

/// Memory in use now, bytes: the resident set (CPU) or device memory in use (CUDA).
pub fn memory_now(device: Device) -> Option<i64> {
    if device.is_cuda() { cuda_used_bytes() } else { proc_status_kib("VmRSS:").map(|k| k * 1024) }
}

/// Peak memory since [`reset_peak`] (or the process start), bytes: VmHWM (CPU), or device
/// memory in use, which on CUDA is the caching allocator's reserved high-water mark.
pub fn memory_peak(device: Device) -> Option<i64> {
    if device.is_cuda() { cuda_used_bytes() } else { proc_status_kib("VmHWM:").map(|k| k * 1024) }
}

/// Resets VmHWM to the current resident set (Linux: write 5 to /proc/self/clear_refs).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn proc_status_kib(field: &str) -> Option<i64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].trim().trim_end_matches("kB").trim().parse().ok()
}

unsafe extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

/// Device memory in use (total - free) from the CUDA runtime already loaded by torch, found
/// with dlopen(RTLD_NOLOAD); None if no runtime library is loaded.
fn cuda_used_bytes() -> Option<i64> {
    const RTLD_NOW: c_int = 2;
    const RTLD_NOLOAD: c_int = 4;
    type MemGetInfo = unsafe extern "C" fn(*mut usize, *mut usize) -> c_int;
    let libs: [&CStr; 3] = [c"libcudart.so.13", c"libcudart.so.12", c"libcudart.so"];
    for lib in libs {
        // SAFETY: dlopen with RTLD_NOLOAD only returns a handle to a library already loaded
        // into this process; dlsym looks up a symbol in it. cudaMemGetInfo(size_t*, size_t*)
        // writes two integers to the pointers we pass and returns an error code.
        unsafe {
            let handle = dlopen(lib.as_ptr(), RTLD_NOW | RTLD_NOLOAD);
            if handle.is_null() {
                continue;
            }
            let sym = dlsym(handle, c"cudaMemGetInfo".as_ptr());
            if sym.is_null() {
                continue;
            }
            let f: MemGetInfo = std::mem::transmute::<*mut c_void, MemGetInfo>(sym);
            let (mut free, mut total) = (0usize, 0usize);
            if f(&mut free, &mut total) == 0 {
                return Some((total - free) as i64);
            }
        }
    }
    None
}

/// Dense bf16 datasheet peaks (TFLOP/s, no sparsity) of the GPUs this platform is measured
/// on, matched against the device name; MFU on other devices needs `--peak-tflops`.
const GPU_PEAKS: [(&str, f64); 5] =
    [("H200", 989.0), ("H100", 989.0), ("A100", 312.0), ("L40S", 362.0), ("A10", 125.0)];

/// The peak rate MFU is stated against, TFLOP/s, and where it comes from.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PeakRate {
    pub tflops: f64,
    /// `datasheet bf16 (NVIDIA H200)`, `--peak-tflops`, or `measured f32 matmul (cpu)`.
    pub source: String,
}

/// The datasheet bf16 peak of a GPU named `name` (a substring match), if known.
pub fn datasheet_peak(name: &str) -> Option<PeakRate> {
    GPU_PEAKS
        .iter()
        .find(|(gpu, _)| name.contains(gpu))
        .map(|&(_, tflops)| PeakRate { tflops, source: format!("datasheet dense bf16 ({name})") })
}

/// GPU model names, read from the NVIDIA driver's proc files, else from `nvidia-smi` (no CUDA
/// call needed); empty when neither is there.
pub fn gpu_names() -> Vec<String> {
    let mut names = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc/driver/nvidia/gpus") {
        let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        dirs.sort();
        for dir in dirs {
            if let Ok(info) = std::fs::read_to_string(dir.join("information")) {
                if let Some(model) = info.lines().find_map(|l| l.strip_prefix("Model:")) {
                    names.push(model.trim().to_string());
                }
            }
        }
    }
    if names.is_empty() {
        if let Ok(out) = std::process::Command::new("nvidia-smi")
            .args(["--query-gpu=name", "--format=csv,noheader"])
            .output()
        {
            names = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .collect();
        }
    }
    names
}
