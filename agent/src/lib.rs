//! # card-agent
//!
//! An open agent for Taiwan's government PKI smart cards (MOICA 自然人憑證, MOEACA 工商憑證,
//! GCA, XCA, HCA): it finds readers and cards, reads certificates, checks PINs and signs.
//!
//! ## Layout
//! - [`pin`]: the PIN rules (format check before any login, zeroizing buffer). One place.
//! - [`error`]: the error enum and its one mapping to the stable wire codes.
//! - [`certificate`]: X.509 parsing with the Taiwan fields (family, ID digits, business number).
//! - [`pkcs11`]: PKCS#11 modules (discovery, tokens, certificates, login, raw signing).
//! - [`token`]: plain data about tokens and their certificates.
//! - [`card_core`]: every token from every module (or the demo token) behind one set of
//!   operations; the PIN gate and per-token queueing live here.
//! - [`inventory`]: the one conversion from card-core data to the protocol's wire types.
//! - [`config`]: the TOML config file.
//! - [`cli`]: the `card-agent` command line, one module per command.
//! - [`signer`]: hash algorithms, formats and the orchestration of a signature.
//! - [`cms_signature`]: CMS SignedData ("PKCS7") with the signed attributes legacy pages expect.
//! - [`envelope`]: CMS EnvelopedData read for legacy decryption (the card unwraps the key).
//! - [`demo`]: the DEMO software token for `--demo`, and the MOICA-like test PKI it (and the
//!   SoftHSM test fixture) issues certificates from.
//! - [`reader`]: the PC/SC layer: reader snapshots, card events, ATR recognition.
//! - [`policy`]: the trusted-site policy: origins, `trusted_sites` patterns, the user's approvals.
//! - [`pinentry`]: the trusted PIN and site-confirmation dialogs, through a pinentry program.
//! - [`service`]: the one service every channel adapts to: site admission, PIN source, commands.
//! - [`daemon`]: `card-agent serve`, the per-user daemon on the IPC endpoint.
//! - [`log_file`]: the daemon's size-bounded log file in the per-user state directory.
//! - [`legacy_api`]: the HiPKI-compatible HTTP API on 127.0.0.1:61161, an adapter over the service.
//! - [`ipc`]: the local endpoint: socket path, permissions, peer check, one daemon per user.
//! - [`install`]: install and uninstall: host manifests for every browser (one layout, one
//!   template, every OS), the service and tray files, the generated installer inputs.
//! - [`native_host`]: `card-agent native-host`, the browser's relay to the daemon.
//! - [`doctor`]: the environment check (`card-agent doctor`): every check with its fix, as
//!   text or as the JSON the self-test page and the daemon show.
//! - `fuzzing` (hidden): the internals the fuzz targets and their replay test call, re-exported
//!   so that the fuzz harness never copies a rule.
//! - [`tray`]: `card-agent tray`, the system-tray icon: card state, expiry, trusted sites.
#![forbid(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used)]

pub mod card_core;
pub mod certificate;
pub mod cli;
pub mod cms_signature;
pub mod config;
pub mod daemon;
pub mod demo;
pub mod doctor;
pub mod envelope;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub mod inventory;
pub mod ipc;
pub mod legacy_api;
pub mod log_file;
pub mod native_host;
pub mod pin;
pub mod pinentry;
pub mod pkcs11;
pub mod policy;
pub mod reader;
pub mod service;
pub mod signer;
pub mod token;
pub mod tray;

pub use error::{Error, Result};
