//! `icrl dataset info|plot`: look at a learning-history dataset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use datagen::suite::Suite;
use histories::dataset::Dataset;
use histories::manifest::Manifest;

use crate::plot::{Panel, Series, save_panels};

#[derive(Args, Debug)]
pub struct DatasetArgs {
    #[command(subcommand)]
    pub command: DatasetCommand,
}

#[derive(Subcommand, Debug)]
pub enum DatasetCommand {
    /// Tasks, transitions and returns of a dataset folder.
    Info {
        /// The dataset folder (an `icrl datagen --out` folder).
        dir: PathBuf,
        /// Print the manifest as JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Read every task file in full and check its values too (the default checks each
        /// file's layout against the manifest without reading its arrays).
        #[arg(long)]
        verify: bool,
    },
    /// Write the dataset in another format: `--to minari`, one Minari dataset per task file
    /// (episodes in the order of the learning histories, each with its final observation;
    /// random and demonstrator returns as ref_min_score and ref_max_score; the noise level,
    /// the demonstrator's actions and the step within the episode as `icrl_*` datasets;
    /// histories/src/minari.rs documents the layout). Load one with
    /// `MINARI_DATASETS_PATH=OUT python -c "import minari; minari.load_dataset('ID')"`.
    Export {
        /// The dataset folder (an `icrl datagen --out` folder).
        dir: PathBuf,
        /// The format: `minari`.
        #[arg(long, value_parser = ["minari"])]
        to: String,
        /// The root folder the datasets are written under (Minari's MINARI_DATASETS_PATH):
        /// `OUT/NAMESPACE/FILE-v0/data/`.
        #[arg(long)]
        out: PathBuf,
        /// The datasets' namespace (default: the suite's name).
        #[arg(long)]
        namespace: Option<String>,
        /// Print the exported datasets as JSON (`dataset_id`, `path`, `episodes`, `steps`).
        #[arg(long)]
        json: bool,
    },
    /// Make an icrl dataset of datasets in another format, one task file each. `--from
    /// minari`: every Minari dataset (HDF5 storage, flat Box observations, Box or Discrete
    /// actions) in SRC (a dataset folder, the one holding `data/`, or a folder of them);
    /// episodes exported by icrl go back into their learning histories, other datasets' form
    /// one history in stored order (the output says which). `--from vintix`: every Vintix
    /// task folder in SRC (one holding `NAME.json` and a `.h5` file per learning history).
    /// histories/src/minari.rs and histories/src/vintix.rs list what fills each field.
    Import {
        /// A dataset folder, or a folder holding several (at most 4 levels down).
        src: PathBuf,
        /// The format: `minari` or `vintix`.
        #[arg(long, value_parser = ["minari", "vintix"])]
        from: String,
        /// The new dataset folder (must not hold a dataset yet).
        #[arg(long)]
        out: PathBuf,
        /// The dataset's suite name in its manifest (run names start with it; default
        /// `FROM-import`).
        #[arg(long)]
        name: Option<String>,
    },
    /// PNG of the normalised episode return along the histories, with the noise level.
    Plot {
        /// The dataset folder.
        dir: PathBuf,
        /// Output PNG (default: DIR/histories.png).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

pub fn run(args: &DatasetArgs) -> Result<()> {
    match &args.command {
        DatasetCommand::Info { dir, json, verify } => {
            let manifest = Dataset::verify(dir, *verify)?;
            if *json {
                // The suite as datagen's type, its fields in the order the manifest has them.
                let manifest = manifest
                    .map_suite(Suite::from_record)
                    .with_context(|| format!("{}: the manifest's suite", dir.display()))?;
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                println!("{}", summary_table(&manifest, &manifest.suite.name, manifest.suite.seed));
            }
            Ok(())
        }
        DatasetCommand::Export { dir, to: _, out, namespace, json } => {
            let exported = export_minari(dir, out, namespace.as_deref())?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&exported)?);
            } else {
                for e in &exported {
                    println!(
                        "{:<60} {:>6} episodes {:>9} steps",
                        e.dataset_id, e.episodes, e.steps
                    );
                }
                println!("{} Minari datasets under {}", exported.len(), out.display());
            }
            Ok(())
        }
        DatasetCommand::Import { src, from, out, name } => {
            let name = name.clone().unwrap_or_else(|| format!("{from}-import"));
            let manifest = import(src, from, out, &name)?;
            println!("{}", summary_table(&manifest, &manifest.suite.name, manifest.suite.seed));
            Ok(())
        }
        DatasetCommand::Plot { dir, out } => {
            let out = out.clone().unwrap_or_else(|| dir.join("histories.png"));
            plot(dir, &out)?;
            println!("wrote {}", out.display());
            Ok(())
        }
    }
}

/// `icrl dataset export --to minari`: every task file of the dataset, as
/// `NAMESPACE/STEM-v0` (the file name without `.h5`, characters Minari's ids do not allow
/// replaced by `_`).
fn export_minari(
    dir: &std::path::Path,
    out: &std::path::Path,
    namespace: Option<&str>,
) -> Result<Vec<histories::minari::Exported>> {
    let manifest = Manifest::read(dir)?;
    let namespace = histories::minari::minari_name(namespace.unwrap_or(&manifest.suite.name));
    let mut exported = Vec::new();
    for task in &manifest.tasks {
        let path = dir.join(&task.file);
        let file = histories::format::read_task_file(&path)?;
        let stem = task.file.strip_suffix(".h5").unwrap_or(&task.file);
        let id = format!("{namespace}/{}-v0", histories::minari::minari_name(stem));
        exported.push(histories::minari::export_task(&file, &path, &id, out)?);
    }
    Ok(exported)
}

/// The dataset folders in `src` that `is_dataset` accepts: `src` itself, else every folder
/// below it (at most 4 levels) that it accepts, sorted.
fn dataset_folders(
    src: &std::path::Path,
    is_dataset: fn(&std::path::Path) -> bool,
) -> Vec<PathBuf> {
    fn walk(
        dir: &std::path::Path,
        depth: usize,
        is_dataset: fn(&std::path::Path) -> bool,
        out: &mut Vec<PathBuf>,
    ) {
        if is_dataset(dir) {
            out.push(dir.to_path_buf());
            return;
        }
        if depth == 0 {
            return;
        }
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        // Hidden temporary folders are unfinished exports (`histories::minari::export_task`).
        let unfinished = |p: &PathBuf| {
            p.file_name().is_some_and(|n| histories::fsio::is_temp_name(&n.to_string_lossy()))
        };
        let mut dirs: Vec<PathBuf> =
            entries.flatten().map(|e| e.path()).filter(|p| p.is_dir() && !unfinished(p)).collect();
        dirs.sort();
        for d in dirs {
            walk(&d, depth - 1, is_dataset, out);
        }
    }
    let mut out = Vec::new();
    walk(src, 4, is_dataset, &mut out);
    out
}

fn is_minari_dataset(dir: &std::path::Path) -> bool {
    dir.join("data").join("metadata.json").is_file()
}

/// `icrl dataset import`: one task file per dataset found in `src`, then the manifest.
fn import(
    src: &std::path::Path,
    from: &str,
    out: &std::path::Path,
    name: &str,
) -> Result<Manifest> {
    use histories::manifest::{GroupInfo, SuiteRecord};
    let folders = match from {
        "minari" => dataset_folders(src, is_minari_dataset),
        _ => dataset_folders(src, histories::vintix::is_task_folder),
    };
    if folders.is_empty() {
        let what = match from {
            "minari" => "Minari dataset (a folder holding data/metadata.json)",
            _ => "Vintix task folder (one holding NAME.json and .h5 trajectories)",
        };
        bail!("{}: no {what} in it", src.display());
    }
    if Manifest::path(out).exists() {
        bail!("--out {}: already holds a dataset (manifest.json)", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let _lock = histories::lock::FolderLock::acquire(out)?;
    let mut tasks = Vec::new();
    let mut groups: std::collections::BTreeMap<String, GroupInfo> = Default::default();
    for folder in &folders {
        let (file, note) = match from {
            "minari" => {
                let imported = histories::minari::import_dataset(folder)?;
                let note = if imported.history_order {
                    "icrl's learning-history order"
                } else {
                    "no learning-history order: its episodes in stored order as one history"
                };
                (imported.file, note)
            }
            _ => (histories::vintix::import_task(folder)?, "one history per trajectory file"),
        };
        let rel = folder.strip_prefix(src).unwrap_or(folder).display().to_string();
        let stem = if rel.is_empty() {
            folder.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default()
        } else {
            rel.replace('/', "__")
        };
        let file_name = format!("{}.h5", histories::names::safe_name(&stem));
        histories::format::write_task_file(&out.join(&file_name), &file)?;
        let m = &file.meta;
        eprintln!(
            "import: {} -> {file_name}: {} histories ({note})",
            folder.display(),
            file.histories.len()
        );
        let g = groups.entry(m.group.clone()).or_insert_with(|| GroupInfo {
            obs_dim: m.obs_dim,
            act_dim: m.act_dim,
            action_type: m.action_type.clone(),
            num_actions: m.num_actions,
            tasks: 0,
        });
        g.tasks += 1;
        tasks.push(datagen::generate::summarize(&file_name, &file));
    }
    let manifest = Manifest {
        format_version: histories::format::FORMAT_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        suite: SuiteRecord { name: name.to_string(), seed: 0, entries: vec![] },
        tasks,
        groups,
    };
    manifest.write(out)?;
    Ok(manifest)
}

/// One line per task and a total; `suite` and `seed` are the suite that made the dataset.
pub fn summary_table<S>(m: &Manifest<S>, suite: &str, seed: u64) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<46} {:<8} {:<16} {:>4} {:>9} {:>7} {:>9} {:>9} {:>9} {:>9} {:>5}",
        "file",
        "split",
        "group",
        "hist",
        "steps",
        "episodes",
        "random",
        "demo",
        "first",
        "last",
        "R^2"
    );
    for t in &m.tasks {
        let _ = writeln!(
            s,
            "{:<46} {:<8} {:<16} {:>4} {:>9} {:>7} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>5.2}",
            t.file,
            t.split,
            t.group,
            t.histories,
            t.transitions,
            t.episodes,
            t.random_return,
            t.demonstrator_return,
            t.first_return,
            t.last_return,
            t.r2
        );
    }
    let steps = m.transitions();
    let episodes: usize = m.tasks.iter().map(|t| t.episodes).sum();
    let _ = write!(
        s,
        "{} tasks in {} domain groups, {} transitions, {} episodes (suite `{}`, seed {})",
        m.tasks.len(),
        m.groups.len(),
        steps,
        episodes,
        suite,
        seed
    );
    s
}

/// One panel per family: mean normalised return `(R - random) / (demo - random)` over its
/// tasks' histories against the position along the history, with the min-max band over
/// tasks and the mean noise level.
pub fn plot(dir: &std::path::Path, out: &std::path::Path) -> Result<()> {
    let data = Dataset::open(dir).with_context(|| format!("opening dataset {}", dir.display()))?;
    const BINS: usize = 50;
    // Per family: (smoothed normalised returns, smoothed eps) of each history.
    type Curves = Vec<(Vec<f64>, Vec<f64>)>;
    let mut by_family: BTreeMap<String, Curves> = BTreeMap::new();
    for t in &data.tasks {
        let span = t.meta.demonstrator_return - t.meta.random_return;
        for h in &t.histories {
            let returns = h.episode_returns();
            if returns.len() < 2 {
                continue;
            }
            let norm: Vec<f64> = returns
                .iter()
                .map(|r| if span.abs() > 1e-9 { (r - t.meta.random_return) / span } else { 0.0 })
                .collect();
            // Every history on the same BINS positions, whatever its number of episodes.
            by_family
                .entry(t.meta.family.clone())
                .or_default()
                .push((resample(&norm, BINS), resample(&h.episode_eps(), BINS)));
        }
    }
    let mut panels = Vec::new();
    for (family, curves) in by_family {
        let n = curves.iter().map(|c| c.0.len()).min().unwrap_or(0);
        if n == 0 {
            continue;
        }
        let x = |i: usize| i as f64 / (n.max(2) - 1) as f64;
        let mut mean = Vec::new();
        let mut band = Vec::new();
        let mut eps = Vec::new();
        for i in 0..n {
            let vals: Vec<f64> = curves.iter().map(|c| c.0[i]).collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            let (lo, hi) = histories::stats::min_max(vals.iter().copied());
            mean.push((x(i), m));
            band.push((x(i), lo, hi));
            eps.push((x(i), curves.iter().map(|c| c.1[i]).sum::<f64>() / curves.len() as f64));
        }
        panels.push(Panel {
            title: format!("{family} ({} histories)", curves.len()),
            x_label: "position along the history".into(),
            y_label: "normalised return / eps".into(),
            series: vec![
                Series {
                    name: "normalised return (mean, min-max)".into(),
                    points: mean,
                    band,
                    ..Default::default()
                },
                Series {
                    name: "noise eps".into(),
                    points: eps,
                    dashed: true,
                    color: 1,
                    ..Default::default()
                },
            ],
            y_range: None,
            legend_upper: false,
        });
    }
    // The suite rather than the folder: a figure moved into docs keeps a meaningful title.
    let m = &data.manifest;
    let title = format!(
        "Learning histories: suite {} (seed {}), {} tasks, {} transitions",
        m.suite.name,
        m.suite.seed,
        m.tasks.len(),
        m.transitions()
    );
    save_panels(out, &title, &panels, 2)
}

/// `bins` values at evenly spaced positions along `values`: bin `b` is the mean of the
/// values whose relative position `i / len` falls in `[b / bins, (b + 1) / bins)`, or the
/// nearest value when there are fewer values than bins. Histories with different numbers
/// of episodes then line up position by position, start and end included.
fn resample(values: &[f64], bins: usize) -> Vec<f64> {
    let n = values.len();
    if n == 0 {
        return vec![];
    }
    (0..bins)
        .map(|b| {
            let (lo, hi) = (b * n / bins, ((b + 1) * n / bins).min(n));
            if hi > lo {
                values[lo..hi].iter().sum::<f64>() / (hi - lo) as f64
            } else {
                values[lo.min(n - 1)]
            }
        })
        .collect()
}

#[cfg(test)]
mod resample_tests {
    use super::resample;

    #[test]
    fn histories_of_any_length_line_up_start_to_end() {
        for n in [7, 50, 237, 381] {
            let v: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
            let r = resample(&v, 50);
            assert_eq!(r.len(), 50);
            // The last bin holds the end of the history, the first its start.
            assert!(r[49] > 0.95 && r[0] < 0.05, "n = {n}: {} .. {}", r[0], r[49]);
            assert!(r.windows(2).all(|w| w[1] >= w[0]));
        }
        assert!(resample(&[], 50).is_empty());
    }
}
