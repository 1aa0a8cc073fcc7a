//! Demonstrators: the policies whose noised rollouts become learning histories.

use envs::Action;

/// A policy that acts on raw (unnormalised) observations of one task. Implementations apply
/// their own observation normalisation. `act` is the demonstrator's own deterministic action
/// (the Gaussian mean, the arg-max logit, the oracle's shortest-path move); noise distillation
/// mixes it with uniform noise.
pub trait Demonstrator: Send {
    /// A short name for metadata, e.g. `ppo` or `oracle`.
    fn kind(&self) -> &'static str;
    /// The demonstrator's action for `obs` (raw observation of the env it was trained on).
    fn act(&mut self, obs: &[f32]) -> Action;
    /// Called at every episode start (oracles that track the episode reset here).
    fn reset(&mut self) {}
    /// Called after every step with its reward and the next observation (demonstrators that
    /// learn within a history, like `datagen`'s grid searcher, remember them).
    fn observe(&mut self, _reward: f64, _next_obs: &[f32]) {}
    /// Called at the start of every history: forget what was learned in the last one.
    fn new_history(&mut self) {}
}
