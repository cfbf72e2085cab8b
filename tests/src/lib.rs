//! Real-component test bed for card-agent.

pub mod pcscd;
pub mod virtual_card;
