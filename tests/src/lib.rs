//! Real-component test bed for card-agent.
