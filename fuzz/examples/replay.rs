//! Run one input through a target outside libFuzzer, with FERRY_FUZZ_TRACE=1 for a trace:
//! `cargo run --example replay -- TARGET FILE...`.
#[global_allocator]
static ALLOCATOR: ferry_fuzz::heap::Counting = ferry_fuzz::heap::Counting;

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().expect("usage: replay TARGET FILE...");
    let (_, run) = ferry_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .expect("a target: segment, fault_spec, endpoint or rendezvous");
    for file in args {
        run(&std::fs::read(&file).expect("a readable file"));
        eprintln!("{file}: passed");
    }
}
