//! One module per subcommand; each has `Args` (clap) and `run(Args) -> ExitCode`.
//! The arguments several subcommands share are here, flattened into each.
use hbd::config::facts::{DEFAULT_RUN_DIR, DEFAULT_STATE_DIR};
use std::path::PathBuf;

pub mod check;
pub mod control;
pub mod decode;
pub mod demo;
pub mod export;
pub mod man;
pub mod migrate;
pub mod run;

/// `-c`: the configuration a subcommand reads.
#[derive(clap::Args, Debug)]
pub struct ConfigPath {
    /// An ha.d directory (ha.cf, haresources, authkeys) or an hbd.toml file.
    #[arg(
        short = 'c',
        long = "config",
        value_name = "CONFIG",
        default_value = "/etc/ha.d"
    )]
    pub path: PathBuf,
}

/// The directories `run` uses, which `run --dry-run` and an on-node `check`
/// look at too.
#[derive(clap::Args, Debug)]
pub struct RunDirs {
    /// Where `run` keeps the lock, the generation and the uuid (an on-node
    /// `check` checks it).
    #[arg(long, default_value = DEFAULT_STATE_DIR)]
    pub state_dir: PathBuf,
    /// Where `run` puts the control socket and the resource scripts' temp dir
    /// (an on-node `check` checks it).
    #[arg(long, default_value = DEFAULT_RUN_DIR)]
    pub run_dir: PathBuf,
}
