//! Attack 12, the reverse of the peer check: another user's program already listens on the
//! legacy port, so every page's PIN and document sent there would be that program's. Here the
//! listener really is another user's (uid 65534, started with setpriv, which needs root; the
//! test bed runs as root). card-agent names it in the bind error, in the daemon's log and in
//! doctor, and the daemon tells the extension the port is not its own, so the extension's
//! legacy route carries calls over native messaging only (the shim's side:
//! extension/test/legacy-shim.test.js).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use base64::Engine as _;
use card_agent_testbed::daemon::Sandbox;
use serde_json::{json, Value};

/// A TCP listener on a free loopback port, owned by uid 65534; its port.
struct ForeignListener {
    child: Child,
    port: u16,
}

impl ForeignListener {
    fn start() -> ForeignListener {
        // signal.pause(), not time.sleep(): Python's sleep fails with EINVAL under the
        // libfaketime run of this suite (`./dev.sh test`), which would drop the listener.
        let script = "import signal,socket\n\
                      s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(8)\n\
                      print(s.getsockname()[1], flush=True)\n\
                      signal.pause()\n";
        let mut child = Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "/usr/bin/python3",
                "-c",
                script,
            ])
            // Another user's program does not run with our test bed's preloads.
            .env_remove("LD_PRELOAD")
            .stdout(Stdio::piped())
            .spawn()
            .expect("setpriv and python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("no port from the listener: {line:?}"));
        ForeignListener { child, port }
    }
}

impl Drop for ForeignListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn another_users_listener_is_named_and_the_extension_is_told_the_port_is_not_ours() {
    use std::os::unix::fs::MetadataExt;
    if !cfg!(target_os = "linux") || !std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        eprintln!("needs Linux and root: another user's listener cannot be started here");
        return;
    }
    let foreign = ForeignListener::start();
    let address = format!("127.0.0.1:{}", foreign.port);

    // The bind error names the holder as another user's program.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let error = match runtime.block_on(card_agent::legacy_api::bind(&address)) {
        Ok(_) => panic!("bound a port another user holds"),
        Err(e) => e.to_string(),
    };
    assert!(
        error.contains("another user") && error.contains("nobody"),
        "{error}"
    );

    let mut sandbox = Sandbox::new();
    sandbox.config(&format!(
        "trusted_sites = [\"https://*.example.gov.tw\"]\nhttp_listen = \"{address}\"\n"
    ));
    // The daemon runs without the port, says who holds it, and answers the extension's question.
    let daemon = sandbox.serve(&["--demo"]);
    let log: String = sandbox.logs().into_iter().map(|(_, text)| text).collect();
    assert!(
        log.contains("legacy API not started") && log.contains("nobody"),
        "{log}"
    );
    assert!(log.contains("PIN"), "the log says what is at stake: {log}");
    let mut host = sandbox.host();
    let reply = host.call(
        "legacy-request",
        json!({"method": "GET", "path": "/.card-agent/port"}),
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(
            reply["result"]["body"]
                .as_str()
                .unwrap_or_else(|| panic!("{reply}")),
        )
        .unwrap();
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, json!({"ours": false}));
    // Legacy calls through the extension still work.
    let info = host.call(
        "legacy-request",
        json!({"method": "GET", "path": "/pkcs11info"}),
    );
    let body = base64::engine::general_purpose::STANDARD
        .decode(info["result"]["body"].as_str().unwrap())
        .unwrap();
    let info: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (info["func"].as_str(), info["ret_code"].as_u64()),
        (Some("pkcs11info"), Some(0))
    );
    drop(host);
    drop(daemon);

    // doctor: the legacy-port check fails and names the other user's program.
    let out = sandbox
        .command(&["doctor", "--json", "--demo"])
        .output()
        .unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "legacy-port")
        .unwrap();
    assert_eq!(check["status"], "failed", "{check}");
    assert!(check.to_string().contains("nobody"), "{check}");
}
