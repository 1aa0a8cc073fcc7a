//! The in-context action model and its deployment path.

pub mod eval;
pub mod model;
pub mod quant;
pub mod train;
pub mod usage;
