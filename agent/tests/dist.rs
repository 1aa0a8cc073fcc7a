//! Data-parallel collectives over real Gloo process groups: the test binary runs itself once
//! per rank (the parent sets `ICRL_DIST_TEST_ROLE` and the rendezvous variables), on
//! 127.0.0.1 at a free port.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use agent::dist::{Backend, GradBuckets, ProcessGroup, Rendezvous};
use tch::{Device, Kind, Tensor};

const ROLE: &str = "ICRL_DIST_TEST_ROLE";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Run test `name` of this binary as `world` ranks with `role`; returns each rank's status
/// and output, and how long the slowest took.
fn spawn_ranks(name: &str, role: &str, world: usize) -> (Vec<(bool, String)>, Duration) {
    let port = free_port();
    let t0 = Instant::now();
    let children: Vec<Child> =
        (0..world).map(|rank| spawn(name, role, rank, world, port)).collect();
    let out = children.into_iter().map(output).collect();
    (out, t0.elapsed())
}

/// Test `name` of this binary as rank `rank` of `world` with `role`.
fn spawn(name: &str, role: &str, rank: usize, world: usize, port: u16) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
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

fn output(child: Child) -> (bool, String) {
    let o = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    (o.status.success(), text)
}

fn group(timeout_s: u64) -> ProcessGroup {
    let rv = Rendezvous::from_env(Duration::from_secs(timeout_s)).unwrap().unwrap();
    ProcessGroup::new(&rv, Backend::Gloo).unwrap()
}

/// Rank r holds tensors filled with r+1; after the bucketed mean every rank holds the mean.
fn collectives_role() {
    let pg = group(60);
    let (r, w) = (pg.rank() as f64, pg.world_size() as f64);
    let params: Vec<Tensor> = [7i64, 300, 5, 1000, 3]
        .iter()
        .map(|&n| {
            let p = Tensor::zeros([n], (Kind::Float, Device::Cpu)).set_requires_grad(true);
            // grad = (r + 1) * index
            let k = Tensor::arange(n, (Kind::Float, Device::Cpu)) * (r + 1.0);
            (&p * &k).sum(Kind::Float).backward();
            p
        })
        .collect();
    // 1 KB buckets: several tensors share one, the 1000-float one is alone.
    let buckets = GradBuckets { bucket_bytes: 1024 };
    let n = buckets.allreduce_mean(&pg, &params).unwrap();
    assert_eq!(n, buckets.plan(&params.iter().map(|p| p.grad()).collect::<Vec<_>>()).len());
    let mean_factor = (1..=pg.world_size()).sum::<usize>() as f64 / w;
    for p in &params {
        let n = p.size()[0];
        let want = Tensor::arange(n, (Kind::Float, Device::Cpu)) * mean_factor;
        let diff = (p.grad() - want).abs().max().double_value(&[]);
        assert!(diff < 1e-4, "rank {r}: gradient off by {diff}");
    }
    // Broadcast: rank 0's bytes and tensors everywhere.
    let bytes = pg.broadcast_bytes(format!("from rank {r}").as_bytes(), 0, "a note").unwrap();
    assert_eq!(bytes, b"from rank 0");
    let ts = vec![Tensor::full([4], r, (Kind::Float, Device::Cpu))];
    buckets.broadcast(&pg, &ts, 0).unwrap();
    assert_eq!(ts[0].sum(Kind::Float).double_value(&[]), 0.0);
    pg.barrier("end").unwrap();
    println!("rank {} ok", pg.rank());
}

/// Rank 1 leaves abruptly after joining; rank 0's next all-reduce must fail, not hang.
fn lost_peer_role() {
    let pg = group(20);
    if pg.rank() == 1 {
        std::process::exit(3);
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut t = Tensor::ones([16], (Kind::Float, Device::Cpu));
    let err = pg.allreduce_sum(&mut t, "a test tensor").unwrap_err().to_string();
    println!("rank 0 error: {err}");
    assert!(err.contains("rank 0 of 2: all-reduce of a test tensor failed"), "{err}");
    std::process::exit(0);
}

/// Rank 1 joins, then stalls (alive, never calling the collective); rank 0's all-reduce must
/// fail once the group's 3 s timeout has passed, not wait forever.
fn stalled_peer_role() {
    let pg = group(3);
    if pg.rank() == 1 {
        std::thread::sleep(Duration::from_secs(120));
        std::process::exit(0);
    }
    let mut t = Tensor::ones([16], (Kind::Float, Device::Cpu));
    let t0 = Instant::now();
    let err = pg.allreduce_sum(&mut t, "a test tensor").unwrap_err().to_string();
    let took = t0.elapsed();
    println!("rank 0 error after {took:?}: {err}");
    assert!(err.contains("did not answer within the 3 s timeout"), "{err}");
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(20), "{took:?}");
    std::process::exit(0);
}

#[test]
fn a_stalled_peer_is_an_error_once_the_timeout_has_passed() {
    const NAME: &str = "a_stalled_peer_is_an_error_once_the_timeout_has_passed";
    match std::env::var(ROLE).as_deref() {
        Ok("stalled-peer") => return stalled_peer_role(),
        Ok(_) => return,
        Err(_) => {}
    }
    let port = free_port();
    let (main, mut stalled) =
        (spawn(NAME, "stalled-peer", 0, 2, port), spawn(NAME, "stalled-peer", 1, 2, port));
    let (ok, text) = output(main);
    stalled.kill().unwrap();
    stalled.wait().unwrap();
    assert!(ok, "rank 0 did not see the stalled peer as an error in time:\n{text}");
}

#[test]
fn bucketed_mean_and_broadcast_over_two_gloo_ranks() {
    match std::env::var(ROLE).as_deref() {
        Ok("collectives") => return collectives_role(),
        Ok(_) => return,
        Err(_) => {}
    }
    let (out, _) = spawn_ranks("bucketed_mean_and_broadcast_over_two_gloo_ranks", "collectives", 2);
    for (rank, (ok, text)) in out.iter().enumerate() {
        assert!(ok, "rank {rank} failed:\n{text}");
    }
}

#[test]
fn a_lost_peer_is_an_error_naming_the_collective_within_the_timeout() {
    match std::env::var(ROLE).as_deref() {
        Ok("lost-peer") => return lost_peer_role(),
        Ok(_) => return,
        Err(_) => {}
    }
    let (out, took) = spawn_ranks(
        "a_lost_peer_is_an_error_naming_the_collective_within_the_timeout",
        "lost-peer",
        2,
    );
    assert!(out[0].0, "rank 0 did not see the lost peer as an error:\n{}", out[0].1);
    assert!(!out[1].0);
    assert!(took < Duration::from_secs(60), "took {took:?}");
}

#[test]
fn a_missing_peer_fails_the_rendezvous_within_the_timeout() {
    if std::env::var(ROLE).is_ok() {
        return;
    }
    let rv = Rendezvous {
        rank: 0,
        world_size: 2,
        local_rank: 0,
        master_addr: "127.0.0.1".into(),
        master_port: free_port(),
        agent_store: false,
        gloo_ifname: None,
        timeout: Duration::from_secs(2),
    };
    let t0 = Instant::now();
    let err = ProcessGroup::new(&rv, Backend::Gloo).unwrap_err().to_string();
    assert!(err.contains("could not join the process group at 127.0.0.1"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(30), "{:?}", t0.elapsed());
}
