//! The `icrl` binary as a shell pipeline sees it.

use std::io::Read;
use std::process::{Command, Stdio};

/// `icrl env list | head -1`: when the reader goes away the tool ends as Unix tools do
/// (SIGPIPE), not with a panic on stderr.
#[test]
fn a_closed_stdout_ends_the_tool_quietly() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_icrl"))
        .args(["env", "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting icrl");
    // Close the reading end before the tool (which loads libtorch first) writes a line.
    drop(child.stdout.take());
    let mut stderr = String::new();
    child.stderr.take().expect("stderr").read_to_string(&mut stderr).expect("reading stderr");
    let status = child.wait().expect("waiting for icrl");
    assert!(!stderr.contains("panicked"), "stderr: {stderr}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(libc::SIGPIPE), "status {status:?}, stderr: {stderr}");
    }
}

fn icrl(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_icrl")).args(args).output().expect("starting icrl")
}

/// A small Dark Room dataset (3 tasks, 2 histories of 400 steps) made by `icrl datagen` in
/// `dir/data`.
fn small_dataset(dir: &std::path::Path) -> String {
    let suite = dir.join("suite.json");
    std::fs::write(
        &suite,
        r#"{"name": "cli-test", "seed": 3, "entries": [{"env": "DarkRoom-v0", "tasks": "train",
            "max_tasks": 3, "demonstrator": {"kind": "oracle"}, "histories_per_task": 2,
            "transitions_per_history": 400, "noise": {"mode": "fixed",
            "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.2}}}]}"#,
    )
    .unwrap();
    let data = dir.join("data").to_str().unwrap().to_string();
    let suite = suite.to_str().unwrap();
    let run = icrl(&["datagen", "--suite", suite, "--out", &data, "--jobs", "2", "--quiet"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    data
}

/// A suite file through `icrl datagen`, then `icrl dataset info` and `icrl dataset plot` on
/// its folder: the table counts what was written and the figure is a PNG of the size asked.
#[test]
fn a_suite_file_becomes_a_dataset_with_a_table_and_a_figure() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let data = data.as_str();

    let info = icrl(&["dataset", "info", data]);
    let table = String::from_utf8_lossy(&info.stdout);
    assert!(info.status.success(), "{}", String::from_utf8_lossy(&info.stderr));
    // 20-step episodes: 400 transitions per history, 2 histories, 3 tasks.
    assert!(
        table.contains("3 tasks in 1 domain groups, 2400 transitions, 120 episodes"),
        "{table}"
    );
    assert!(table.contains("suite `cli-test`, seed 3"), "{table}");

    let png = dir.path().join("h.png");
    let plot = icrl(&["dataset", "plot", data, "--out", png.to_str().unwrap()]);
    assert!(plot.status.success(), "{}", String::from_utf8_lossy(&plot.stderr));
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let width = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(width >= 400 && height >= 300, "{width} x {height}");

    // A folder that is not a dataset: an error that names it, no panic.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let bad = icrl(&["dataset", "plot", empty.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && !stderr.contains("panicked"), "{stderr}");
    assert!(stderr.contains(empty.to_str().unwrap()), "{stderr}");
}

/// `--grad-clip inf` used to be accepted and written into config.json as `null`, which no
/// later command could read: non-finite float flags are refused before anything runs.
#[test]
fn non_finite_float_flags_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("no-data");
    let data = data.to_str().unwrap();
    let cases = [
        ("--grad-clip", "inf", "use 0 for no clipping"),
        ("--weight-decay", "NaN", "finite"),
        ("--lr", "inf", "finite"),
        ("--warmup-fraction", "inf", "finite"),
        ("--val-fraction", "NaN", "finite"),
    ];
    for (flag, value, hint) in cases {
        let run = icrl(&["train", "--data", data, flag, value, "--runs-dir", data]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(hint), "{flag} {value}: {stderr}");
    }
    assert!(!dir.path().join("no-data").exists(), "nothing is written");
}

/// `--name ../x` put the run folder outside `--runs-dir`: a name must be one plain folder.
#[test]
fn a_run_name_outside_the_runs_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("no-data");
    let runs = dir.path().join("runs");
    let (data, runs) = (data.to_str().unwrap(), runs.to_str().unwrap());
    for name in ["../escaped", "/abs", ".hidden", ""] {
        let run = icrl(&["train", "--data", data, "--runs-dir", runs, "--name", name]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{name}: {stderr}");
        assert!(stderr.contains("--name") && stderr.contains("folder name"), "{name}: {stderr}");
    }
    assert!(!dir.path().join("escaped").exists());
}

/// `icrl dataset info` read only the manifest and exited 0 on a folder whose task files were
/// truncated or missing; it now checks every file (`--verify`: every value too).
#[test]
fn dataset_info_names_a_truncated_or_missing_task_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let info = |extra: &[&str]| {
        let out = icrl(&[&["dataset", "info", data.as_str()], extra].concat());
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    assert!(info(&[]).0 && info(&["--verify"]).0);
    let mut files: Vec<_> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "h5"))
        .collect();
    files.sort();
    let bytes = std::fs::read(&files[0]).unwrap();
    std::fs::write(&files[0], &bytes[..bytes.len() / 2]).unwrap();
    let name = |p: &std::path::PathBuf| p.file_name().unwrap().to_string_lossy().to_string();
    for extra in [&[][..], &["--verify"][..]] {
        let (ok, stderr) = info(extra);
        assert!(!ok && stderr.contains(&name(&files[0])), "{extra:?}: {stderr}");
    }
    std::fs::write(&files[0], &bytes).unwrap();
    std::fs::remove_file(&files[1]).unwrap();
    let (ok, stderr) = info(&[]);
    assert!(
        !ok && stderr.contains(&name(&files[1])) && stderr.contains("no such file"),
        "{stderr}"
    );
}

/// With `RUST_BACKTRACE=1` in the environment (set on many machines), an error returned
/// from `main` printed `Error: ...` and a stack backtrace; it is one `icrl: ...` line.
#[test]
fn errors_print_one_message_without_a_backtrace() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let out = Command::new(env!("CARGO_BIN_EXE_icrl"))
        .args(["dataset", "info", missing.to_str().unwrap()])
        .env("RUST_BACKTRACE", "1")
        .env("RUST_LIB_BACKTRACE", "1")
        .output()
        .expect("starting icrl");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("icrl: ") && stderr.contains(missing.to_str().unwrap()), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("backtrace") && !stderr.contains("Error:"), "{stderr}");
}

/// Sizes of 10^12 and task parameters were checked only once work had started (an abort,
/// "capacity overflow", or a folder tied to a suite that could never run): every value is
/// checked before the output folder is touched.
#[test]
fn bad_suites_and_sizes_are_refused_before_the_folder_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let suite = dir.path().join("suite.json");
    std::fs::write(
        &suite,
        r#"{"name": "bad", "seed": 0, "entries": [{"env": "CartPole-v1",
            "tasks": [{"length": -1.0}], "demonstrator": {"kind": "ppo"},
            "histories_per_task": 1, "transitions_per_history": 1000,
            "noise": {"mode": "calibrated", "grid": 11, "episodes": 2, "tail": 0.1}}]}"#,
    )
    .unwrap();
    let out = dir.path().join("out");
    let (suite, out) = (suite.to_str().unwrap(), out.to_str().unwrap());
    let run = icrl(&["datagen", "--suite", suite, "--out", out, "--quiet"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("`length`"), "{stderr}");
    assert!(!dir.path().join("out").exists(), "the folder is not created, nor tied to the suite");
    let cases = [
        ("--histories", "18446744073709551615", "100000"),
        ("--transitions", "100000000000000", "100000000"),
    ];
    for (flag, value, bound) in cases {
        let run = icrl(&["datagen", "--suite", "dark-room", "--out", out, flag, value]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success(), "{flag}: {stderr}");
        assert!(stderr.contains(flag) && stderr.contains(bound), "{flag}: {stderr}");
    }
}

/// A second `icrl datagen` on a folder in use deleted the first one's temporary files: the
/// folder is locked, and the second writer is told which process holds it.
#[test]
fn a_folder_in_use_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let temporary = out.join(".DarkRoom-v0__goal-1-1.h5.tmp");
    std::fs::write(&temporary, b"being written").unwrap();
    let lock = histories::lock::FolderLock::acquire(&out).unwrap();
    let pid = format!("PID {}", std::process::id());
    let run = icrl(&["datagen", "--suite", "dark-room", "--out", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains(&pid), "{stderr}");
    assert!(temporary.exists(), "the holder's temporary file is kept");
    // The same for a training run's folder.
    let data = small_dataset(dir.path());
    let runs = dir.path().join("runs");
    std::fs::create_dir_all(runs.join("held")).unwrap();
    let held = histories::lock::FolderLock::acquire(&runs.join("held")).unwrap();
    let runs = runs.to_str().unwrap();
    let run = icrl(&["train", "--data", &data, "--runs-dir", runs, "--name", "held", "--quiet"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains(&pid), "{stderr}");
    drop((lock, held));
}

/// A safetensors file of one f32 tensor `w` (shape `[rows, cols]`, values from `value`),
/// written by hand (8-byte header length, JSON header, data).
fn write_f32_safetensors(
    path: &std::path::Path,
    rows: usize,
    cols: usize,
    value: fn(usize) -> f32,
) {
    let n = rows * cols;
    let mut header = format!(
        r#"{{"w":{{"dtype":"F32","shape":[{rows},{cols}],"data_offsets":[0,{}]}}}}"#,
        4 * n
    );
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut bytes = (header.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(header.as_bytes());
    (0..n).for_each(|i| bytes.extend_from_slice(&value(i).to_le_bytes()));
    std::fs::write(path, bytes).unwrap();
}

/// `icrl quantize`: an f16 scale that would be infinite, --out naming the input, and an input
/// that is already quantized are refused, and the input is left as it was.
#[test]
fn quantize_refuses_overflowing_scales_its_own_input_and_quantized_input() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let (big, out) = (path("big.safetensors"), path("q.safetensors"));
    write_f32_safetensors(
        std::path::Path::new(&big),
        128,
        64,
        |i| if i % 2 == 0 { 1e6 } else { -1e6 },
    );
    let run = icrl(&["quantize", "--nbits", "4", "--in", &big, "--out", &out, "--no-baseline"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("`w`") && stderr.contains("--meta-dtype f32"), "{stderr}");
    assert!(!std::path::Path::new(&out).exists());
    // With f32 scales the same tensor quantizes.
    let run =
        icrl(&["quantize", "--nbits", "4", "--in", &big, "--out", &out, "--meta-dtype", "f32"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    // --out naming the input (through another spelling) is refused; the input is unchanged.
    let before = std::fs::read(&big).unwrap();
    let same = format!("{}/./big.safetensors", dir.path().display());
    let run =
        icrl(&["quantize", "--nbits", "4", "--in", &big, "--out", &same, "--meta-dtype", "f32"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("is the input file"), "{stderr}");
    assert_eq!(std::fs::read(&big).unwrap(), before);
    // A quantized checkpoint is not quantized again.
    let run = icrl(&["quantize", "--nbits", "4", "--in", &out, "--out", &path("qq.safetensors")]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("already a quantized checkpoint"), "{stderr}");
}

/// `icrl bench quant`: a preset's QuantizedLinear forwards (one row per quantized backbone
/// matrix) and its `Model::step` dense, per call and cached, as JSON; the step applies to
/// models only, one timing is required, and `icrl quantize` no longer takes the benchmark
/// flags.
#[test]
fn bench_quant_times_quantized_layers_and_model_steps() {
    let args = ["bench", "quant", "--preset", "tiny", "--nbits", "4", "--device", "cpu"];
    let timing = ["--threads", "1", "--linear", "2", "--step", "1", "--json"];
    let run = icrl(&[&args[..], &timing[..]].concat());
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let linear = report["linear"].as_array().unwrap();
    assert!(!linear.is_empty(), "{report}");
    for row in linear {
        assert_eq!(row["batch"], 2, "{row}");
        assert!(row["per_call_ms"].as_f64().unwrap() > 0.0, "{row}");
        assert!(row["cached_ms"].as_f64().unwrap() > 0.0, "{row}");
    }
    let step = &report["step"];
    assert_eq!((step["envs"].as_i64(), step["history"].as_i64()), (Some(1), Some(8)), "{step}");
    for form in ["dense_ms", "per_call_ms", "cached_ms"] {
        assert!(step[form].as_f64().unwrap() > 0.0, "{step}");
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.safetensors");
    write_f32_safetensors(&file, 64, 64, |i| (i % 7) as f32 - 3.0);
    let file = file.to_str().unwrap();
    let run = icrl(&["bench", "quant", "--in", file, "--nbits", "4", "--step", "1"]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("apply to models"), "{stderr}");
    let run = icrl(&["bench", "quant", "--in", file, "--nbits", "4", "--linear", "1"]);
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(run.status.success() && stdout.contains("per call"), "{stdout}");
    assert!(!icrl(&args).status.success(), "a timing is required");
    let out = dir.path().join("q.safetensors");
    let quantize = ["quantize", "--in", file, "--nbits", "4", "--out", out.to_str().unwrap()];
    let run = icrl(&[&quantize[..], &["--bench-linear", "1"]].concat());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("--bench-linear"), "{stderr}");
}

/// A run trained on a relative `--data` path is evaluated from another directory (its
/// config.json holds the dataset's absolute path), then again after the dataset moved (`eval
/// --data`, checked against the run's data.json); two evaluations go side by side through
/// `icrl compare`.
#[test]
fn a_run_evaluates_from_anywhere_and_after_its_dataset_moved() {
    let dir = tempfile::tempdir().unwrap();
    small_dataset(dir.path());
    let train = Command::new(env!("CARGO_BIN_EXE_icrl"))
        .current_dir(dir.path())
        .args(["train", "--data", "data", "--family", "DarkRoom-v0", "--preset", "tiny"])
        .args(["--steps", "2", "--batch-size", "2", "--context", "40", "--threads", "1"])
        .args(["--runs-dir", "runs", "--name", "r", "--quiet", "--stop-after", "1"])
        .output()
        .unwrap();
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let run = dir.path().join("runs/r");
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert!(std::path::Path::new(config["data"].as_str().unwrap()).is_absolute(), "{config}");
    assert_eq!(config["families"], serde_json::json!(["DarkRoom-v0"]));
    let run = run.to_str().unwrap();
    let eval = |data: Option<&str>, out: &str| {
        let out = dir.path().join(out);
        let mut args = vec!["eval", "--run", run, "--episodes", "2", "--seeds", "1"];
        args.extend(["--controls", "none", "--quiet", "--out", out.to_str().unwrap()]);
        if let Some(d) = data {
            args.extend(["--data", d]);
        }
        icrl(&args)
    };
    let first = eval(None, "e1");
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let moved = dir.path().join("moved");
    std::fs::rename(dir.path().join("data"), &moved).unwrap();
    let lost = eval(None, "e2");
    assert!(!lost.status.success());
    let second = eval(Some(moved.to_str().unwrap()), "e2");
    assert!(second.status.success(), "{}", String::from_utf8_lossy(&second.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("e1/report.json")).unwrap(),
        std::fs::read(dir.path().join("e2/report.json")).unwrap()
    );
    // Another dataset is refused by its fingerprint.
    let other = tempfile::tempdir().unwrap();
    let other_data = small_dataset(other.path());
    let manifest = std::path::Path::new(&other_data).join("manifest.json");
    let text = std::fs::read_to_string(&manifest).unwrap().replace("cli-test", "cli-other");
    std::fs::write(&manifest, text).unwrap();
    let wrong = eval(Some(&other_data), "e3");
    let stderr = String::from_utf8_lossy(&wrong.stderr);
    assert!(!wrong.status.success() && stderr.contains("fingerprint"), "{stderr}");

    // The run stopped after 1 of its 2 steps: a resume finds the moved dataset through --data
    // (checked the same way), finishes, and points config.json at it for what follows.
    let resume = |data: Option<&str>| {
        let mut args = vec!["train", "--resume", run, "--quiet", "--threads", "1"];
        if let Some(d) = data {
            args.extend(["--data", d]);
        }
        icrl(&args)
    };
    let refused = resume(Some(&other_data));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("fingerprint"), "{stderr}");
    assert!(!resume(None).status.success(), "the dataset is not where config.json says");
    let resumed = resume(Some(moved.to_str().unwrap()));
    assert!(resumed.status.success(), "{}", String::from_utf8_lossy(&resumed.stderr));
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(run).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(config["data"].as_str().unwrap(), moved.to_str().unwrap());
    let steps = std::fs::read_to_string(std::path::Path::new(run).join("metrics.jsonl")).unwrap();
    assert_eq!(steps.lines().count(), 2);
    let after = eval(None, "e4");
    assert!(after.status.success(), "{}", String::from_utf8_lossy(&after.stderr));

    let table = dir.path().join("cmp");
    let e1 = format!("first={}", dir.path().join("e1").display());
    let e2 = format!("moved={}", dir.path().join("e2").display());
    let compare =
        icrl(&["compare", "--eval", &e1, "--eval", &e2, "--out", table.to_str().unwrap()]);
    assert!(compare.status.success(), "{}", String::from_utf8_lossy(&compare.stderr));
    let md = std::fs::read_to_string(table.join("compare.md")).unwrap();
    assert!(md.contains("| DarkRoom-v0 | heldout | first |") && md.contains("| moved |"), "{md}");
    assert!(table.join("DarkRoom-v0.png").exists());
}

/// Every command that reports a result prints one JSON document and nothing else with
/// `--json`, with the documented field names.
#[test]
fn json_flags_print_one_document() {
    let json = |args: &[&str]| -> serde_json::Value {
        let run = icrl(args);
        assert!(run.status.success(), "{args:?}: {}", String::from_utf8_lossy(&run.stderr));
        serde_json::from_slice(&run.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not one JSON document ({e}): {}",
                String::from_utf8_lossy(&run.stdout)
            )
        })
    };
    let doctor = json(&["doctor", "--json"]);
    assert!(doctor["cpu_cores"].as_u64().unwrap() >= 1 && doctor["torch"].is_string(), "{doctor}");
    assert_eq!(doctor["distributed"][0], "gloo", "{doctor}");
    let families = json(&["env", "list", "--env", "Pendulum-v1", "--json"]);
    assert_eq!(families[0]["id"], "Pendulum-v1");
    assert_eq!(families[0]["heldout"].as_array().unwrap().len(), 5, "{families}");
    let model = json(&["model", "info", "--preset", "tiny", "--json", "--build"]);
    assert_eq!(model["parameters"], model["built_parameters"], "{model}");
    assert!(model["modules"].as_array().unwrap().len() > 3 && model["config"]["hidden"].is_i64());

    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let runs = dir.path().join("runs");
    let train = json(&[
        "train",
        "--data",
        &data,
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--context",
        "40",
        "--threads",
        "1",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "r",
        "--quiet",
        "--json",
    ]);
    assert_eq!(train["steps"], 2, "{train}");
    assert!(train["last_loss"].is_f64() && train["parameters"].as_i64().unwrap() > 0, "{train}");
    assert_eq!(
        (&train["remoe"], &train["remoe_load"]),
        (&serde_json::json!([]), &serde_json::json!([]))
    );
    // A ReMoE run's closing lines say, per layer, its sparsity, lambda and experts' load.
    let remoe = icrl(&[
        "train",
        "--data",
        &data,
        "--preset",
        "tiny",
        "--model",
        "ffn=remoe",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--context",
        "40",
        "--threads",
        "1",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "remoe",
        "--quiet",
    ]);
    let text = String::from_utf8_lossy(&remoe.stdout);
    assert!(remoe.status.success(), "{}", String::from_utf8_lossy(&remoe.stderr));
    let line = text
        .lines()
        .find(|l| l.starts_with("ReMoE at step 2: "))
        .unwrap_or_else(|| panic!("{text}"));
    assert_eq!(line.matches("expert load").count(), 2, "one per layer of the tiny preset: {line}");
    // The run's model info, read from its config.json.
    let config = runs.join("r/config.json");
    let info = json(&["model", "info", "--config", config.to_str().unwrap(), "--json"]);
    assert_eq!(info["parameters"], train["parameters"]);
    let out = dir.path().join("eval");
    let run = runs.join("r");
    let eval = json(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--episodes",
        "2",
        "--seeds",
        "1",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(eval["report"]["episodes"], 2, "{eval}");
    assert!(eval["targets"].is_array() && eval["report"]["controls"].is_array(), "{eval}");
    let ppo_out = dir.path().join("ppo");
    let ppo = json(&[
        "ppo",
        "--env",
        "CartPole-v1",
        "--total-steps",
        "1024",
        "--no-early-stop",
        "--quiet",
        "--out",
        ppo_out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(ppo["env"], "CartPole-v1", "{ppo}");
    assert!(ppo["eval_mean_return"].is_f64() && ppo["solved_at_steps"].is_null(), "{ppo}");
}

/// The common flags (README, "Common flags"): every command that runs torch takes `--device`,
/// `--threads` and `--quiet` with the same meaning and default.
#[test]
fn every_torch_command_takes_the_common_flags_with_one_default() {
    let commands: [&[&str]; 8] = [
        &["train"],
        &["eval"],
        &["ppo"],
        &["quantize"],
        &["bench", "allreduce"],
        &["bench", "model"],
        &["bench", "quant"],
        &["datagen"],
    ];
    for cmd in commands {
        let out = icrl(&[cmd, &["--help"]].concat());
        assert!(out.status.success(), "{cmd:?}");
        let help = String::from_utf8_lossy(&out.stdout).into_owned();
        for flag in ["--device <DEVICE>", "--threads <THREADS>", "--quiet"] {
            assert!(help.contains(flag), "{cmd:?} lacks {flag}:\n{help}");
        }
        assert!(help.contains("[default: auto]"), "{cmd:?}: --device defaults to auto\n{help}");
    }
    // The same bad value gets the same answer everywhere.
    for cmd in commands {
        let out = icrl(&[cmd, &["--device", "gpu"]].concat());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("expected auto, cpu, cuda or cuda:N, got `gpu`"),
            "{cmd:?}: {stderr}"
        );
        let out = icrl(&[cmd, &["--threads", "-1"]].concat());
        assert!(!out.status.success(), "{cmd:?} accepted --threads -1");
    }
    // PPO runs on the CPU: the commands that train it refuse CUDA by name.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("d");
    for cmd in [
        &["ppo", "--env", "CartPole-v1"][..],
        &["datagen", "--suite", "dark-room", "--out", out.to_str().unwrap()],
    ] {
        let run = icrl(&[cmd, &["--device", "cuda"]].concat());
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            !run.status.success() && stderr.contains("on the CPU (use auto or cpu)"),
            "{cmd:?}: {stderr}"
        );
    }
    assert!(!out.exists(), "datagen refused before making its folder");
}

/// A checkpoint's model.safetensors describes itself: copied out of its run it is evaluated
/// alone (the same report as from the run), and the run's config.json repeats the run with
/// the same bytes.
#[test]
fn a_model_file_evaluates_alone_and_a_config_repeats_its_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let runs = dir.path().join("runs");
    let runs = runs.to_str().unwrap();
    let common = ["--threads", "1", "--quiet", "--runs-dir", runs];
    let train = icrl(
        &[
            &["train", "--data", &data, "--preset", "tiny", "--steps", "3", "--batch-size", "2"],
            &["--context", "40", "--name", "r"][..],
            &common[..],
        ]
        .concat(),
    );
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let config = format!("{runs}/r/config.json");
    let again = icrl(&[&["train", "--config", &config, "--name", "r2"][..], &common[..]].concat());
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let model = |run: &str| std::fs::read(format!("{runs}/{run}/checkpoint/model.safetensors"));
    assert_eq!(model("r").unwrap(), model("r2").unwrap(), "same config, same bytes");

    let alone = dir.path().join("elsewhere/m.safetensors");
    std::fs::create_dir_all(alone.parent().unwrap()).unwrap();
    std::fs::copy(format!("{runs}/r/checkpoint/model.safetensors"), &alone).unwrap();
    let eval = |source: &[&str], out: &str| {
        let out = dir.path().join(out);
        let args = ["--episodes", "2", "--seeds", "1", "--controls", "none", "--quiet", "--out"];
        let run = icrl(&[&["eval"][..], source, &args[..], &[out.to_str().unwrap()][..]].concat());
        assert!(run.status.success(), "{source:?}: {}", String::from_utf8_lossy(&run.stderr));
        std::fs::read(out.join("report.json")).unwrap()
    };
    let from_run = eval(&["--run", &format!("{runs}/r")], "e-run");
    let from_file = eval(&["--model", alone.to_str().unwrap()], "e-file");
    assert_eq!(from_run, from_file);
    // A plain safetensors file is not a model file of icrl train.
    let plain = dir.path().join("plain.safetensors");
    write_f32_safetensors(&plain, 4, 4, |i| i as f32);
    let run = icrl(&["eval", "--model", plain.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success() && stderr.contains("not a model file"), "{stderr}");
}

/// A binary copied out of the build tree still starts (libtorch through its RUNPATH) and says
/// where it loads libtorch from; `bench envs` runs its built-in gymnasium script from there
/// (no path of the build machine), reporting n/a where that Python lacks gymnasium.
#[test]
fn a_copied_binary_finds_libtorch_and_its_gymnasium_script() {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("icrl");
    std::fs::copy(env!("CARGO_BIN_EXE_icrl"), &copy).unwrap();
    let run =
        |args: &[&str]| Command::new(&copy).current_dir(dir.path()).args(args).output().unwrap();
    let doctor = run(&["doctor", "--json"]);
    assert!(doctor.status.success(), "{}", String::from_utf8_lossy(&doctor.stderr));
    let report: serde_json::Value = serde_json::from_slice(&doctor.stdout).unwrap();
    let lib = std::path::Path::new(report["torch_lib"].as_str().unwrap());
    assert!(lib.join("libtorch_cpu.so").exists(), "{report}");
    let py = dir.path().join("fake-python");
    // A "python" that reads the script it was given and reports that it has no gymnasium.
    std::fs::write(
        &py,
        "#!/bin/sh\ngrep -q 'import gymnasium' \"$1\" && echo 'script read, no gymnasium here' >&2\nexit 3\n",
    )
    .unwrap();
    std::fs::set_permissions(&py, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bench = run(&[
        "bench",
        "envs",
        "--envs",
        "CartPole-v1",
        "--steps",
        "1000",
        "--python",
        py.to_str().unwrap(),
    ]);
    assert!(bench.status.success(), "{}", String::from_utf8_lossy(&bench.stderr));
    let out = String::from_utf8_lossy(&bench.stdout);
    assert!(out.contains("script read, no gymnasium here"), "{out}");
}

/// The project's Python (scripts/setup.sh's venv, with tensorboard, h5py and minari).
fn venv_python() -> std::path::PathBuf {
    match std::env::var("VIRTUAL_ENV") {
        Ok(venv) => std::path::PathBuf::from(venv).join("bin/python"),
        Err(_) => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin/python"),
    }
}

/// The events as TensorBoard itself reads them (its EventAccumulator, from the project's
/// venv): per folder, `scalars` (tag -> [[step, value]]) and `text` (tag -> [[step, text]]).
fn tensorboard_read(dirs: &[&std::path::Path]) -> serde_json::Value {
    let python = venv_python();
    let script = r#"
import json, sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
out = {}
for d in sys.argv[1:]:
    ea = EventAccumulator(d, size_guidance={"scalars": 0, "tensors": 0})
    ea.Reload()
    tags = ea.Tags()
    out[d] = {
        "scalars": {t: [[e.step, e.value] for e in ea.Scalars(t)] for t in tags["scalars"]},
        "text": {t: [[e.step, e.tensor_proto.string_val[0].decode()] for e in ea.Tensors(t)]
                 for t in tags["tensors"]},
    }
print(json.dumps(out))
"#;
    let out = Command::new(&python)
        .arg("-c")
        .arg(script)
        .args(dirs)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh installs it)", python.display()));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The trainer's TensorBoard tags (the Hugging Face Trainer's scheme), its config as text,
/// and `icrl eval --tensorboard`'s return per episode, read back by TensorBoard.
#[test]
fn tensorboard_reads_the_training_scalars_config_text_and_in_context_returns() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let runs = dir.path().join("runs");
    let train = icrl(&[
        "train",
        "--data",
        &data,
        "--preset",
        "tiny",
        "--steps",
        "3",
        "--batch-size",
        "2",
        "--context",
        "40",
        "--eval-every",
        "1",
        "--threads",
        "1",
        "--quiet",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "tb",
    ]);
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let run = runs.join("tb");
    let eval = icrl(&[
        "eval",
        "--run",
        run.to_str().unwrap(),
        "--episodes",
        "3",
        "--seeds",
        "1",
        "--controls",
        "zero-reward",
        "--tensorboard",
        "--quiet",
        "--json",
    ]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let incontext = run.join("tb/incontext-heldout-step3");
    let read = tensorboard_read(&[&run.join("tb"), &incontext]);
    let train = &read[run.join("tb").to_str().unwrap()];
    for tag in [
        "train/loss",
        "train/learning_rate",
        "train/grad_norm",
        "eval/loss",
        "eval/loss_obs2-discrete5",
        "perf/tokens_per_sec",
        "perf/model_tflops",
        "perf/mfu",
        "perf/peak_memory_gib",
    ] {
        let steps: Vec<i64> = train["scalars"][tag]
            .as_array()
            .unwrap_or_else(|| panic!("no scalar {tag}: {train}"))
            .iter()
            .map(|p| p[0].as_i64().unwrap())
            .collect();
        assert_eq!(steps, [1, 2, 3], "{tag}");
    }
    let config = &train["text"]["config"][0];
    assert_eq!(config[0], 1);
    assert!(config[1].as_str().unwrap().contains("\"preset\": \"tiny\""), "{config}");

    // The in-context curve: one point per episode, the mean over tasks and seeds of the
    // normalised return, as report.json has it.
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    let tasks = report["report"]["tasks"].as_array().unwrap();
    let mean_at = |e: usize| {
        let v: Vec<f64> = tasks.iter().map(|t| t["normalized"][0][e].as_f64().unwrap()).collect();
        v.iter().sum::<f64>() / v.len() as f64
    };
    let ic = &read[incontext.to_str().unwrap()]["scalars"];
    for tag in ["incontext/normalized_return", "incontext/normalized_return_DarkRoom-v0"] {
        let points = ic[tag].as_array().unwrap_or_else(|| panic!("no scalar {tag}: {ic}"));
        assert_eq!(points.len(), 3, "{tag}");
        for (e, p) in points.iter().enumerate() {
            assert_eq!(p[0].as_i64(), Some(e as i64 + 1));
            assert!((p[1].as_f64().unwrap() - mean_at(e)).abs() < 1e-5, "{tag} episode {e}");
        }
    }
    assert_eq!(ic["incontext/zero-reward/normalized_return"].as_array().map(Vec::len), Some(3));
}

/// `icrl dataset export --to minari`: Farama's own package loads every task's dataset without
/// a warning, and its arrays are the task file's, losslessly: per history, the episodes'
/// observations without their last rows are the file's observations, the last rows its final
/// observations; actions, rewards and flags likewise; the references are the file's returns.
#[test]
fn a_dataset_exports_to_minari_losslessly_and_imports_back_to_train_on() {
    let dir = tempfile::tempdir().unwrap();
    let data = small_dataset(dir.path());
    let out = dir.path().join("minari");
    let export = icrl(&[
        "dataset",
        "export",
        &data,
        "--to",
        "minari",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let exported: serde_json::Value = serde_json::from_slice(&export.stdout).unwrap();
    assert_eq!(exported.as_array().unwrap().len(), 3, "{exported}");
    let python = venv_python();
    let script = r#"
import json, os, sys, warnings
import h5py, numpy as np
warnings.simplefilter("error")
import minari
data, exported = sys.argv[1], json.loads(sys.argv[2])
manifest = json.load(open(os.path.join(data, "manifest.json")))
for entry, task in zip(exported, manifest["tasks"]):
    ds = minari.load_dataset(entry["dataset_id"])
    episodes = list(ds.iterate_episodes())
    assert ds.total_episodes == task["episodes"] == len(episodes), entry
    meta = ds.storage.metadata
    with h5py.File(os.path.join(data, task["file"])) as f:
        assert meta["ref_min_score"] == f.attrs["random_return"]
        assert meta["ref_max_score"] == f.attrs["demonstrator_return"]
        info = list(ds.storage.get_episode_metadata(range(len(episodes))))
        for k, name in enumerate(sorted(f["histories"])):
            h = f["histories"][name]
            mine = [e for e, i in zip(episodes, info) if i["icrl_history"] == k]
            assert [i["icrl_episode_in_history"] for i in info if i["icrl_history"] == k] == list(range(len(mine)))
            obs = np.concatenate([e.observations[:-1] for e in mine])
            assert np.array_equal(obs, h["observations"][:])
            assert np.array_equal(np.stack([e.observations[-1] for e in mine]), h["final_observations"][:])
            acts = np.concatenate([e.actions for e in mine])
            assert np.array_equal(acts, h["actions"][:, 0].astype(np.int64))
            assert np.array_equal(np.concatenate([e.rewards for e in mine]), h["rewards"][:].astype(np.float64))
            assert np.array_equal(np.concatenate([e.terminations for e in mine]), h["terminated"][:] == 1)
            assert np.array_equal(np.concatenate([e.truncations for e in mine]), h["truncated"][:] == 1)
print("ok")
"#;
    let check = Command::new(&python)
        .env("MINARI_DATASETS_PATH", &out)
        .arg("-c")
        .arg(script)
        .arg(&data)
        .arg(exported.to_string())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (scripts/setup.sh installs minari)", python.display()));
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success() && stdout.contains("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // A second export into the same folder is refused, naming the dataset folder.
    let again =
        icrl(&["dataset", "export", &data, "--to", "minari", "--out", out.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(!again.status.success() && stderr.contains("already exists"), "{stderr}");

    // Back into icrl: the same histories (manifest counts), and an agent trains on the
    // imported dataset and is evaluated on the family's held-out tasks.
    let imported = dir.path().join("imported");
    let import = icrl(&[
        "dataset",
        "import",
        out.to_str().unwrap(),
        "--from",
        "minari",
        "--out",
        imported.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&import.stderr);
    assert!(import.status.success(), "{stderr}");
    assert_eq!(stderr.matches("icrl's learning-history order").count(), 3, "{stderr}");
    let read = |p: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(p.join("manifest.json")).unwrap()).unwrap()
    };
    let (back, original) = (read(&imported), read(std::path::Path::new(&data)));
    // Imported in folder order, generated in suite order: matched by their task.
    let by_task = |m: &serde_json::Value| -> std::collections::BTreeMap<String, serde_json::Value> {
        m["tasks"].as_array().unwrap().iter().map(|t| (t["task"].to_string(), t.clone())).collect()
    };
    let (back, original) = (by_task(&back), by_task(&original));
    assert_eq!(back.len(), 3);
    for (task, b) in &original {
        let a = &back[task];
        for key in ["histories", "transitions", "episodes", "first_return", "last_return", "group"]
        {
            assert_eq!(a[key], b[key], "{task} {key}");
        }
    }
    let runs = dir.path().join("runs");
    let train = icrl(&[
        "train",
        "--data",
        imported.to_str().unwrap(),
        "--preset",
        "tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--context",
        "40",
        "--threads",
        "1",
        "--quiet",
        "--runs-dir",
        runs.to_str().unwrap(),
        "--name",
        "m",
    ]);
    assert!(train.status.success(), "{}", String::from_utf8_lossy(&train.stderr));
    let eval = icrl(&[
        "eval",
        "--run",
        runs.join("m").to_str().unwrap(),
        "--episodes",
        "2",
        "--seeds",
        "1",
        "--controls",
        "none",
        "--quiet",
        "--json",
    ]);
    assert!(eval.status.success(), "{}", String::from_utf8_lossy(&eval.stderr));
    let report: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert!(!report["report"]["tasks"].as_array().unwrap().is_empty());
}

/// `icrl dataset import --from vintix` on a sample in Vintix's layout (scripts/vintix_fixture.py
/// follows their loader): one task file per task folder, a domain group per shape, one history
/// per trajectory file, episodes where step_num restarts, and the same numbers as written.
#[test]
fn a_vintix_sample_imports_with_its_shapes_histories_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("vintix");
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/vintix_fixture.py");
    let fixture = Command::new(venv_python()).arg(&script).arg(&src).output().unwrap();
    assert!(fixture.status.success(), "{}", String::from_utf8_lossy(&fixture.stderr));
    let written: serde_json::Value = serde_json::from_slice(&fixture.stdout).unwrap();
    let out = dir.path().join("imported");
    let import = icrl(&[
        "dataset",
        "import",
        src.to_str().unwrap(),
        "--from",
        "vintix",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let manifest = histories::manifest::Manifest::read(&out).unwrap();
    assert_eq!(manifest.groups.len(), 2, "{:?}", manifest.groups.keys());
    assert_eq!(manifest.suite.name, "vintix-import");
    for task in &manifest.tasks {
        let file = histories::format::read_task_file(&out.join(&task.file)).unwrap();
        let w = &written[&file.meta.family];
        assert_eq!(file.histories.len() as u64, w["trajectories"].as_u64().unwrap());
        assert_eq!(task.transitions as u64, w["rows"].as_u64().unwrap());
        assert_eq!(task.episodes as u64, w["episodes"].as_u64().unwrap());
        let sum = |f: &dyn Fn(&histories::history::History) -> &Vec<f32>| -> f64 {
            file.histories.iter().flat_map(|h| f(h).iter()).map(|&x| x as f64).sum()
        };
        for (key, got) in [
            ("obs", sum(&|h| &h.observations)),
            ("act", sum(&|h| &h.actions)),
            ("rew", sum(&|h| &h.rewards)),
        ] {
            assert!((got - w[key].as_f64().unwrap()).abs() < 1e-4, "{key}: {got} vs {}", w[key]);
        }
        assert_eq!((file.meta.random_return, file.meta.demonstrator_return), (-1.0, 5.0));
        let h = &file.histories[0];
        assert!(h.truncated.last() == Some(&1) && h.terminated.iter().all(|&t| t == 0));
    }
    // A folder without Vintix task folders is refused, naming it.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let none = icrl(&[
        "dataset",
        "import",
        empty.to_str().unwrap(),
        "--from",
        "vintix",
        "--out",
        dir.path().join("x").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(
        !none.status.success() && stderr.contains("no a Vintix task folder")
            || stderr.contains("Vintix task folder"),
        "{stderr}"
    );
}
