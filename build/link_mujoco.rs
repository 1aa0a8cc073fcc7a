//! Build script of `envs`: its test binaries link libmujoco (through mujoco-rs) and need its
//! folder in their RUNPATH.

include!("mujoco_rpath.rs");

fn main() {
    mujoco_rpath();
}
