//! Dark Key-to-Door (`KeyToDoor-v0`).

use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Family, Info, ResetOptions, Space, Step, Task,
};
use crate::grid::{self, Cell};
use crate::task::TaskParams;
use crate::time_limit::TimeLimit;

const ID: &str = "KeyToDoor-v0";
const SIZE: usize = 9;
const MAX_EPISODE_STEPS: usize = 40;
/// Held-out tasks: a fifth of the 81^2 (key, door) pairs.
const HELDOUT: usize = 1312;
const SPLIT_SEED: u64 = 0x4B2D;

/// The Dark Key-to-Door family. See [`KeyToDoor`].
#[derive(Clone, Copy, Debug)]
pub struct KeyToDoorFamily;

/// The registered instance.
pub const KEY_TO_DOOR: KeyToDoorFamily = KeyToDoorFamily;

impl KeyToDoorFamily {
    fn split(&self) -> (Vec<Task>, Vec<Task>) {
        let cells = grid::all_cells(SIZE);
        let pairs: Vec<(Cell, Cell)> =
            cells.iter().flat_map(|&k| cells.iter().map(move |&d| (k, d))).collect();
        let (train, test) = grid::seeded_split(pairs, HELDOUT, SPLIT_SEED);
        let tasks = |p: Vec<(Cell, Cell)>| {
            p.into_iter().map(|(k, d)| grid::cells_task(&[("key", k), ("door", d)])).collect()
        };
        (tasks(train), tasks(test))
    }

    /// The env for `task` without its time limit.
    pub fn make_raw(&self, task: &Task) -> Result<KeyToDoor, EnvError> {
        let params = TaskParams::new(ID, task, &["key", "door"])?;
        Ok(KeyToDoor {
            spec: EnvSpec {
                id: ID,
                max_episode_steps: Some(MAX_EPISODE_STEPS),
                reward_threshold: None,
            },
            obs_space: grid::observation_space(SIZE),
            action_space: Space::Discrete { n: grid::NUM_ACTIONS },
            key: params.cell("key", SIZE, [0, 0])?,
            door: params.cell("door", SIZE, [8, 8])?,
            pos: None,
            has_key: false,
            rng: EnvRng::default(),
        })
    }
}

impl Family for KeyToDoorFamily {
    fn id(&self) -> &'static str {
        ID
    }

    fn description(&self) -> &'static str {
        "9x9 dark room, reward 1 at the key, then 1 at the door; task = key and door cells"
    }

    fn default_task(&self) -> Task {
        grid::cells_task(&[("key", [0, 0]), ("door", [8, 8])])
    }

    fn train_tasks(&self) -> Vec<Task> {
        self.split().0
    }

    fn heldout_tasks(&self) -> Vec<Task> {
        self.split().1
    }

    fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError> {
        Ok(Box::new(TimeLimit::new(self.make_raw(task)?).for_task(task)))
    }

    fn random_start(&self) -> bool {
        false
    }
}

/// Dark Key-to-Door (AD, ADε): pick up an unseen key, then open an unseen door.
///
/// **Description.** A dark 9x9 room holds a key cell and a door cell (the task). The agent
/// sees only its position; it must find the key and then the door, and an in-context learner
/// must remember both across episodes.
///
/// **Action space.** `Discrete(5)`: 0 stay, 1 up `(x, y + 1)`, 2 down, 3 left, 4 right;
/// moves off the grid leave the agent in place.
///
/// **Observation space.** `Box([0, 0], [8, 8])`, `f32`: the position `[x, y]` only (whether
/// the key is held is not observed, as in ADε).
///
/// **Rewards.** 1 on the step that first ends on the key; then 1 on the step that ends on
/// the door while holding the key. At most 2 per episode. When key and door share a cell,
/// the key pays on arrival and the door on the next step spent there.
///
/// **Starting state.** The centre `[4, 4]` without the key; reset option `state`:
/// `{"pos": [x, y], "has_key": bool}`.
///
/// **Episode end.** Terminates when the door pays; truncated after 40 steps (the ADε
/// length; AD used 50). Every task is solvable in 24 steps from the centre.
///
/// **Arguments (task).** `{"key": [x, y], "door": [x, y]}` (defaults `[0, 0]` and
/// `[8, 8]`); 81^2 = 6561 tasks, a fixed seeded split of 5249 train and 1312 held-out pairs.
///
/// **Version history.** v0: this implementation.
#[derive(Clone, Debug)]
pub struct KeyToDoor {
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    key: Cell,
    door: Cell,
    pos: Option<Cell>,
    has_key: bool,
    /// Unused by the dynamics (the start is fixed); kept for the seeding contract.
    rng: EnvRng,
}

impl KeyToDoor {
    /// Whether the agent holds the key.
    pub fn has_key(&self) -> bool {
        self.has_key
    }
}

impl Env for KeyToDoor {
    fn spec(&self) -> &EnvSpec {
        &self.spec
    }

    fn observation_space(&self) -> &Space {
        &self.obs_space
    }

    fn action_space(&self) -> &Space {
        &self.action_space
    }

    fn reset(
        &mut self,
        seed: Option<u64>,
        options: &ResetOptions,
    ) -> Result<(Vec<f32>, Info), EnvError> {
        self.rng.reseed(seed);
        let (pos, has_key) = match &options.state {
            None => ([SIZE / 2, SIZE / 2], false),
            Some(state) => {
                (grid::state_pos(ID, state, SIZE)?, grid::state_flag(ID, state, "has_key")?)
            }
        };
        self.pos = Some(pos);
        self.has_key = has_key;
        Ok((grid::observe(pos), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let a = grid::parse_action(ID, action)?;
        let pos = self.pos.ok_or_else(|| EnvError::NotReset { env: ID.into() })?;
        let pos = grid::move_agent(pos, a, SIZE);
        self.pos = Some(pos);
        let (mut reward, mut terminated) = (0.0, false);
        if !self.has_key && pos == self.key {
            self.has_key = true;
            reward = 1.0;
        } else if self.has_key && pos == self.door {
            reward = 1.0;
            terminated = true;
        }
        Ok(Step {
            obs: grid::observe(pos),
            reward,
            terminated,
            truncated: false,
            info: Info::default(),
        })
    }

    /// Towards the key until it is held, then towards the door.
    fn oracle_action(&self) -> Option<Action> {
        let target = if self.has_key { self.door } else { self.key };
        self.pos.map(|pos| Action::Discrete(grid::oracle_action(pos, target)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oracle_collects_both_rewards_in_the_shortest_time() {
        for (key, door) in [([0, 0], [8, 8]), ([4, 4], [4, 4]), ([8, 0], [0, 8]), ([4, 5], [4, 4])]
        {
            let mut env = KEY_TO_DOOR
                .make(&grid::cells_task(&[("key", key), ("door", door)]))
                .expect("valid");
            env.reset(Some(1), &ResetOptions::default()).expect("reset");
            let (mut ret, mut steps) = (0.0, 0);
            loop {
                let step = env.step(&env.oracle_action().expect("oracle")).expect("valid");
                ret += step.reward;
                steps += 1;
                if step.terminated || step.truncated {
                    assert!(step.terminated, "key {key:?} door {door:?}");
                    break;
                }
            }
            let shortest = grid::distance([4, 4], key).max(1) + grid::distance(key, door).max(1);
            assert_eq!((ret, steps), (2.0, shortest), "key {key:?} door {door:?}");
        }
    }

    #[test]
    fn door_without_key_pays_nothing() {
        let mut env = KEY_TO_DOOR
            .make(&grid::cells_task(&[("key", [0, 0]), ("door", [5, 4])]))
            .expect("valid");
        env.reset(Some(0), &ResetOptions::default()).expect("reset");
        let step = env.step(&Action::Discrete(grid::RIGHT)).expect("valid");
        assert_eq!((step.reward, step.terminated), (0.0, false));
    }

    #[test]
    fn split_covers_all_pairs_once() {
        let (train, test) = (KEY_TO_DOOR.train_tasks(), KEY_TO_DOOR.heldout_tasks());
        assert_eq!((train.len(), test.len()), (5249, 1312));
        let mut all: Vec<String> = train
            .iter()
            .chain(&test)
            .map(|t| serde_json::to_string(t).unwrap_or_default())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6561);
    }
}
