//! Events pushed to subscribed clients: `{"event": {"type": "card-inserted", ...}}`.
//!
//! Events have no `id`: they answer no request. A client tells them from responses by the
//! top-level key (see [`super::ServerMessage`]).

use serde::{Deserialize, Serialize};

/// A reader or card change. Tagged by `type`; fields are camelCase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase"
)]
pub enum Event {
    /// `card-inserted`: a card appeared in a reader.
    CardInserted {
        /// Reader name, as PC/SC reports it.
        reader: String,
        /// The card's ATR, upper-case hex.
        atr: String,
        /// The family recognised from the ATR (`MOICA`, ... or `unknown`).
        card_family: String,
    },
    /// `card-removed`: the card left the reader.
    CardRemoved {
        /// Reader name.
        reader: String,
    },
    /// `reader-added`: a reader was plugged in.
    ReaderAdded {
        /// Reader name.
        reader: String,
    },
    /// `reader-removed`: a reader was unplugged.
    ReaderRemoved {
        /// Reader name.
        reader: String,
    },
}

impl Event {
    /// The `type` value, e.g. `card-inserted`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CardInserted { .. } => "card-inserted",
            Event::CardRemoved { .. } => "card-removed",
            Event::ReaderAdded { .. } => "reader-added",
            Event::ReaderRemoved { .. } => "reader-removed",
        }
    }

    /// The reader the event is about.
    pub fn reader(&self) -> &str {
        match self {
            Event::CardInserted { reader, .. }
            | Event::CardRemoved { reader }
            | Event::ReaderAdded { reader }
            | Event::ReaderRemoved { reader } => reader,
        }
    }

    /// Wraps the event in its message envelope.
    pub fn into_message(self) -> EventMessage {
        EventMessage { event: self }
    }
}

/// The envelope of a pushed event: `{"event": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventMessage {
    /// The event.
    pub event: Event,
}

impl EventMessage {
    /// The JSON text.
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }
}
