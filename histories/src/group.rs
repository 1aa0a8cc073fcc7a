//! Domain groups: tasks whose observation and action spaces have the same shape share the
//! model's encoders and decoders.

use envs::Space;

/// The domain group of an env: tasks whose observation and action spaces have the same
/// shape share encoders and decoders.
pub fn domain_group(obs: &Space, act: &Space) -> String {
    match act {
        Space::Discrete { n } => format!("obs{}-discrete{n}", obs.flat_dim()),
        Space::Box { low, .. } => format!("obs{}-box{}", obs.flat_dim(), low.len()),
    }
}
