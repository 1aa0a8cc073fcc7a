//! Learning-history datasets: demonstrators, noise distillation and the HDF5 format.

pub mod demonstrator;
pub mod format;
pub mod history;
pub mod noise;
pub mod schedule;

pub use demonstrator::Demonstrator;
