//! Fuzz target `legacy_tbs`: the body is `card_agent_testbed::fuzz_harness::legacy_tbs`, shared with the
//! stable replay test. See fuzz/README.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    card_agent_testbed::fuzz_harness::legacy_tbs(data);
});
