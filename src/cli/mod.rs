//! One module per subcommand; each has `Args` (clap) and `run(Args) -> ExitCode`.
pub mod check;
pub mod control;
pub mod decode;
pub mod demo;
pub mod export;
pub mod man;
pub mod migrate;
pub mod run;
