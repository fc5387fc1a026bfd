#![no_main]

mod cap;

#[global_allocator]
static ALLOC: cap::Capped = cap::Capped;

libfuzzer_sys::fuzz_target!(|data: &[u8]| cap::run(data.len(), || anax::fuzz::tail_pack(data)));
