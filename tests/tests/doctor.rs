//! `card-agent doctor` against real components: pcscd with vpcd and a virtual card, SoftHSM2
//! tokens, a running `card-agent serve --demo`, browser registrations in a throwaway HOME.
//!
//! Every run gets its own HOME, XDG_RUNTIME_DIR (the daemon's socket), XDG_STATE_HOME (the
//! extension's last visit) and a config file whose `http_listen` is a free port picked here,
//! so no test sees another's daemon, or the machine's.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use card_agent::reader::{self, MOICA_GEN1_ATR};
use card_agent_testbed::agent::{agent_bin, path, run, Run};
use card_agent_testbed::pcscd::{self, VirtualReadersLock};
use card_agent_testbed::softhsm::{Options, SoftHsm, SOFTHSM_MODULE, USER_PIN};
use card_agent_testbed::virtual_card::{VirtualCard, PORT_0, READER_0};
use serde_json::Value;

const HANG_GUARD: Duration = Duration::from_secs(20);

/// A throwaway user: home (with a Chromium profile), runtime and state directories, config.
struct Env {
    dir: tempfile::TempDir,
    port: u16,
}

impl Env {
    fn new() -> Env {
        let dir = tempfile::tempdir().expect("temporary directory");
        for sub in ["home/.config/chromium/Default", "run", "state"] {
            std::fs::create_dir_all(dir.path().join(sub)).expect("directory");
        }
        let env = Env {
            port: free_port(),
            dir,
        };
        env.write_config("");
        env
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// Writes the config: the test's own legacy port, plus `extra`.
    fn write_config(&self, extra: &str) {
        let text = format!("http_listen = \"127.0.0.1:{}\"\n{extra}", self.port);
        std::fs::write(self.config(), text).expect("write config");
    }

    /// `card-agent --config <ours> <args>` in this user's environment.
    fn command(&self, args: &[&str]) -> Command {
        let mut c = self.bare();
        c.arg("--config").arg(self.config()).args(args);
        c
    }

    /// `card-agent` in this user's environment, without arguments (as a browser starts it).
    fn bare(&self) -> Command {
        let mut c = Command::new(agent_bin());
        c.env("HOME", self.home())
            .env("XDG_RUNTIME_DIR", self.dir.path().join("run"))
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env_remove("NO_COLOR");
        c
    }

    fn doctor(&self, args: &[&str]) -> Run {
        let mut all = vec!["doctor"];
        all.extend_from_slice(args);
        run(self.command(&all), b"")
    }

    /// `doctor --json` with `args`: the report and the exit status.
    fn report(&self, args: &[&str]) -> (Value, i32) {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let r = self.doctor(&all);
        (r.json(), r.code)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/card-agent/agent.sock")
    }

    /// Starts `card-agent serve --demo` and waits until it answers on its socket and port.
    fn serve_demo(&self) -> Daemon {
        let mut c = self.command(&["serve", "--demo"]);
        c.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .env("LANG", "en_US.UTF-8");
        let child = c.spawn().expect("start card-agent serve --demo");
        let daemon = Daemon(child);
        let deadline = Instant::now() + HANG_GUARD;
        while !(std::os::unix::net::UnixStream::connect(self.socket()).is_ok()
            && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok())
        {
            assert!(Instant::now() < deadline, "the daemon did not start");
            thread::sleep(Duration::from_millis(50));
        }
        daemon
    }
}

/// A daemon this test started; killed (by its own handle) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The check with `id`.
fn check<'a>(report: &'a Value, id: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"))
}

fn status<'a>(report: &'a Value, id: &str) -> &'a str {
    check(report, id)["status"].as_str().expect("status")
}

/// Every item text of a check, joined, for `contains` assertions.
fn items(report: &Value, id: &str) -> String {
    check(report, id)["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| i["text"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .unwrap_or_default()
}

/// pcscd with its vpcd readers, and exclusive use of them (other tests insert cards).
fn readers() -> VirtualReadersLock {
    pcscd::ensure_pcscd().expect("pcscd with the vpcd readers");
    pcscd::lock_virtual_readers().expect("exclusive use of the vpcd readers")
}

#[test]
fn demo_report_has_every_check_in_order_and_the_register_fix_works() {
    let _readers = readers();
    let env = Env::new();
    let (report, code) = env.report(&["--demo"]);
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| c["id"].as_str().expect("id"))
        .collect();
    assert_eq!(
        ids,
        [
            "pcscd",
            "readers",
            "card",
            "module",
            "token",
            "certificates",
            "certificate-validity",
            "certificate-chain",
            "pin",
            "daemon",
            "legacy-port",
            "native-host",
            "clock"
        ]
    );
    assert_eq!(report["demo"], true);
    assert_eq!(report["lang"], "en");
    assert_eq!(report["version"], env!("CARGO_PKG_VERSION"));
    for c in report["checks"].as_array().expect("checks") {
        assert!(c["title"].as_str().is_some_and(|t| !t.is_empty()), "{c}");
        assert!(c["explanation"].is_string(), "{c}");
    }
    for id in [
        "pcscd",
        "card",
        "module",
        "token",
        "certificates",
        "certificate-validity",
        "pin",
        "clock",
    ] {
        assert_eq!(status(&report, id), "ok", "{:#}", check(&report, id));
    }
    // The demo PKI is a test PKI, and the check says so.
    assert_eq!(status(&report, "certificate-chain"), "warning");
    assert!(items(&report, "certificate-chain").contains("TEST Government Root CA"));
    // Its CA is not one of the government CA certificates card-agent carries, and it says so.
    assert!(items(&report, "certificate-chain")
        .contains("is not one of the government CA certificates card-agent carries"));
    // No daemon: a warning with the start action; the legacy port is free.
    assert_eq!(status(&report, "daemon"), "warning");
    assert_eq!(check(&report, "daemon")["fix"]["kind"], "action");
    assert_eq!(check(&report, "daemon")["fix"]["id"], "start-daemon");
    assert_eq!(status(&report, "legacy-port"), "warning");
    // Chromium has a profile but no host: failed, with the register action, so exit 1.
    assert_eq!(status(&report, "native-host"), "failed");
    assert!(items(&report, "native-host").contains("Chromium: not registered"));
    assert_eq!(check(&report, "native-host")["fix"]["id"], "register-host");
    assert_eq!(report["status"], "failed");
    assert_eq!(code, 1);

    let fixed = env.doctor(&["--demo", "--fix", "register-host"]);
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert!(fixed.stdout.contains("chromium"), "{fixed:?}");
    let manifest = env
        .home()
        .join(".config/chromium/NativeMessagingHosts/tw.card_agent.json");
    let text = std::fs::read_to_string(&manifest).expect("manifest written");
    assert!(text.contains(path(&agent_bin())), "{text}");

    // Registered now; the extension has never connected, which is only a warning: exit 0.
    let (report, code) = env.report(&["--demo"]);
    assert_eq!(status(&report, "native-host"), "warning", "{report:#}");
    assert!(items(&report, "native-host").contains("never connected"));
    assert_eq!(report["status"], "warning");
    assert_eq!(code, 0, "{report:#}");

    let unknown = env.doctor(&["--fix", "reformat-card"]);
    assert_eq!(unknown.code, 9, "{unknown:?}");
    assert!(
        unknown.stderr.contains("register-host, start-daemon"),
        "{unknown:?}"
    );
}

#[test]
fn a_running_daemon_owns_its_socket_and_port_and_sees_the_extension() {
    let _readers = readers();
    let env = Env::new();
    let daemon = env.serve_demo();
    let (report, _) = env.report(&["--demo"]);
    assert_eq!(
        status(&report, "daemon"),
        "ok",
        "{:#}",
        check(&report, "daemon")
    );
    assert!(check(&report, "daemon")["explanation"]
        .as_str()
        .expect("explanation")
        .contains(env!("CARGO_PKG_VERSION")));
    assert_eq!(
        status(&report, "legacy-port"),
        "ok",
        "{:#}",
        check(&report, "legacy-port")
    );
    assert!(check(&report, "legacy-port")["explanation"]
        .as_str()
        .expect("explanation")
        .contains(&env.port.to_string()));

    // The browser starts the native host (our extension's ID): it records the visit.
    let mut browser = env.bare();
    browser.arg("chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/");
    let host = run(browser, b"");
    assert_eq!(host.code, 0, "{host:?}");
    let seen = std::fs::read_to_string(env.dir.path().join("state/card-agent/extension-last-seen"))
        .expect("the native host records its start");
    assert!(
        seen.contains("chrome-extension://hccjmiblnokapoamfkgnbbighmnfpoig/"),
        "{seen}"
    );
    let (report, _) = env.report(&["--demo"]);
    assert!(
        items(&report, "native-host").contains("The extension last connected on"),
        "{:#}",
        check(&report, "native-host")
    );

    // Stopped: the socket file stays behind, but nobody answers.
    drop(daemon);
    let (report, _) = env.report(&["--demo"]);
    assert_eq!(status(&report, "daemon"), "warning");
    assert_eq!(status(&report, "legacy-port"), "warning");
    assert!(check(&report, "legacy-port")["explanation"]
        .as_str()
        .expect("explanation")
        .contains("not running"));
}

#[test]
fn the_start_daemon_fix_starts_a_daemon_that_then_passes() {
    let _readers = readers();
    let env = Env::new();
    let fixed = env.doctor(&["--fix", "start-daemon", "--json"]);
    // The daemon was started by card-agent on our behalf; stop it by the PID in its lock file
    // whatever happens next.
    let lock = env.dir.path().join("run/card-agent/agent.lock");
    let pid = std::fs::read_to_string(&lock).unwrap_or_default();
    let _stop = StopOnDrop(pid.trim().to_owned());
    assert_eq!(fixed.code, 0, "{fixed:?}");
    assert_eq!(fixed.json()["action"], "start-daemon");
    assert!(!pid.trim().is_empty(), "no PID in {}", lock.display());
    let (report, _) = env.report(&["--demo"]);
    assert_eq!(
        status(&report, "daemon"),
        "ok",
        "{:#}",
        check(&report, "daemon")
    );
    assert_eq!(
        status(&report, "legacy-port"),
        "ok",
        "{:#}",
        check(&report, "legacy-port")
    );
    let again = env.doctor(&["--fix", "start-daemon"]);
    assert!(again.stdout.contains("already running"), "{again:?}");
}

/// Sends SIGTERM to a process card-agent started for the test, by its PID.
struct StopOnDrop(String);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if self.0.bytes().all(|b| b.is_ascii_digit()) && !self.0.is_empty() {
            let _ = Command::new("kill").args(["-TERM", &self.0]).status();
        }
    }
}

fn softhsm_report(env: &Env, hsm: &SoftHsm) -> (Value, i32) {
    let mut c = env.command(&["--pkcs11-module", SOFTHSM_MODULE, "doctor", "--json"]);
    c.env("SOFTHSM2_CONF", hsm.conf());
    let r = run(c, b"");
    (r.json(), r.code)
}

#[test]
fn a_softhsm_token_is_read_its_chain_checked_and_its_pin_state_shown() {
    let _readers = readers();
    let env = Env::new();
    let hsm = SoftHsm::new(Options::default());
    let (report, _) = softhsm_report(&env, &hsm);
    assert_eq!(report["demo"], false);
    for id in [
        "module",
        "token",
        "certificates",
        "certificate-validity",
        "pin",
        "card",
    ] {
        assert_eq!(status(&report, id), "ok", "{:#}", check(&report, id));
    }
    assert!(items(&report, "module").contains("libsofthsm2.so"));
    assert!(items(&report, "token").contains("MOICA TEST"));
    assert!(items(&report, "certificates").contains("王小明 TEST"));
    assert!(items(&report, "certificate-validity").contains("days left"));
    // The token holds no CA certificate: the chain cannot be checked, and the fix says where
    // to name the CA files.
    assert_eq!(status(&report, "certificate-chain"), "warning");
    assert!(items(&report, "certificate-chain").contains("內政部憑證管理中心"));
    let fix = &check(&report, "certificate-chain")["fix"];
    assert_eq!(fix["kind"], "setting");
    assert_eq!(fix["key"], "extra_roots");
    assert_eq!(fix["file"], path(&env.config()));

    // With the CA files configured, the chain verifies, up to the test root.
    let chain = hsm.write_chain_pem();
    env.write_config(&format!("extra_roots = [\"{}\"]\n", path(&chain)));
    let (report, _) = softhsm_report(&env, &hsm);
    let chain_items = items(&report, "certificate-chain");
    assert!(chain_items.contains("verified up to"), "{chain_items}");
    assert!(chain_items.contains("a test root"), "{chain_items}");
    assert!(check(&report, "certificate-chain")["fix"].is_null());

    // A wrong PIN leaves SoftHSM's "count low" flag: the PIN check warns.
    let mut verify = env.command(&[
        "--pkcs11-module",
        SOFTHSM_MODULE,
        "verify-pin",
        "--pin-stdin",
    ]);
    verify.env("SOFTHSM2_CONF", hsm.conf());
    let wrong = run(verify, b"999999\n");
    assert_eq!(wrong.code, 3, "{wrong:?}");
    let (report, _) = softhsm_report(&env, &hsm);
    assert_eq!(
        status(&report, "pin"),
        "warning",
        "{:#}",
        check(&report, "pin")
    );
    let mut verify = env.command(&[
        "--pkcs11-module",
        SOFTHSM_MODULE,
        "verify-pin",
        "--pin-stdin",
    ]);
    verify.env("SOFTHSM2_CONF", hsm.conf());
    assert_eq!(run(verify, format!("{USER_PIN}\n").as_bytes()).code, 0);
}

#[test]
fn a_module_that_cannot_load_fails_with_its_path_and_reason() {
    let _readers = readers();
    let env = Env::new();
    let (report, code) = env.report(&["--pkcs11-module", "/nonexistent/libHicos_p11.so"]);
    assert_eq!(status(&report, "module"), "failed");
    let text = items(&report, "module");
    assert!(
        text.contains("/nonexistent/libHicos_p11.so") && text.contains("file not found"),
        "{text}"
    );
    assert_eq!(check(&report, "module")["fix"]["key"], "pkcs11_modules");
    assert_eq!(status(&report, "token"), "skipped");
    assert_eq!(code, 1);
}

/// Waits until the reader shows a card, or no card (pcscd polls vpcd).
fn wait_for_card(reader_name: &str, present: bool) {
    let deadline = Instant::now() + HANG_GUARD;
    while !reader::list()
        .expect("list readers")
        .iter()
        .any(|r| r.name == reader_name && r.card_present == present)
    {
        assert!(
            Instant::now() < deadline,
            "{reader_name} never showed present = {present}"
        );
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_card_in_a_reader_is_recognised_and_a_missing_hicos_is_explained() {
    let _readers = readers();
    let env = Env::new();
    let hsm = SoftHsm::new(Options::default());
    let card = VirtualCard::insert(PORT_0, &MOICA_GEN1_ATR).expect("insert the virtual card");
    wait_for_card(READER_0, true);
    let (report, code) = softhsm_report(&env, &hsm);
    assert_eq!(
        status(&report, "card"),
        "ok",
        "{:#}",
        check(&report, "card")
    );
    let card_items = items(&report, "card");
    assert!(
        card_items.contains(READER_0) && card_items.contains("3BB813008131FA524348544D4F494341A5"),
        "{card_items}"
    );
    assert!(card_items.contains("MOICA"), "{card_items}");
    // SoftHSM loads, but nothing reads the MOICA card: say where HiCOS comes from.
    assert_eq!(
        status(&report, "module"),
        "failed",
        "{:#}",
        check(&report, "module")
    );
    let explanation = check(&report, "module")["explanation"]
        .as_str()
        .expect("text")
        .to_owned();
    assert!(
        explanation.contains(READER_0) && explanation.contains("HiCOS"),
        "{explanation}"
    );
    assert!(explanation.contains("open-gpki-pkcs11"), "{explanation}");
    assert_eq!(code, 1);
    card.remove();
    wait_for_card(READER_0, false);

    // A card the ATR table does not know: a warning naming its ATR.
    let other: [u8; 13] = [
        0x3B, 0x98, 0x13, 0x40, 0x0A, 0xA5, 0x03, 0x01, 0x01, 0x01, 0xAD, 0x13, 0x11,
    ];
    let card = VirtualCard::insert(PORT_0, &other).expect("insert the other card");
    wait_for_card(READER_0, true);
    let (report, _) = softhsm_report(&env, &hsm);
    assert_eq!(
        status(&report, "card"),
        "warning",
        "{:#}",
        check(&report, "card")
    );
    assert!(items(&report, "card").contains("3B9813400AA503010101AD1311"));
    card.remove();
    wait_for_card(READER_0, false);
}

#[test]
fn people_get_symbols_in_their_language_and_no_colour_in_a_pipe() {
    let _readers = readers();
    let env = Env::new();
    let en = env.doctor(&["--demo"]);
    assert!(en.stdout.contains("environment check"), "{en:?}");
    assert!(en.stdout.contains("✔ Smart-card service (pcscd)"), "{en:?}");
    assert!(en.stdout.contains("✘ Browser registration"), "{en:?}");
    assert!(
        en.stdout.contains("card-agent doctor --fix register-host"),
        "{en:?}"
    );
    assert!(!en.stdout.contains('\x1b'), "colour in a pipe: {en:?}");
    assert_eq!(en.code, 1);

    let mut all = vec!["--lang", "zh-TW", "doctor", "--demo"];
    let zh = run(env.command(&all), b"");
    assert!(
        zh.stdout.contains("環境檢查") && zh.stdout.contains("✔ 智慧卡服務"),
        "{zh:?}"
    );
    assert!(zh.stdout.contains("✘ 瀏覽器註冊與擴充功能"), "{zh:?}");
    assert!(zh.stdout.contains("修正"), "{zh:?}");

    // CARD_AGENT_LANG picks the language over the locale; --lang over both.
    all.drain(..2);
    let mut c = env.command(&all);
    c.env("CARD_AGENT_LANG", "zh-TW");
    let r = run_keeping_lang(c);
    assert!(r.stdout.contains("環境檢查"), "{r:?}");
    let mut c = env.command(&["--lang", "en", "doctor", "--demo"]);
    c.env("CARD_AGENT_LANG", "zh-TW");
    assert!(run_keeping_lang(c).stdout.contains("environment check"));
    let (report, _) = {
        let mut c = env.command(&["doctor", "--demo", "--json"]);
        c.env("CARD_AGENT_LANG", "zh-TW");
        let r = run_keeping_lang(c);
        (r.json(), r.code)
    };
    assert_eq!(report["lang"], "zh-TW");
    assert_eq!(check(&report, "pcscd")["title"], "智慧卡服務（pcscd）");
}

/// Like `run`, but keeps `CARD_AGENT_LANG` (which `run` removes for determinism).
fn run_keeping_lang(mut command: Command) -> Run {
    let lang = command
        .get_envs()
        .find(|(k, _)| *k == "CARD_AGENT_LANG")
        .and_then(|(_, v)| v.map(|v| v.to_owned()));
    command
        .stdin(Stdio::null())
        .env("LANG", "en_US.UTF-8")
        .env_remove("LC_ALL")
        .env_remove("LC_MESSAGES");
    if let Some(lang) = lang {
        command.env("CARD_AGENT_LANG", lang);
    }
    let out = command.output().expect("run card-agent");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
