//! Demonstrators that search: the grid rooms' oracles without their knowledge of the task.
//!
//! The plain oracle walks the shortest path to a goal it knows from the first step, so the
//! only exploration in its noise-distilled histories is the noise itself. An agent distilled
//! from them learns to go to a goal it has seen rewarded, but has never seen a demonstrator
//! look for one, and on a goal it has not found yet it can only dither. A searcher acts like
//! a learner that knows how to explore: until it is rewarded it walks to the nearest cell it
//! has not tried in this history (what it has tried persists across the history's episodes);
//! once rewarded on a cell it walks the shortest path to that cell, as the oracle does.
//! Noise distillation applies on top, as for any demonstrator.
//!
//! - [`GridSearcher`]: Dark Room and Dark Room Hard (one goal).
//! - [`KeyDoorSearcher`]: Key-to-Door (a key, then a door that pays only while the key is
//!   held; neither the key nor whether it is held is observed, so the searcher tracks both
//!   from the rewards).

use envs::Action;
use envs::grid::{Cell, STAY, distance, oracle_action};

use histories::demonstrator::Demonstrator;

/// The cells of a `size` x `size` grid tried so far in one history, and the nearest untried
/// one: the search both searchers share.
#[derive(Clone, Debug)]
struct Sweep {
    size: usize,
    tried: Vec<bool>,
}

impl Sweep {
    fn new(size: usize) -> Self {
        Sweep { size, tried: vec![false; size * size] }
    }

    fn mark(&mut self, cell: Cell) {
        self.tried[cell[1] * self.size + cell[0]] = true;
    }

    /// The nearest untried cell (Manhattan distance; ties to the lowest row, then column),
    /// or `None` once every cell has been tried.
    fn frontier(&self, from: Cell) -> Option<Cell> {
        (0..self.size * self.size)
            .filter(|&i| !self.tried[i])
            .map(|i| [i % self.size, i / self.size])
            .min_by_key(|&c| (distance(from, c), c[1], c[0]))
    }

    fn clear(&mut self) {
        self.tried.iter_mut().for_each(|v| *v = false);
    }

    #[cfg(test)]
    fn is_clear(&self) -> bool {
        self.tried.iter().all(|v| !v)
    }
}

/// The cell of an observation `[x, y]` of a `size` x `size` grid, if it is one of the grid's.
fn grid_cell(size: usize, obs: &[f32]) -> Option<Cell> {
    let (&x, &y) = (obs.first()?, obs.get(1)?);
    let inside = |v: f32| v >= 0.0 && (v as usize) < size && v.fract() == 0.0;
    (inside(x) && inside(y)).then_some([x as usize, y as usize])
}

/// The searching demonstrator of a `size` x `size` grid room whose observation is the
/// agent's cell `[x, y]`.
#[derive(Clone, Debug)]
pub struct GridSearcher {
    sweep: Sweep,
    goal: Option<Cell>,
}

impl GridSearcher {
    pub fn new(size: usize) -> Self {
        GridSearcher { sweep: Sweep::new(size), goal: None }
    }

    /// The goal this searcher has found, if any.
    pub fn goal(&self) -> Option<Cell> {
        self.goal
    }
}

impl Demonstrator for GridSearcher {
    fn kind(&self) -> &'static str {
        "searcher"
    }

    fn act(&mut self, obs: &[f32]) -> Action {
        let Some(pos) = grid_cell(self.sweep.size, obs) else { return Action::Discrete(STAY) };
        self.sweep.mark(pos);
        let target = self.goal.or_else(|| self.sweep.frontier(pos)).unwrap_or(pos);
        Action::Discrete(oracle_action(pos, target))
    }

    fn observe(&mut self, reward: f64, next_obs: &[f32]) {
        if let Some(cell) = grid_cell(self.sweep.size, next_obs) {
            self.sweep.mark(cell);
            if reward > 0.0 && self.goal.is_none() {
                self.goal = Some(cell);
            }
        }
    }

    fn new_history(&mut self) {
        self.sweep.clear();
        self.goal = None;
    }
}

/// The searching demonstrator of Key-to-Door: it sweeps for the key until a reward shows
/// where it is, then (holding the key) sweeps for the door until the second reward; from then
/// on it walks the shortest path to the key and then to the door, as the oracle does.
///
/// A cell is tried for the key when a step without the key ends on it unrewarded, and for the
/// door when a step that began with the key held ends on it unrewarded (the door pays only
/// then). Both lists persist across the history's episodes; whether the key is held starts
/// false at every episode (the env's start).
#[derive(Clone, Debug)]
pub struct KeyDoorSearcher {
    for_key: Sweep,
    for_door: Sweep,
    key: Option<Cell>,
    door: Option<Cell>,
    has_key: bool,
}

impl KeyDoorSearcher {
    pub fn new(size: usize) -> Self {
        KeyDoorSearcher {
            for_key: Sweep::new(size),
            for_door: Sweep::new(size),
            key: None,
            door: None,
            has_key: false,
        }
    }

    /// The key and the door this searcher has found, if any.
    pub fn found(&self) -> (Option<Cell>, Option<Cell>) {
        (self.key, self.door)
    }
}

impl Demonstrator for KeyDoorSearcher {
    fn kind(&self) -> &'static str {
        "searcher"
    }

    fn act(&mut self, obs: &[f32]) -> Action {
        let Some(pos) = grid_cell(self.for_key.size, obs) else {
            return Action::Discrete(STAY);
        };
        let target = if self.has_key {
            self.door.or_else(|| self.for_door.frontier(pos))
        } else {
            self.key.or_else(|| self.for_key.frontier(pos))
        };
        Action::Discrete(oracle_action(pos, target.unwrap_or(pos)))
    }

    fn reset(&mut self) {
        self.has_key = false;
    }

    fn observe(&mut self, reward: f64, next_obs: &[f32]) {
        let Some(cell) = grid_cell(self.for_key.size, next_obs) else { return };
        let paid = reward > 0.0;
        match (self.has_key, paid) {
            (false, true) => {
                self.key = Some(cell);
                self.has_key = true;
            }
            (false, false) => self.for_key.mark(cell),
            (true, true) => {
                self.door = Some(cell);
                // The door ends the episode; the next one starts without the key.
                self.has_key = false;
            }
            (true, false) => self.for_door.mark(cell),
        }
    }

    fn new_history(&mut self) {
        self.for_key.clear();
        self.for_door.clear();
        self.key = None;
        self.door = None;
        self.has_key = false;
    }
}

#[cfg(test)]
mod tests {
    use envs::Env;

    use super::*;
    use histories::history::{DemoSource, mean_return_at, roll_out};
    use histories::schedule::Schedule;

    fn dark_room(goal: [usize; 2]) -> Box<dyn Env> {
        envs::make(
            "DarkRoom-v0",
            &serde_json::from_str(&format!(r#"{{"goal":{goal:?}}}"#)).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn searches_then_exploits_every_goal_of_the_room() {
        // Without noise, every goal is found within a few episodes, and from the episode
        // after it is found the searcher earns the oracle's return.
        for gx in 0..9 {
            for gy in 0..9 {
                let mut env = dark_room([gx, gy]);
                let mut searcher = GridSearcher::new(9);
                let mut demo = DemoSource::Policy(&mut searcher);
                let none = Schedule::Linear { start: 0.0, end: 0.0, f: 0.0 };
                let h = roll_out(env.as_mut(), &mut demo, &none, 20 * 12, 0).unwrap();
                let returns: Vec<f32> = h.rewards.chunks(20).map(|r| r.iter().sum()).collect();
                let found = returns.iter().position(|&r| r > 0.0).expect("goal found");
                assert!(found <= 8, "goal {gx},{gy} found only in episode {found}");
                let oracle = mean_return_at(env.as_mut(), &mut DemoSource::Oracle, 0.0, 1, 0)
                    .unwrap() as f32;
                for &r in &returns[found + 1..] {
                    assert_eq!(r, oracle, "goal {gx},{gy}: {returns:?}");
                }
            }
        }
    }

    #[test]
    fn a_new_history_forgets_the_goal_and_the_visits() {
        let mut s = GridSearcher::new(9);
        s.act(&[4.0, 4.0]);
        s.observe(1.0, &[5.0, 4.0]);
        assert_eq!(s.goal(), Some([5, 4]));
        s.new_history();
        assert_eq!(s.goal(), None);
        assert!(s.sweep.is_clear());
        // Out-of-grid observations are not cells: the searcher stays.
        assert_eq!(s.act(&[42.0, 0.5]), Action::Discrete(STAY));
    }

    fn key_to_door(key: [usize; 2], door: [usize; 2]) -> Box<dyn Env> {
        envs::make(
            "KeyToDoor-v0",
            &serde_json::from_str(&format!(r#"{{"key":{key:?},"door":{door:?}}}"#)).unwrap(),
        )
        .unwrap()
    }

    /// The per-episode returns and lengths of a history (episodes end at `terminated` or
    /// `truncated`).
    fn episodes(h: &histories::history::History) -> Vec<(f32, usize)> {
        let mut out = Vec::new();
        let (mut ret, mut len) = (0.0, 0);
        for i in 0..h.len() {
            ret += h.rewards[i];
            len += 1;
            if h.terminated[i] == 1 || h.truncated[i] == 1 {
                out.push((ret, len));
                (ret, len) = (0.0, 0);
            }
        }
        out
    }

    #[test]
    fn key_door_searcher_finds_both_then_walks_the_oracle_path() {
        // Without noise, on every 17th (key, door) pair of the room (keys and doors in every
        // row and column, shared cells included): both are found within the history, and
        // from the episode after the door is found every episode is the oracle's.
        let none = Schedule::Linear { start: 0.0, end: 0.0, f: 0.0 };
        let cells: Vec<[usize; 2]> = (0..81).map(|i| [i % 9, i / 9]).collect();
        let pairs = cells.iter().flat_map(|&k| cells.iter().map(move |&d| (k, d)));
        for (key, door) in pairs.step_by(17).chain([([4, 4], [4, 4]), ([0, 0], [0, 0])]) {
            let mut env = key_to_door(key, door);
            let mut searcher = KeyDoorSearcher::new(9);
            let mut demo = DemoSource::Policy(&mut searcher);
            let h = roll_out(env.as_mut(), &mut demo, &none, 40 * 40, 0).unwrap();
            assert_eq!(searcher.found(), (Some(key), Some(door)), "key {key:?} door {door:?}");
            let eps = episodes(&h);
            let solved = eps.iter().position(|&(r, _)| r == 2.0).expect("door opened");
            assert!(solved <= 25, "key {key:?} door {door:?}: first opened in episode {solved}");
            let shortest = distance([4, 4], key).max(1) + distance(key, door).max(1);
            for &(r, len) in &eps[solved + 1..eps.len() - 1] {
                assert_eq!((r, len), (2.0, shortest), "key {key:?} door {door:?}: {eps:?}");
            }
        }
    }

    #[test]
    fn key_door_searcher_tries_the_door_only_while_holding_the_key() {
        let mut s = KeyDoorSearcher::new(9);
        // Unrewarded steps without the key rule cells out for the key, not for the door.
        s.observe(0.0, &[4.0, 5.0]);
        assert!(s.for_key.tried[5 * 9 + 4] && !s.for_door.tried[5 * 9 + 4]);
        // The key pays at [4, 6]; from then on unrewarded cells are ruled out for the door.
        s.observe(1.0, &[4.0, 6.0]);
        assert_eq!(s.found(), (Some([4, 6]), None));
        // The door may share the key's cell: the searcher stays to try it.
        assert_eq!(s.act(&[4.0, 6.0]), Action::Discrete(STAY));
        s.observe(0.0, &[4.0, 6.0]);
        assert!(s.for_door.tried[6 * 9 + 4]);
        // A new episode starts without the key: back to the key, not the door.
        s.reset();
        assert_eq!(s.act(&[4.0, 4.0]), Action::Discrete(oracle_action([4, 4], [4, 6])));
        s.new_history();
        assert_eq!(s.found(), (None, None));
        assert!(s.for_key.is_clear() && s.for_door.is_clear());
        assert_eq!(s.act(&[42.0, 0.5]), Action::Discrete(STAY));
    }
}
