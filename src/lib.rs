//! hbd: a Heartbeat-compatible two-node high-availability daemon.
#![deny(unsafe_code)]

pub mod config;
pub mod control;
pub mod core;
#[cfg(feature = "shell")]
pub mod demo;
#[cfg(feature = "shell")]
pub mod shell;
pub mod time;
pub mod wire;
