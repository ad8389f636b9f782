//! `hbd check`.
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("hbd: check is not built yet");
    ExitCode::from(2)
}
