//! The `ferry` command line: `ferry sim` runs a transfer over the simulated lossy network.

mod args;
mod sim;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "A reliable transport with TCP semantics over UDP, built to be read, inspected and tortured"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Transfer data from host A to host B over a simulated lossy link, in virtual time.
    Sim(sim::SimArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(args),
    }
}
