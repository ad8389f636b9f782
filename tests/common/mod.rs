//! Helpers shared by the integration tests (each file one concern).
//!
//! `cluster` and `pty` are the loopback pair and the pty relay `hbd demo` uses
//! (the files are shared with src/cli, not copied); `one_at_a_time` keeps the
//! timing-sensitive daemon tests from competing for a 2-core box. `hblab` is
//! the interop lab: a node runs the real heartbeat 3.0.6 or hbd.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

#[path = "../../src/cli/demo_cluster.rs"]
pub mod cluster;
pub mod hblab;
pub mod lab;
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
