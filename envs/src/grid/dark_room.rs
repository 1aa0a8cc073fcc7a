//! Dark Room (`DarkRoom-v0`) and Dark Room Hard (`DarkRoomHard-v0`).

use crate::core::{
    Action, Env, EnvError, EnvRng, EnvSpec, Family, Info, ResetOptions, Space, Step, Task,
};
use crate::grid::{self, Cell};
use crate::task::TaskParams;
use crate::time_limit::TimeLimit;

/// A family of dark rooms: one size, episode length and reward rule, one task per goal cell.
#[derive(Clone, Copy, Debug)]
pub struct DarkRoomFamily {
    pub id: &'static str,
    pub size: usize,
    pub max_episode_steps: usize,
    /// Reward only the first time the goal is reached (Hard), instead of every step on it.
    pub reward_once: bool,
    /// Number of goals held out for evaluation; the rest are train tasks.
    pub heldout: usize,
    /// Seed of the fixed train/held-out split.
    pub split_seed: u64,
}

/// Dark Room (AD; ADε): a 9x9 room, 20 steps, the goal is the task.
///
/// **Description.** The agent starts in the centre of a dark 9x9 room and must find an
/// unseen goal cell. The goal (the task) is fixed within an episode and across the episodes
/// of a learning history, so an in-context learner must discover it and then return to it.
///
/// **Action space.** `Discrete(5)`: 0 stay, 1 up `(x, y + 1)`, 2 down, 3 left, 4 right;
/// moves off the grid leave the agent in place.
///
/// **Observation space.** `Box([0, 0], [8, 8])`, `f32`: the agent's position `[x, y]` only.
///
/// **Rewards.** 1 on every step that ends on the goal cell, else 0.
///
/// **Starting state.** Always the centre `[4, 4]`; reset option `state`:
/// `{"pos": [x, y]}` starts elsewhere.
///
/// **Episode end.** Never terminates; truncated after 20 steps.
///
/// **Arguments (task).** `{"goal": [x, y]}` (default `[8, 8]`); 81 tasks, a fixed seeded
/// split of 65 train and 16 held-out goals.
///
/// **Version history.** v0: this implementation.
pub const DARK_ROOM: DarkRoomFamily = DarkRoomFamily {
    id: "DarkRoom-v0",
    size: 9,
    max_episode_steps: 20,
    reward_once: false,
    heldout: 16,
    split_seed: 0xDA4C,
};

/// Dark Room Hard (AD): a 17x17 room where the goal pays only once.
///
/// **Description.** As [`DARK_ROOM`] on a 17x17 grid with a sparse reward: only the first
/// arrival on the goal pays, so the learner gets one bit of feedback per successful episode.
///
/// **Action space.** As Dark Room: `Discrete(5)`.
///
/// **Observation space.** `Box([0, 0], [16, 16])`, `f32`: the position `[x, y]`.
///
/// **Rewards.** 1 on the first step that ends on the goal, 0 otherwise (staying on the goal
/// afterwards pays nothing).
///
/// **Starting state.** The centre `[8, 8]`; reset option `state`:
/// `{"pos": [x, y], "rewarded": bool}`.
///
/// **Episode end.** Never terminates; truncated after 20 steps (every goal is within 16
/// steps of the centre). METHODS.md does not fix this length; 20 follows Dark Room.
///
/// **Arguments (task).** `{"goal": [x, y]}` (default `[16, 16]`); 289 tasks, a fixed seeded
/// split of 231 train and 58 held-out goals (the 80/20 ratio of Dark Room).
///
/// **Version history.** v0: this implementation.
pub const DARK_ROOM_HARD: DarkRoomFamily = DarkRoomFamily {
    id: "DarkRoomHard-v0",
    size: 17,
    max_episode_steps: 20,
    reward_once: true,
    heldout: 58,
    split_seed: 0xDA4D,
};

impl DarkRoomFamily {
    fn split(&self) -> (Vec<Task>, Vec<Task>) {
        let (train, test) =
            grid::seeded_split(grid::all_cells(self.size), self.heldout, self.split_seed);
        let tasks = |cells: Vec<Cell>| {
            cells.into_iter().map(|g| grid::cells_task(&[("goal", g)])).collect()
        };
        (tasks(train), tasks(test))
    }

    /// The env for `task` without its time limit.
    pub fn make_raw(&self, task: &Task) -> Result<DarkRoom, EnvError> {
        let params = TaskParams::new(self.id, task, &["goal"])?;
        let corner = self.size - 1;
        let goal = params.cell("goal", self.size, [corner, corner])?;
        Ok(DarkRoom {
            family: *self,
            spec: EnvSpec {
                id: self.id,
                max_episode_steps: Some(self.max_episode_steps),
                reward_threshold: None,
            },
            obs_space: grid::observation_space(self.size),
            action_space: Space::Discrete { n: grid::NUM_ACTIONS },
            goal,
            pos: None,
            rewarded: false,
            rng: EnvRng::default(),
        })
    }
}

impl Family for DarkRoomFamily {
    fn id(&self) -> &'static str {
        self.id
    }

    fn description(&self) -> &'static str {
        if self.reward_once {
            "17x17 dark room, reward only the first time the goal is reached; task = goal cell"
        } else {
            "9x9 dark room, reward 1 on every step on the goal; task = goal cell"
        }
    }

    fn default_task(&self) -> Task {
        let corner = self.size - 1;
        grid::cells_task(&[("goal", [corner, corner])])
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

/// One dark room with a fixed goal. See [`DARK_ROOM`] and [`DARK_ROOM_HARD`].
#[derive(Clone, Debug)]
pub struct DarkRoom {
    family: DarkRoomFamily,
    spec: EnvSpec,
    obs_space: Space,
    action_space: Space,
    goal: Cell,
    pos: Option<Cell>,
    /// The goal has paid in this episode (used by the reward-once rule).
    rewarded: bool,
    /// Unused by the dynamics (the start is fixed); kept for the seeding contract.
    rng: EnvRng,
}

impl DarkRoom {
    /// The goal cell (the task).
    pub fn goal(&self) -> Cell {
        self.goal
    }

    /// The agent's cell, once reset.
    pub fn position(&self) -> Option<Cell> {
        self.pos
    }
}

impl Env for DarkRoom {
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
        let centre = self.family.size / 2;
        let (pos, rewarded) = match &options.state {
            None => ([centre, centre], false),
            Some(state) => (
                grid::state_pos(self.family.id, state, self.family.size)?,
                grid::state_flag(self.family.id, state, "rewarded")?,
            ),
        };
        self.pos = Some(pos);
        self.rewarded = rewarded;
        Ok((grid::observe(pos), Info::default()))
    }

    fn step(&mut self, action: &Action) -> Result<Step, EnvError> {
        let a = grid::parse_action(self.family.id, action)?;
        let pos = self.pos.ok_or_else(|| EnvError::NotReset { env: self.family.id.into() })?;
        let pos = grid::move_agent(pos, a, self.family.size);
        self.pos = Some(pos);
        let on_goal = pos == self.goal;
        let reward = if on_goal && !(self.family.reward_once && self.rewarded) { 1.0 } else { 0.0 };
        self.rewarded |= on_goal;
        Ok(Step {
            obs: grid::observe(pos),
            reward,
            terminated: false,
            truncated: false,
            info: Info::default(),
        })
    }

    /// Towards the goal; on the goal, stay (every further step there pays in Dark Room; in
    /// Dark Room Hard nothing more can be earned, and staying is as good as anything).
    fn oracle_action(&self) -> Option<Action> {
        self.pos.map(|pos| Action::Discrete(grid::oracle_action(pos, self.goal)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(goal: [usize; 2]) -> Task {
        grid::cells_task(&[("goal", goal)])
    }

    fn run_oracle(family: &DarkRoomFamily, goal: [usize; 2]) -> f64 {
        let mut env = family.make(&task(goal)).expect("valid goal");
        env.reset(Some(0), &ResetOptions::default()).expect("reset");
        let mut ret = 0.0;
        loop {
            let a = env.oracle_action().expect("grid envs have an oracle");
            let step = env.step(&a).expect("valid action");
            ret += step.reward;
            if step.terminated || step.truncated {
                return ret;
            }
        }
    }

    #[test]
    fn oracle_return_is_steps_left_after_reaching_the_goal() {
        for goal in grid::all_cells(9) {
            let d = grid::distance([4, 4], goal);
            // Arriving after d steps pays on steps d..=20 (d = 0: staying pays every step).
            let expected = (20 - d.max(1) + 1) as f64;
            assert_eq!(run_oracle(&DARK_ROOM, goal), expected, "goal {goal:?}");
        }
    }

    #[test]
    fn hard_room_pays_once() {
        for goal in [[0, 0], [16, 16], [8, 9], [8, 8]] {
            assert_eq!(run_oracle(&DARK_ROOM_HARD, goal), 1.0, "goal {goal:?}");
        }
    }

    #[test]
    fn splits_have_the_documented_sizes() {
        assert_eq!((DARK_ROOM.train_tasks().len(), DARK_ROOM.heldout_tasks().len()), (65, 16));
        assert_eq!(
            (DARK_ROOM_HARD.train_tasks().len(), DARK_ROOM_HARD.heldout_tasks().len()),
            (231, 58)
        );
    }

    #[test]
    fn explicit_state_and_bad_input_are_handled() {
        let mut env = DARK_ROOM.make(&task([0, 0])).expect("valid");
        assert!(matches!(env.step(&Action::Discrete(0)), Err(EnvError::NotReset { .. })));
        let options = ResetOptions { state: Some(json!({"pos": [1, 0]})) };
        let (obs, _) = env.reset(None, &options).expect("valid state");
        assert_eq!(obs, vec![1.0, 0.0]);
        assert_eq!(env.step(&Action::Discrete(grid::LEFT)).map(|s| s.reward).ok(), Some(1.0));
        assert!(matches!(env.step(&Action::Discrete(5)), Err(EnvError::InvalidAction { .. })));
        let bad = ResetOptions { state: Some(json!({"pos": [9, 0]})) };
        assert!(matches!(env.reset(None, &bad), Err(EnvError::InvalidOptions { .. })));
        let bad_task = task([0, 0]).into_iter().map(|(k, _)| (k, json!([4]))).collect();
        assert!(DARK_ROOM.make(&bad_task).is_err());
    }
}
