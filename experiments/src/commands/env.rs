//! `icrl env`: list the task families and roll out one episode of an env.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use envs::{Action, Env, EnvRng, Family, ResetOptions, Task, families, family};
use serde::Serialize;
use serde_json::Value;

#[derive(Args, Debug)]
pub struct EnvArgs {
    #[command(subcommand)]
    pub command: EnvCommand,
}

#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// List the task families: id, train and held-out task counts, and the tasks.
    List(ListArgs),
    /// Run one episode of an env and print one JSON line per step.
    Rollout(RolloutArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only this family (a versioned id such as `DarkRoom-v0`).
    #[arg(long)]
    pub env: Option<String>,

    /// Tasks printed per split (the rest are counted); 0 prints counts only.
    #[arg(long, default_value_t = 20)]
    pub max_tasks: usize,

    /// Print every task of every split.
    #[arg(long)]
    pub all: bool,

    /// Print one JSON array instead: per family `id`, `description`, `default_task`, and every
    /// task of its `train` and `heldout` splits.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("source").required(true).args(["actions", "policy"])))]
pub struct RolloutArgs {
    /// Family id, e.g. `DarkRoom-v0` (see `icrl env list`).
    #[arg(long)]
    pub env: String,

    /// Task parameters as a JSON object, e.g. '{"goal":[2,7]}'; missing keys take the
    /// family's defaults.
    #[arg(long, default_value = "{}")]
    pub task: String,

    /// Explicit start state as JSON, in the env's format (e.g. '[0.0, 0.0, 0.05, 0.0]' for
    /// CartPole, '{"pos":[1,2]}' for Dark Room); default: the env's own start.
    #[arg(long)]
    pub state: Option<String>,

    /// JSON file holding the actions: an array of integers (discrete envs) or of arrays of
    /// numbers (continuous envs), e.g. `[0, 4, 4, 1]` or `[[0.5], [-1.0]]`.
    #[arg(long)]
    pub actions: Option<PathBuf>,

    /// Choose actions with a policy instead of a file.
    #[arg(long, value_enum)]
    pub policy: Option<Policy>,

    /// Seed of the reset (and of the random policy).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,

    /// Stop after this many steps (default: at the end of the episode or of the actions).
    #[arg(long)]
    pub steps: Option<usize>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum Policy {
    /// Uniform samples of the action space, seeded from `--seed`.
    Random,
    /// The env's exact oracle (grid families only): shortest path to the next reward.
    Oracle,
}

pub fn run(args: &EnvArgs) -> Result<()> {
    match &args.command {
        EnvCommand::List(a) => list(a),
        EnvCommand::Rollout(a) => rollout(a, &mut std::io::stdout().lock()),
    }
}

fn list(args: &ListArgs) -> Result<()> {
    let selected: Vec<&dyn Family> = match &args.env {
        Some(id) => vec![family(id)?],
        None => families().to_vec(),
    };
    if args.json {
        let doc: Vec<Value> = selected
            .iter()
            .map(|f| {
                serde_json::json!({"id": f.id(), "description": f.description(),
                    "default_task": f.default_task(), "train": f.train_tasks(),
                    "heldout": f.heldout_tasks()})
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    println!("{:<26} {:>7} {:>9}  description", "family", "train", "held-out");
    for fam in &selected {
        let (train, heldout) = (fam.train_tasks(), fam.heldout_tasks());
        println!("{:<26} {:>7} {:>9}  {}", fam.id(), train.len(), heldout.len(), fam.description());
    }
    let limit = if args.all { usize::MAX } else { args.max_tasks };
    if limit == 0 {
        return Ok(());
    }
    for fam in &selected {
        println!("\n{}  (default task {})", fam.id(), Value::Object(fam.default_task()));
        for (name, tasks) in [("train", fam.train_tasks()), ("held-out", fam.heldout_tasks())] {
            println!("  {name} ({}):", tasks.len());
            for task in tasks.iter().take(limit) {
                println!("    {}", Value::Object(task.clone()));
            }
            if tasks.len() > limit {
                println!("    ... {} more (--all prints every task)", tasks.len() - limit);
            }
        }
    }
    Ok(())
}

fn parse_task(text: &str) -> Result<Task> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(task)) => Ok(task),
        Ok(other) => {
            bail!("--task: expected a JSON object such as '{{\"goal\":[2,7]}}', got {other}")
        }
        Err(e) => bail!("--task: invalid JSON ({e}): {text}"),
    }
}

fn read_actions(path: &PathBuf) -> Result<Vec<Action>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --actions {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| {
        format!(
            "parsing --actions {}: expected a JSON array of integers or of arrays of numbers",
            path.display()
        )
    })
}

/// Runs the rollout, writing one JSON line per step to `out`.
fn rollout(args: &RolloutArgs, out: &mut impl Write) -> Result<()> {
    let task = parse_task(&args.task)?;
    let mut env = family(&args.env)?.make(&task)?;
    let state = match &args.state {
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .with_context(|| format!("--state: invalid JSON: {text}"))?,
        ),
        None => None,
    };
    let file_actions = match &args.actions {
        Some(path) => Some(read_actions(path)?),
        None => None,
    };
    let (obs, _) = env.reset(Some(args.seed), &ResetOptions { state })?;
    let first = StepLine {
        step: 0,
        action: None,
        obs: &obs,
        reward: None,
        terminated: None,
        truncated: None,
    };
    write_line(out, &first)?;
    // The policy's stream is derived from the one seed, apart from the env's own stream.
    let mut policy_rng = EnvRng::default();
    policy_rng.reseed(Some(args.seed ^ 0x5EED_FA11));
    let max_steps = args.steps.unwrap_or(usize::MAX);
    let mut t = 0;
    while t < max_steps {
        let action = match (&file_actions, args.policy) {
            (Some(actions), _) => match actions.get(t) {
                Some(a) => a.clone(),
                None => break,
            },
            (None, Some(Policy::Oracle)) => env.oracle_action().with_context(|| {
                format!("--policy oracle: {} has no oracle (grid families only)", args.env)
            })?,
            (None, _) => env.action_space().sample(policy_rng.get()),
        };
        let step = step_env(env.as_mut(), &action, t, args.actions.as_ref())?;
        t += 1;
        write_line(
            out,
            &StepLine {
                step: t,
                action: Some(&action),
                obs: &step.obs,
                reward: Some(step.reward),
                terminated: Some(step.terminated),
                truncated: Some(step.truncated),
            },
        )?;
        if step.terminated || step.truncated {
            break;
        }
    }
    Ok(())
}

/// One output line of `icrl env rollout`; step 0 is the reset (observation only).
#[derive(Serialize)]
struct StepLine<'a> {
    step: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<&'a Action>,
    obs: &'a [f32],
    #[serde(skip_serializing_if = "Option::is_none")]
    reward: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    terminated: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncated: Option<bool>,
}

fn write_line(out: &mut impl Write, line: &StepLine) -> Result<()> {
    let text = serde_json::to_string(line).context("serialising a rollout line")?;
    writeln!(out, "{text}").context("writing a rollout line")
}

fn step_env(
    env: &mut dyn Env,
    action: &Action,
    t: usize,
    file: Option<&PathBuf>,
) -> Result<envs::Step> {
    env.step(action).with_context(|| match file {
        Some(path) => format!("action {t} (0-based) of {}", path.display()),
        None => format!("step {}", t + 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(
        env: &str,
        task: &str,
        policy: Option<Policy>,
        actions: Option<PathBuf>,
    ) -> RolloutArgs {
        RolloutArgs {
            env: env.into(),
            task: task.into(),
            state: None,
            actions,
            policy,
            seed: 1,
            steps: None,
        }
    }

    fn lines(args: &RolloutArgs) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        rollout(args, &mut out)?;
        let text = String::from_utf8(out)?;
        Ok(text.lines().map(serde_json::from_str).collect::<Result<_, _>>()?)
    }

    #[test]
    fn oracle_rollout_prints_one_line_per_step_and_finds_the_goal() -> Result<()> {
        let out = lines(&args("DarkRoom-v0", r#"{"goal":[6,4]}"#, Some(Policy::Oracle), None))?;
        assert_eq!(out.len(), 21, "reset line plus 20 steps");
        assert_eq!(out[0]["obs"], serde_json::json!([4.0, 4.0]));
        assert_eq!(out[2]["obs"], serde_json::json!([6.0, 4.0]));
        let rewards: f64 = out[1..].iter().filter_map(|l| l["reward"].as_f64()).sum();
        assert_eq!(rewards, 19.0);
        assert_eq!(out[20]["truncated"], true);
        Ok(())
    }

    #[test]
    fn actions_file_and_random_policy_are_replayable() -> Result<()> {
        let path =
            std::env::temp_dir().join(format!("icrl-env-actions-{}.json", std::process::id()));
        std::fs::write(&path, "[[0.5], [9.0], [-1.0]]")?;
        let out = lines(&args("Pendulum-v1", "{}", None, Some(path.clone())));
        std::fs::remove_file(&path)?;
        let out = out?;
        assert_eq!(out.len(), 4);
        assert_eq!(out[2]["action"], serde_json::json!([9.0]));
        let random = args("CartPole-v1", r#"{"gravity": 12}"#, Some(Policy::Random), None);
        assert_eq!(lines(&random)?, lines(&random)?, "same seed, same rollout");
        Ok(())
    }

    #[test]
    fn bad_input_gets_errors_naming_the_flag() {
        let err = |a: RolloutArgs| lines(&a).err().map(|e| format!("{e:#}")).unwrap_or_default();
        assert!(err(args("Nope-v0", "{}", Some(Policy::Random), None)).contains("known ids"));
        assert!(err(args("CartPole-v1", "[1]", Some(Policy::Random), None)).contains("--task"));
        assert!(err(args("CartPole-v1", "{", Some(Policy::Random), None)).contains("--task"));
        assert!(
            err(args("CartPole-v1", r#"{"gravty":1}"#, Some(Policy::Random), None))
                .contains("gravty")
        );
        assert!(err(args("CartPole-v1", "{}", Some(Policy::Oracle), None)).contains("no oracle"));
        let missing =
            args("CartPole-v1", "{}", None, Some(PathBuf::from("/nonexistent/actions.json")));
        assert!(err(missing).contains("--actions /nonexistent/actions.json"));
    }
}
