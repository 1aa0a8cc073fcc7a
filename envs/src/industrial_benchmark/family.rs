//! The `IndustrialBenchmark-v0` task family: the setpoint is the task.

use serde_json::Value;

use super::env::{ID, IndustrialBenchmark};
use crate::core::{Env, EnvError, Family, Task};
use crate::task::TaskParams;
use crate::time_limit::TimeLimit;

/// The task parameter.
const SETPOINT: &str = "setpoint";
/// The reference's default setpoint.
const DEFAULT_SETPOINT: f64 = 50.0;
/// Setpoints trained on (Vintix): 0, 5, ..., 75.
const TRAIN_SETPOINTS: std::ops::RangeInclusive<u32> = 0..=15;
/// Setpoints held out (Vintix): 80, 85, ..., 100.
const HELDOUT_SETPOINTS: std::ops::RangeInclusive<u32> = 16..=20;
/// Spacing of the listed setpoints.
const SETPOINT_SPACING: f64 = 5.0;

/// The Industrial Benchmark family; see [`IndustrialBenchmark`] for the env itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct IndustrialBenchmarkFamily;

fn setpoint_task(p: f64) -> Task {
    let mut task = Task::new();
    task.insert(SETPOINT.into(), Value::from(p));
    task
}

fn setpoint_tasks(multiples: std::ops::RangeInclusive<u32>) -> Vec<Task> {
    multiples.map(|k| setpoint_task(f64::from(k) * SETPOINT_SPACING)).collect()
}

impl Family for IndustrialBenchmarkFamily {
    fn id(&self) -> &'static str {
        ID
    }

    fn description(&self) -> &'static str {
        "Siemens Industrial Benchmark (port of industrial-benchmark-python 2.0): 3 continuous \
         steerings, observation [p, v, g, h, f, c], reward -(3f + c)/100, 250 steps; task = \
         setpoint p"
    }

    fn default_task(&self) -> Task {
        setpoint_task(DEFAULT_SETPOINT)
    }

    fn train_tasks(&self) -> Vec<Task> {
        setpoint_tasks(TRAIN_SETPOINTS)
    }

    fn heldout_tasks(&self) -> Vec<Task> {
        setpoint_tasks(HELDOUT_SETPOINTS)
    }

    fn make(&self, task: &Task) -> Result<Box<dyn Env>, EnvError> {
        let params = TaskParams::new(ID, task, &[SETPOINT])?;
        let setpoint = params.number(SETPOINT, DEFAULT_SETPOINT)?;
        Ok(Box::new(TimeLimit::new(IndustrialBenchmark::new(setpoint)?).for_task(task)))
    }
}

/// The family instance the registry lists.
pub static INDUSTRIAL_BENCHMARK: IndustrialBenchmarkFamily = IndustrialBenchmarkFamily;
