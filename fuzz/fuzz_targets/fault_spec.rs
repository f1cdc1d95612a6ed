//! cargo-fuzz entry point for `ferry_fuzz::fault_spec::run` (see fuzz/src/fault_spec.rs).
#![no_main]

#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferry_fuzz::fault_spec::run(data));
