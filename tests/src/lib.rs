//! Real-component test bed for card-agent: SoftHSM2 tokens with a MOICA-like test PKI, pcscd
//! with vpcd and a virtual card, and helpers to run the real `card-agent` binary and openssl.
//!
//! ## Layout
//! - [`softhsm`]: SoftHSM2 tokens in temporary directories.
//! - [`agent`]: locating and running the `card-agent` binary; openssl verification helpers.
#![forbid(unsafe_code)]

pub mod agent;
pub mod softhsm;
