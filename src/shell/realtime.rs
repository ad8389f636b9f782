//! `realtime on` (heartbeat's default): SCHED_FIFO and locked memory, so a busy
//! machine does not delay heartbeats into a false failover. Each falls back with
//! one warning when not permitted. The only unsafe code of the crate lives here.

use nix::sys::mman::{mlockall, MlockAllFlags};
use nix::sys::resource::{getrlimit, Resource, RLIM_INFINITY};

/// heartbeat's `rtprio` default is mid-range; a low priority is enough to beat
/// normal processes and leaves room above us for the kernel's own threads.
const RT_PRIORITY: i32 = 5;

/// Switches the calling thread (the daemon's only runtime thread) to SCHED_FIFO.
/// `SCHED_RESET_ON_FORK` keeps resource scripts at normal priority.
#[allow(unsafe_code)]
fn set_fifo(priority: i32) -> std::io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: sched_setscheduler reads `param` (a valid, initialised struct on
    // our stack) and changes only scheduling attributes of thread 0 (ourselves).
    let rc = unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO | libc::SCHED_RESET_ON_FORK, &param)
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Applies realtime settings; returns the warnings it logged (for tests).
pub fn apply() -> Vec<String> {
    let mut warnings = Vec::new();
    match set_fifo(RT_PRIORITY) {
        Ok(()) => log::info!("realtime: SCHED_FIFO priority {RT_PRIORITY}"),
        Err(e) => warnings.push(format!(
            "realtime: cannot set SCHED_FIFO priority {RT_PRIORITY}: {e}; running at normal priority"
        )),
    }
    // MCL_FUTURE under a finite memlock limit turns a later allocation into a
    // crash instead of a failure; only lock when the limit cannot bite.
    let root = nix::unistd::geteuid().is_root();
    let limit = getrlimit(Resource::RLIMIT_MEMLOCK)
        .map(|(soft, _)| soft)
        .unwrap_or(0);
    if !root && limit != RLIM_INFINITY {
        warnings.push(format!(
            "realtime: memory not locked: memlock limit is {} KiB and we are not root",
            limit / 1024
        ));
    } else {
        match mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE) {
            Ok(()) => log::info!("realtime: memory locked"),
            Err(e) => warnings.push(format!("realtime: cannot lock memory: {e}")),
        }
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    warnings
}
