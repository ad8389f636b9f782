//! The tokio shell: sockets, serial, timers, scripts, control socket.
pub mod clock;
pub mod control;
pub mod daemon;
pub mod link;
pub mod logging;
pub mod proto;
pub mod realtime;
pub mod script;
pub mod serial;
pub mod state;
