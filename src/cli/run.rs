//! `hbd run`: the daemon, in the foreground (systemd style). `--dry-run` stops
//! after the decisions `run` makes before it touches anything: the
//! configuration loaded and validated, every fact of this host it relies on
//! checked (the same code as an on-node `hbd check`), the state and run
//! directories looked at; no lock, socket, link or script.
use super::check::{counts, load_for_run, print_diagnostics};
use hbd::config::facts::{DEFAULT_RUN_DIR, DEFAULT_STATE_DIR};
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
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Where the control socket and the resource scripts' temp dir live.
    #[arg(long, default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
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
        config: a.config,
        node: a.node,
        state_dir: a.state_dir,
        run_dir: a.run_dir,
        bind: a.bind,
        no_realtime: a.no_realtime,
    })
}

fn dry_run(a: Args) -> ExitCode {
    let loaded = load_for_run(&a.config, a.node, &a.state_dir, &a.run_dir);
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
        a.config.display(),
        counts(errors, warnings)
    );
    if loaded.config.is_some() && loaded.local_node.is_some() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
