//! The registry of task families: a family id plus task parameters builds an env.

use crate::classic::{ACROBOT, CART_POLE, MOUNTAIN_CAR_CONTINUOUS, PENDULUM};
use crate::core::{Env, EnvError, Family, Task};
use crate::grid::{DARK_ROOM, DARK_ROOM_HARD, KEY_TO_DOOR};
use crate::mujoco;

// ---------------------------------------------------------------------------------------------
// THE FAMILY LIST: every registered family, in `icrl env list` order. To register a family,
// add one line here; the env checker test then covers it automatically.
// ---------------------------------------------------------------------------------------------
static FAMILIES: &[&dyn Family] = &[
    &DARK_ROOM,
    &DARK_ROOM_HARD,
    &KEY_TO_DOOR,
    &CART_POLE,
    &PENDULUM,
    &MOUNTAIN_CAR_CONTINUOUS,
    &ACROBOT,
    &crate::industrial_benchmark::INDUSTRIAL_BENCHMARK,
    &mujoco::HALF_CHEETAH,
    &mujoco::HOPPER,
    &mujoco::WALKER2D,
    &mujoco::ANT,
    &mujoco::SWIMMER,
    &mujoco::REACHER,
    &mujoco::INVERTED_PENDULUM,
    &mujoco::INVERTED_DOUBLE_PENDULUM,
    &mujoco::HUMANOID,
];

/// Every registered family.
pub fn families() -> &'static [&'static dyn Family] {
    FAMILIES
}

/// The ids of every registered family, comma-separated (for error messages).
pub fn known_ids() -> String {
    FAMILIES.iter().map(|f| f.id()).collect::<Vec<_>>().join(", ")
}

/// The family with this versioned id, or [`EnvError::UnknownEnv`] listing the known ids.
pub fn family(id: &str) -> Result<&'static dyn Family, EnvError> {
    FAMILIES
        .iter()
        .copied()
        .find(|f| f.id() == id)
        .ok_or_else(|| EnvError::UnknownEnv { id: id.into(), known: known_ids() })
}

/// Build the env of family `id` for `task` (time limit applied).
pub fn make(id: &str, task: &Task) -> Result<Box<dyn Env>, EnvError> {
    family(id)?.make(task)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_unknown_ids_list_the_known_ones() {
        let mut ids: Vec<_> = families().iter().map(|f| f.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), families().len());
        let err = family("DarkRoom-v9").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            err.contains("DarkRoom-v9")
                && err.contains("DarkRoom-v0")
                && err.contains("CartPole-v1"),
            "{err}"
        );
    }
}
