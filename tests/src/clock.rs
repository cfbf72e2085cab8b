//! The faked clock of the test command's second run.
//!
//! `./dev.sh test` runs every Rust test twice: once on the real clock, once with libfaketime
//! preloaded into the test binaries and a wall clock a year ahead (`LD_PRELOAD`, `FAKETIME`),
//! so that a test or golden file holding today's date fails the day it is written. Programs
//! the tests start inherit it, as they should when they are ours. The machine's own programs
//! are not under test and are started on the real clock with [`real_clock`]: pcscd, which
//! outlives the test that starts it and is shared by later tests, and Chromium, which does not
//! run under libfaketime (its DevTools endpoint stops answering).

use std::process::Command;

/// The variables through which libfaketime reaches a program.
const FAKED_CLOCK_VARS: [&str; 4] = [
    "LD_PRELOAD",
    "FAKETIME",
    "DONT_FAKE_MONOTONIC",
    "FAKETIME_NO_CACHE",
];

/// `command`, set to run on the real clock even inside the faked-clock run.
pub fn real_clock(command: &mut Command) -> &mut Command {
    for var in FAKED_CLOCK_VARS {
        command.env_remove(var);
    }
    command
}
