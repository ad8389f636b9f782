//! `hbd demo`.
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct Args {}

pub fn run(_args: Args) -> ExitCode {
    eprintln!("hbd: demo is not built yet");
    ExitCode::from(2)
}
