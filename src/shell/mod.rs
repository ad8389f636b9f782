//! The tokio shell: sockets, serial, timers, scripts, control socket.
