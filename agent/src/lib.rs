//! # card-agent
//!
//! An open agent for Taiwan's government PKI smart cards (MOICA 自然人憑證, MOEACA 工商憑證,
//! GCA, XCA, HCA): it finds readers and cards, reads certificates, checks PINs and signs.
//!
//! ## Layout
//! - [`pin`]: the PIN rules (format check before any login, zeroizing buffer). One place.
//! - [`error`]: the error enum and its one mapping to the stable wire codes.
//! - [`certificate`]: X.509 parsing with the Taiwan fields (family, ID digits, business number).
//! - [`token`]: plain data about tokens and their certificates.
//! - [`signer`]: hash algorithms, formats and the orchestration of a signature.
//! - [`policy`]: the trusted-site policy: origins, `trusted_sites` patterns, the user's approvals.
//! - [`pinentry`]: the trusted PIN and site-confirmation dialogs, through a pinentry program.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used)]

pub mod certificate;
pub mod error;
pub mod pin;
pub mod pinentry;
pub mod policy;
pub mod signer;
pub mod token;

pub use error::{Error, Result};
