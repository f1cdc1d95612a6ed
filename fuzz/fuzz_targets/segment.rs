//! cargo-fuzz entry point for `ferry_fuzz::segment::run` (see fuzz/src/segment.rs).
#![no_main]

#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::segment::run(data));
