//! The tokio shell: sockets, serial, timers, scripts, control socket.
pub mod announce;
pub mod arp;
pub mod clock;
pub mod control;
pub mod daemon;
pub mod event_loop;
pub mod fence;
pub mod footprint;
pub mod hooks;
pub mod inbox;
pub mod ipaddr;
pub mod ipaddr6;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod ndisc;
pub mod notify;
pub mod ping;
pub mod realtime;
pub mod reload;
pub mod report;
pub mod resource;
pub mod script;
pub mod serial;
pub mod startup;
pub mod state;
pub mod watchdog;

/// A current-thread runtime with I/O and time, as the daemon runs on, for
/// the shell's unit tests.
#[cfg(test)]
pub(crate) fn test_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}
