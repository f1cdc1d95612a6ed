//! cargo-fuzz entry point for `ferry_fuzz::endpoint::run` (see fuzz/src/endpoint.rs).
#![no_main]

#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::endpoint::run(data));
