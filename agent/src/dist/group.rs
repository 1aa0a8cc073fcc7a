//! [`ProcessGroup`]: a TCPStore and a Gloo or NCCL process group, owned, with collectives that
//! wait at most the rendezvous timeout.

use std::ffi::{CString, c_void};
use std::time::Duration;

use tch::{Device, Kind, Tensor};

use super::ffi;
use super::{DistError, Rendezvous};

/// Which c10d backend a group runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// CPU tensors, over TCP.
    Gloo,
    /// CUDA tensors, one process per GPU (`LOCAL_RANK` picks it).
    Nccl,
}

/// Whether this build can make NCCL process groups (the cargo feature `nccl`).
pub fn nccl_compiled() -> bool {
    // SAFETY: a constant query without arguments.
    unsafe { ffi::icrl_c10d_has_nccl() != 0 }
}

/// One rank's membership of a process group. Dropping it leaves the group.
pub struct ProcessGroup {
    store: *mut c_void,
    pg: *mut c_void,
    rank: usize,
    world_size: usize,
    backend: Backend,
    device: Device,
    timeout: Duration,
}

impl std::fmt::Debug for ProcessGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessGroup")
            .field("rank", &self.rank)
            .field("world_size", &self.world_size)
            .field("backend", &self.backend)
            .field("device", &self.device)
            .field("timeout", &self.timeout)
            .finish()
    }
}

// SAFETY: the c10d objects behind the handles are used by one thread at a time (every method
// takes the group by reference and waits for its collective before returning, and the shim
// keeps its error string per thread); c10d's own worker threads are internal to it.
unsafe impl Send for ProcessGroup {}
unsafe impl Sync for ProcessGroup {}

fn c_string(var: &'static str, text: &str) -> Result<CString, DistError> {
    CString::new(text).map_err(|_| DistError::Env { var, message: "contains a NUL byte".into() })
}

impl ProcessGroup {
    /// Join the group `rv` describes: connect to (or, as rank 0 without torchrun, host) the
    /// TCPStore, then build the backend, which waits for every rank within the timeout.
    pub fn new(rv: &Rendezvous, backend: Backend) -> Result<Self, DistError> {
        if backend == Backend::Nccl && !nccl_compiled() {
            return Err(DistError::NoNccl);
        }
        let timeout_ms = rv.timeout.as_millis().min(i64::MAX as u128) as i64;
        let failed = |message: String| DistError::Rendezvous {
            rank: rv.rank,
            world: rv.world_size,
            addr: rv.master_addr.clone(),
            port: rv.master_port,
            timeout_s: rv.timeout.as_secs(),
            message,
        };
        let host = c_string("MASTER_ADDR", &rv.master_addr)?;
        let prefix = c_string("store prefix", "icrl/")?;
        let is_server = rv.rank == 0 && !rv.agent_store;
        // SAFETY: valid NUL-terminated strings that outlive the call.
        let store = unsafe {
            ffi::icrl_store_new(
                host.as_ptr(),
                rv.master_port as i32,
                is_server as i32,
                rv.world_size as i32,
                timeout_ms,
                prefix.as_ptr(),
            )
        };
        if store.is_null() {
            return Err(failed(format!("TCPStore: {}", ffi::last_error())));
        }
        let pg = match backend {
            Backend::Gloo => {
                let ifname =
                    c_string("GLOO_SOCKET_IFNAME", rv.gloo_ifname.as_deref().unwrap_or(""))?;
                // On one machine (MASTER_ADDR a loopback address) bind the loopback: the
                // hostname may resolve to an address that is not this machine's.
                let hostname = if rv.is_loopback() { "127.0.0.1" } else { "" };
                let hostname = c_string("MASTER_ADDR", hostname)?;
                // SAFETY: `store` is a live handle; the strings outlive the call.
                unsafe {
                    ffi::icrl_pg_gloo_new(
                        store,
                        rv.rank as i32,
                        rv.world_size as i32,
                        ifname.as_ptr(),
                        hostname.as_ptr(),
                        timeout_ms,
                        0,
                    )
                }
            }
            // SAFETY: `store` is a live handle.
            Backend::Nccl => unsafe {
                ffi::icrl_pg_nccl_new(
                    store,
                    rv.rank as i32,
                    rv.world_size as i32,
                    rv.local_rank as i32,
                    timeout_ms,
                )
            },
        };
        if pg.is_null() {
            let message = ffi::last_error();
            // SAFETY: `store` is live and owned here; nothing else refers to it.
            unsafe { ffi::icrl_store_free(store) };
            return Err(failed(format!("{backend:?} process group: {message}")));
        }
        let device = match backend {
            Backend::Gloo => Device::Cpu,
            Backend::Nccl => Device::Cuda(rv.local_rank),
        };
        Ok(ProcessGroup {
            store,
            pg,
            rank: rv.rank,
            world_size: rv.world_size,
            backend,
            device,
            timeout: rv.timeout,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Rank 0: the one that reads and writes the run folder.
    pub fn is_main(&self) -> bool {
        self.rank == 0
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Where this group's tensors must live: the CPU for Gloo, this rank's GPU for NCCL.
    pub fn device(&self) -> Device {
        self.device
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    fn collective(&self, what: &str, status: i32) -> Result<(), DistError> {
        if status == 0 {
            return Ok(());
        }
        Err(DistError::Collective {
            rank: self.rank,
            world: self.world_size,
            what: what.to_string(),
            timeout_s: self.timeout.as_secs(),
            message: ffi::last_error(),
        })
    }

    fn check(&self, t: &Tensor, what: &str) -> Result<(), DistError> {
        if t.device() != self.device || !t.is_contiguous() {
            return Err(DistError::Mismatch {
                rank: self.rank,
                world: self.world_size,
                message: format!(
                    "{what}: a {:?} tensor on {:?}, but the {:?} group needs contiguous tensors \
                     on {:?}",
                    t.kind(),
                    t.device(),
                    self.backend,
                    self.device
                ),
            });
        }
        Ok(())
    }

    /// Sum `t` over every rank, in place. `what` names the data in an error.
    pub fn allreduce_sum(&self, t: &mut Tensor, what: &str) -> Result<(), DistError> {
        self.check(t, what)?;
        // SAFETY: live group handle; a tch tensor pointer is an `at::Tensor*`.
        let status = unsafe { ffi::icrl_pg_allreduce_sum(self.pg, t.as_mut_ptr() as *mut c_void) };
        self.collective(&format!("all-reduce of {what}"), status)
    }

    /// Overwrite `t` on every rank with rank `root`'s, in place.
    pub fn broadcast(&self, t: &mut Tensor, root: usize, what: &str) -> Result<(), DistError> {
        self.check(t, what)?;
        // SAFETY: as in `allreduce_sum`.
        let status =
            unsafe { ffi::icrl_pg_broadcast(self.pg, t.as_mut_ptr() as *mut c_void, root as i32) };
        self.collective(&format!("broadcast of {what}"), status)
    }

    /// Wait until every rank has called this.
    pub fn barrier(&self, what: &str) -> Result<(), DistError> {
        // SAFETY: live group handle.
        let status = unsafe { ffi::icrl_pg_barrier(self.pg) };
        self.collective(&format!("barrier ({what})"), status)
    }

    /// Rank `root`'s `bytes` on every rank (the others' are ignored): its length, then its
    /// contents.
    pub fn broadcast_bytes(
        &self,
        bytes: &[u8],
        root: usize,
        what: &str,
    ) -> Result<Vec<u8>, DistError> {
        let mut len = Tensor::from_slice(&[bytes.len() as i64]).to_device(self.device);
        self.broadcast(&mut len, root, &format!("{what} (length)"))?;
        let n = len.int64_value(&[0]).max(0) as usize;
        let mut data = if self.rank == root {
            Tensor::from_slice(bytes)
        } else {
            Tensor::zeros([n as i64], (Kind::Uint8, Device::Cpu))
        }
        .to_device(self.device);
        if n > 0 {
            self.broadcast(&mut data, root, what)?;
        }
        Vec::<u8>::try_from(data.to_device(Device::Cpu)).map_err(|e| DistError::Mismatch {
            rank: self.rank,
            world: self.world_size,
            message: format!("{what}: reading the broadcast bytes: {e}"),
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: both handles are live and owned by this value; the group goes first, as it
        // holds a reference to the store.
        unsafe {
            ffi::icrl_pg_free(self.pg);
            ffi::icrl_store_free(self.store);
        }
    }
}
