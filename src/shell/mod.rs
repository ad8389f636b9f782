//! The tokio shell: sockets, serial, timers, scripts, control socket.
pub mod proto;
