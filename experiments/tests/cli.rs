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
