/// Writes the MuJoCo library folder (`MUJOCO_DYNAMIC_LINK_DIR`, set by scripts/setup.sh) into
/// the RUNPATH of this package's binaries, so they find libmujoco without environment
/// variables, as they find libtorch. Included by the build scripts of the packages that link
/// binaries.
fn mujoco_rpath() {
    println!("cargo:rerun-if-env-changed=MUJOCO_DYNAMIC_LINK_DIR");
    println!("cargo:rerun-if-changed=../build/mujoco_rpath.rs");
    if let Ok(dir) = std::env::var("MUJOCO_DYNAMIC_LINK_DIR") {
        println!("cargo:rustc-link-arg=-Wl,--enable-new-dtags,-rpath,{dir}");
    }
}
