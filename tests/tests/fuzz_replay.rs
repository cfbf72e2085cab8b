//! Replays every fuzz input present through the same target bodies libFuzzer runs
//! (`card_agent_testbed::fuzz_harness`), on stable, in every `cargo test`: the committed seeds
//! (`fuzz/seeds/<target>/`, at most [`MAX_SEEDS`] each), the committed inputs that found bugs
//! (`fuzz/regressions/<target>/`, all of them), and the full minimised corpus
//! (`fuzz/corpus/<target>/`) when a fuzzing run left one on this machine (it is not in git:
//! `fuzz/plateau.sh` regenerates it). Each body asserts its invariants (no panic, stable error
//! codes, bounded buffers, no PIN echoed or logged); a failure names the file.

use std::path::{Path, PathBuf};

use card_agent_testbed::fuzz_harness::{self, TARGETS};

/// Most seeds a target may commit: the full corpora stay out of git (see fuzz/README.md).
const MAX_SEEDS: usize = 100;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let dir = fuzz_dir().join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn replay(kind: &str, target: &str) -> usize {
    let files = inputs(kind, target);
    for file in &files {
        let data = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| fuzz_harness::run(target, &data));
        match outcome {
            Ok(known) => assert!(known, "no fuzz target {target}"),
            Err(_) => panic!("{target} fails on {}", file.display()),
        }
    }
    files.len()
}

macro_rules! replay_tests {
    ($($target:ident),+) => {$(
        #[test]
        fn $target() {
            let seeds = replay("seeds", stringify!($target));
            let regressions = replay("regressions", stringify!($target));
            let corpus = replay("corpus", stringify!($target));
            assert!(seeds > 0, "fuzz/seeds/{} is empty", stringify!($target));
            assert!(
                seeds <= MAX_SEEDS,
                "fuzz/seeds/{} holds {seeds} files, more than {MAX_SEEDS}: run fuzz/select_seeds.sh",
                stringify!($target)
            );
            eprintln!(
                "{}: {seeds} seeds, {regressions} regressions, {corpus} files of a local corpus",
                stringify!($target)
            );
        }
    )+};
}

replay_tests!(
    frame_decode,
    request_decode,
    legacy_tbs,
    legacy_http,
    certificate_parse,
    atr_parse,
    vpcd_frame
);

#[test]
fn every_target_has_a_directory_and_a_libfuzzer_target() {
    for target in TARGETS {
        assert!(
            fuzz_dir().join("seeds").join(target).is_dir(),
            "fuzz/seeds/{target} is missing"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{target}.rs"))
                .is_file(),
            "fuzz/fuzz_targets/{target}.rs is missing"
        );
    }
}

/// Writes the hand-written seed inputs (real requests, packages, certificates, ATRs) into
/// `fuzz/seeds/<target>/seed-*`:
/// `CARD_AGENT_WRITE_FUZZ_SEEDS=1 cargo test -p card-agent-testbed --test fuzz_replay write_seeds`.
/// `fuzz/select_seeds.sh` always keeps these and fills the rest of the seed set from the
/// fuzzed corpus.
#[test]
fn write_seeds() {
    if std::env::var_os("CARD_AGENT_WRITE_FUZZ_SEEDS").is_none() {
        return;
    }
    for (target, name, data) in seeds::all() {
        let dir = fuzz_dir().join("seeds").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("seed-{name}")), data).unwrap();
    }
}

mod seeds {
    use card_agent::certificate::CardFamily;
    use card_agent::demo::{CertUsage, DemoToken, Holder, TestPki};
    use card_agent_protocol::frame::encode;
    use card_agent_testbed::fuzz_harness::LEGACY_PORT;

    type Seed = (&'static str, String, Vec<u8>);

    pub fn all() -> Vec<Seed> {
        let demo = DemoToken::new().unwrap();
        let certs = demo.certificates().unwrap();
        let thumb = certs[0].info.sha256.clone();
        let mut out: Vec<Seed> = Vec::new();
        let requests = requests(&thumb);
        for (i, r) in requests.iter().enumerate() {
            out.push(("request_decode", format!("{i:02}"), r.clone().into_bytes()));
        }
        // Frames: limit byte (0: the real limit, 200: a small one), chunk size, stream.
        let mut stream = Vec::new();
        for r in requests.iter().take(4) {
            stream.extend(encode(r.as_bytes()).unwrap());
        }
        out.push((
            "frame_decode",
            "stream".into(),
            [&[0u8, 7][..], &stream].concat(),
        ));
        out.push((
            "frame_decode",
            "small-limit".into(),
            [&[200u8, 3][..], &stream].concat(),
        ));
        out.push((
            "frame_decode",
            "huge-announcement".into(),
            [&[0u8, 1][..], &u32::MAX.to_ne_bytes(), b"{}"].concat(),
        ));
        out.push((
            "frame_decode",
            "empty-frame".into(),
            [&[0u8, 4][..], &0u32.to_ne_bytes()].concat(),
        ));
        out.push((
            "frame_decode",
            "cut".into(),
            [&[0u8, 2][..], &10u32.to_ne_bytes(), b"{\"id\""].concat(),
        ));
        for (i, p) in packages().iter().enumerate() {
            out.push(("legacy_tbs", format!("json-{i:02}"), p.clone().into_bytes()));
            out.push(("legacy_tbs", format!("form-{i:02}"), form(p).into_bytes()));
        }
        out.push((
            "legacy_tbs",
            "raw-form".into(),
            br#"x=1&tbsPackage={"func":"MakeSignature","tbs":"line%0Asays%20%22hi%22","pin":"%31%32%33%34%35%36"}"#
                .to_vec(),
        ));
        for (i, r) in http_requests().iter().enumerate() {
            out.push(("legacy_http", format!("{i:02}"), r.clone()));
        }
        for (i, der) in certificates(&demo).into_iter().enumerate() {
            out.push(("certificate_parse", format!("{i:02}"), der));
        }
        for (name, atr) in atrs() {
            out.push(("atr_parse", name.into(), atr));
        }
        out.push((
            "atr_parse",
            "with-readers".into(),
            [
                &card_agent::reader::MOICA_GEN1_ATR[..],
                &[0xFF],
                b"CASTLES EZ100PU 00 00 HiCOS\nCASTLES EZ100PU 00 00\nVirtual PCD 00 01",
            ]
            .concat(),
        ));
        for (name, frames) in vpcd_sessions() {
            out.push(("vpcd_frame", name.into(), frames));
        }
        out
    }

    fn requests(thumb: &str) -> Vec<String> {
        let o = r#""origin":"https://www.example.gov.tw""#;
        vec![
            r#"{"id":1,"command":"version"}"#.to_owned(),
            format!(r#"{{"id":2,"command":"status",{o}}}"#),
            format!(r#"{{"id":"c","command":"get-certificates",{o},"arguments":{{}}}}"#),
            format!(r#"{{"id":3,"command":"verify-pin",{o},"arguments":{{"pin":"123456"}}}}"#),
            format!(
                r#"{{"id":4,"command":"verify-pin",{o},"arguments":{{"token":"DEMO000000000001","pin":"987654"}}}}"#
            ),
            format!(
                r#"{{"id":5,"command":"sign",{o},"arguments":{{"certificate":"{thumb}","data":"aGVsbG8=","hashAlgorithm":"SHA-256","format":"cms","pin":"123456"}}}}"#
            ),
            format!(
                r#"{{"id":6,"command":"sign",{o},"arguments":{{"certificate":"{thumb}","hash":"LPJNul+wow4m6DsqxbninhsWHlwfp0JecwQzYpOLmCQ=","hashAlgorithm":"SHA-256","format":"pkcs1","pin":"123456"}}}}"#
            ),
            format!(
                r#"{{"id":7,"command":"authenticate",{o},"arguments":{{"challengeNonce":"MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTI=","pin":"123456"}}}}"#
            ),
            format!(r#"{{"id":8,"command":"subscribe",{o}}}"#),
            format!(r#"{{"id":9,"command":"unsubscribe",{o}}}"#),
            format!(
                r#"{{"id":10,"command":"legacy-request",{o},"arguments":{{"method":"GET","path":"/pkcs11info?withcert=true"}}}}"#
            ),
            format!(
                r#"{{"id":11,"command":"legacy-request",{o},"arguments":{{"method":"POST","path":"/sign","body":"dGJzUGFja2FnZT17ImZ1bmMiOiJNYWtlU2lnbmF0dXJlIiwidGJzIjoiaGkiLCJwaW4iOiIxMjM0NTYifQ=="}}}}"#
            ),
            format!(
                r#"{{"id":12,"command":"self-test-sign","arguments":{{"certificate":"{thumb}","pin":"123456"}}}}"#
            ),
            r#"{"id":13,"command":"environment-check"}"#.to_owned(),
            r#"{"id":14,"command":"trusted-sites"}"#.to_owned(),
            r#"{"id":15,"command":"remove-trusted-site","arguments":{"site":"https://a.gov.tw"}}"#
                .to_owned(),
            r#"{"id":16,"command":"status","origin":"https://evil.example"}"#.to_owned(),
            r#"{"id":1,"id":2,"command":"version"}"#.to_owned(),
            r#"{"id":"x","command":"sign","arguments":{"pin":98765432}}"#.to_owned(),
        ]
    }

    fn packages() -> Vec<String> {
        vec![
            r#"{"func":"MakeSignature","signatureType":"PKCS7","tbs":"%E7%94%B3%E8%AB%8B%20a%2Bb","tbsEncoding":"NONE","hashAlgorithm":"SHA256","withCardSN":"true","pin":"%31%32%33%34%35%36","nonce":"__NotExistedTag__","slotDescription":""}"#.to_owned(),
            r#"{"func":"MakeSignature","signatureType":"PKCS1","tbs":"aGVsbG8=","tbsEncoding":"base64","hashAlgorithm":"SHA512","pin":"123456","checkValidity":true}"#.to_owned(),
            r#"{"func":"umakeSig","tbs":"x","pin":"654321"}"#.to_owned(),
            r#"{"func":"DecryptData","cipher":"AAAA","pin":"123456"}"#.to_owned(),
            r#"{"func":"GetUserCert"}"#.to_owned(),
            "%7B%22func%22%3A%22GetUserCert%22%7D".to_owned(),
        ]
    }

    fn form(package: &str) -> String {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("tbsPackage", &package.replace('+', "%2B"))
            .finish()
    }

    fn http_requests() -> Vec<Vec<u8>> {
        let host = format!("Host: localhost:{LEGACY_PORT}\r\n");
        let site = "Origin: https://www.example.gov.tw\r\n";
        let get = |path: &str, extra: &str| {
            format!("GET {path} HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n").into_bytes()
        };
        let post = |path: &str, extra: &str, body: &str| {
            format!(
                "POST {path} HTTP/1.1\r\n{host}{extra}Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
            .into_bytes()
        };
        let mut out = vec![
            get("/", ""),
            get("/pkcs11info", site),
            get("/pkcs11info?withcert=true", site),
            get("/pkcs11info?withcert=true", "Origin: https://evil.example\r\n"),
            get("/pkcs11info", "Origin: null\r\n"),
            get("/p11Image.bmp?withcert=true", site),
            get("/popupForm", ""),
            get("/addDomain?domain=www.example.gov.tw", ""),
            get("/selfTest.htm", ""),
            get("/waiting.gif", ""),
            get("/selftest/", ""),
            get("/selftest/api/status", ""),
            get("/selftest/api/checks?lang=en", ""),
            get("/selftest/api/events", ""),
            format!("OPTIONS /sign HTTP/1.1\r\n{host}{site}Access-Control-Request-Method: POST\r\nConnection: close\r\n\r\n").into_bytes(),
            format!("GET / HTTP/1.1\r\nHost: evil.example:{LEGACY_PORT}\r\nConnection: close\r\n\r\n").into_bytes(),
            b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec(),
            post("/CardManagement/sendCardCommand", site, "tbsPackage=%7B%22func%22%3A%22ChangeUserPin%22%7D"),
            post("/selftest/api/sign", "", r#"{"pin":"123456"}"#),
            post("/selftest/api/fix", "", r#"{"action":"x"}"#),
            format!("POST /sign HTTP/1.1\r\n{host}{site}Content-Length: 100\r\n\r\ntbs").into_bytes(),
            [get("/", "Connection: keep-alive\r\n"), get("/pkcs11info", site)].concat(),
        ];
        for p in packages() {
            out.push(post("/sign", site, &form(&p)));
            out.push(post("/umakeSig", site, &form(&p)));
            out.push(post("/decrypt", site, &form(&p)));
        }
        out.push(post(
            "/sign",
            site,
            r#"tbsPackage={"func":"MakeSignature","tbs":"a%0Ab","pin":"%31%32%33%34%35%36"}"#,
        ));
        out
    }

    fn certificates(demo: &DemoToken) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = demo
            .certificates()
            .unwrap()
            .into_iter()
            .map(|c| c.info.der)
            .collect();
        out.push(demo.root_der().to_vec());
        out.push(demo.issuer_der().to_vec());
        let epoch = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600);
        for (i, family) in [CardFamily::Moica, CardFamily::Moeaca]
            .into_iter()
            .enumerate()
        {
            let pki = TestPki::deterministic(family, [i as u8 + 1; 32], epoch).unwrap();
            let holder = if family == CardFamily::Moeaca {
                Holder {
                    business_number: Some("12345675".to_owned()),
                    organisation: Some("測試科技股份有限公司 TEST".to_owned()),
                    card_serial: Some("MT00000000000042".to_owned()),
                    ..Holder::default()
                }
            } else {
                Holder {
                    name: "王小明 TEST".to_owned(),
                    serial_number: "0000000012345678".to_owned(),
                    id_last4: Some("5678".to_owned()),
                    card_serial: Some("TP00000000000042".to_owned()),
                    ..Holder::default()
                }
            };
            // The holder's key: the demo signing certificate's (any RSA key will do).
            let spki = spki_of(&out[0]);
            out.push(
                pki.issue_at(&holder, &spki, CertUsage::Signing, epoch, 3650)
                    .unwrap(),
            );
            out.push(pki.issuer_der().to_vec());
        }
        out
    }

    /// The SubjectPublicKeyInfo of a DER certificate: the seventh element of the TBS (after
    /// version, serial, signature algorithm, issuer, validity, subject).
    fn spki_of(cert: &[u8]) -> Vec<u8> {
        /// (header length, content length) of the TLV at the start of `b`.
        fn tlv(b: &[u8]) -> (usize, usize) {
            match b[1] {
                n if n < 0x80 => (2, usize::from(n)),
                0x81 => (3, usize::from(b[2])),
                0x82 => (4, usize::from(b[2]) << 8 | usize::from(b[3])),
                n => panic!("length form {n:#x}"),
            }
        }
        let (h, _) = tlv(cert);
        let tbs = &cert[h..];
        let (h, _) = tlv(tbs);
        let mut rest = &tbs[h..];
        for _ in 0..6 {
            let (h, l) = tlv(rest);
            rest = &rest[h + l..];
        }
        let (h, l) = tlv(rest);
        rest[..h + l].to_vec()
    }

    fn atrs() -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("moica-gen1", card_agent::reader::MOICA_GEN1_ATR.to_vec()),
            // Constructed (not a real card's): a TD1/TD2 chain before the historical bytes, so
            // the seed walks the interface-byte loop.
            (
                "constructed-td-chain",
                hex::decode("3BDF18008131FE588031905241016405C903AC73B7B1D444").unwrap(),
            ),
            // Constructed: "CHT" historical bytes after a category byte.
            (
                "constructed-cht",
                hex::decode("3B8880014348540000000000").unwrap(),
            ),
            ("short", vec![0x3B]),
        ]
    }

    fn vpcd_sessions() -> Vec<(&'static str, Vec<u8>)> {
        let frame = |p: &[u8]| [&(p.len() as u16).to_be_bytes()[..], p].concat();
        vec![
            (
                "power-atr-select",
                [
                    frame(&[0x01]),
                    frame(&[0x04]),
                    frame(&[0x00, 0xA4, 0x00, 0x00, 0x02, 0x3F, 0x00]),
                    frame(&hex::decode("00A4040010A0000002830000062201696400010101").unwrap()),
                    frame(&[0x00, 0xB0, 0x00, 0x00, 0x10]),
                    frame(&[0x00]),
                ]
                .concat(),
            ),
            ("cut", [frame(&[0x04]), vec![0x00, 0x05, 0x01]].concat()),
        ]
    }
}
