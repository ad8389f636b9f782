//! `hbd run`: the daemon, in the foreground (systemd style).
use hbd::shell::daemon::{self, RunOptions};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// ha.d directory (ha.cf, haresources, authkeys) or hbd.toml file.
    #[arg(short = 'c', long = "config", default_value = "/etc/ha.d")]
    pub config: PathBuf,
    /// This node's name (default: `uname -n`, lowercased).
    #[arg(long)]
    pub node: Option<String>,
    /// Where the lock, generation and uuid live.
    #[arg(long, default_value = "/var/lib/hbd")]
    pub state_dir: PathBuf,
    /// Where the control socket and the resource scripts' temp dir live.
    #[arg(long, default_value = "/run/hbd")]
    pub run_dir: PathBuf,
    /// Receive ucast/bcast packets on this address only (for several nodes on one host).
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Do not use real-time scheduling or locked memory, whatever `realtime` says.
    #[arg(long)]
    pub no_realtime: bool,
}

pub fn run(a: Args) -> ExitCode {
    daemon::run(RunOptions {
        config: a.config,
        node: a.node,
        state_dir: a.state_dir,
        run_dir: a.run_dir,
        bind: a.bind,
        no_realtime: a.no_realtime,
    })
}
