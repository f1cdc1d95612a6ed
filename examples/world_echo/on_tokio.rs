//! `echo.rs` on `ferry::tokio`, over real sockets.

/// Where the program's names come from: `ferry::tokio` and tokio's own.
pub mod rt {
    pub use ferry::tokio::{Listener, Stream};
    pub use tokio::spawn;
    pub use tokio::time::{sleep, timeout, Instant};
}

#[path = "echo.rs"]
pub mod echo;
