//! `hbd status|standby|takeover|cl_status`: talk to a running daemon's control socket.
use std::process::ExitCode;

#[derive(clap::Subcommand, Debug)]
pub enum Cmd {
    /// Show both nodes, links and resource groups.
    Status {},
    /// Give resource groups to the peer.
    Standby {},
    /// Take resource groups from the peer.
    Takeover {},
}

pub fn run(_cmd: Cmd) -> ExitCode {
    eprintln!("hbd: control commands are not built yet");
    ExitCode::from(2)
}
