//! The control socket as both ends see it: the protocol ([`proto`]) and a
//! blocking client ([`client`]). Neither needs tokio, so the command-line
//! client, the demo and the tests talk to a daemon without the shell; the
//! daemon's side is `shell::control`.

pub mod client;
pub mod proto;

pub use proto::{
    ConvergenceReport, ConvergenceState, FailureReport, GroupReport, LinkReport, LossCount,
    Maintenance, MonitorReport, NodeReport, Problem, ProblemKind, Request, Response, StatusReport,
    TargetAnswer, TransitionReport, SOCKET_NAME,
};
