//! What isolating a PKCS#11 module in a child process would cost per signature: the figures
//! behind the decision in docs/modules.md ("A module that crashes").
//!
//! The same SoftHSM2 RSA-2048 key signs the same SHA-256 DigestInfo, each time as the agent
//! does it (C_OpenSession, C_Login, C_FindObjects, C_Sign, C_Logout, C_CloseSession), three
//! ways, interleaved in blocks so that the machine's load touches all alike:
//!
//! - in this process (what the agent does today);
//! - in a child process that loaded the module once and serves requests over pipes (the PIN
//!   and the input go down, the signature comes back): isolation with a long-lived helper;
//! - in a fresh child process per signature (spawn, load the module, C_Initialize, sign, exit):
//!   isolation without any state to keep.
//!
//! Run: `cargo build --release -p card-agent-testbed --bin isolation-cost &&
//! ./target/release/isolation-cost`. Prints Markdown. Never run by the tests.
#![forbid(unsafe_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;

use card_agent_testbed::softhsm::{Options, SoftHsm, SIGN_ID, SOFTHSM_MODULE, USER_PIN};

const ROUNDS: usize = 5;
const BLOCK: usize = 20;
const FRESH_PER_ROUND: usize = 4;

type Fallible<T> = Result<T, String>;

/// One signature as the agent makes it, on an initialised module.
fn sign_once(p11: &Pkcs11, pin: &str, input: &[u8]) -> Fallible<Vec<u8>> {
    let e = |e: cryptoki::error::Error| e.to_string();
    let slot = *p11
        .get_slots_with_token()
        .map_err(e)?
        .first()
        .ok_or("no token")?;
    let session = p11.open_ro_session(slot).map_err(e)?;
    session
        .login(UserType::User, Some(&AuthPin::from(pin.to_owned())))
        .map_err(e)?;
    let id = hex::decode(SIGN_ID).map_err(|e| e.to_string())?;
    let key = *session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Id(id),
        ])
        .map_err(e)?
        .first()
        .ok_or("no key")?;
    let signature = session.sign(&Mechanism::RsaPkcs, key, input).map_err(e)?;
    let _ = session.logout();
    Ok(signature)
}

fn load(module: &Path) -> Fallible<Pkcs11> {
    let p11 = Pkcs11::new(module).map_err(|e| e.to_string())?;
    p11.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        .map_err(|e| e.to_string())?;
    Ok(p11)
}

/// The SHA-256 DigestInfo of a 4 KB document: what the agent hands to CKM_RSA_PKCS.
fn digest_info() -> Vec<u8> {
    use sha2::Digest as _;
    let mut out = hex::decode("3031300d060960864801650304020105000420").unwrap_or_default();
    out.extend_from_slice(&sha2::Sha256::digest(vec![0x5a; 4096]));
    out
}

/// The child: `isolation-cost --child MODULE` loads the module, then answers lines
/// `PIN HEX-INPUT` with `HEX-SIGNATURE` (or `ERR text`) until standard input ends;
/// `--once` signs one such line and exits.
fn child(module: &Path, once: bool) -> Fallible<()> {
    let p11 = load(module)?;
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.map_err(|e| e.to_string())?;
        let (pin, input) = line.split_once(' ').ok_or("bad request")?;
        let input = hex::decode(input).map_err(|e| e.to_string())?;
        let answer = match sign_once(&p11, pin, &input) {
            Ok(s) => hex::encode(s),
            Err(e) => format!("ERR {e}"),
        };
        writeln!(out, "{answer}").map_err(|e| e.to_string())?;
        out.flush().map_err(|e| e.to_string())?;
        if once {
            break;
        }
    }
    Ok(())
}

struct Helper {
    child: Child,
    to: ChildStdin,
    from: BufReader<ChildStdout>,
}

impl Helper {
    fn start(hsm: &SoftHsm, once: bool) -> Fallible<Helper> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut cmd = hsm.command(exe);
        cmd.args(["--child", SOFTHSM_MODULE]);
        if once {
            cmd.arg("--once");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let to = child.stdin.take().ok_or("no stdin")?;
        let from = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Helper { child, to, from })
    }

    fn sign(&mut self, input: &[u8]) -> Fallible<Vec<u8>> {
        writeln!(self.to, "{USER_PIN} {}", hex::encode(input)).map_err(|e| e.to_string())?;
        self.to.flush().map_err(|e| e.to_string())?;
        let mut line = String::new();
        self.from.read_line(&mut line).map_err(|e| e.to_string())?;
        hex::decode(line.trim()).map_err(|_| format!("child answered {line:?}"))
    }

    fn finish(mut self) {
        drop(self.to);
        let _ = self.child.wait();
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn p95(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get((v.len() * 95 / 100).min(v.len().saturating_sub(1)))
        .copied()
        .unwrap_or_default()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn measure() -> Fallible<()> {
    let hsm = SoftHsm::new(Options::default());
    // The token's configuration reaches this process through the environment.
    std::env::set_var("SOFTHSM2_CONF", hsm.conf());
    let p11 = load(Path::new(SOFTHSM_MODULE))?;
    let input = digest_info();
    let expected = sign_once(&p11, USER_PIN, &input)?;
    let mut helper = Helper::start(&hsm, false)?;
    if helper.sign(&input)? != expected {
        return Err("the child's signature differs".into());
    }
    let (mut here, mut pipe, mut fresh) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for _ in 0..BLOCK {
            let t = Instant::now();
            sign_once(&p11, USER_PIN, &input)?;
            here.push(t.elapsed());
        }
        for _ in 0..BLOCK {
            let t = Instant::now();
            helper.sign(&input)?;
            pipe.push(t.elapsed());
        }
        for _ in 0..FRESH_PER_ROUND {
            let t = Instant::now();
            let mut one = Helper::start(&hsm, true)?;
            let s = one.sign(&input)?;
            one.finish();
            fresh.push(t.elapsed());
            if s != expected {
                return Err("a fresh child's signature differs".into());
            }
        }
    }
    helper.finish();
    let base = median(here.clone());
    println!("| way (SoftHSM2 RSA-2048, one signature as the agent makes it) | median | p95 | added to the median |");
    println!("|---|---|---|---|");
    for (name, v) in [
        ("in the agent's process (today)", here),
        ("in a long-lived child, over pipes", pipe),
        ("in a fresh child per signature", fresh),
    ] {
        let (m, p) = (median(v.clone()), p95(v.clone()));
        println!(
            "| {name} ({} runs) | {} | {} | {} |",
            v.len(),
            ms(m),
            ms(p),
            ms(m.saturating_sub(base))
        );
    }
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("--child") => match args.get(1) {
            Some(module) => child(Path::new(module), args.iter().any(|a| a == "--once")),
            None => Err("--child MODULE".into()),
        },
        _ => measure(),
    };
    if let Err(e) = result {
        eprintln!("isolation-cost: {e}");
        std::process::exit(1);
    }
}
