//! Helpers for the multi-process daemon tests: the same loopback cluster and pty
//! relay `hbd demo` uses (the files are shared, not copied), plus a lock that
//! keeps timing-sensitive tests from running at the same time on a 2-core box.
#![allow(dead_code)]

#[path = "../../src/cli/demo_cluster.rs"]
pub mod cluster;
#[path = "../../src/cli/demo_pty.rs"]
pub mod pty;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

static SERIAL: Mutex<()> = Mutex::new(());

/// Held for the whole of a test that measures time or runs daemons: takeover
/// bounds are only meaningful when two other pairs are not competing for CPU.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn hbd_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hbd"))
}
