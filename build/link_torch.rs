//! Build script shared by every package that links a binary or test against libtorch.
//!
//! torch-sys links `libtorch_cpu` and `libc10`, but nothing references `libtorch_cuda`, so
//! with the default `--as-needed` the linker drops it and `Cuda::is_available()` is silently
//! false on a GPU machine. We link `libtorch.so` (which pulls in the CUDA parts) with
//! `--no-as-needed`, and write a RUNPATH to the torch library folder so the binary runs
//! without `LD_LIBRARY_PATH` (and `LD_LIBRARY_PATH` still wins on a GPU machine).
//!
//! torch-sys passes its library folder to direct dependents as `DEP_TCH_LIBTORCH_LIB`.

use std::path::Path;

include!("mujoco_rpath.rs");

// `pub`: agent's build script runs it as a module before compiling its C++ shim.
pub fn main() {
    mujoco_rpath();
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-changed=../build/link_torch.rs");
    let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        println!(
            "cargo:warning=DEP_TCH_LIBTORCH_LIB is unset: this package must depend on torch-sys"
        );
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
    println!("cargo:rustc-link-arg=-L{dir}");
    println!("cargo:rustc-link-arg=-ltorch");
    println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{dir}");
    // The torch version the binary was built against, for `icrl doctor`.
    let version_py = Path::new(&dir).join("..").join("version.py");
    let version = std::fs::read_to_string(&version_py)
        .ok()
        .and_then(|text| {
            text.lines().find_map(|line| {
                let rest = line.strip_prefix("__version__")?;
                Some(
                    rest.trim_start_matches([' ', '='])
                        .trim()
                        .trim_matches(['\'', '"'])
                        .to_string(),
                )
            })
        })
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=ICRL_TORCH_VERSION={version}");
    println!("cargo:rustc-env=ICRL_TORCH_LIB={dir}");
}
