//! Who this rank is and where its peers meet: the variables torchrun (or `srun`) sets.

use std::time::Duration;

use super::DistError;

/// Collective and rendezvous timeout when no flag says otherwise: long enough for rank 0 to
/// validate and checkpoint a large model while the others wait at the next all-reduce.
pub const DEFAULT_TIMEOUT_SECS: u64 = 300;

/// This rank's place in a data-parallel run, read from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendezvous {
    /// Global rank, 0..world_size (`RANK`, or `SLURM_PROCID` under srun).
    pub rank: usize,
    /// Number of ranks (`WORLD_SIZE`, or `SLURM_NTASKS`).
    pub world_size: usize,
    /// Rank on this node; picks the CUDA device (`LOCAL_RANK`, or `SLURM_LOCALID`; else 0).
    pub local_rank: usize,
    /// Where the TCPStore listens (`MASTER_ADDR`, `MASTER_PORT`).
    pub master_addr: String,
    pub master_port: u16,
    /// torchrun's agent hosts the store (`TORCHELASTIC_USE_AGENT_STORE=True`): every rank,
    /// rank 0 included, connects as a client.
    pub agent_store: bool,
    /// Network interfaces Gloo binds (`GLOO_SOCKET_IFNAME`, comma-separated), for multi-node
    /// runs; without it Gloo binds the loopback when MASTER_ADDR is one, else the address
    /// this machine's hostname resolves to.
    pub gloo_ifname: Option<String>,
    /// How long the rendezvous and every collective may wait for a peer.
    pub timeout: Duration,
}

impl Rendezvous {
    /// The rendezvous of this process, or `None` when it is not one rank of several (no
    /// `WORLD_SIZE` nor `SLURM_NTASKS`, or a world of 1).
    pub fn from_env(timeout: Duration) -> Result<Option<Self>, DistError> {
        Self::from_vars(|name| std::env::var(name).ok(), timeout)
    }

    /// As [`Rendezvous::from_env`], with the variables looked up through `var`.
    pub fn from_vars(
        var: impl Fn(&str) -> Option<String>,
        timeout: Duration,
    ) -> Result<Option<Self>, DistError> {
        let get = |name: &'static str, slurm: &'static str| -> Option<(&'static str, String)> {
            var(name).map(|v| (name, v)).or_else(|| var(slurm).map(|v| (slurm, v)))
        };
        let number = |(name, value): (&'static str, String)| -> Result<usize, DistError> {
            value.trim().parse::<usize>().map_err(|_| DistError::Env {
                var: name,
                message: format!("`{value}` is not a whole number"),
            })
        };
        let Some(world) = get("WORLD_SIZE", "SLURM_NTASKS") else { return Ok(None) };
        let world_size = number(world)?;
        if world_size <= 1 {
            return Ok(None);
        }
        let rank = get("RANK", "SLURM_PROCID").ok_or(DistError::Env {
            var: "RANK",
            message: format!("not set, but WORLD_SIZE is {world_size}"),
        })?;
        let rank_var = rank.0;
        let rank = number(rank)?;
        if rank >= world_size {
            return Err(DistError::Env {
                var: rank_var,
                message: format!("{rank} is not below the world size {world_size}"),
            });
        }
        let local_rank = get("LOCAL_RANK", "SLURM_LOCALID").map(number).transpose()?.unwrap_or(0);
        let master_addr =
            var("MASTER_ADDR").filter(|a| !a.trim().is_empty()).ok_or(DistError::Env {
                var: "MASTER_ADDR",
                message: "not set: the address of rank 0's node (torchrun sets it; under srun \
                          export the job's first host, e.g. `scontrol show hostnames \
                          $SLURM_JOB_NODELIST | head -n1`)"
                    .into(),
            })?;
        let port = var("MASTER_PORT").ok_or(DistError::Env {
            var: "MASTER_PORT",
            message: "not set: a free TCP port on rank 0's node, the same for every rank".into(),
        })?;
        let master_port = match port.trim().parse::<u16>() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(DistError::Env {
                    var: "MASTER_PORT",
                    message: format!("`{port}` is not a TCP port (1-65535)"),
                });
            }
        };
        let agent_store = var("TORCHELASTIC_USE_AGENT_STORE")
            .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1");
        let gloo_ifname = var("GLOO_SOCKET_IFNAME").filter(|v| !v.trim().is_empty());
        Ok(Some(Rendezvous {
            rank,
            world_size,
            local_rank,
            master_addr: master_addr.trim().to_string(),
            master_port,
            agent_store,
            gloo_ifname,
            timeout,
        }))
    }

    /// Whether MASTER_ADDR is this machine's loopback (a single-node run on 127.0.0.1).
    pub fn is_loopback(&self) -> bool {
        let a = self.master_addr.as_str();
        a == "localhost" || a == "::1" || a.starts_with("127.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rv(vars: &[(&str, &str)]) -> Result<Option<Rendezvous>, DistError> {
        let vars: Vec<(String, String)> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Rendezvous::from_vars(
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            Duration::from_secs(7),
        )
    }

    #[test]
    fn torchrun_variables_make_a_rendezvous() {
        let r = rv(&[
            ("RANK", "1"),
            ("WORLD_SIZE", "2"),
            ("LOCAL_RANK", "1"),
            ("MASTER_ADDR", "127.0.0.1"),
            ("MASTER_PORT", "29500"),
            ("TORCHELASTIC_USE_AGENT_STORE", "True"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((r.rank, r.world_size, r.local_rank, r.master_port), (1, 2, 1, 29500));
        assert!(r.agent_store && r.is_loopback() && r.gloo_ifname.is_none());
    }

    #[test]
    fn slurm_variables_stand_in_and_a_world_of_one_is_no_rendezvous() {
        let r = rv(&[
            ("SLURM_PROCID", "3"),
            ("SLURM_NTASKS", "4"),
            ("SLURM_LOCALID", "1"),
            ("MASTER_ADDR", "node17"),
            ("MASTER_PORT", "29400"),
            ("GLOO_SOCKET_IFNAME", "eth0"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((r.rank, r.world_size, r.local_rank), (3, 4, 1));
        assert!(!r.agent_store && !r.is_loopback());
        assert_eq!(r.gloo_ifname.as_deref(), Some("eth0"));
        assert!(rv(&[]).unwrap().is_none());
        assert!(rv(&[("WORLD_SIZE", "1"), ("RANK", "0")]).unwrap().is_none());
    }

    #[test]
    fn bad_variables_are_named() {
        let base = [("WORLD_SIZE", "2"), ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "1")];
        let err = |extra: &[(&str, &str)], drop: &str| {
            let mut v: Vec<(&str, &str)> =
                base.iter().copied().filter(|(k, _)| *k != drop).collect();
            v.extend_from_slice(extra);
            rv(&v).unwrap_err().to_string()
        };
        assert!(err(&[], "").starts_with("RANK: not set"));
        assert!(err(&[("RANK", "2")], "").starts_with("RANK: 2 is not below"));
        assert!(err(&[("RANK", "x")], "").starts_with("RANK: `x`"));
        assert!(err(&[("RANK", "0")], "MASTER_ADDR").starts_with("MASTER_ADDR: not set"));
        assert!(err(&[("RANK", "0"), ("MASTER_PORT", "0")], "MASTER_PORT").contains("TCP port"));
    }
}
