//! Data-parallel `icrl train` over Gloo on 127.0.0.1: two ranks (started here, or by
//! torchrun) train as one process with the doubled batch, a run resumes with another number
//! of ranks, and a killed rank stops the other with an error instead of a hang.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tch::Tensor;

const ICRL: &str = env!("CARGO_BIN_EXE_icrl");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A small Dark Room dataset (3 tasks, 2 histories of 400 steps) in `dir/data`.
fn small_dataset(dir: &Path) -> String {
    let suite = dir.join("suite.json");
    std::fs::write(
        &suite,
        r#"{"name": "dist-test", "seed": 3, "entries": [{"env": "DarkRoom-v0", "tasks": "train",
            "max_tasks": 3, "demonstrator": {"kind": "oracle"}, "histories_per_task": 2,
            "transitions_per_history": 400, "noise": {"mode": "fixed",
            "schedule": {"kind": "linear", "start": 1.0, "end": 0.0, "f": 0.2}}}]}"#,
    )
    .unwrap();
    let data = dir.join("data").to_str().unwrap().to_string();
    let out = Command::new(ICRL)
        .args(["datagen", "--suite", suite.to_str().unwrap(), "--out", &data, "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    data
}

/// `icrl train` flags of the tests' runs: tiny model, validation and checkpoints on the way.
fn train_args(data: &str, runs: &Path, batch: usize, steps: usize) -> Vec<String> {
    let runs = runs.to_str().unwrap();
    [
        "train",
        "--data",
        data,
        "--preset",
        "tiny",
        "--context",
        "40",
        "--runs-dir",
        runs,
        "--threads",
        "1",
        "--quiet",
        "--eval-every",
        "2",
        "--checkpoint-every",
        "2",
        "--dist-timeout",
        "30",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--batch-size".into(), batch.to_string(), "--steps".into(), steps.to_string()])
    .collect()
}

/// Rank `rank` of `world` running `icrl` with `args`, meeting at 127.0.0.1:`port`.
fn rank(args: &[String], rank: usize, world: usize, port: u16) -> Child {
    Command::new(ICRL)
        .args(args)
        .env("RANK", rank.to_string())
        .env("WORLD_SIZE", world.to_string())
        .env("LOCAL_RANK", rank.to_string())
        .env("MASTER_ADDR", "127.0.0.1")
        .env("MASTER_PORT", port.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn check(out: Output, who: &str) {
    assert!(
        out.status.success(),
        "{who} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `args` on two Gloo ranks; both must succeed.
fn two_ranks(args: &[String]) {
    let port = free_port();
    let children: Vec<Child> = (0..2).map(|r| rank(args, r, 2, port)).collect();
    for (r, c) in children.into_iter().enumerate() {
        check(c.wait_with_output().unwrap(), &format!("rank {r}"));
    }
}

/// A program of the project's virtual environment (scripts/setup.sh makes it).
fn venv_bin(name: &str) -> std::path::PathBuf {
    match std::env::var("VIRTUAL_ENV") {
        Ok(venv) => std::path::PathBuf::from(venv).join("bin").join(name),
        Err(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv/bin").join(name),
    }
}

fn one_process(args: &[String]) {
    check(Command::new(ICRL).args(args).output().unwrap(), "the single process");
}

fn weights(run: &Path) -> BTreeMap<String, Tensor> {
    Tensor::read_safetensors(run.join("checkpoint/model.safetensors"))
        .unwrap()
        .into_iter()
        .collect()
}

fn max_difference(a: &Path, b: &Path) -> f64 {
    let (a, b) = (weights(a), weights(b));
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    a.iter()
        .map(|(k, t)| {
            let d = (t - &b[k]).abs().max().double_value(&[]);
            if d.is_nan() { 0.0 } else { d } // ReMoE sparsity before measurement is NaN
        })
        .fold(0.0, f64::max)
}

fn losses(run: &Path) -> Vec<(f64, Option<f64>)> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    text.lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            let val = m["val_loss"].as_object().and_then(|v| v.values().next()?.as_f64());
            (m["loss"].as_f64().unwrap(), val)
        })
        .collect()
}

fn assert_close(a: &[(f64, Option<f64>)], b: &[(f64, Option<f64>)]) {
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(b) {
        assert!((x.0 - y.0).abs() < 1e-5, "losses {a:?} vs {b:?}");
        assert_eq!(x.1.is_some(), y.1.is_some());
        assert!((x.1.unwrap_or(0.0) - y.1.unwrap_or(0.0)).abs() < 1e-5, "{a:?} vs {b:?}");
    }
}

#[test]
fn two_gloo_ranks_train_as_one_process_with_the_doubled_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset(tmp.path());
    let runs = tmp.path().join("runs");
    let named = |mut a: Vec<String>, name: &str| {
        a.extend(["--name".to_string(), name.to_string()]);
        a
    };
    one_process(&named(train_args(&data, &runs, 8, 6), "single"));
    two_ranks(&named(train_args(&data, &runs, 4, 6), "dp"));
    let (single, dp) = (runs.join("single"), runs.join("dp"));
    // Float sums in another order (the all-reduce's): equal within rounding.
    let diff = max_difference(&single, &dp);
    assert!(diff < 1e-5, "weights differ by {diff}");
    assert_close(&losses(&single), &losses(&dp));
    // Only rank 0 wrote: one metrics line per step, one run folder.
    assert_eq!(losses(&dp).len(), 6);
    let text = std::fs::read_to_string(dp.join("metrics.jsonl")).unwrap();
    assert!(text.lines().all(|l| l.contains("\"ranks\":2")), "{text}");
    assert_eq!(std::fs::read_dir(&runs).unwrap().count(), 2);

    // The same under torchrun, whose agent hosts the store (every rank a client).
    let port = free_port();
    let launch = format!(
        "--nnodes 1 --nproc-per-node 2 --master-addr 127.0.0.1 --master-port {port} --no-python"
    );
    let out = Command::new(venv_bin("torchrun"))
        .args(launch.split_whitespace())
        .arg(ICRL)
        .args(named(train_args(&data, &runs, 4, 6), "torchrun"))
        .output()
        .unwrap();
    check(out, "torchrun");
    let diff = max_difference(&single, &runs.join("torchrun"));
    assert!(diff < 1e-5, "weights under torchrun differ by {diff}");
}

/// Per step, the numbers of each ReMoE layer, in layer order: `[sparsity, lambda, load of
/// each expert...]`.
fn remoe_figures(run: &Path) -> Vec<Vec<Vec<f64>>> {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let numbers = |v: &serde_json::Value| -> Vec<f64> {
        v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect()
    };
    text.lines()
        .map(|l| {
            let m: serde_json::Value = serde_json::from_str(l).unwrap();
            let (remoe, load) =
                (m["remoe"].as_array().unwrap(), m["remoe_load"].as_array().unwrap());
            assert_eq!(remoe.len(), load.len(), "{m}");
            remoe
                .iter()
                .zip(load)
                .map(|(r, l)| {
                    assert_eq!(r[0], l[0], "the same layer: {m}");
                    let mut v = vec![r[1].as_f64().unwrap(), r[2].as_f64().unwrap()];
                    v.extend(numbers(&l[1]));
                    v
                })
                .collect()
        })
        .collect()
}

#[test]
fn two_gloo_ranks_count_remoe_routers_over_the_whole_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset(tmp.path());
    let runs = tmp.path().join("runs");
    let args = |batch: usize, name: &str| {
        let mut a = train_args(&data, &runs, batch, 3);
        a.extend(["--model", "ffn=remoe", "--name", name].map(String::from));
        a
    };
    one_process(&args(8, "single"));
    two_ranks(&args(4, "dp"));
    let (single, dp) = (remoe_figures(&runs.join("single")), remoe_figures(&runs.join("dp")));
    assert_eq!((single.len(), dp.len()), (3, 3));
    // The ranks sum their router counts, so sparsity and load are the whole batch's (8 windows
    // of 40 steps: 320 tokens): equal to the single process's within two tokens' worth (a
    // router output that rounding moves across 0), where one rank's half alone would be off
    // by several percent. The one lambda moves as the single process's does.
    let tolerance = 2.0 / 320.0;
    for (s, d) in single.iter().flatten().zip(dp.iter().flatten()) {
        assert_eq!(s.len(), 2 + 4, "sparsity, lambda and the tiny preset's 4 experts: {s:?}");
        assert!((s[1] - d[1]).abs() <= 1e-9 * s[1].abs(), "lambda {s:?} vs {d:?}");
        for (a, b) in
            [(s[0], d[0])].into_iter().chain(s[2..].iter().copied().zip(d[2..].iter().copied()))
        {
            assert!((a - b).abs() <= tolerance, "single {s:?}, two ranks {d:?}");
        }
    }
}

/// A checkpoint written by one process resumes on 2 ranks: the ranks take rank 0's weights,
/// optimizer moments, step and sampler stream, and continue as one process with the doubled
/// batch continues from the same checkpoint (its config.json edited to that batch).
#[test]
fn a_run_resumes_on_another_number_of_ranks() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset(tmp.path());
    let runs = tmp.path().join("runs");
    let mut start = train_args(&data, &runs, 4, 6);
    start.extend(["--name", "grown", "--stop-after", "3"].map(String::from));
    one_process(&start);
    let (grown, reference) = (runs.join("grown"), runs.join("reference"));
    copy_dir(&grown, &reference);
    let config = reference.join("config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    let mut cfg: serde_json::Value = serde_json::from_str(&text).unwrap();
    cfg["batch_size"] = 8.into();
    std::fs::write(&config, serde_json::to_string_pretty(&cfg).unwrap()).unwrap();
    let resume = |run: &Path| -> Vec<String> {
        ["train", "--resume", run.to_str().unwrap(), "--threads", "1", "--quiet"]
            .map(String::from)
            .to_vec()
    };
    two_ranks(&resume(&grown));
    one_process(&resume(&reference));
    let diff = max_difference(&grown, &reference);
    assert!(diff < 1e-5, "weights differ by {diff}");
    let (a, b) = (losses(&grown), losses(&reference));
    assert_eq!(a.len(), 6);
    assert_close(&a, &b);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dst = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &dst);
        } else {
            std::fs::copy(entry.path(), dst).unwrap();
        }
    }
}

/// Rank 1 is killed once training runs; rank 0 stops with an error naming the lost peer well
/// within its --dist-timeout (30 s), instead of hanging.
#[test]
fn a_killed_rank_stops_the_other_with_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset(tmp.path());
    let runs = tmp.path().join("runs");
    let mut args = train_args(&data, &runs, 4, 1_000_000);
    args.extend(["--name", "killed"].map(String::from));
    let port = free_port();
    let mut survivor = rank(&args, 0, 2, port);
    let mut victim = rank(&args, 1, 2, port);
    // Wait until rank 0 has logged a step: both ranks are training.
    let metrics = runs.join("killed").join("metrics.jsonl");
    let t0 = Instant::now();
    while std::fs::read_to_string(&metrics).map_or(true, |t| t.is_empty()) {
        assert!(t0.elapsed() < Duration::from_secs(120), "training did not start");
        assert!(survivor.try_wait().unwrap().is_none(), "rank 0 ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    victim.kill().unwrap();
    victim.wait().unwrap();
    let killed_at = Instant::now();
    let status = loop {
        if let Some(status) = survivor.try_wait().unwrap() {
            break status;
        }
        if killed_at.elapsed() > Duration::from_secs(45) {
            survivor.kill().unwrap();
            panic!("rank 0 still runs 45 s after its peer was killed");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = survivor.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success(), "rank 0 succeeded: {stderr}");
    assert!(
        stderr.contains("icrl: rank 0 of 2:") && stderr.contains("a peer rank exited or failed"),
        "{stderr}"
    );
    assert!(killed_at.elapsed() < Duration::from_secs(30), "{:?}", killed_at.elapsed());
}

/// `icrl bench allreduce` starts its own 2 ranks and prints rank 0's tables as one JSON
/// document.
#[test]
fn bench_allreduce_times_sizes_and_a_step_over_two_ranks() {
    let out = Command::new(ICRL)
        .args(["bench", "allreduce", "--sizes-mb", "0.01,0.1", "--repeats", "1"])
        .args(["--preset", "tiny", "--batch-size", "2", "--context", "16", "--threads", "1"])
        .args(["--json", "--dist-timeout", "60"])
        .output()
        .unwrap();
    check(out.clone(), "bench allreduce");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!((doc["ranks"].as_u64(), doc["backend"].as_str()), (Some(2), Some("Gloo")));
    let sizes = doc["allreduce"].as_array().unwrap();
    assert_eq!(sizes.len(), 2);
    assert_eq!(sizes[1]["bytes"], 100_000);
    assert!(sizes.iter().all(|s| s["busbw_gbps"].as_f64().unwrap() > 0.0), "{doc}");
    let step = &doc["step"];
    assert_eq!(step["buckets"], 1, "{doc}");
    assert!(step["alone_ms"].as_f64().unwrap() > 0.0 && step["speedup"].as_f64().unwrap() > 0.0);
}

/// A rank started with other flags fails naming the field, and the other stops too (its
/// peer left) instead of waiting.
#[test]
fn a_rank_with_other_flags_fails_naming_the_field_and_the_other_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_dataset(tmp.path());
    let runs = tmp.path().join("runs");
    let mut args = train_args(&data, &runs, 4, 4);
    args.extend(["--name", "mismatch"].map(String::from));
    let mut other = args.clone();
    other.extend(["--seed", "9"].map(String::from));
    let port = free_port();
    let t0 = Instant::now();
    let (main, odd) = (rank(&args, 0, 2, port), rank(&other, 1, 2, port));
    let (main, odd) = (main.wait_with_output().unwrap(), odd.wait_with_output().unwrap());
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
    let (main_err, odd_err) =
        (String::from_utf8_lossy(&main.stderr), String::from_utf8_lossy(&odd.stderr));
    assert!(!odd.status.success() && odd_err.contains("differs from rank 0's (field `seed`)"));
    assert!(!main.status.success() && main_err.contains("icrl: rank 0 of 2:"), "{main_err}");
}
