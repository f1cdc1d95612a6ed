//! `echo.rs` on the simulated world.

/// Where the program's names come from: the world's.
pub mod rt {
    pub use ferry::sim::world::net::{Listener, Stream};
    pub use ferry::sim::world::spawn;
    pub use ferry::sim::world::time::{sleep, timeout, Instant};
}

#[path = "echo.rs"]
pub mod echo;
