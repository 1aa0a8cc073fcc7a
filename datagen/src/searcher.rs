//! A demonstrator that searches: the grid rooms' oracle without its knowledge of the goal.
//!
//! The plain oracle walks the shortest path to a goal it knows from the first step, so the
//! only exploration in its noise-distilled histories is the noise itself. An agent distilled
//! from them learns to go to a goal it has seen rewarded, but has never seen a demonstrator
//! look for one, and on a goal it has not found yet it can only dither. The searcher acts
//! like a learner that knows how to explore: until it is rewarded it walks to the nearest
//! cell it has not visited in this history (visits persist across the history's episodes);
//! once rewarded on a cell it walks the shortest path to that cell, as the oracle does.
//! Noise distillation applies on top, as for any demonstrator.

use envs::Action;
use envs::grid::{Cell, STAY, distance, oracle_action};

use histories::demonstrator::Demonstrator;

/// The searching demonstrator of a `size` x `size` grid room whose observation is the
/// agent's cell `[x, y]`.
#[derive(Clone, Debug)]
pub struct GridSearcher {
    size: usize,
    visited: Vec<bool>,
    goal: Option<Cell>,
}

impl GridSearcher {
    pub fn new(size: usize) -> Self {
        GridSearcher { size, visited: vec![false; size * size], goal: None }
    }

    /// The cell of an observation, if it is one of the grid's.
    fn cell(&self, obs: &[f32]) -> Option<Cell> {
        let (&x, &y) = (obs.first()?, obs.get(1)?);
        let inside = |v: f32| v >= 0.0 && (v as usize) < self.size && v.fract() == 0.0;
        (inside(x) && inside(y)).then_some([x as usize, y as usize])
    }

    fn visit(&mut self, cell: Cell) {
        self.visited[cell[1] * self.size + cell[0]] = true;
    }

    /// The nearest unvisited cell (Manhattan distance; ties to the lowest row, then column),
    /// or `None` once every cell has been visited.
    fn frontier(&self, from: Cell) -> Option<Cell> {
        (0..self.size * self.size)
            .filter(|&i| !self.visited[i])
            .map(|i| [i % self.size, i / self.size])
            .min_by_key(|&c| (distance(from, c), c[1], c[0]))
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
        let Some(pos) = self.cell(obs) else { return Action::Discrete(STAY) };
        self.visit(pos);
        let target = self.goal.or_else(|| self.frontier(pos)).unwrap_or(pos);
        Action::Discrete(oracle_action(pos, target))
    }

    fn observe(&mut self, reward: f64, next_obs: &[f32]) {
        if let Some(cell) = self.cell(next_obs) {
            self.visit(cell);
            if reward > 0.0 && self.goal.is_none() {
                self.goal = Some(cell);
            }
        }
    }

    fn new_history(&mut self) {
        self.visited.iter_mut().for_each(|v| *v = false);
        self.goal = None;
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
        assert!(s.visited.iter().all(|v| !v));
        // Out-of-grid observations are not cells: the searcher stays.
        assert_eq!(s.act(&[42.0, 0.5]), Action::Discrete(STAY));
    }
}
