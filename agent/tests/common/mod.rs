//! What the agent's integration tests share.

use std::sync::{Mutex, MutexGuard};

/// One torch thread, and this test's turn at torch's process-wide generator.
///
/// The tests of one file run on parallel threads of one process, and `tch::manual_seed`,
/// `Tensor::randn` and friends use a single generator for all of them: a test that seeds it
/// and then draws its inputs can get another test's draws in between, so two runs that should
/// see the same inputs see different ones (an 8-bit KV cache once "differed" from full
/// precision by 0.76 so; a bf16-against-f32 comparison failed the same way). Every test of a
/// file that seeds or draws from the generator holds this guard for its whole body. One
/// intra-op thread per test also avoids oversubscribing the two-core CI machine (tens of
/// times slower otherwise).
pub fn torch_turn() -> MutexGuard<'static, ()> {
    static TORCH_RNG: Mutex<()> = Mutex::new(());
    // A poisoned lock only means another test failed; the generator is reseeded by each test.
    let turn = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    tch::set_num_threads(1);
    turn
}
