//! Domain groups: tasks whose observation and action spaces have the same shape share the
//! model's encoders and decoders. A group is named `obs{D}-discrete{N}` or `obs{D}-box{A}`
//! (task files, the manifest and the model's group specs all use the name); [`DomainGroup`]
//! is that name as a type, with one text form ([`std::fmt::Display`], [`FromStr`], serde).

use std::fmt;
use std::str::FromStr;

use envs::Space;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The action side of a domain group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupAction {
    /// One of `n` actions (stored as one float, the index).
    Discrete { n: usize },
    /// A real vector of `dim` values.
    Continuous { dim: usize },
}

impl GroupAction {
    /// The action side of an env's action space.
    pub fn of(space: &Space) -> Self {
        match space {
            Space::Discrete { n } => GroupAction::Discrete { n: *n },
            Space::Box { low, .. } => GroupAction::Continuous { dim: low.len() },
        }
    }

    /// `discrete` or `continuous`: the `action_type` of task files and the manifest.
    pub fn action_type(self) -> &'static str {
        match self {
            GroupAction::Discrete { .. } => "discrete",
            GroupAction::Continuous { .. } => "continuous",
        }
    }

    /// The number of discrete actions (0 for continuous): `num_actions` in the format.
    pub fn num_actions(self) -> usize {
        match self {
            GroupAction::Discrete { n } => n,
            GroupAction::Continuous { .. } => 0,
        }
    }
}

/// A domain group: the observation width and the action space its tasks share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DomainGroup {
    pub obs_dim: usize,
    pub action: GroupAction,
}

impl DomainGroup {
    /// The domain group of an env with these spaces.
    pub fn of(obs: &Space, act: &Space) -> Self {
        DomainGroup { obs_dim: obs.flat_dim(), action: GroupAction::of(act) }
    }
}

impl fmt::Display for DomainGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.action {
            GroupAction::Discrete { n } => format!("obs{}-discrete{n}", self.obs_dim),
            GroupAction::Continuous { dim } => format!("obs{}-box{dim}", self.obs_dim),
        };
        f.pad(&name)
    }
}

/// A group name that is not `obs{D}-discrete{N}` or `obs{D}-box{A}`.
#[derive(Debug, thiserror::Error)]
#[error("domain group `{0}`: expected obs{{D}}-discrete{{N}} or obs{{D}}-box{{A}}")]
pub struct GroupNameError(pub String);

impl FromStr for DomainGroup {
    type Err = GroupNameError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || GroupNameError(text.to_string());
        let number = |digits: &str| -> Result<usize, GroupNameError> {
            // Digits only (no sign, no spaces), so a name reads back to exactly itself.
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            digits.parse().map_err(|_| bad())
        };
        let rest = text.strip_prefix("obs").ok_or_else(bad)?;
        let (obs, action) = rest.split_once('-').ok_or_else(bad)?;
        let action = if let Some(n) = action.strip_prefix("discrete") {
            GroupAction::Discrete { n: number(n)? }
        } else if let Some(dim) = action.strip_prefix("box") {
            GroupAction::Continuous { dim: number(dim)? }
        } else {
            return Err(bad());
        };
        let group = DomainGroup { obs_dim: number(obs)?, action };
        if group.to_string() != text {
            return Err(bad());
        }
        Ok(group)
    }
}

impl Serialize for DomainGroup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DomainGroup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_read_back_and_keep_their_text() {
        let grid = DomainGroup::of(
            &Space::Box { low: vec![0.0; 2], high: vec![8.0; 2] },
            &Space::Discrete { n: 5 },
        );
        assert_eq!(grid.to_string(), "obs2-discrete5");
        let pendulum = DomainGroup::of(
            &Space::Box { low: vec![-1.0; 3], high: vec![1.0; 3] },
            &Space::Box { low: vec![-2.0], high: vec![2.0] },
        );
        assert_eq!(pendulum.to_string(), "obs3-box1");
        assert_eq!(format!("{grid:<16}|"), "obs2-discrete5  |");
        for g in [grid, pendulum] {
            assert_eq!(g.to_string().parse::<DomainGroup>().unwrap(), g);
            let json = serde_json::to_string(&g).unwrap();
            assert_eq!(json, format!("\"{g}\""));
            assert_eq!(serde_json::from_str::<DomainGroup>(&json).unwrap(), g);
        }
        assert_eq!(pendulum.action.action_type(), "continuous");
        assert_eq!((grid.action.action_type(), grid.action.num_actions()), ("discrete", 5));
        for bad in
            ["", "obs2", "obs2-discrete", "obs-box1", "obs02-box1", "obs2-lattice3", "obs+2-box1"]
        {
            assert!(bad.parse::<DomainGroup>().is_err(), "{bad}");
        }
    }
}
