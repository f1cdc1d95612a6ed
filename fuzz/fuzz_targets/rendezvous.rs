//! cargo-fuzz entry point for `ferry_fuzz::rendezvous::run` (see fuzz/src/rendezvous.rs).
#![no_main]

#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::rendezvous::run(data));
