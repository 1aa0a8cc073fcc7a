//! Dark grid worlds (AD, ADε): the agent sees only its own position and must find the
//! rewarding cells of the task from its history.
//!
//! Shared by all grid families:
//! - Cells are `[x, y]` with `0 <= x, y < size`.
//! - Actions ([`Space::Discrete`] with 5 values): 0 stay, 1 up `(x, y + 1)`, 2 down
//!   `(x, y - 1)`, 3 left `(x - 1, y)`, 4 right `(x + 1, y)`. A move off the grid leaves the
//!   agent where it is.
//! - Observation: the position `[x, y]` as `f32` in the box `[0, size - 1]^2`.
//! - [`oracle_action`] gives an exact shortest-path action towards a target cell; each grid
//!   env exposes it for its current state through [`crate::Env::oracle_action`].

mod dark_room;
mod key_to_door;

pub use dark_room::{DARK_ROOM, DARK_ROOM_HARD, DarkRoom, DarkRoomFamily};
pub use key_to_door::{KEY_TO_DOOR, KeyToDoor, KeyToDoorFamily};

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::core::{Action, EnvError, Space, Task};

/// A grid cell `[x, y]`.
pub type Cell = [usize; 2];

/// Number of grid actions.
pub const NUM_ACTIONS: usize = 5;
pub const STAY: usize = 0;
pub const UP: usize = 1;
pub const DOWN: usize = 2;
pub const LEFT: usize = 3;
pub const RIGHT: usize = 4;

/// The cell reached from `pos` by `action` on a `size` x `size` grid.
pub fn move_agent(pos: Cell, action: usize, size: usize) -> Cell {
    let [x, y] = pos;
    match action {
        UP if y + 1 < size => [x, y + 1],
        DOWN if y > 0 => [x, y - 1],
        LEFT if x > 0 => [x - 1, y],
        RIGHT if x + 1 < size => [x + 1, y],
        _ => pos,
    }
}

/// An optimal action towards `target` on an open grid: a move that shortens the Manhattan
/// distance, horizontal moves first (ties broken that way so the demonstrator is
/// deterministic); `STAY` on the target.
pub fn oracle_action(pos: Cell, target: Cell) -> usize {
    let [x, y] = pos;
    let [tx, ty] = target;
    if x < tx {
        RIGHT
    } else if x > tx {
        LEFT
    } else if y < ty {
        UP
    } else if y > ty {
        DOWN
    } else {
        STAY
    }
}

/// Shortest number of steps from `a` to `b` (Manhattan distance).
pub fn distance(a: Cell, b: Cell) -> usize {
    a[0].abs_diff(b[0]) + a[1].abs_diff(b[1])
}

/// The grid action index of `action`, or an error naming the env.
pub(crate) fn parse_action(env: &str, action: &Action) -> Result<usize, EnvError> {
    match action {
        Action::Discrete(a) if *a < NUM_ACTIONS => Ok(*a),
        _ => Err(EnvError::InvalidAction {
            env: env.into(),
            got: format!("{action:?}"),
            expected: format!(
                "Discrete(a) with 0 <= a < {NUM_ACTIONS} (stay, up, down, left, right)"
            ),
        }),
    }
}

pub(crate) fn observation_space(size: usize) -> Space {
    Space::uniform_box(2, 0.0, (size - 1) as f32)
}

pub(crate) fn observe(pos: Cell) -> Vec<f32> {
    vec![pos[0] as f32, pos[1] as f32]
}

pub(crate) fn cell_json(cell: Cell) -> Value {
    json!([cell[0], cell[1]])
}

/// Every cell of a `size` x `size` grid, row by row.
pub(crate) fn all_cells(size: usize) -> Vec<Cell> {
    (0..size).flat_map(|y| (0..size).map(move |x| [x, y])).collect()
}

/// A fixed, seeded split of `items` into `(train, held_out)` with `held_out` items held out.
pub(crate) fn seeded_split<T>(mut items: Vec<T>, held_out: usize, seed: u64) -> (Vec<T>, Vec<T>) {
    items.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    let test = items.split_off(items.len() - held_out.min(items.len()));
    (items, test)
}

/// A task JSON object from `(key, cell)` pairs.
pub(crate) fn cells_task(pairs: &[(&str, Cell)]) -> Task {
    pairs.iter().map(|(k, c)| (k.to_string(), cell_json(*c))).collect()
}

/// Reads the `pos` field of a grid reset state such as `{"pos": [4, 4]}`.
pub(crate) fn state_pos(env: &str, state: &Value, size: usize) -> Result<Cell, EnvError> {
    state.get("pos").and_then(|p| crate::task::parse_cell(p, size)).ok_or_else(|| {
        EnvError::InvalidOptions {
            env: env.into(),
            reason: format!(
                "state must be an object with \"pos\": [x, y], 0 <= x, y < {size}; got {state}"
            ),
        }
    })
}

/// Reads an optional boolean field of a grid reset state (`false` when absent).
pub(crate) fn state_flag(env: &str, state: &Value, field: &str) -> Result<bool, EnvError> {
    match state.get(field) {
        None => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(EnvError::InvalidOptions {
            env: env.into(),
            reason: format!("state field \"{field}\" must be true or false, got {other}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_stay_inside_the_grid() {
        assert_eq!(move_agent([0, 0], LEFT, 9), [0, 0]);
        assert_eq!(move_agent([0, 0], DOWN, 9), [0, 0]);
        assert_eq!(move_agent([8, 8], UP, 9), [8, 8]);
        assert_eq!(move_agent([8, 8], RIGHT, 9), [8, 8]);
        assert_eq!(move_agent([4, 4], UP, 9), [4, 5]);
        assert_eq!(move_agent([4, 4], LEFT, 9), [3, 4]);
    }

    #[test]
    fn oracle_reaches_every_target_in_the_shortest_number_of_steps() {
        for start in all_cells(9) {
            for target in all_cells(9) {
                let mut pos = start;
                for _ in 0..distance(start, target) {
                    pos = move_agent(pos, oracle_action(pos, target), 9);
                }
                assert_eq!(pos, target, "from {start:?}");
                assert_eq!(oracle_action(pos, target), STAY);
            }
        }
    }

    #[test]
    fn split_is_fixed_and_disjoint() {
        let (a, b) = seeded_split(all_cells(9), 16, 7);
        let (c, d) = seeded_split(all_cells(9), 16, 7);
        assert_eq!((a.len(), b.len()), (65, 16));
        assert_eq!((&a, &b), (&c, &d));
        assert!(b.iter().all(|cell| !a.contains(cell)));
    }
}
