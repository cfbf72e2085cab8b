//! Fuzz target `vpcd_frame`: the body is `card_agent_testbed::fuzz_harness::vpcd_frame`, shared with the
//! stable replay test. See fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    card_agent_testbed::fuzz_harness::vpcd_frame(data);
});
