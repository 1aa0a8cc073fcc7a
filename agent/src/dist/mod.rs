//! Data-parallel training on PyTorch's c10d: one process per rank, gradients all-reduced in
//! buckets, Gloo on the CPU and (with the cargo feature `nccl`) NCCL on CUDA.
//!
//! A rank finds its peers from the standard variables ([`Rendezvous::from_env`]): `RANK`,
//! `WORLD_SIZE`, `LOCAL_RANK`, `MASTER_ADDR`, `MASTER_PORT` (torchrun sets them; under
//! `srun`, `SLURM_PROCID`, `SLURM_NTASKS` and `SLURM_LOCALID` stand in for the first three).
//! Without torchrun rank 0 hosts the TCPStore; under torchrun
//! (`TORCHELASTIC_USE_AGENT_STORE=True`) its agent does, and every rank is a client. Gloo
//! binds the interfaces named by `GLOO_SOCKET_IFNAME` when set.
//!
//! The C++ side is a small shim (`agent/csrc/c10d_shim.cpp`) over c10d's TCPStore and
//! process groups; [`ProcessGroup`] owns its handles and frees them when dropped. Every
//! collective waits at most the group's timeout, so a rank whose peer failed or vanished
//! stops with a [`DistError`] naming the operation instead of hanging.

mod ffi;
mod grads;
mod group;
mod rendezvous;

pub use grads::{DEFAULT_BUCKET_BYTES, GradBuckets};
pub use group::{Backend, ProcessGroup, nccl_compiled};
pub use rendezvous::{DEFAULT_TIMEOUT_SECS, Rendezvous};

/// A failure to join or use a process group; the message names the variable, the peer
/// address or the collective, and the timeout that applied.
#[derive(Debug, thiserror::Error)]
pub enum DistError {
    /// A rendezvous variable missing or out of range (names it and its value).
    #[error("{var}: {message}")]
    Env { var: &'static str, message: String },
    /// The store or the process group could not be set up (names the address and rank).
    #[error(
        "rank {rank} of {world}: could not join the process group at {addr}:{port} within \
         {timeout_s} s (is every rank started, with the same MASTER_ADDR, MASTER_PORT and \
         WORLD_SIZE?): {message}"
    )]
    Rendezvous {
        rank: usize,
        world: usize,
        addr: String,
        port: u16,
        timeout_s: u64,
        message: String,
    },
    /// A collective failed: a peer exited or failed, or did not answer within the timeout.
    #[error(
        "rank {rank} of {world}: {what} failed: a peer rank exited or failed, or did not \
         answer within the {timeout_s} s timeout (--dist-timeout): {message}"
    )]
    Collective { rank: usize, world: usize, what: String, timeout_s: u64, message: String },
    /// The ranks disagree on something they must share (names it).
    #[error("rank {rank} of {world}: {message}")]
    Mismatch { rank: usize, world: usize, message: String },
    /// NCCL was asked for but not compiled in.
    #[error(
        "data-parallel training on CUDA needs NCCL, and this icrl was built without it: \
         rebuild with `--features nccl` (see `icrl doctor`), or train on the CPU with Gloo"
    )]
    NoNccl,
}
