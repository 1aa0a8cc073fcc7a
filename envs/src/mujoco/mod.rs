//! MuJoCo locomotion after Gymnasium's v5 envs, through `mujoco-rs` (MuJoCo 3.17.0, the
//! library of the PyPI wheel `mujoco==3.17.0` that the set-up installs). The models are
//! Gymnasium's XML files (`envs/assets/mujoco/`, with Gymnasium's MIT licence).

mod half_cheetah;

pub use half_cheetah::HalfCheetah;
