//! `realtime on` (heartbeat's default): SCHED_FIFO and locked memory, so a busy
//! machine does not delay heartbeats into a false failover. Each falls back with
//! one warning when not permitted. The only unsafe code of the crate lives here.

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

/// Linux's MCL_ONFAULT (4.4 and later); the libc crate does not export it
/// for every target.
const MCL_ONFAULT: libc::c_int = 4;

/// Locks every page the daemon touches, as it touches it. Plain
/// MCL_CURRENT would also pull the whole binary and libc into memory (about
/// 6 MiB resident instead of 4.7): the pages the heartbeat path uses are
/// touched within the first keepalives and stay locked from then on, which
/// is what keeps a busy machine from paging them out.
#[allow(unsafe_code)]
fn lock_memory() -> std::io::Result<&'static str> {
    // SAFETY: mlockall takes flags only and changes no memory contents.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE | MCL_ONFAULT) };
    if rc == 0 {
        return Ok("memory locked as it is touched");
    }
    let onfault_err = std::io::Error::last_os_error();
    if onfault_err.raw_os_error() != Some(libc::EINVAL) {
        return Err(onfault_err);
    }
    // A kernel older than 4.4 does not know MCL_ONFAULT: lock everything.
    // SAFETY: as above.
    let rc = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if rc == 0 {
        Ok("memory locked")
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
        match lock_memory() {
            Ok(how) => log::info!("realtime: {how}"),
            Err(e) => warnings.push(format!("realtime: cannot lock memory: {e}")),
        }
    }
    for w in &warnings {
        log::warn!("{w}");
    }
    warnings
}
