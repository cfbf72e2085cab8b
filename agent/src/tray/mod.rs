//! `card-agent tray`: the icon in the system tray, started with the desktop session. It shows
//! at a glance whether a card can be used (no reader, no card, card ready, certificate
//! expiring, agent error), who the card belongs to and when it expires, and offers the
//! environment check, the self-test page, the trusted sites (to remove), the log folder and
//! Quit (the tray only; the daemon keeps serving browsers).
//!
//! The tray is a client of the daemon like any other: it connects to the IPC socket (starting
//! the daemon when none runs), asks `status`, subscribes to card events and asks again when
//! one arrives; trusted sites are listed and removed through the daemon, so its policy in
//! memory is always the one on screen.
//!
//! - [`state`]: the pure model: what to show for a status, a time and a language.
//! - [`strings`]: every word, zh-TW and English, in one table.
//! - [`icons`]: the icons, drawn in code as ARGB32 pixmaps.
//! - [`session`]: the daemon connection, events, reconnection with backoff.
//! - [`actions`]: what the menu items start (terminal, browser, file manager).
//! - `linux`: the StatusNotifierItem through `ksni`. macOS and Windows have no tray yet.

pub mod actions;
pub mod icons;
pub mod session;
pub mod state;
pub mod strings;

#[cfg(target_os = "linux")]
mod linux;

use card_agent_protocol::Language;

use crate::error::Result;

/// Runs the tray until the user chooses Quit.
#[cfg(target_os = "linux")]
pub fn run(lang: Language) -> Result<()> {
    linux::run(lang)
}

/// The tray is not yet available on this platform: `tray-icon` would be the choice for macOS
/// and Windows, and code that cannot be built and tried here is not shipped.
#[cfg(not(target_os = "linux"))]
pub fn run(_lang: Language) -> Result<()> {
    Err(crate::error::Error::NotOnThisPlatform {
        feature: "the tray",
    })
}
