//! The tokio shell: sockets, serial, timers, scripts, control socket.
pub mod clock;
pub mod control;
pub mod daemon;
pub mod fence;
pub mod ipaddr;
pub mod link;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod ping;
pub mod proto;
pub mod realtime;
pub mod script;
pub mod serial;
pub mod state;
