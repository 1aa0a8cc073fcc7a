//! Learning-history datasets: demonstrators, noise distillation and the HDF5 format.

pub mod demonstrator;
pub mod ppo;

pub use demonstrator::Demonstrator;
