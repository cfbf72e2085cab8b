//! # card-agent-card: the card core
//!
//! Everything card-agent knows about cards, and nothing about who is asking: readers and card
//! events (PC/SC), PKCS#11 modules, the PIN rules, certificates with the Taiwan fields, raw
//! signing, CMS and the demo token. Plain blocking calls: no async runtime, no HTTP, no site
//! policy. The agent's service (crate `card-agent`) is the only caller that decides whether a
//! call may be made.
//!
//! ## Layout
//! - [`pin`]: the PIN rules (format check before any login, zeroizing buffer). One place.
//! - [`error`]: the error enum and its one mapping to the stable wire codes.
//! - [`certificate`]: X.509 parsing with the Taiwan fields (family, ID digits, business number).
//! - [`pkcs11`]: PKCS#11 modules (discovery, tokens, certificates, login, raw signing).
//! - [`token`]: plain data about tokens and their certificates.
//! - [`card_core`]: every token from every provider (PKCS#11 modules, the demo token) behind
//!   one set of operations; the PIN gate and per-token queueing live here.
//! - [`signer`]: hash algorithms, formats and the orchestration of a signature.
//! - [`cms_signature`]: CMS SignedData ("PKCS7") with the signed attributes legacy pages expect.
//! - [`envelope`]: CMS EnvelopedData read for legacy decryption (the card unwraps the key).
//! - [`demo`]: the DEMO software token for `--demo`, and the MOICA-like test PKI it (and the
//!   SoftHSM test fixture) issues certificates from.
//! - [`reader`]: the PC/SC layer: reader snapshots, card events, ATR recognition.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used)]

pub mod card_core;
pub mod certificate;
pub mod cms_signature;
pub mod demo;
pub mod envelope;
pub mod error;
pub mod pin;
pub mod pkcs11;
pub mod reader;
pub mod signer;
pub mod token;

pub use error::{Error, Result};
