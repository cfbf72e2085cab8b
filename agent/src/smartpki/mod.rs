//! SmartPKI pages through card-agent: the adapter behind the `smartpki-open`, `smartpki-call`
//! and `smartpki-close` commands, which card-agent's extension sends for pages written against
//! SmartPKI's page API (`navigator.connectSmartPKI()` and its port; see extension/README.md).
//!
//! ## Layout
//! - `message.rs`: one page message read into a [`message::Step`] (pure).
//! - `port.rs`: one port's key and sign chain; the [`port::Door`] it needs.
//! - `pin_unwrap.rs`: the port's RSA key and the page's `RSA(pin + "_PKI")`. A PIN the card
//!   refused is never sent again: the card core's rule, for every channel.
//! - `record.rs`: the certificate record and its `certType` (pure).
//! - `codes.rs`: the `errorCode` numbers and messages pages receive.
//! - `ports.rs`: the ports of one daemon connection, each bound to its origin.
//! - `glue.rs`: the only file that calls the service.

pub mod codes;
pub mod glue;
pub mod message;
pub mod pin_unwrap;
pub mod port;
pub mod ports;
pub mod record;

#[cfg(test)]
mod tests;

pub use ports::Ports;
