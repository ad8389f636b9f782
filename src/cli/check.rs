//! `hbd check`: load a configuration as `run` would (machine facts only warn) and
//! print every diagnostic, then a summary. Exit 0 when it can run, 1 when not.
use hbd::config::{load, LoadOptions, Purpose, Severity};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// An ha.d directory (ha.cf, haresources, authkeys) or an hbd.toml file.
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
        println!("{d}");
    }
    let errors = loaded
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = loaded.diagnostics.len() - errors;
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    let verdict = match (&loaded.config, &loaded.local_node) {
        (Some(_), Some(me)) => format!("OK, can run as node {me}"),
        _ => "cannot run".to_string(),
    };
    println!(
        "{}: {}, {}; {verdict}",
        args.config.display(),
        plural(errors, "error"),
        plural(warnings, "warning")
    );
    if loaded.has_errors() || loaded.config.is_none() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
