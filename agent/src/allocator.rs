//! The daemon's memory after a burst. glibc keeps what a burst of requests freed: in its
//! arenas (one per thread that allocated, up to eight per core), in each thread's cache of
//! small blocks, and the stacks of exited threads in a cache of their own. That is megabytes
//! the daemon would then hold while idle (BENCHMARKS.md, "daemon at rest"). So:
//!
//! - once the daemon's work queue has been quiet for [`QUIET`], the daemon asks glibc to give
//!   the free pages back ([`give_back`]; `daemon::give_back_after_bursts`);
//! - [`GLIBC_TUNABLES`] keeps everything in one arena with no per-thread caches, so what is
//!   free is where that call finds it, and exited threads' stacks are not kept;
//! - the burst's worker threads exit after [`WORKER_KEEP_ALIVE`] idle, before that call, so
//!   nothing of theirs is still held when it runs.
//!
//! The price may be CPU: without per-thread caches every small allocation (SoftHSM's OpenSSL
//! makes many) takes the one arena's lock. One A/B measured about a tenth of the daemon's CPU
//! per signature under a burst, a later one nothing beyond the noise; glibc's defaults would
//! keep 0.5–0.8 MB more once the burst is over (BENCHMARKS.md, "what each change did").
//! Giving back once after a burst, rather than serving every buffer of a page or more from its
//! own mapping (glibc's `mmap_threshold`, which this replaced), keeps the signing path free of
//! a map and an unmap per buffer, in SoftHSM and OpenSSL too: each unmap interrupts the other
//! core to flush its TLB.
//!
//! glibc reads its tunables only when a process starts, so whoever starts the daemon passes
//! them: `ipc::start_daemon` (the browser's native host, the tray, the command line) and the
//! systemd unit. Other C libraries ignore the variable, and have no pages to give back the way
//! glibc keeps them.

use std::process::Command;
use std::time::Duration;

/// The tunables, in `GLIBC_TUNABLES` syntax.
pub const GLIBC_TUNABLES: &str =
    "glibc.malloc.arena_max=1:glibc.malloc.tcache_count=0:glibc.pthread.stack_cache_size=0";

/// How long the work queue stays empty before the daemon gives memory back: long enough that
/// a page's next request (a sign after a certificate list) does not find its buffers gone,
/// short enough that an idle daemon is small again at once.
pub const QUIET: Duration = Duration::from_secs(2);

/// How long an idle blocking worker thread lives: less than [`QUIET`], so that the threads of
/// a burst have exited, their small-block caches back in the arena, when memory is given back.
pub const WORKER_KEEP_ALIVE: Duration = Duration::from_secs(1);

/// Gives a daemon about to be started our tunables, unless the user set their own.
pub fn tune(command: &mut Command) {
    if cfg!(target_os = "linux") && std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env("GLIBC_TUNABLES", GLIBC_TUNABLES);
    }
}

/// Asks glibc to return the free pages of all its arenas to the system (`malloc_trim(0)`:
/// the heap's top and, since glibc 2.8, whole free pages inside it). It locks each arena in
/// turn, so it runs only when the daemon is quiet.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
pub fn give_back() {
    // SAFETY: malloc_trim takes no pointers and holds each arena's lock while it works, as
    // every allocator call does; it is sound to call from any thread at any time.
    let released = unsafe { libc::malloc_trim(0) } == 1;
    tracing::debug!(released, "gave the allocator's free memory back");
}

/// Other allocators (musl, macOS, Windows) give large blocks back themselves and have no such
/// call.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn give_back() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_started_daemon_gets_the_tunables_unless_the_user_has_their_own() {
        let mut command = Command::new("card-agent");
        tune(&mut command);
        let set = command
            .get_envs()
            .find(|(k, _)| *k == "GLIBC_TUNABLES")
            .and_then(|(_, v)| v);
        let users = std::env::var_os("GLIBC_TUNABLES");
        match (cfg!(target_os = "linux"), users) {
            (true, None) => assert_eq!(set, Some(std::ffi::OsStr::new(GLIBC_TUNABLES))),
            _ => assert_eq!(set, None),
        }
    }
}
