//! The `ferry` command line: `ferry sim` runs a transfer over the simulated lossy network;
//! `ferry lab` runs one and checks the observations a lab file expects of it;
//! `ferry recv`, `ferry send` and `ferry cat` run Ferry over real UDP sockets.

mod args;
mod first_byte;
mod lab;
mod net;
mod punching;
mod qlog;
mod rendezvous;
mod report;
mod scenario;
mod secure;
mod serve;
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
    Sim(Box<sim::SimArgs>),
    /// Run a lab file: a simulated run and the observations expected of it; print each
    /// with the value measured and PASS or FAIL (exit 1 if one fails, 2 if the file is
    /// malformed).
    Lab(lab::LabArgs),
    /// Receive transfers over real UDP and write them to stdout or a file.
    Recv(net::RecvArgs),
    /// Send a file (or stdin) to a `ferry recv` over real UDP.
    Send(net::SendArgs),
    /// netcat over Ferry: stdin to the peer, the peer to stdout.
    Cat(net::CatArgs),
    /// The server peers behind NATs meet through (`--rendezvous` on send, recv and cat): it
    /// introduces them, and relays for those with no direct path.
    Rendezvous(rendezvous::RendezvousArgs),
}

/// The OS clock, for the wall time the commands report.
#[allow(clippy::disallowed_methods)] // the CLI measures real time; the protocol never does
pub(crate) fn wall_clock() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim::run(*args),
        Command::Lab(args) => lab::lab(args),
        Command::Recv(args) => net::recv(args),
        Command::Send(args) => net::send(args),
        Command::Cat(args) => net::cat(args),
        Command::Rendezvous(args) => rendezvous::rendezvous(args),
    }
}
