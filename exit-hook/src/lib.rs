//! A safe wrapper of atexit(3): have the C library's `exit` call a hook, after `main` returns
//! or from `std::process::exit`, while the process's other threads still run. std has no exit
//! hook, and Ferry's socket driver needs one (a program that writes and returns must not lose
//! its data: docs/architecture.md). This crate holds the one `unsafe` block, so that Ferry
//! itself forbids unsafe code.

/// Register `hook` to run at exit. Returns whether it was registered; where there is no
/// atexit(3) (not Unix), or registration fails, the exit just does not run it.
///
/// A panic in `hook` aborts the process (a panic cannot unwind out of an `extern "C"`
/// function), so a hook that may panic should catch it.
#[cfg(unix)]
pub fn call_at_exit(hook: extern "C" fn()) -> bool {
    // SAFETY: atexit(3) takes any function of this signature and calls it at most once, at
    // exit. The hook is a safe Rust function: unwinding out of it aborts, never crosses C.
    unsafe { libc::atexit(hook) == 0 }
}

/// See the Unix version: without atexit(3), nothing is registered.
#[cfg(not(unix))]
pub fn call_at_exit(_hook: extern "C" fn()) -> bool {
    false
}
