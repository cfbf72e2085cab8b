//! The PC/SC layer: which readers exist, which hold a card, and what card it is.
//!
//! - [`list`] takes one snapshot of all readers.
//! - [`Watcher`] reports reader and card changes as they happen, without polling.
//! - [`family_from_atr`] and [`atr_hex`] read an ATR; [`reader_for_slot`] relates a PKCS#11
//!   slot to the reader behind it.
//!
//! PC/SC errors become [`Error`]s here: "no reader" is an empty list, an unreachable
//! smart-card service is [`Error::PcscService`].

mod atr;
mod watch;

use std::ffi::{CStr, CString};
use std::time::Duration;

use pcsc::{Context, Scope, State};

pub use atr::{atr_hex, family_from_atr, historical_bytes, MOICA_GEN1_ATR};
pub use watch::{ReaderEvent, Watcher};

use crate::certificate::CardFamily;
use crate::error::{Error, Result};

/// One reader as PC/SC sees it at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderState {
    /// The reader's name, e.g. `CASTLES EZ100PU 00 00`.
    pub name: String,
    /// Whether a card sits in the reader.
    pub card_present: bool,
    /// The card's ATR; `None` without a card (or for a mute card, which gives none).
    pub atr: Option<Vec<u8>>,
    /// What the ATR suggests, only when a card is present ([`CardFamily::Unknown`] for an
    /// unrecognised or missing ATR).
    pub family: Option<CardFamily>,
}

impl ReaderState {
    fn new(name: String, card_present: bool, atr: &[u8]) -> Self {
        let atr = (card_present && !atr.is_empty()).then(|| atr.to_vec());
        let family =
            card_present.then(|| atr.as_deref().map_or(CardFamily::Unknown, family_from_atr));
        ReaderState {
            name,
            card_present,
            atr,
            family,
        }
    }
}

/// Takes one snapshot of every reader and its card.
///
/// No reader gives an empty list. An unreachable smart-card service (pcscd not running, or
/// Windows' service stopped) gives [`Error::PcscService`].
pub fn list() -> Result<Vec<ReaderState>> {
    // A reader unplugged between listing and asking for its state is UNKNOWN to PC/SC
    // (pcsc-lite flags it, Windows fails the call): list again.
    const ATTEMPTS: usize = 3;
    let context = establish()?;
    let mut last = pcsc::Error::UnknownReader;
    for _ in 0..ATTEMPTS {
        let mut states = Vec::new();
        track_readers(&context, &mut states).map_err(|e| map_error("SCardListReaders", e))?;
        if states.is_empty() {
            return Ok(Vec::new());
        }
        // With every state UNAWARE the call returns at once with the current state filled in.
        match wait_for_change(&context, &mut states, Some(Duration::ZERO)) {
            Ok(()) => {
                return Ok(observe(&states)
                    .into_iter()
                    .map(|(reader, _)| reader)
                    .collect())
            }
            Err(pcsc::Error::UnknownReader) => last = pcsc::Error::UnknownReader,
            Err(e) => return Err(map_error("SCardGetStatusChange", e)),
        }
    }
    Err(map_error("SCardGetStatusChange", last))
}

/// The reader behind a PKCS#11 slot, from the slot's description.
///
/// Modules copy the reader name into the 64-byte, space-padded `slotDescription`, sometimes
/// with a suffix (HiCOS) and sometimes cut short. Tried in order: equal names; the description
/// starting with a reader name (the longest such name, followed by a non-alphanumeric
/// character); a reader name over 64 bytes whose first 64 bytes are the description.
pub fn reader_for_slot<'a>(
    slot_description: &str,
    readers: &'a [ReaderState],
) -> Option<&'a ReaderState> {
    const SLOT_DESCRIPTION_LEN: usize = 64;
    fn trim(s: &str) -> &str {
        s.trim_matches(|c: char| c.is_whitespace() || c == '\0')
    }
    let wanted = trim(slot_description);
    if wanted.is_empty() {
        return None;
    }
    let exact = || readers.iter().find(|r| trim(&r.name) == wanted);
    let prefix = || {
        readers
            .iter()
            .filter(|r| {
                let name = trim(&r.name);
                !name.is_empty()
                    && wanted.strip_prefix(name).is_some_and(|rest| {
                        rest.chars().next().is_some_and(|c| !c.is_alphanumeric())
                    })
            })
            .max_by_key(|r| trim(&r.name).len())
    };
    let truncated = || {
        readers.iter().find(|r| {
            let name = r.name.as_bytes();
            name.len() > SLOT_DESCRIPTION_LEN
                && name[..SLOT_DESCRIPTION_LEN].trim_ascii_end() == wanted.as_bytes()
        })
    };
    exact().or_else(prefix).or_else(truncated)
}

/// Whether a PC/SC error means the service itself is gone (stopped, restarting, never started)
/// rather than a problem with one call.
fn is_service_error(error: pcsc::Error) -> bool {
    matches!(
        error,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::CommError
            | pcsc::Error::InvalidHandle
            | pcsc::Error::UnknownResMng
            | pcsc::Error::Shutdown
    )
}

/// The one mapping of PC/SC errors to the agent's errors.
fn map_error(function: &'static str, error: pcsc::Error) -> Error {
    if is_service_error(error) {
        Error::PcscService(format!("{function}: {error}"))
    } else {
        Error::Internal(format!("PC/SC {function} failed: {error}"))
    }
}

fn establish() -> Result<Context> {
    Context::establish(Scope::User).map_err(|e| map_error("SCardEstablishContext", e))
}

/// The current reader names. A reader plugged in between the two SCardListReaders calls (size,
/// then names) makes the buffer too small; that race is retried a few times.
fn reader_names(context: &Context) -> std::result::Result<Vec<CString>, pcsc::Error> {
    const ATTEMPTS: usize = 3;
    let mut result = context.list_readers_owned();
    for _ in 1..ATTEMPTS {
        if !matches!(result, Err(pcsc::Error::InsufficientBuffer)) {
            break;
        }
        result = context.list_readers_owned();
    }
    match result {
        Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
        other => other,
    }
}

/// Makes `states` follow the reader list: drops readers that are gone, adds new ones as
/// UNAWARE (so the next status call reports them at once), keeps the PnP pseudo-reader.
fn track_readers(
    context: &Context,
    states: &mut Vec<pcsc::ReaderState>,
) -> std::result::Result<(), pcsc::Error> {
    let names = reader_names(context)?;
    states.retain(|s| is_pnp(s.name()) || names.iter().any(|n| n.as_c_str() == s.name()));
    for name in names {
        if !states.iter().any(|s| s.name() == name.as_c_str()) {
            states.push(pcsc::ReaderState::new(name, State::UNAWARE));
        }
    }
    Ok(())
}

/// One SCardGetStatusChange over `states`, waiting from what was seen last time. `None` waits
/// forever. On return every state holds its new event state; a timeout is not an error.
fn wait_for_change(
    context: &Context,
    states: &mut [pcsc::ReaderState],
    timeout: Option<Duration>,
) -> std::result::Result<(), pcsc::Error> {
    for state in states.iter_mut() {
        state.sync_current_state();
    }
    match context.get_status_change(timeout, states) {
        Ok(()) | Err(pcsc::Error::Timeout) => Ok(()),
        Err(e) => Err(e),
    }
}

fn is_pnp(name: &CStr) -> bool {
    name == pcsc::PNP_NOTIFICATION()
}

/// The readers in `states` as the agent describes them, each with its card event counter
/// (the high 16 bits of the event state, bumped on every insertion and removal). Readers that
/// vanished (UNKNOWN/IGNORE) are left out.
fn observe(states: &[pcsc::ReaderState]) -> Vec<(ReaderState, u32)> {
    states
        .iter()
        .filter(|s| !is_pnp(s.name()))
        .filter(|s| !s.event_state().intersects(State::UNKNOWN | State::IGNORE))
        .map(|s| {
            let present = s.event_state().contains(State::PRESENT);
            let name = s.name().to_string_lossy().into_owned();
            (ReaderState::new(name, present, s.atr()), s.event_count())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(name: &str) -> ReaderState {
        ReaderState::new(name.to_owned(), false, &[])
    }

    #[test]
    fn a_reader_state_has_a_family_only_with_a_card() {
        let empty = ReaderState::new("r".into(), false, &MOICA_GEN1_ATR);
        assert_eq!((empty.atr, empty.family), (None, None));
        let moica = ReaderState::new("r".into(), true, &MOICA_GEN1_ATR);
        assert_eq!(moica.atr.as_deref(), Some(&MOICA_GEN1_ATR[..]));
        assert_eq!(moica.family, Some(CardFamily::Moica));
        let mute = ReaderState::new("r".into(), true, &[]);
        assert_eq!((mute.atr, mute.family), (None, Some(CardFamily::Unknown)));
    }

    #[test]
    fn slot_descriptions_find_their_reader() {
        let readers = [
            reader("Virtual PCD 00 00"),
            reader("Virtual PCD 00 01"),
            reader("CASTLES EZ100PU 00 00"),
            reader("CASTLES EZ100PU 00 00 extra"),
        ];
        let find = |d: &str| reader_for_slot(d, &readers).map(|r| r.name.as_str());
        // Equal, padded with spaces or NULs as PKCS#11 fields are.
        assert_eq!(find("Virtual PCD 00 01"), Some("Virtual PCD 00 01"));
        assert_eq!(
            find(&format!("{:<64}", "Virtual PCD 00 00")),
            Some("Virtual PCD 00 00")
        );
        assert_eq!(find("Virtual PCD 00 01\0\0\0"), Some("Virtual PCD 00 01"));
        // HiCOS-style suffix; the longest matching name wins.
        assert_eq!(
            find("CASTLES EZ100PU 00 00 (slot 0)"),
            Some("CASTLES EZ100PU 00 00")
        );
        assert_eq!(
            find("CASTLES EZ100PU 00 00 extra 1"),
            Some("CASTLES EZ100PU 00 00 extra")
        );
        // A prefix must end at a word boundary.
        assert_eq!(find("Virtual PCD 00 012"), None);
        assert_eq!(find("Virtual PCD"), None);
        assert_eq!(find(""), None);
        assert_eq!(find("   "), None);
        assert_eq!(find("SoftHSM slot ID 0x1"), None);
    }

    #[test]
    fn a_description_cut_at_64_bytes_finds_the_long_reader_name() {
        let long = "Alcor Micro AU9560 [Smart Card Reader Interface] (20070818000000000) 00 00";
        let readers = [reader("Short"), reader(long)];
        let cut = format!("{:<64}", &long[..64]);
        assert_eq!(
            reader_for_slot(&cut, &readers).map(|r| r.name.as_str()),
            Some(long)
        );
        // Something shorter than the field is not a cut name.
        assert_eq!(reader_for_slot("Alcor Micro AU9560", &readers), None);
    }

    #[test]
    fn service_errors_map_to_pcsc_service() {
        for e in [pcsc::Error::NoService, pcsc::Error::ServiceStopped] {
            let mapped = map_error("SCardEstablishContext", e);
            assert!(matches!(mapped, Error::PcscService(_)), "{mapped:?}");
            assert_eq!(mapped.code(), card_agent_protocol::ErrorCode::NoReader);
        }
        let other = map_error("SCardGetStatusChange", pcsc::Error::InvalidParameter);
        assert!(matches!(other, Error::Internal(_)), "{other:?}");
    }
}
