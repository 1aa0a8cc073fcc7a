//! The in-context action model and its deployment path.

pub mod model;
pub mod eval;
pub mod quant;
pub mod train;
