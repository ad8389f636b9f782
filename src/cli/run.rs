//! `hbd run`: the daemon, in the foreground (systemd style). `--dry-run` stops
//! after the decisions `run` makes before it touches anything: the
//! configuration loaded and validated, every fact of this host it relies on
//! checked (the same code as an on-node `hbd check`), the state and run
//! directories looked at; no lock, socket, link or script.
use super::check::{counts, load_for_run, print_diagnostics};
use super::{ConfigPath, RunDirs};
use hbd::shell::daemon::{self, RunOptions};
use std::net::IpAddr;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigPath,
    /// This node's name (default: `uname -n`, lowercased).
    #[arg(long)]
    pub node: Option<String>,
    #[command(flatten)]
    pub dirs: RunDirs,
    /// Receive ucast/bcast packets on this address only (for several nodes on one host).
    #[arg(long)]
    pub bind: Option<IpAddr>,
    /// Do not use real-time scheduling or locked memory, whatever `realtime` says.
    #[arg(long)]
    pub no_realtime: bool,
    /// Load, validate and check everything `run` needs of this host, print
    /// the verdict and exit (0: it would start) without taking the lock,
    /// opening a socket or link, or running a script.
    #[arg(long)]
    pub dry_run: bool,
}

pub fn run(a: Args) -> ExitCode {
    if a.dry_run {
        return dry_run(a);
    }
    daemon::run(RunOptions {
        config: a.config.path,
        node: a.node,
        state_dir: a.dirs.state_dir,
        run_dir: a.dirs.run_dir,
        bind: a.bind,
        no_realtime: a.no_realtime,
    })
}

fn dry_run(a: Args) -> ExitCode {
    let loaded = load_for_run(&a.config.path, a.node, &a.dirs);
    let (errors, warnings) = print_diagnostics(&loaded.diagnostics);
    let verdict = match (&loaded.config, &loaded.local_node) {
        (Some(c), Some(me)) => format!(
            "dry run: would start as node {me} ({} link(s), {} group(s))",
            c.media.len(),
            c.groups.len()
        ),
        _ => "dry run: would not start".to_string(),
    };
    println!(
        "{}: {}; {verdict}",
        a.config.path.display(),
        counts(errors, warnings)
    );
    if loaded.config.is_some() && loaded.local_node.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
