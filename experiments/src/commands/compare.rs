//! `icrl compare`: several in-context evaluations side by side (a generalist against
//! specialists, AD against DPT, dense against ReMoE, ...): one table over every family and
//! split, and one figure per family with each evaluation's curve.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use agent::eval::{Control, EvalReport, curve, exploitation, first_and_last};
use anyhow::{Context, Result, anyhow, bail};
use clap::Args;
use histories::lock::FolderLock;
use histories::names::is_safe_name;
use serde::Serialize;

use crate::plot::{Panel, Series, save_panels};

/// Most labels one comparison takes (each is a curve in every figure).
const MAX_LABELS: usize = 16;

/// Most evaluation folders one comparison reads (a label may name one per family).
const MAX_FOLDERS: usize = 256;

/// Most bytes of report.json one comparison reads, all reports together (an `icrl eval`
/// report of 10^7 episodes is far smaller).
const MAX_REPORT_BYTES: u64 = 512 << 20;

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// An evaluation, as LABEL=DIR (repeatable, in the order of the table): DIR is an `icrl
    /// eval` output folder (it holds report.json); LABEL names it in the table and figures
    /// (ASCII letters, digits, `-`, `_`, `.`). A label may name several folders that hold
    /// different families or splits (e.g. one `icrl eval --family F` per family).
    #[arg(long = "eval", value_name = "LABEL=DIR", required = true)]
    pub evals: Vec<String>,

    /// Output folder: compare.md, compare.json and one FAMILY.png per family.
    #[arg(long)]
    pub out: PathBuf,

    /// A title for the table and figures.
    #[arg(long, default_value = "In-context evaluations compared")]
    pub title: String,
}

/// One row of the comparison: one evaluation on one family and split.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    pub family: String,
    pub split: String,
    pub label: String,
    /// Tasks with a normalised score, and tasks evaluated.
    pub tasks_scored: usize,
    pub tasks: usize,
    pub seeds: usize,
    pub episodes: usize,
    /// Mean normalised return of the first episode and of the last `last_k`.
    pub first: f64,
    pub last: f64,
    pub last_k: usize,
    /// The agent's last episodes with rewards zeroed in its context (`zero-reward` control).
    pub zero_reward_last: Option<f64>,
    /// The last episodes after a task switch half-way (`other-task` control).
    pub other_task_last: Option<f64>,
    /// The last episodes with the random policy's reward per step as every reward in the
    /// context (`random-reward` control).
    pub random_reward_last: Option<f64>,
    /// Median episodes from the first reward to exploitation (sparse-reward families).
    pub median_delay: Option<f64>,
}

/// `LABEL=DIR` pairs, checked.
fn parse_evals(items: &[String]) -> Result<Vec<(String, PathBuf)>> {
    if items.len() > MAX_FOLDERS {
        bail!("--eval: at most {MAX_FOLDERS} evaluation folders, got {}", items.len());
    }
    let mut out: Vec<(String, PathBuf)> = Vec::new();
    for item in items {
        let (label, dir) =
            item.split_once('=').ok_or_else(|| anyhow!("--eval {item}: expected LABEL=DIR"))?;
        if !is_safe_name(label) {
            bail!(
                "--eval {item}: the label must be ASCII letters, digits, `-`, `_` and `.` (not \
                 first)"
            );
        }
        out.push((label.to_string(), PathBuf::from(dir)));
    }
    let mut labels: Vec<&str> = out.iter().map(|(l, _)| l.as_str()).collect();
    labels.sort();
    labels.dedup();
    if labels.len() > MAX_LABELS {
        bail!("--eval: at most {MAX_LABELS} labels (curves per figure), got {}", labels.len());
    }
    Ok(out)
}

/// An evaluation's report.json, checked, and its size; refused where it is larger than
/// `budget` bytes (what is left of [`MAX_REPORT_BYTES`]).
fn read_report(dir: &Path, budget: u64) -> Result<(EvalReport, u64)> {
    let path = dir.join("report.json");
    let file = std::fs::File::open(&path).with_context(|| {
        format!("{}: no report.json (an `icrl eval` output folder?)", dir.display())
    })?;
    // Read at most one byte past the budget, so a file that grows meanwhile is still bounded.
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::Read::take(file, budget + 1), &mut text)
        .with_context(|| format!("reading {}", path.display()))?;
    let size = text.len() as u64;
    if size > budget {
        bail!(
            "{}: more than the {budget} bytes left of the {MAX_REPORT_BYTES} that one \
             comparison's reports may hold together",
            path.display()
        );
    }
    let report: EvalReport =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
    report.validate().map_err(|e| anyhow!("{}: {e}", path.display()))?;
    Ok((report, size))
}

/// The (family, split) pairs of the reports, sorted (held-out before train).
fn family_splits(reports: &[(String, EvalReport)]) -> Vec<(String, String)> {
    let mut keys: Vec<(String, String)> = reports
        .iter()
        .flat_map(|(_, r)| r.tasks.iter().map(|t| (t.family.clone(), t.split.clone())))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// The rows of every (family, split) each report scored; an error where two reports of one
/// label score the same family and split.
pub fn rows(reports: &[(String, EvalReport)]) -> Result<Vec<Row>> {
    let mut out: Vec<Row> = Vec::new();
    for (family, split) in family_splits(reports) {
        for (label, r) in reports {
            let Some((first, last, last_k)) = r.first_and_last(&split, Some(&family)) else {
                continue;
            };
            let members: Vec<_> =
                r.tasks.iter().filter(|t| t.family == family && t.split == split).collect();
            let control_last = |c: Control| {
                let c = r.control(c)?;
                first_and_last(&c.tasks, c.episodes, &split, Some(&family)).map(|x| x.1)
            };
            if out.iter().any(|o| &o.label == label && o.family == family && o.split == split) {
                bail!("--eval {label}: two of its folders both evaluate {family} on {split} tasks");
            }
            out.push(Row {
                family: family.clone(),
                split: split.clone(),
                label: label.clone(),
                tasks_scored: members.iter().filter(|t| t.normalized.is_some()).count(),
                tasks: members.len(),
                seeds: r.seeds,
                episodes: r.episodes,
                first,
                last,
                last_k,
                zero_reward_last: control_last(Control::ZeroReward),
                other_task_last: control_last(Control::OtherTask),
                random_reward_last: control_last(Control::RandomReward),
                median_delay: exploitation(&r.tasks, &split, &family).and_then(|s| s.median_delay),
            });
        }
    }
    Ok(out)
}

fn fmt(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.3}")).unwrap_or_else(|| "n/a".into())
}

/// The table as markdown.
pub fn markdown(title: &str, evals: &[(String, PathBuf)], rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# {title}\n");
    for (label, dir) in evals {
        let _ = writeln!(s, "- `{label}`: {}", dir.display());
    }
    let _ = writeln!(
        s,
        "\nNormalised return (0 random, 1 demonstrator), mean over tasks then seeds; first \
         episode and last k of K episodes from a cold start; controls: rewards zeroed in the \
         context, the task switched half-way (last k after the switch), and every reward in the \
         context at the random policy's level per step.\n"
    );
    let _ = writeln!(
        s,
        "| family | split | evaluation | tasks | seeds x K | first | last k | rise | zero-reward last k | other-task last k | random-reward last k | median delay |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows {
        let tasks = if r.tasks_scored == r.tasks {
            r.tasks.to_string()
        } else {
            format!("{} of {}", r.tasks_scored, r.tasks)
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {tasks} | {} x {} | {:.3} | {:.3} (k={}) | {:+.3} | {} | {} | {} | {} |",
            r.family,
            r.split,
            r.label,
            r.seeds,
            r.episodes,
            r.first,
            r.last,
            r.last_k,
            r.last - r.first,
            fmt(r.zero_reward_last),
            fmt(r.other_task_last),
            fmt(r.random_reward_last),
            r.median_delay.map(|d| format!("{d:.1}")).unwrap_or_else(|| "n/a".into()),
        );
    }
    s
}

/// One figure per family: a panel per split, a curve per evaluation (with its seeds' range).
fn plot_family(
    path: &Path,
    title: &str,
    family: &str,
    splits: &[String],
    reports: &[(String, EvalReport)],
) -> Result<()> {
    let mut panels = Vec::new();
    for split in splits {
        let mut series = Vec::new();
        let mut longest = 1usize;
        let mut labels: Vec<&str> = Vec::new();
        for (label, r) in reports {
            if !labels.contains(&label.as_str()) {
                labels.push(label);
            }
            let i = labels.iter().position(|l| l == label).unwrap_or(0);
            let c = curve(&r.tasks, r.episodes, split, Some(family));
            if c.is_empty() {
                continue;
            }
            longest = longest.max(c.len());
            let x = |e: usize| (e + 1) as f64;
            series.push(Series {
                name: label.clone(),
                points: c.iter().enumerate().map(|(e, v)| (x(e), v.0)).collect(),
                band: c.iter().enumerate().map(|(e, v)| (x(e), v.1, v.2)).collect(),
                // Colour 2 is the demonstrator's line.
                color: if i >= 2 { i + 1 } else { i },
                dashed: false,
            });
        }
        if series.is_empty() {
            continue;
        }
        for (name, y, color) in [("demonstrator", 1.0, 2), ("random", 0.0, 7)] {
            series.push(Series {
                name: name.into(),
                points: vec![(1.0, y), (longest as f64, y)],
                color,
                dashed: true,
                ..Default::default()
            });
        }
        panels.push(Panel {
            title: format!("{family}, {split} tasks"),
            x_label: "episode in context (cold start)".into(),
            y_label: "normalised return (mean; band: seeds' range)".into(),
            series,
            y_range: None,
            legend_upper: true,
        });
    }
    if panels.is_empty() {
        return Ok(());
    }
    let cols = panels.len();
    save_panels(path, title, &panels, cols)
}

pub fn run(args: &CompareArgs) -> Result<()> {
    let evals = parse_evals(&args.evals)?;
    let mut reports = Vec::new();
    let mut budget = MAX_REPORT_BYTES;
    for (label, dir) in &evals {
        let (report, size) = read_report(dir, budget).with_context(|| format!("--eval {label}"))?;
        budget -= size;
        reports.push((label.clone(), report));
    }
    let rows = rows(&reports)?;
    if rows.is_empty() {
        bail!("--eval: none of the evaluations has a task with a normalised score");
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("--out {}: creating the folder", args.out.display()))?;
    let _lock = FolderLock::acquire(&args.out)?;
    let table = markdown(&args.title, &evals, &rows);
    let write = |name: &str, bytes: &[u8]| {
        histories::fsio::write_atomic(&args.out.join(name), bytes).map_err(|e| anyhow!(e))
    };
    write("compare.md", table.as_bytes())?;
    write("compare.json", serde_json::to_string_pretty(&rows)?.as_bytes())?;
    let mut families: Vec<&str> = rows.iter().map(|r| r.family.as_str()).collect();
    families.dedup();
    for family in families {
        let mut splits: Vec<String> =
            rows.iter().filter(|r| r.family == family).map(|r| r.split.clone()).collect();
        splits.dedup();
        let png = args.out.join(format!("{family}.png"));
        plot_family(&png, &args.title, family, &splits, &reports)?;
    }
    println!("{table}");
    println!(
        "table: {}  figures: {}/FAMILY.png",
        args.out.join("compare.md").display(),
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_safe() {
        assert!(parse_evals(&["a=/x".into(), "b=/y".into()]).is_ok());
        assert!(parse_evals(&["../a=/x".into()]).unwrap_err().to_string().contains("label"));
        assert!(parse_evals(&["a".into()]).unwrap_err().to_string().contains("LABEL=DIR"));
    }

    #[test]
    fn the_limit_counts_labels_so_that_each_may_name_a_folder_per_family() {
        let per_family: Vec<String> =
            (0..8).flat_map(|f| (0..4).map(move |l| format!("run{l}=/e/{l}/{f}"))).collect();
        assert_eq!(parse_evals(&per_family).unwrap().len(), 32);
        let labels: Vec<String> = (0..=MAX_LABELS).map(|l| format!("run{l}=/e/{l}")).collect();
        let err = parse_evals(&labels).unwrap_err().to_string();
        assert!(err.contains("labels"), "{err}");
        let folders: Vec<String> = (0..=MAX_FOLDERS).map(|i| format!("a=/e/{i}")).collect();
        let err = parse_evals(&folders).unwrap_err().to_string();
        assert!(err.contains("folders"), "{err}");
    }

    fn report(family: &str, returns: Vec<f64>) -> EvalReport {
        let mut t = agent::eval::TaskResult {
            family: family.into(),
            task: Default::default(),
            split: "heldout".into(),
            group: "g".into(),
            returns: vec![returns.clone()],
            random_return: 0.0,
            expert_return: Some(10.0),
            reference_source: "measured".into(),
            normalized: None,
            sparse_reward: false,
            context_task: None,
        };
        t.normalize();
        EvalReport {
            episodes: returns.len(),
            seeds: 1,
            seed: 0,
            tasks: vec![t],
            controls: vec![],
            memory: None,
            hidden_rewards: vec![],
        }
    }

    #[test]
    fn rows_per_label_family_and_split() {
        let up = report("Pendulum-v1", vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 10.0]);
        let flat = report("Pendulum-v1", vec![5.0; 7]);
        let other = report("CartPole-v1", vec![0.0, 10.0]);
        let reports =
            vec![("g".to_string(), up.clone()), ("g".to_string(), other), ("s".to_string(), flat)];
        let table_rows = rows(&reports).unwrap();
        let key: Vec<(&str, &str)> =
            table_rows.iter().map(|r| (r.family.as_str(), r.label.as_str())).collect();
        assert_eq!(key, [("CartPole-v1", "g"), ("Pendulum-v1", "g"), ("Pendulum-v1", "s")]);
        assert!((table_rows[1].first - 0.1).abs() < 1e-12);
        assert!((table_rows[1].last - 0.56).abs() < 1e-12, "last 5 of 7: (3+4+5+6+10)/5/10");
        assert_eq!((table_rows[1].last_k, table_rows[2].first, table_rows[2].last), (5, 0.5, 0.5));
        let table = markdown("t", &[], &table_rows);
        assert!(
            table.contains(
                "| Pendulum-v1 | heldout | g | 1 | 1 x 7 | 0.100 | 0.560 (k=5) | +0.460 |"
            )
        );
        // One label may not score the same family and split twice.
        let twice = vec![("g".to_string(), up.clone()), ("g".to_string(), up)];
        assert!(rows(&twice).unwrap_err().to_string().contains("two of its folders"));
    }
}
