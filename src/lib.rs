//! Ferry: a reliable, ordered byte stream with TCP's semantics, carried in UDP datagrams.
#![deny(missing_docs)]

pub mod conn;
pub mod endpoint;
pub mod fault;
pub mod sim;
pub mod time;
pub mod wire;

pub use conn::{Config, Stats};
pub use fault::FaultConfig;
