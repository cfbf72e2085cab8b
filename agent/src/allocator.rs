//! The daemon's memory allocator settings. glibc keeps what a burst of requests freed in its
//! per-thread arenas and the stacks of exited threads in a cache, megabytes the daemon then
//! holds while idle (BENCHMARKS.md, "daemon at rest"). With buffers of a page or more served
//! from their own mappings, freeing gives them back to the system, and exited threads' stacks
//! are not kept. glibc reads its tunables only when a process starts, so whoever starts the
//! daemon passes them: `ipc::start_daemon` (the browser's native host, the tray, the command
//! line) and the systemd unit. Other C libraries ignore the variable.

use std::process::Command;

/// The tunables, in `GLIBC_TUNABLES` syntax.
pub const GLIBC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=4096:glibc.pthread.stack_cache_size=0";

/// Gives a daemon about to be started our tunables, unless the user set their own.
pub fn tune(command: &mut Command) {
    if cfg!(target_os = "linux") && std::env::var_os("GLIBC_TUNABLES").is_none() {
        command.env("GLIBC_TUNABLES", GLIBC_TUNABLES);
    }
}

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
