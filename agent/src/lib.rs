//! The in-context action model and its deployment path.

pub mod dist;
pub mod eval;
pub mod model;
pub mod quant;
pub mod train;
pub mod usage;
