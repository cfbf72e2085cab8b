//! The response contract of the legacy HiPKI API as published pages read it
//! (shared/reference/hipki-compat.md, "What pages read back"): the response's own `func`,
//! decryption of both kinds pages send (openssl is the independent producer of every
//! ciphertext), raw JSON bodies, the version administrators' scripts read, `/umakeSig`'s PIN,
//! and the image pages read through a canvas.

use base64::Engine as _;
use card_agent_testbed::agent::{openssl, openssl_verify_cms, path};
use card_agent_testbed::softhsm::der_to_pem;
use serde_json::{json, Value};

mod legacy_server;
use legacy_server::{
    b64, encryption_cert_der, form, start, Server, LOGIN, TRUSTED, UNTRUSTED_SITE,
};

fn sign_package(extra: Value) -> Value {
    let mut p = json!({
        "func": "MakeSignature", "signatureType": "PKCS7", "tbs": "TBS", "tbsEncoding": "NONE",
        "hashAlgorithm": "SHA256", "pin": "123456", "withCardSN": "false"
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn every_answer_carries_the_responses_own_func() {
    let s = start("deny");
    assert_eq!(s.sign(TRUSTED, &sign_package(json!({})))["func"], "sign");
    // Error answers too.
    let bad = s.sign(TRUSTED, &sign_package(json!({"hashAlgorithm": "MD5"})));
    assert_eq!(
        (bad["func"].as_str(), bad["ret_code"].as_u64()),
        (Some("sign"), Some(0x7600_000C))
    );
    assert_eq!(
        s.sign("https://evil.example", &sign_package(json!({})))["func"],
        "sign"
    );
    assert_eq!(
        s.post("/sign", TRUSTED, "", "nothing=here").json()["func"],
        "sign"
    );
    for target in ["/pkcs11info", "/pkcs11info?withcert=true"] {
        assert_eq!(
            s.get(target, Some(TRUSTED)).json()["func"],
            "pkcs11info",
            "{target}"
        );
        assert_eq!(
            s.get(target, Some("https://evil.example")).json()["func"],
            "pkcs11info"
        );
    }
    let umake = s
        .post(
            "/umakeSig",
            TRUSTED,
            "",
            &form(&sign_package(json!({"func": "umakeSig"}))),
        )
        .json();
    assert_eq!(
        (umake["func"].as_str(), umake["ret_code"].as_u64()),
        (Some("umakeSig"), Some(0))
    );
    let decrypt = s
        .post(
            "/decrypt",
            TRUSTED,
            "",
            &form(&json!({"func": "DecryptData"})),
        )
        .json();
    assert_eq!(
        (decrypt["func"].as_str(), decrypt["ret_code"].as_u64()),
        (Some("decrypt"), Some(0x7600_0004))
    );
    // Card management: the request's func echoed with "unsupported".
    let manage = s.sign(TRUSTED, &json!({"func": "changeUserPINCode"}));
    assert_eq!(
        (manage["func"].as_str(), manage["ret_code"].as_u64()),
        (Some("changeUserPINCode"), Some(0x7600_000E))
    );
}

#[test]
fn raw_json_bodies_are_accepted_on_sign_and_decrypt() {
    let s = start("deny");
    let chain = s.chain_pem();
    let r = s
        .request(
            "POST",
            "/sign",
            &[
                &format!("Origin: {TRUSTED}"),
                "Content-Type: text/plain;charset=UTF-8",
            ],
            &sign_package(json!({"tbs": "raw body"})).to_string(),
        )
        .json();
    assert_eq!(r["ret_code"], 0, "{r}");
    let p7 = s.dir.path().join("raw.p7s");
    std::fs::write(&p7, b64(r["signature"].as_str().unwrap())).unwrap();
    let out = s.dir.path().join("raw.out");
    assert!(openssl_verify_cms(path(&p7), None, path(&chain), path(&out)).0);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "raw body");
    let r = s
        .request(
            "POST",
            "/decrypt",
            &[&format!("Origin: {TRUSTED}"), "Content-Type: text/plain"],
            r#"{"func":"DecryptData","pin":"123456"}"#,
        )
        .json();
    assert_eq!(
        (r["func"].as_str(), r["ret_code"].as_u64()),
        (Some("decrypt"), Some(0x7600_0004))
    );
}

#[test]
fn the_tbs_is_signed_exactly_as_the_page_meant_it() {
    let s = start("deny");
    let chain = s.chain_pem();
    let meant = "literal %41%42 100% a+b";
    let wrapped: String = form_urlencoded::byte_serialize(meant.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    // Unencoded JSON (most pages) and form-encoded JSON (the popup bridge, URLSearchParams).
    let package = sign_package(json!({"tbs": wrapped}));
    let unencoded = format!("tbsPackage={}", package.to_string().replace('+', "%2B"));
    for (n, body) in [unencoded, form(&package)].iter().enumerate() {
        let r = s.post("/sign", TRUSTED, "", body).json();
        assert_eq!(r["ret_code"], 0, "{r}");
        let p7 = s.dir.path().join(format!("tbs{n}.p7s"));
        std::fs::write(&p7, b64(r["signature"].as_str().unwrap())).unwrap();
        let out = s.dir.path().join(format!("tbs{n}.out"));
        assert!(openssl_verify_cms(path(&p7), None, path(&chain), path(&out)).0);
        assert_eq!(std::fs::read_to_string(&out).unwrap(), meant, "body {n}");
    }
}

#[test]
fn the_version_is_one_admin_scripts_and_pages_accept_with_card_agents_beside_it() {
    let s = start("deny");
    let text = String::from_utf8(s.get("/", None).body).unwrap();
    let version = text.split("version:").nth(1).unwrap();
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u64> = digits.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(parts >= vec![1, 3, 4, 103_349], "{text}");
    assert!(
        text.contains(&format!("card-agent {}", env!("CARGO_PKG_VERSION"))),
        "{text}"
    );
    let info = s.get("/pkcs11info", Some(TRUSTED)).json();
    assert_eq!(info["serverVersion"], digits.as_str());
    // Pages compare it as a string.
    assert!(info["serverVersion"].as_str().unwrap() > "1.3.4.103349");
    assert_eq!(info["cardAgentVersion"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn umakesig_reads_the_pin_it_can_and_never_spends_a_try_on_a_guess() {
    let s = start("deny");
    let umake = |pin: &str| {
        s.post(
            "/umakeSig",
            TRUSTED,
            "",
            &form(&sign_package(json!({"func": "umakeSig", "pin": pin}))),
        )
        .json()
    };
    for pin in ["123456", "MTIzNDU2"] {
        let r = umake(pin);
        assert_eq!(r["ret_code"], 0, "{pin}: {r}");
        assert_eq!(r["cardSN"], "DEMO000000000001");
    }
    // Neither a PIN nor the base64 of one: refused before the card, five times over...
    for _ in 0..5 {
        let r = umake("YWJjZGVm");
        assert_eq!(
            (r["ret_code"].as_u64(), r["last_error"].as_u64()),
            (Some(LOGIN), Some(0xA2))
        );
    }
    // ...and the card still has all its tries.
    assert_eq!(umake("MTIzNDU2")["ret_code"], 0);
    let info = s.get("/pkcs11info", Some(TRUSTED)).json();
    assert_eq!(
        info["slots"][0]["token"]["flags"].as_u64().unwrap() & 0x7_0000,
        0
    );
}

/// The encryption certificate of the demo card, as PEM, and the content openssl encrypts.
fn encryption_cert(s: &Server) -> std::path::PathBuf {
    let pem = s.dir.path().join("keyx.pem");
    std::fs::write(&pem, der_to_pem(&encryption_cert_der(s))).unwrap();
    pem
}

/// `openssl cms -encrypt` for `recipient` with `cipher` (`-des3`, `-aes128`, ...), as DER.
fn envelope(s: &Server, recipient: &std::path::Path, cipher: &str, plain: &[u8]) -> Vec<u8> {
    let input = s.dir.path().join("plain.bin");
    std::fs::write(&input, plain).unwrap();
    let out = s.dir.path().join(format!("env{cipher}.der"));
    let (ok, text) = openssl(&[
        "cms",
        "-encrypt",
        "-binary",
        "-in",
        path(&input),
        "-outform",
        "DER",
        "-out",
        path(&out),
        cipher,
        "-recip",
        path(recipient),
    ]);
    assert!(ok, "{text}");
    std::fs::read(&out).unwrap()
}

#[test]
fn pkcs7_envelopes_from_openssl_decrypt_with_every_content_cipher() {
    let s = start("deny");
    let cert = encryption_cert(&s);
    let text = "機密文件 secret a+b=c & 100%\n第二行";
    for cipher in ["-des3", "-aes128", "-aes192", "-aes256"] {
        let der = envelope(&s, &cert, cipher, text.as_bytes());
        // As the vendor's sample page sends it: cipher and pin encodeURIComponent-wrapped.
        let wrapped: String = form_urlencoded::byte_serialize(encode(&der).as_bytes()).collect();
        for (encoding, cipher_type) in [("NONE", Some("PKCS7")), ("base64", None)] {
            let mut package = json!({"func": "DecryptData", "cipher": wrapped, "plainEncoding": encoding, "pin": "%31%32%33%34%35%36"});
            if let Some(t) = cipher_type {
                package["cipherType"] = t.into();
            }
            let r = s.post("/decrypt", TRUSTED, "", &form(&package)).json();
            assert_eq!(r["ret_code"], 0, "{cipher} {encoding}: {r}");
            assert_eq!(r["func"], "decrypt");
            let plain = r["plain"].as_str().unwrap();
            if encoding == "base64" {
                assert_eq!(b64(plain), text.as_bytes(), "{cipher}");
            } else {
                assert_eq!(plain, text, "{cipher}");
            }
        }
    }
    // Binary content: base64 works, NONE says to ask for base64.
    let der = envelope(&s, &cert, "-aes256", &[0xff, 0x00, 0xfe]);
    let r = s.post("/decrypt", TRUSTED, "", &form(&json!({"func": "DecryptData", "cipher": encode(&der), "plainEncoding": "base64", "pin": "123456"}))).json();
    assert_eq!(b64(r["plain"].as_str().unwrap()), [0xff, 0x00, 0xfe]);
}

#[test]
fn pkcs1_ciphertext_with_line_breaks_decrypts() {
    let s = start("deny");
    let cert = encryption_cert(&s);
    let plain = s.dir.path().join("p1.txt");
    std::fs::write(&plain, "短訊 short").unwrap();
    let out = s.dir.path().join("p1.bin");
    let (ok, text) = openssl(&[
        "pkeyutl",
        "-encrypt",
        "-certin",
        "-inkey",
        path(&cert),
        "-in",
        path(&plain),
        "-out",
        path(&out),
    ]);
    assert!(ok, "{text}");
    // Java's Base64.encodeLines, as the vendor's sample encodes a PKCS1 ciphertext.
    let lines = encode(&std::fs::read(&out).unwrap())
        .as_bytes()
        .chunks(76)
        .map(|c| format!("{}\r\n", std::str::from_utf8(c).unwrap()))
        .collect::<String>();
    let r = s.post("/decrypt", TRUSTED, "", &form(&json!({"func": "DecryptData", "cipher": lines, "cipherType": "PKCS1", "plainEncoding": "NONE", "pin": "123456"}))).json();
    assert_eq!(
        (r["ret_code"].as_u64(), r["plain"].as_str()),
        (Some(0), Some("短訊 short")),
        "{r}"
    );
}

#[test]
fn envelopes_that_cannot_be_opened_are_refused_before_the_pin_is_used() {
    let s = start("deny");
    // A certificate that is not the card's: a fresh self-signed one.
    let key = s.dir.path().join("other.key");
    let other = s.dir.path().join("other.pem");
    let (ok, text) = openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        path(&key),
        "-out",
        path(&other),
        "-subj",
        "/CN=other",
        "-days",
        "2",
    ]);
    assert!(ok, "{text}");
    let der = envelope(&s, &other, "-aes256", b"not for this card");
    let decrypt = |cipher: String, pin: &str| {
        s.post(
            "/decrypt",
            TRUSTED,
            "",
            &form(&json!({"func": "DecryptData", "cipher": cipher, "pin": pin})),
        )
        .json()
    };
    // A wrong PIN with an envelope for another certificate: the card never sees the PIN.
    for _ in 0..4 {
        assert_eq!(decrypt(encode(&der), "000000")["ret_code"], 0x7610_000C);
    }
    assert_eq!(
        decrypt(encode(b"not DER at all"), "000000")["ret_code"],
        0x7640_0001
    );
    assert_eq!(decrypt("!!".to_owned(), "000000")["ret_code"], 0x7660_0002);
    // Still every try left: the right PIN decrypts.
    let cert = encryption_cert(&s);
    let ok = decrypt(encode(&envelope(&s, &cert, "-des3", b"ok")), "123456");
    assert_eq!(
        (ok["ret_code"].as_u64(), ok["plain"].as_str()),
        (Some(0), Some("ok")),
        "{ok}"
    );
}

/// The text a page reads from the image: row 0, blue-green-red, up to the first zero blue,
/// within a 300-pixel canvas.
fn image_text(bmp: &[u8]) -> String {
    let text = card_agent::legacy_api::unpack_bmp(bmp, 300).unwrap();
    String::from_utf8(text).unwrap()
}

#[test]
fn the_image_is_row_zero_compact_the_same_size_and_readable_by_untrusted_pages() {
    let s = start("deny");
    let trusted = s.get("/p11Image.bmp", Some(TRUSTED));
    let text = image_text(&trusted.body);
    assert!(text.is_ascii() && text.len() <= 900, "{text}");
    let info: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (info["func"].as_str(), info["ret_code"].as_u64()),
        (Some("pkcs11info"), Some(0))
    );
    assert_eq!(
        info["slots"][0]["token"]["serialNumber"],
        "DEMO000000000001"
    );
    assert_eq!(
        trusted.header("access-control-allow-origin").as_deref(),
        Some(TRUSTED)
    );
    // An untrusted page: CORS for its origin, so it can read 0x76000031 and offer /addDomain;
    // no card facts, not even in the image's size.
    for origin in ["https://evil.example", "http://intranet.example"] {
        let r = s.get("/p11Image.bmp", Some(origin));
        assert_eq!(
            r.header("access-control-allow-origin").as_deref(),
            Some(origin)
        );
        assert_eq!(r.body.len(), trusted.body.len(), "{origin}");
        let text = image_text(&r.body);
        let refused: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(refused["ret_code"], UNTRUSTED_SITE);
        assert!(refused.get("slots").is_none(), "{text}");
        assert!(!text.contains("DEMO"), "{text}");
    }
    // A request that names no origin (an <img> without crossOrigin) reads nothing either.
    let plain = s.request(
        "GET",
        "/p11Image.bmp",
        &["Sec-Fetch-Dest: image", "Sec-Fetch-Mode: no-cors"],
        "",
    );
    assert_eq!(plain.body.len(), trusted.body.len());
    assert!(plain.header("access-control-allow-origin").is_none());
    assert!(!image_text(&plain.body).contains("DEMO"));
}
