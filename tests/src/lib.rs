//! Real-component test bed for card-agent: SoftHSM2 tokens with a MOICA-like test PKI, pcscd
//! with vpcd and a virtual card, and helpers to run the real `card-agent` binary and openssl.
//!
//! ## Layout
//! - [`clock`]: the test command's faked-clock run, and the real clock for the machine's own
//!   programs (pcscd, Chromium).
//! - [`softhsm`]: SoftHSM2 tokens in temporary directories.
//! - [`pcscd`]: starting (or reusing) pcscd with the vpcd driver; exclusive use of its readers.
//! - [`virtual_card`]: a card emulator that plugs into vpcd as a TCP client.
//! - [`agent`]: locating and running the `card-agent` binary; openssl verification helpers.
//! - [`user_session`]: an isolated user session (private XDG dirs, the daemon in it) and a
//!   private desktop (D-Bus session bus, Xvfb, StatusNotifier watcher and tray host).
//! - [`daemon`]: the real daemon and native host in an isolated environment, framed messages,
//!   and the check that no log holds a PIN.
//! - [`pin_gate`]: a gate in front of the fake pinentry's answers, so a test decides when a
//!   dialog on screen is answered.
//! - [`faults`]: leak checks for fault tests (open file descriptors, PKCS#11 sessions and
//!   logins through `pkcs11-spy`).
//! - [`p11_wrap`]: the wrapper module (`tests/p11-wrap`): SoftHSM2 behaving like real card
//!   modules (PIN pad, HiCOS tries flags, hangs, crashes, garbage, card removal, latencies).
//! - [`load`]: a bounded concurrent-load driver for the daemon's socket.
//! - [`fuzz_harness`]: the fuzz targets' bodies, shared by `fuzz/` (libFuzzer, nightly) and
//!   the stable replay test of the committed seeds and regressions.
#![forbid(unsafe_code)]

pub mod agent;
pub mod clock;
pub mod daemon;
pub mod faults;
pub mod fuzz_harness;
pub mod load;
pub mod p11_wrap;
pub mod pcscd;
pub mod pin_gate;
pub mod softhsm;
pub mod user_session;
pub mod virtual_card;
