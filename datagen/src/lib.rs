//! Learning-history datasets: demonstrators, noise distillation and the HDF5 format.

pub mod demonstrator;

pub use demonstrator::Demonstrator;
