//! hbd's test harness, shared by the integration tests (`tests/`) and the
//! failover benchmark (`benches/failover`) as a dev-only crate.
//!
//! - [`skip`]: the one way a test skips for want of root or a package, and
//!   `HBD_REQUIRE_LAB=1`, which turns any such skip into a failure.
//! - [`loopback::Pair`]: the loopback pair, `hbd demo`'s two nodes on
//!   127.0.0.1/127.0.0.2, no root.
//! - [`nspair::NsPair`]: the namespace pair, two machines of the lab wired as
//!   a heartbeat pair (root); [`hblab`] runs heartbeat 3.0.6 or hbd on it.
//! - [`lab`]: network namespaces as machines (the namespace lab).
//! - [`core_harness`]: one core or two driven by hand with a fake clock, for
//!   the timeline tests, the simulation and the core fuzz test.
//! - [`audit`]: the kernels' and a client's view of a pair, sampled from
//!   outside the daemons (the fault campaign's auditor).
//! - [`reliability`]: the rows of RELIABILITY.md the fault and hostile-input
//!   suites measure.
//! - Small shared pieces: [`wait_for`], [`wait_status`], [`one_at_a_time`],
//!   [`noise_bytes`] (seeded test noise from the core's one `Rng`),
//!   [`vectors`] (the golden captures),
//!   [`hbd_exe!`].
//!
//! A crate rather than `mod common;` in each test file: every test binary
//! links the parts it uses instead of compiling all of them, so nothing here
//! needs `allow(dead_code)`, and the benchmark shares the lab without a
//! `#[path]` include.
#![forbid(unsafe_code)]

pub mod audit;
pub mod core_harness;
pub mod hblab;
pub mod lab;
pub mod loopback;
pub mod nspair;
pub mod reliability;
pub mod skip;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// The repository root (testkit lives in `<repo>/testkit`).
pub fn repo() -> PathBuf {
    let me = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    me.parent().map(PathBuf::from).unwrap_or(me)
}

/// The `hbd` binary cargo built for the calling test or bench target. A
/// macro: `CARGO_BIN_EXE_hbd` exists only while compiling those targets.
#[macro_export]
macro_rules! hbd_exe {
    () => {
        ::std::path::PathBuf::from(env!("CARGO_BIN_EXE_hbd"))
    };
}

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for the whole of a test that measures time or runs daemons: takeover
/// bounds are only meaningful when two other pairs of the same test binary
/// are not competing for the CPU.
pub fn one_at_a_time() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner())
}

/// `n` random bytes from the core's generator (test noise: random
/// datagrams, line garbage), the same on every run for one seed.
pub fn noise_bytes(rng: &mut hbd::core::Rng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.next_u64() as u8).collect()
}

/// The golden vectors captured from heartbeat 3.0.6:
/// `shared/vectors/heartbeat-3.0.6` beside the repository or beside one of
/// its parents (a git worktree sits deeper than the main checkout). None
/// when absent: a test asks `Needs::that(vectors().is_some(), …)`.
pub fn vectors() -> Option<PathBuf> {
    repo()
        .ancestors()
        .map(|a| a.join("shared/vectors/heartbeat-3.0.6"))
        .find(|p| p.is_dir())
}

/// Polls `f` every 10 ms until it returns `Some`, for at most `within`.
pub fn wait_for<T>(within: Duration, f: impl FnMut() -> Option<T>) -> Option<T> {
    hbd::demo::wait_for(within, Duration::from_millis(10), f)
}

/// Polls `status` every 10 ms until `pred` holds of what it returns; how
/// long that took. Panics naming `who`, `what` and the last status seen.
pub fn wait_status<S: std::fmt::Debug>(
    who: &str,
    limit: Duration,
    what: &str,
    mut status: impl FnMut() -> Option<S>,
    pred: impl Fn(&S) -> bool,
) -> Duration {
    let t = std::time::Instant::now();
    let mut last = None;
    let ok = wait_for(limit, || {
        let r = status()?;
        let done = pred(&r);
        last = Some(r);
        done.then_some(())
    });
    if ok.is_none() {
        panic!("{who}: not {what} within {limit:?}; last status {last:#?}");
    }
    t.elapsed()
}
