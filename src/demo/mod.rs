//! `hbd demo`'s machinery, in the library so the loopback tests drive the very
//! same two-node cluster: [`cluster`] writes and runs the nodes, [`pty`] is the
//! serial cable between them. The narration itself is `hbd demo` (src/cli).

pub mod cluster;
pub mod pty;

pub use cluster::wait_for;
