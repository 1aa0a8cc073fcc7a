//! agent's build script: link libtorch as every torch package does (`build/link_torch.rs`),
//! then compile the c10d shim (`csrc/c10d_shim.cpp`, data-parallel training) against the
//! torch wheel's headers and Debian's Gloo headers (`libgloo-dev`; the wheel ships none).
//!
//! With the cargo feature `nccl`, the shim also builds NCCL process groups: that needs the
//! wheel's `nccl.h` and CUDA headers (`nvidia/cu13/include`, with `crt/host_config.h` from
//! the PyPI package `nvidia-cuda-crt` and `nv/target` from `nvidia-cuda-cccl`); a CPU-only
//! build needs none of them.

use std::path::{Path, PathBuf};

#[path = "../build/link_torch.rs"]
mod link_torch;

fn main() {
    link_torch::main();
    println!("cargo:rerun-if-changed=csrc/c10d_shim.cpp");
    println!("cargo:rerun-if-env-changed=ICRL_GLOO_INCLUDE");
    println!("cargo:rerun-if-env-changed=ICRL_CUDA_INCLUDE");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return; // link_torch has warned
    };
    let torch_include = Path::new(&lib).join("..").join("include");
    let gloo = std::env::var_os("ICRL_GLOO_INCLUDE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/include"));
    if !gloo.join("gloo").join("config.h").exists() {
        panic!(
            "Gloo's headers are missing ({}): install Debian's libgloo-dev (`apt-get install \
             libgloo-dev`, which `source scripts/setup.sh` does), or set ICRL_GLOO_INCLUDE to \
             the folder holding `gloo/`",
            gloo.join("gloo").display()
        );
    }
    let mut build = cc::Build::new();
    build
        .cpp(true)
        .std("c++17")
        .file("csrc/c10d_shim.cpp")
        .include(&torch_include)
        .include(torch_include.join("torch").join("csrc").join("api").join("include"))
        .include(&gloo)
        // The wheel's C++ ABI; without USE_C10D_GLOO the Gloo header compiles to nothing.
        .define("_GLIBCXX_USE_CXX11_ABI", "1")
        .define("USE_C10D_GLOO", None)
        .flag_if_supported("-Wno-unused-parameter")
        .flag_if_supported("-Wno-deprecated-declarations")
        .warnings(false);
    if std::env::var_os("CARGO_FEATURE_NCCL").is_some() {
        let site = torch_include.join("..").join("..");
        let mut dirs: Vec<PathBuf> = std::env::var("ICRL_CUDA_INCLUDE")
            .map(|v| std::env::split_paths(&v).collect())
            .unwrap_or_default();
        dirs.push(site.join("nvidia").join("nccl").join("include"));
        dirs.push(site.join("nvidia").join("cu13").join("include"));
        for (header, from) in [
            ("nccl.h", "the torch wheel's nvidia-nccl package"),
            ("cuda_runtime_api.h", "the PyPI package nvidia-cuda-runtime"),
            ("crt/host_config.h", "the PyPI package nvidia-cuda-crt~=13.0"),
            ("nv/target", "the PyPI package nvidia-cuda-cccl~=13.0"),
        ] {
            if !dirs.iter().any(|d| d.join(header).exists()) {
                panic!(
                    "feature `nccl`: {header} not found in {} (it comes from {from}); install \
                     it into the virtual environment or set ICRL_CUDA_INCLUDE to its folder",
                    dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
                );
            }
        }
        for d in &dirs {
            build.include(d);
        }
        build.define("ICRL_NCCL", None).define("USE_C10D_NCCL", None).define("USE_CUDA", None);
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    build.compile("icrl_c10d");
}
