//! Internals the fuzz harness (`tests/src/fuzz_harness.rs`, driven by the `fuzz/` targets and
//! by the stable replay test) needs, re-exported so that it calls the real code and never a
//! copy of it. Hidden from the documentation: nothing here is an API for other users.

pub use crate::daemon::connection::serve as serve_daemon_connection;
pub use crate::legacy_api::codes::ALL as LEGACY_RET_CODES;
pub use crate::legacy_api::serve_connection as serve_legacy_connection;
pub use crate::legacy_api::tbs::{percent_decode, TbsPackage, MAX_PACKAGE, NOT_EXISTED};

/// Whether every token of `service` still has all its PIN tries.
pub fn pin_counters_untouched(service: &crate::service::Service) -> bool {
    service.pin_counters_untouched()
}
