//! # card-agent
//!
//! An open agent for Taiwan's government PKI smart cards (MOICA 自然人憑證, MOEACA 工商憑證,
//! GCA, XCA, HCA): it finds readers and cards, reads certificates, checks PINs and signs.
//!
//! ## Layout
//! The card core is its own crate, [`card_agent_card`] (readers, PKCS#11, PIN rules,
//! certificates, signing, CMS, the demo token); its modules are re-exported here under their
//! old names ([`pin`], [`error`], [`certificate`], [`pkcs11`], [`token`], [`card_core`],
//! [`signer`], [`cms_signature`], [`demo`], [`reader`]). This crate adds:
//! - [`inventory`]: the one conversion from card-core data to the protocol's wire types.
//! - [`config`]: the TOML config file.
//! - [`cli`]: the `card-agent` command line, one module per command.
//! - [`policy`]: the trusted-site policy: origins, `trusted_sites` patterns, the user's approvals.
//! - [`pinentry`]: the trusted PIN and site-confirmation dialogs, through a pinentry program.
//! - [`service`]: the one service every channel adapts to: site admission, PIN source, commands.
//! - [`daemon`]: `card-agent serve`, the per-user daemon on the IPC endpoint.
//! - [`log_file`]: the daemon's size-bounded log file in the per-user state directory.
//! - [`state_file`]: private state files (0700 directory, 0600 files, atomic replacement).
//! - [`legacy_api`]: the HiPKI-compatible HTTP API on 127.0.0.1:61161, an adapter over the service.
//! - [`framed`]: the one framed connection (read a frame, write a frame, clean end vs cut
//!   frame, buffers wiped) under the daemon, the native host, the tray and the doctor.
//! - [`smartpki`]: SmartPKI pages' ports (`smartpki-*` commands), an adapter over the service.
//! - [`ipc`]: the local endpoint: socket path, permissions, peer check, one daemon per user.
//! - [`install`]: install and uninstall: host manifests for every browser (one layout, one
//!   template, every OS), the service and tray files, the generated installer inputs.
//! - [`native_host`]: `card-agent native-host`, the browser's relay to the daemon.
//! - [`doctor`]: the environment check (`card-agent doctor`): every check with its fix, as
//!   text or as the JSON the self-test page and the daemon show.
//! - `fuzzing` (hidden): the internals the fuzz targets and their replay test call, re-exported
//!   so that the fuzz harness never copies a rule.
//! - [`tray`]: `card-agent tray`, the system-tray icon: card state, expiry, trusted sites.
// One call needs it: `allocator::give_back`, glibc's malloc_trim (no safe binding exists).
#![deny(unsafe_code)]
#![warn(missing_docs, clippy::unwrap_used)]

pub mod allocator;
pub mod cli;
pub mod config;
pub mod daemon;
pub mod doctor;
pub mod framed;
#[doc(hidden)]
pub mod fuzzing;
pub mod install;
pub mod inventory;
pub mod ipc;
pub mod legacy_api;
pub mod log_file;
pub mod native_host;
pub mod pinentry;
pub mod policy;
pub mod service;
pub mod smartpki;
pub mod state_file;
pub mod tray;
pub mod work_queue;

pub use card_agent_card::{
    card_core, certificate, cms_signature, demo, envelope, error, pin, pkcs11, reader, signer,
    token,
};
pub use error::{Error, Result};
