//! Generalised advantage estimation (Schulman et al. 2016, "High-Dimensional Continuous
//! Control Using Generalized Advantage Estimation"), with Gymnasium's two episode ends kept
//! apart:
//!
//! - `terminated` (the MDP ended): the next state has value 0, nothing is bootstrapped;
//! - `truncated` (a time limit): the episode was cut, so the target bootstraps with the value
//!   of the *final* observation of that episode, not of the next episode's reset observation.
//!
//! Either way the advantage recursion stops at the episode end.

/// One rollout, stored time-major: index `t * num_envs + e` is step `t` of env copy `e`.
pub struct Rollout<'a> {
    pub num_envs: usize,
    pub rewards: &'a [f32],
    /// V(s_t) of the observation each action was taken in.
    pub values: &'a [f32],
    pub terminated: &'a [bool],
    pub truncated: &'a [bool],
    /// V(final observation) where the step was truncated (ignored elsewhere).
    pub final_values: &'a [f32],
    /// V of the observation after the last step of each env copy (`num_envs` values).
    pub next_values: &'a [f32],
}

/// Advantages and returns (advantage + value, the value target).
pub struct Gae {
    pub advantages: Vec<f32>,
    pub returns: Vec<f32>,
}

/// GAE(lambda) over a rollout.
///
/// `delta_t = r_t + gamma * V_next - V(s_t)` with `V_next` = 0 on termination, V(final obs) on
/// truncation, V(s_{t+1}) otherwise; `A_t = delta_t + gamma * lambda * A_{t+1}` unless step `t`
/// ended the episode.
pub fn compute_gae(rollout: &Rollout, gamma: f32, lambda: f32) -> Gae {
    let n = rollout.num_envs;
    let len = rollout.rewards.len();
    debug_assert_eq!(len % n, 0);
    let steps = len / n;
    let mut advantages = vec![0.0f32; len];
    for e in 0..n {
        let mut next_advantage = 0.0f32;
        for t in (0..steps).rev() {
            let i = t * n + e;
            let next_value = if rollout.terminated[i] {
                0.0
            } else if rollout.truncated[i] {
                rollout.final_values[i]
            } else if t + 1 == steps {
                rollout.next_values[e]
            } else {
                rollout.values[i + n]
            };
            let ended = rollout.terminated[i] || rollout.truncated[i];
            let delta = rollout.rewards[i] + gamma * next_value - rollout.values[i];
            let carried = if ended { 0.0 } else { gamma * lambda * next_advantage };
            advantages[i] = delta + carried;
            next_advantage = advantages[i];
        }
    }
    let returns = advantages.iter().zip(rollout.values).map(|(a, v)| a + v).collect();
    Gae { advantages, returns }
}
