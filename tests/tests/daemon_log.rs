//! `card-agent serve` keeps a log file the user can find, private to them.

use std::time::Duration;

use card_agent_testbed::user_session::{wait_until, UserSession};

#[test]
fn serve_writes_its_log_file_in_the_state_directory() {
    let session = UserSession::new();
    session.start_demo_daemon();
    let log = session.state_dir().join("log/agent.log");
    wait_until(Duration::from_secs(10), "the daemon's log line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("card-agent daemon ready"))
    });
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&log).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the log names sites: private to the user");
}
