//! The `hbd` command: every subcommand is a contract scripts rely on.
use clap::{CommandFactory, Parser, Subcommand};
use std::process::ExitCode;

mod cli;

#[derive(Parser, Debug)]
#[command(
    name = "hbd",
    version,
    about = "Heartbeat-compatible two-node high-availability daemon"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run the daemon in the foreground.
    Run(cli::run::Args),
    /// Check a configuration (ha.d directory or hbd.toml) and print every problem.
    Check(cli::check::Args),
    /// Write the hbd.toml equivalent of a legacy /etc/ha.d configuration (stdout or -o FILE).
    Migrate(cli::migrate::Args),
    /// Decode and verify one heartbeat packet.
    Decode(cli::decode::Args),
    /// Two nodes on loopback: a failover and a failback, no root needed.
    Demo(cli::demo::Args),
    /// The demo's TCP service, run by its resource script.
    #[command(name = "demo-service", hide = true)]
    DemoService(cli::demo::ServiceArgs),
    /// Export the configuration for another cluster stack (Pacemaker).
    #[command(subcommand)]
    Export(cli::export::Target),
    /// Write the man pages hbd(8), hbd-SUBCOMMAND(8) and hbd.toml(5).
    Man(cli::man::Args),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(cli::man::CompletionArgs),
    #[command(flatten)]
    Control(cli::control::Cmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Cmd::Run(a) => cli::run::run(a),
        Cmd::Check(a) => cli::check::run(a),
        Cmd::Migrate(a) => cli::migrate::run(a),
        Cmd::Decode(a) => cli::decode::run(a),
        Cmd::Demo(a) => cli::demo::run(a),
        Cmd::DemoService(a) => cli::demo::service(a),
        Cmd::Export(t) => cli::export::run(t),
        Cmd::Man(a) => cli::man::run(a, Cli::command()),
        Cmd::Completions(a) => cli::man::completions(a, Cli::command()),
        Cmd::Control(c) => cli::control::run(c),
    }
}
