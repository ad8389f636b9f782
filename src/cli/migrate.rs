//! `hbd migrate`: print the hbd.toml equivalent of a legacy ha.d directory. Any
//! error goes to stderr and nothing is printed on stdout, so `> hbd.toml` never
//! writes half a config.
use hbd::config::{load, to_toml, LoadOptions, Purpose};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The ha.d directory to read.
    #[arg(short = 'c', long = "config", default_value = "/etc/ha.d")]
    pub config: PathBuf,
    /// The local node's name (default: `uname -n`).
    #[arg(long)]
    pub node: Option<String>,
}

pub fn run(args: Args) -> ExitCode {
    let loaded = load(
        &args.config,
        &LoadOptions {
            node: args.node,
            purpose: Purpose::Check,
        },
    );
    for d in &loaded.diagnostics {
        eprintln!("{d}");
    }
    match &loaded.config {
        Some(c) => {
            print!("{}", to_toml(c, loaded.local_node.as_deref()));
            ExitCode::SUCCESS
        }
        None => {
            eprintln!(
                "hbd migrate: {} has errors; fix them first (`hbd check -c {}`)",
                args.config.display(),
                args.config.display()
            );
            ExitCode::from(1)
        }
    }
}
