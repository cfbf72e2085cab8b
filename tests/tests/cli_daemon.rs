//! The command line goes through the user's own daemon when one runs (issue 13): the card
//! keeps one queue for every program. The sandbox gives the test its own runtime directory,
//! so only the test's daemon can answer; a SoftHSM2 token stands for the card. Without a
//! daemon, or with `--demo` / `--pkcs11-module`, the same service runs in the command line's
//! own process (the CLI tests cover that).

mod support;

use std::io::Write;
use std::process::{Output, Stdio};

use card_agent_testbed::daemon::Sandbox;
use card_agent_testbed::softhsm::{Options, SoftHsm, USER_PIN};
use support::*;

/// Runs `card-agent ARGS` in the sandbox with `stdin` as its input.
fn cli(sandbox: &Sandbox, args: &[&str], stdin: &str) -> Output {
    let mut child = sandbox
        .command(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run card-agent");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("card-agent output")
}

#[test]
fn list_sign_and_verify_pin_go_through_the_running_daemon() {
    let hsm = SoftHsm::new(Options::default());
    let mut sandbox = Sandbox::new();
    sandbox.config(TRUSTED_CONFIG).softhsm(&hsm);
    let daemon = sandbox.serve(&[]);
    let dir = tempfile::tempdir().expect("tempdir");

    let listed = cli(&sandbox, &["list", "--json"], "");
    assert!(listed.status.success(), "{listed:?}");
    let inventory: serde_json::Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(
        inventory["tokens"].as_array().map(Vec::len),
        Some(1),
        "{inventory}"
    );

    let data = "申請書：王小明 TEST\n".as_bytes();
    let input = dir.path().join("form.txt");
    let output = dir.path().join("form.sig");
    std::fs::write(&input, data).expect("write the input");
    let signed = cli(
        &sandbox,
        &[
            "sign",
            "--in",
            input.to_str().expect("path"),
            "--out",
            output.to_str().expect("path"),
            "--format",
            "pkcs1",
            "--pin-stdin",
        ],
        &format!("{USER_PIN}\n"),
    );
    assert!(signed.status.success(), "{signed:?}");
    let signature = std::fs::read(&output).expect("the signature");
    verify_pkcs1(dir.path(), &hsm.sign_cert, data, &signature, "sha256");

    let wrong = cli(&sandbox, &["verify-pin", "--pin-stdin"], "975310\n");
    assert!(!wrong.status.success(), "{wrong:?}");
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("PIN_INCORRECT"),
        "{wrong:?}"
    );
    let right = cli(
        &sandbox,
        &["verify-pin", "--pin-stdin"],
        &format!("{USER_PIN}\n"),
    );
    assert!(right.status.success(), "{right:?}");

    // The daemon did the work, for a local program: its log says so.
    let log = daemon.log();
    assert!(
        log.lines()
            .any(|l| l.contains("signed") && l.contains("local")),
        "{log}"
    );
    assert!(daemon.stop().success());
}
