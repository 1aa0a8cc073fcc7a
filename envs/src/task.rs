//! Reading task parameters (a JSON object) with errors that name the env and the field.

use rand::Rng;
use serde_json::Value;

use crate::core::{EnvError, Task};

/// A checked view of a [`Task`]: unknown keys are rejected up front (a typo such as
/// `"gravty"` must not silently fall back to the default).
pub struct TaskParams<'a> {
    env: &'static str,
    task: &'a Task,
}

impl<'a> TaskParams<'a> {
    /// Check that every key of `task` is one of `known`.
    pub fn new(env: &'static str, task: &'a Task, known: &[&str]) -> Result<Self, EnvError> {
        if let Some(key) = task.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(EnvError::InvalidTask {
                env: env.into(),
                field: key.clone(),
                reason: format!("unknown parameter; expected one of: {}", known.join(", ")),
            });
        }
        Ok(Self { env, task })
    }

    fn invalid(&self, field: &str, reason: String) -> EnvError {
        EnvError::InvalidTask { env: self.env.into(), field: field.into(), reason }
    }

    /// A finite number that must be strictly positive, or `default` when absent.
    pub fn positive(&self, field: &str, default: f64) -> Result<f64, EnvError> {
        let Some(value) = self.task.get(field) else {
            return Ok(default);
        };
        match value.as_f64() {
            Some(x) if x.is_finite() && x > 0.0 => Ok(x),
            _ => {
                Err(self.invalid(field, format!("expected a positive finite number, got {value}")))
            }
        }
    }

    /// A finite number (any sign), or `default` when absent.
    pub fn number(&self, field: &str, default: f64) -> Result<f64, EnvError> {
        let Some(value) = self.task.get(field) else {
            return Ok(default);
        };
        match value.as_f64() {
            Some(x) if x.is_finite() => Ok(x),
            _ => Err(self.invalid(field, format!("expected a finite number, got {value}"))),
        }
    }

    /// The value of `range`'s parameter, within `[range.min, range.max]`, or its default
    /// when absent.
    pub fn within(&self, range: &ParamRange) -> Result<f64, EnvError> {
        let Some(value) = self.task.get(range.name) else {
            return Ok(range.default);
        };
        match value.as_f64() {
            Some(x) if (range.min..=range.max).contains(&x) => Ok(x),
            _ => Err(self.invalid(
                range.name,
                format!("expected a number in [{}, {}], got {value}", range.min, range.max),
            )),
        }
    }

    /// A grid cell `[x, y]` with both coordinates in `0..size`, or `default` when absent.
    pub fn cell(
        &self,
        field: &str,
        size: usize,
        default: [usize; 2],
    ) -> Result<[usize; 2], EnvError> {
        match self.task.get(field) {
            None => Ok(default),
            Some(value) => parse_cell(value, size).ok_or_else(|| {
                self.invalid(field, format!("expected [x, y] with 0 <= x, y < {size}, got {value}"))
            }),
        }
    }
}

/// `[x, y]` with both coordinates integers in `0..size`.
pub fn parse_cell(value: &Value, size: usize) -> Option<[usize; 2]> {
    let items = value.as_array()?;
    if items.len() != 2 {
        return None;
    }
    let x = usize::try_from(items[0].as_u64()?).ok()?;
    let y = usize::try_from(items[1].as_u64()?).ok()?;
    (x < size && y < size).then_some([x, y])
}

/// A parameter of a continuous family: train and held-out tasks are sampled uniformly in
/// `[low, high]`; any task may set it within `[min, max]`, a physically sane range (wide
/// enough for evaluation beyond the training ranges) outside which the simulation is refused
/// rather than left to overflow into NaN.
#[derive(Clone, Copy, Debug)]
pub struct ParamRange {
    pub name: &'static str,
    pub default: f64,
    pub low: f64,
    pub high: f64,
    pub min: f64,
    pub max: f64,
}

/// Draw `count` tasks with every parameter uniform in its range, rounded to four significant
/// digits so that the JSON stays readable.
pub fn sample_tasks(ranges: &[ParamRange], count: usize, rng: &mut impl Rng) -> Vec<Task> {
    (0..count)
        .map(|_| {
            ranges
                .iter()
                .map(|r| {
                    let x = r.low + (r.high - r.low) * rng.random::<f64>();
                    (r.name.to_string(), Value::from(round_significant(x, 4)))
                })
                .collect()
        })
        .collect()
}

/// The task with every parameter at its default, written out in full.
pub fn default_task(ranges: &[ParamRange]) -> Task {
    ranges.iter().map(|r| (r.name.to_string(), Value::from(r.default))).collect()
}

/// `x` rounded to `digits` significant digits.
pub fn round_significant(x: f64, digits: i32) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(digits - 1 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}

/// The task parameters that set gravity, by family convention (`g` in Pendulum,
/// `gravity_scale` in the MuJoCo families, `gravity` elsewhere).
pub const GRAVITY_KEYS: [&str; 3] = ["g", "gravity", "gravity_scale"];

/// Self-correction tasks (Vintix's shifted physics): the family's `default` task with
/// gravity set 10% below the lowest and 10% above the highest gravity of `train`, so both lie
/// outside the range trained on. Empty for families without a gravity parameter or when no
/// training task sets it. Evaluation (`icrl eval --tasks shifted`, from a run's training
/// tasks) and dataset suites (`"tasks": "shifted"`, from the family's train split) both use it,
/// so a reference dataset of the shifted tasks matches them exactly.
pub fn shifted_tasks(default: &Task, train: &[Task]) -> Vec<Task> {
    let Some(key) = GRAVITY_KEYS.iter().find(|k| default.contains_key(**k)) else {
        return vec![];
    };
    let values: Vec<f64> =
        train.iter().filter_map(|t| t.get(*key).and_then(Value::as_f64)).collect();
    if values.is_empty() {
        return vec![];
    }
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    [lo * 0.9, hi * 1.1]
        .into_iter()
        .map(|g| {
            let mut t = default.clone();
            t.insert(key.to_string(), Value::from(g));
            t
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(v: Value) -> Task {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn shifted_tasks_lie_beyond_the_training_gravity() {
        let default = task(json!({"g": 10.0, "l": 1.0}));
        let train = [task(json!({"g": 8.0, "l": 1.2})), task(json!({"g": 12.0})), task(json!({}))];
        let shifted = shifted_tasks(&default, &train);
        assert_eq!(
            shifted,
            [task(json!({"g": 8.0 * 0.9, "l": 1.0})), task(json!({"g": 12.0 * 1.1, "l": 1.0}))]
        );
        // No gravity parameter, or no training task setting it: nothing to shift.
        assert!(shifted_tasks(&task(json!({"goal": [1, 2]})), &train).is_empty());
        assert!(shifted_tasks(&default, &[task(json!({}))]).is_empty());
    }

    #[test]
    fn unknown_keys_and_bad_values_are_named() {
        let t = task(json!({"gravty": 9.0}));
        let err = TaskParams::new("CartPole-v1", &t, &["gravity"]).err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("gravty") && e.contains("CartPole-v1")));
        let t = task(json!({"gravity": -1.0, "goal": [9, 0]}));
        let p = TaskParams::new("X", &t, &["gravity", "goal"]).expect("known keys");
        assert!(p.positive("gravity", 1.0).is_err());
        assert!(p.cell("goal", 9, [0, 0]).is_err());
        assert_eq!(p.cell("goal", 10, [0, 0]).ok(), Some([9, 0]));
        assert_eq!(p.positive("absent", 2.5).ok(), Some(2.5));
    }

    #[test]
    fn values_outside_the_sane_range_are_named() {
        let r =
            ParamRange { name: "length", default: 0.5, low: 0.25, high: 1.0, min: 0.01, max: 10.0 };
        let p = |v: Value| {
            let t = task(json!({ "length": v }));
            TaskParams::new("CartPole-v1", &t, &["length"])
                .unwrap()
                .within(&r)
                .map_err(|e| e.to_string())
        };
        assert_eq!(p(json!(0.7)), Ok(0.7));
        assert_eq!(p(json!(10.0)), Ok(10.0));
        for bad in [json!(1e-308), json!(1e308), json!(-1.0), json!("long")] {
            let e = p(bad.clone()).unwrap_err();
            assert!(
                e.contains("CartPole-v1") && e.contains("`length`") && e.contains("[0.01, 10]"),
                "{e}"
            );
        }
    }

    #[test]
    fn rounding_keeps_four_significant_digits() {
        assert_eq!(round_significant(0.00153456, 4), 0.001535);
        assert_eq!(round_significant(9.80665, 4), 9.807);
    }
}
