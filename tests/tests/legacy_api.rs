//! Conformance of the legacy HiPKI-compatible API, written from shared/reference/hipki-compat.md:
//! every endpoint, every error code, the quirks real pages send, and hostile requests. The
//! server runs in-process on a random loopback port over the demo token; requests are raw
//! HTTP/1.1 so they can be exactly as hostile as needed. Signatures are checked by openssl.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use card_agent_testbed::agent::{
    openssl, openssl_encrypt_pkcs1, openssl_verify_cms, openssl_verify_pkcs1, path,
};
use serde_json::Value;

mod legacy_server;
use legacy_server::{
    b64, encryption_cert_der, form, log_buffer, start, LOGIN, TRUSTED, UNTRUSTED_SITE,
};

fn sign_package(extra: Value) -> Value {
    let mut p = serde_json::json!({
        "func": "MakeSignature", "signatureType": "PKCS7", "tbs": "申請書 form", "tbsEncoding": "NONE",
        "hashAlgorithm": "SHA256", "pin": "123456", "withCardSN": "false", "nonce": "__NotExistedTag__",
        "slotDescription": ""
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    p
}

#[test]
fn version_text_matches_what_admin_scripts_parse() {
    let s = start("deny");
    let r = s.get("/", None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body).unwrap();
    let version = text.split("version:").nth(1).unwrap();
    let digits: String = version
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(digits.starts_with("1.3.4."), "{text}");
}

#[test]
fn pkcs11info_get_post_and_withcert_read_like_hipki() {
    let s = start("deny");
    let info = s.get("/pkcs11info", Some(TRUSTED)).json();
    assert_eq!(info["func"], "pkcs11info");
    assert_eq!(info["ret_code"], 0);
    assert_eq!(info["last_error"], 0);
    for key in [
        "cryptokiVersion",
        "libraryDescription",
        "manufacturerID",
        "version",
        "serverVersion",
        "installedModule",
    ] {
        assert!(info.get(key).is_some(), "{key} missing: {info}");
    }
    let slot = &info["slots"][0];
    for key in [
        "slotDescription",
        "slotID",
        "flags",
        "manufacturerID",
        "firmwareVersion",
        "hardwareVersion",
    ] {
        assert!(slot.get(key).is_some(), "{key} missing");
    }
    let token = &slot["token"];
    assert_eq!(token["serialNumber"].as_str().unwrap().len(), 16);
    assert_eq!(token["ulMinPinLen"], 6);
    assert_eq!(token["ulMaxPinLen"], 8);
    assert!(token.get("certs").is_none());

    let posted = s.post("/pkcs11info", TRUSTED, "", "").json();
    assert_eq!(posted["ret_code"], 0);

    let full = s.get("/pkcs11info?withcert=true", Some(TRUSTED)).json();
    assert_eq!(full["func"], "pkcs11info");
    let certs = full["slots"][0]["token"]["certs"].as_array().unwrap();
    let sign = certs
        .iter()
        .find(|c| c["usage"] == "digitalSignature")
        .expect("signing certificate");
    assert!(
        sign["subjectDN"].as_str().unwrap().starts_with("C=TW,CN="),
        "{}",
        sign["subjectDN"]
    );
    assert!(sign["issuerDN"]
        .as_str()
        .unwrap()
        .starts_with("C=TW,O=行政院,OU=內政部憑證管理中心"));
    let nb = sign["notBefore"].as_str().unwrap();
    assert!(
        nb.len() == 13 && nb.ends_with('Z') && nb[..12].bytes().all(|b| b.is_ascii_digit()),
        "{nb}"
    );
    assert!(sign["notAfterT"].as_i64().unwrap() > sign["notBeforeT"].as_i64().unwrap());
    assert_eq!(sign["thumbprint"].as_str().unwrap().len(), 40);
    assert!(sign["sn"]
        .as_str()
        .unwrap()
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(sign["subjectID"], "0000");
    assert_eq!(sign["subjectCN"], "DEMO 示範用戶");
    assert_eq!(sign["signatureAlgorithm"], "1.2.840.113549.1.1.11");
    assert!(certs
        .iter()
        .any(|c| c["usage"] == "keyEncipherment|dataEncipherment"));
    assert!(certs.iter().any(|c| c["usage"] == "keyCertSign|cRLSign"));
}

#[test]
fn only_trusted_sites_get_an_answer_and_cors_only_echoes_them() {
    let s = start("deny");
    let ok = s.get("/pkcs11info", Some(TRUSTED));
    assert_eq!(
        ok.header("access-control-allow-origin").as_deref(),
        Some(TRUSTED)
    );
    assert_eq!(ok.header("vary").as_deref(), Some("Origin"));
    for origin in [
        "https://evil.example",
        "null",
        "http://www.example.gov.tw",
        "https://example.gov.tw.evil.example",
    ] {
        let r = s.get("/pkcs11info?withcert=true", Some(origin));
        assert_eq!(r.json()["ret_code"], UNTRUSTED_SITE, "{origin}");
        assert!(
            r.header("access-control-allow-origin").is_none(),
            "{origin}"
        );
        let signed = s.sign(origin, &sign_package(serde_json::json!({})));
        assert_eq!(signed["ret_code"], UNTRUSTED_SITE, "{origin}");
    }
    // Preflight: only for trusted origins, never `*`.
    let pre = s.raw(format!("OPTIONS /sign HTTP/1.1\r\nHost: localhost:{}\r\nOrigin: {TRUSTED}\r\nAccess-Control-Request-Method: POST\r\nConnection: close\r\n\r\n", s.port).as_bytes());
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin").as_deref(),
        Some(TRUSTED)
    );
    let pre = s.raw(format!("OPTIONS /sign HTTP/1.1\r\nHost: localhost:{}\r\nOrigin: https://evil.example\r\nConnection: close\r\n\r\n", s.port).as_bytes());
    assert_eq!(pre.status, 403);
    assert!(pre.header("access-control-allow-origin").is_none());
    assert!(!String::from_utf8_lossy(&s.get("/", Some(TRUSTED)).body).is_empty());
}

#[test]
fn host_header_must_name_a_loopback_host_and_our_port() {
    let s = start("deny");
    for host in [
        "evil.example:PORT",
        "localhost",
        "localhost:1",
        "127.0.0.2:PORT",
        "",
        "attacker.127.0.0.1.nip.io:PORT",
    ] {
        let host = host.replace("PORT", &s.port.to_string());
        let header = if host.is_empty() {
            String::new()
        } else {
            format!("Host: {host}\r\n")
        };
        let r = s.raw(format!("GET /pkcs11info HTTP/1.1\r\n{header}Origin: {TRUSTED}\r\nConnection: close\r\n\r\n").as_bytes());
        assert!(r.status == 421 || r.status == 400, "{host}: {}", r.status);
    }
    for host in ["localhost", "127.0.0.1", "[::1]"] {
        let r = s.raw(
            format!(
                "GET / HTTP/1.1\r\nHost: {host}:{}\r\nConnection: close\r\n\r\n",
                s.port
            )
            .as_bytes(),
        );
        assert_eq!(r.status, 200, "{host}");
    }
}

#[test]
fn pkcs7_signatures_verify_with_openssl_for_every_hash_and_carry_the_attributes() {
    let s = start("deny");
    let chain = s.chain_pem();
    for hash in ["SHA1", "SHA256", "SHA384", "SHA512"] {
        let r = s.sign(TRUSTED, &sign_package(serde_json::json!({"hashAlgorithm": hash, "withCardSN": "true", "nonce": "n0nce-123"})));
        assert_eq!(r["ret_code"], 0, "{hash}: {r}");
        assert_eq!(r["func"], "sign");
        assert_eq!(r["cardSN"], "DEMO000000000001");
        assert!(!r["certb64"].as_str().unwrap().is_empty());
        let p7 = s.dir.path().join(format!("{hash}.p7s"));
        std::fs::write(&p7, b64(r["signature"].as_str().unwrap())).unwrap();
        let out = s.dir.path().join(format!("{hash}.out"));
        let (ok, text) = openssl_verify_cms(path(&p7), None, path(&chain), path(&out));
        assert!(ok, "{hash}: {text}");
        assert_eq!(std::fs::read_to_string(&out).unwrap(), "申請書 form");
        let (_, printed) = openssl(&[
            "cms",
            "-cmsout",
            "-print",
            "-inform",
            "DER",
            "-in",
            path(&p7),
        ]);
        assert!(printed.contains("signingTime"), "{printed}");
        assert!(
            printed.contains("1.2.840.113549.1.9.25.3")
                && printed.contains("n0nce-123".get(..1).unwrap()),
            "nonce attribute"
        );
        assert!(
            printed.contains("2.16.886.1.100.2.204") && printed.contains("DEMO000000000001"),
            "card serial attribute"
        );
    }
}

#[test]
fn pkcs1_and_base64_and_page_quirks() {
    let s = start("deny");
    let data = "a+b=c 中文 100%";
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    // encodeURIComponent-wrapped tbs and pin, base64 with '+' sent as %2B, numbers as strings.
    let quirky = sign_package(serde_json::json!({
        "signatureType": "PKCS1", "tbsEncoding": "base64",
        "tbs": encoded.replace('+', "%2B").replace('/', "%2F").replace('=', "%3D"),
        "pin": "%31%32%33%34%35%36", "withCardSN": "", "checkValidity": "true"
    }));
    let r = s.sign(TRUSTED, &quirky);
    assert_eq!(r["ret_code"], 0, "{r}");
    let cert = s.dir.path().join("signer.der");
    std::fs::write(&cert, b64(r["certb64"].as_str().unwrap())).unwrap();
    let pubkey = s.dir.path().join("signer.pem");
    assert!(
        openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            path(&cert),
            "-pubkey",
            "-noout",
            "-out",
            path(&pubkey)
        ])
        .0
    );
    let sig = s.dir.path().join("p1.sig");
    std::fs::write(&sig, b64(r["signature"].as_str().unwrap())).unwrap();
    let content = s.dir.path().join("content");
    std::fs::write(&content, data).unwrap();
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&pubkey), path(&sig), path(&content));
    assert!(ok, "{text}");
    assert!(r.get("cardSN").is_none(), "withCardSN \"\" means no");

    // A whole package wrapped in encodeURIComponent, as some pages do.
    let wrapped = form_urlencoded::Serializer::new(String::new())
        .append_pair(
            "tbsPackage",
            &form_urlencoded::byte_serialize(
                sign_package(serde_json::json!({})).to_string().as_bytes(),
            )
            .collect::<String>()
            .replace('+', "%20"),
        )
        .finish();
    assert_eq!(s.post("/sign", TRUSTED, "", &wrapped).json()["ret_code"], 0);
}

#[test]
fn an_unencoded_package_signs_text_with_line_breaks_and_quotes() {
    // As pages post it: encodeURIComponent(tbs) and (pin) inside the JSON, "+" pre-escaped as
    // %2B, the JSON itself not form-encoded. Decoded as a form, %0A and %22 would break it.
    let s = start("deny");
    let chain = s.chain_pem();
    let tbs = "申請書\r\n姓名: \"王小明\"\npath C:\\forms a+b=c & 100%";
    let encode = |v: &str| {
        form_urlencoded::byte_serialize(v.as_bytes())
            .collect::<String>()
            .replace('+', "%20")
    };
    let package = serde_json::json!({
        "func": "MakeSignature", "signatureType": "PKCS7", "tbs": encode(tbs), "tbsEncoding": "NONE",
        "hashAlgorithm": "SHA256", "pin": encode("123456"), "nonce": "n+1",
    });
    let body = format!("tbsPackage={}", package.to_string().replace('+', "%2B"));
    let r = s.post("/sign", TRUSTED, "", &body).json();
    assert_eq!(r["ret_code"], 0, "{r}");
    let p7 = s.dir.path().join("multiline.p7s");
    std::fs::write(&p7, b64(r["signature"].as_str().unwrap())).unwrap();
    let out = s.dir.path().join("multiline.out");
    let (ok, text) = openssl_verify_cms(path(&p7), None, path(&chain), path(&out));
    assert!(ok, "{text}");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), tbs);
}

#[test]
fn error_codes_pages_check() {
    let s = start("deny");
    let code = |p: Value| {
        let r = s.sign(TRUSTED, &p);
        (
            r["ret_code"].as_u64().unwrap(),
            r["last_error"].as_u64().unwrap(),
        )
    };
    assert_eq!(
        code(sign_package(serde_json::json!({"tbs": ""}))).0,
        0x7600_0003
    );
    assert_eq!(
        code(sign_package(
            serde_json::json!({"tbs": "__NotExistedTag__"})
        ))
        .0,
        0x7600_0003
    );
    assert_eq!(
        code(sign_package(
            serde_json::json!({"tbsEncoding": "base64", "tbs": "!!!"})
        ))
        .0,
        0x7660_0002
    );
    assert_eq!(
        code(sign_package(serde_json::json!({"hashAlgorithm": "MD5"}))).0,
        0x7600_000C
    );
    assert_eq!(
        code(sign_package(serde_json::json!({"signatureType": "XML"}))).0,
        0x7600_000C
    );
    assert_eq!(
        code(sign_package(
            serde_json::json!({"func": "changeUserPINCode"})
        ))
        .0,
        0x7600_000E
    );
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "12ab"}))),
        (LOGIN, 0xA2)
    );
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "12345"}))),
        (LOGIN, 0xA2)
    );
    let bad_json = s.post("/sign", TRUSTED, "", "tbsPackage=%7Bnot-json");
    assert_eq!(bad_json.json()["ret_code"], 0x7600_000B);
    assert_eq!(
        s.post("/sign", TRUSTED, "", "nothing=here").json()["ret_code"],
        0x7600_000B
    );
    // Wrong PINs: tries left in last_error; never a retry on the page's behalf.
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "000000"}))),
        (LOGIN, 0x8000_0002)
    );
    // The same wrong PIN again (a page that keeps its PIN for a batch) is answered as wrong,
    // with the card's count, and never reaches the card.
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "000000"}))),
        (LOGIN, 0x8000_0002)
    );
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "000001"}))),
        (LOGIN, 0x8000_0001)
    );
    // The card's final try is never spent by a page: its PIN is dropped unsent and the
    // agent's own dialog asks (this one answers with the right PIN, which resets the count).
    let log = s.dir.path().join("pinentry.log");
    assert!(!std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("GETPIN"));
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "000000"}))),
        (0, 0)
    );
    let dialogs = std::fs::read_to_string(&log).unwrap();
    assert_eq!(dialogs.matches("GETPIN").count(), 1, "{dialogs}");
    assert_eq!(
        code(sign_package(serde_json::json!({"pin": "000002"}))),
        (LOGIN, 0x8000_0002)
    );
    let msg = s.sign(TRUSTED, &sign_package(serde_json::json!({"pin": "12345"})));
    assert!(msg["message"].as_str().unwrap().contains("PIN"), "{msg}");
}

#[test]
fn no_pin_from_the_page_opens_the_dialog_and_cancel_is_reported() {
    let s = start("cancel");
    let r = s.sign(TRUSTED, &sign_package(serde_json::json!({"pin": ""})));
    assert_eq!(r["ret_code"], 0x7600_0999, "{r}");
    let s = start("pin");
    let r = s.sign(
        TRUSTED,
        &sign_package(serde_json::json!({"pin": "__NotExistedTag__"})),
    );
    assert_eq!(r["ret_code"], 0, "{r}");
    let log = std::fs::read_to_string(s.dir.path().join("pinentry.log")).unwrap();
    assert!(
        log.contains("www.example.gov.tw"),
        "the dialog names the site: {log}"
    );
    assert!(!log.contains("123456"));
}

#[test]
fn decrypt_with_the_encryption_key() {
    let s = start("deny");
    let cipher = openssl_encrypt_pkcs1(
        s.dir.path(),
        &encryption_cert_der(&s),
        "機密 secret".as_bytes(),
    );
    let package = serde_json::json!({"func": "DecryptData", "cipherType": "PKCS1", "plainEncoding": "base64", "cipher": base64::engine::general_purpose::STANDARD.encode(&cipher), "pin": "123456"});
    let r = s.post("/decrypt", TRUSTED, "", &form(&package)).json();
    assert_eq!(r["ret_code"], 0, "{r}");
    assert_eq!(r["func"], "decrypt");
    assert_eq!(b64(r["plain"].as_str().unwrap()), "機密 secret".as_bytes());
    let r = s
        .post(
            "/decrypt",
            TRUSTED,
            "",
            &form(&serde_json::json!({"func": "DecryptData", "pin": "123456"})),
        )
        .json();
    assert_eq!(r["ret_code"], 0x7600_0004);
}

#[test]
fn static_pages_images_and_the_bmp_channel() {
    let s = start("deny");
    for p in ["/popupForm", "/ChtPopupForm"] {
        let r = s.get(p, None);
        assert_eq!(r.status, 200);
        let html = String::from_utf8(r.body).unwrap();
        assert!(
            html.contains(r#"{"func":"getTbs"}"#) && html.contains("postMessage"),
            "{p}"
        );
    }
    let r = s.get("/selfTest.htm", None);
    assert_eq!(
        (r.status, r.header("location").as_deref()),
        (302, Some("/selftest/"))
    );
    let r = s.get("/waiting.gif", None);
    assert!(r.body.starts_with(b"GIF89a"));
    let r = s.get("/p11Image.bmp?withcert=true", Some(TRUSTED));
    assert_eq!(r.header("content-type").as_deref(), Some("image/bmp"));
    let text =
        card_agent::legacy_api::unpack_bmp(&r.body, card_agent::legacy_api::BMP_WIDTH).unwrap();
    let info: Value = serde_json::from_slice(&text).unwrap();
    assert_eq!(info["func"], "pkcs11info");
    assert_eq!(
        info["slots"][0]["token"]["serialNumber"],
        "DEMO000000000001"
    );
    assert!(info["slots"][0]["token"].get("certs").is_none(), "compact");
    assert_eq!(s.get("/nope", None).status, 404);
}

#[test]
fn popup_bridge_speaks_for_its_opener_only() {
    let s = start("deny");
    let own = format!("http://localhost:{}", s.port);
    let r = s.post(
        "/sign",
        &own,
        &format!("X-Card-Agent-Opener: {TRUSTED}\r\n"),
        &form(&sign_package(serde_json::json!({}))),
    );
    assert_eq!(r.json()["ret_code"], 0);
    let r = s.post(
        "/sign",
        &own,
        "X-Card-Agent-Opener: https://evil.example\r\n",
        &form(&sign_package(serde_json::json!({}))),
    );
    assert_eq!(r.json()["ret_code"], UNTRUSTED_SITE);
    // Another site cannot borrow the header.
    let r = s.post(
        "/sign",
        "https://evil.example",
        &format!("X-Card-Agent-Opener: {TRUSTED}\r\n"),
        &form(&sign_package(serde_json::json!({}))),
    );
    assert_eq!(r.json()["ret_code"], UNTRUSTED_SITE);
}

#[test]
fn add_domain_asks_the_user_and_never_adds_silently() {
    let s = start("deny");
    let page =
        String::from_utf8(s.get("/addDomain?domain=portal.other.gov.tw", None).body).unwrap();
    assert!(page.contains(&(0x7600_0999u32).to_string()), "{page}");
    let r = s.get("/pkcs11info", Some("https://portal.other.gov.tw"));
    assert_eq!(r.json()["ret_code"], UNTRUSTED_SITE);
    let page =
        String::from_utf8(s.get("/addDomain?domain=javascript:alert(1)", None).body).unwrap();
    assert!(page.contains(&(0x7600_000Fu32).to_string()), "{page}");

    let s = start("confirm");
    let page =
        String::from_utf8(s.get("/addDomain?domain=portal.other.gov.tw", None).body).unwrap();
    assert!(
        page.contains(r#"\"ret_code\":0"#) && page.contains("https://portal.other.gov.tw"),
        "{page}"
    );
    let r = s.get("/pkcs11info", Some("https://portal.other.gov.tw"));
    assert_eq!(r.json()["ret_code"], 0);
    let log = std::fs::read_to_string(s.dir.path().join("pinentry.log")).unwrap();
    assert!(
        log.contains("portal.other.gov.tw"),
        "the dialog names the site: {log}"
    );
    let saved = std::fs::read_to_string(s.dir.path().join("trusted-sites.json")).unwrap();
    assert!(saved.contains("https://portal.other.gov.tw"));
}

#[test]
fn hostile_bodies_are_bounded() {
    let s = start("deny");
    let big = "a".repeat(3 * 1024 * 1024);
    let r = s.post("/sign", TRUSTED, "", &format!("tbsPackage={big}"));
    assert_eq!(r.status, 413);
    // A body that never arrives is cut off by the server, not waited for forever.
    let r = s.raw(format!("POST /sign HTTP/1.1\r\nHost: localhost:{}\r\nOrigin: {TRUSTED}\r\nContent-Length: 100\r\n\r\ntbs", s.port).as_bytes());
    assert_eq!(r.status, 408);
}

#[test]
fn concurrent_signs_from_several_pages_all_succeed() {
    let s = Arc::new(start("deny"));
    let threads: Vec<_> = (0..4)
        .map(|i| {
            let s = s.clone();
            std::thread::spawn(move || {
                s.sign(
                    TRUSTED,
                    &sign_package(serde_json::json!({"tbs": format!("page {i}")})),
                )
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap()["ret_code"], 0);
    }
}

/// Runs last by name order within this binary's parallel run only by luck, so it checks the
/// log after signing itself: no PIN, wrong or right, ever reaches a log line.
#[test]
fn zz_no_pin_in_any_log_line() {
    let s = start("deny");
    // Wrong PINs that cannot occur by chance in a log line (the demo serial is full of zeros).
    for pin in ["123456", "975310", "%39%37%35%33%31%31"] {
        s.sign(TRUSTED, &sign_package(serde_json::json!({"pin": pin})));
    }
    let log = String::from_utf8(log_buffer().lock().unwrap().clone()).unwrap();
    assert!(!log.is_empty(), "the server logged nothing at debug level?");
    for pin in ["123456", "975310", "975311"] {
        assert!(
            !log.contains(pin),
            "PIN {pin} found in the log: {}",
            log.lines()
                .filter(|l| l.contains(pin))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn self_test_page_and_its_api_are_for_this_computers_user_only() {
    let s = start("deny");
    assert_eq!(s.get("/selftest", None).status, 301);
    let page = s.get("/selftest/", None);
    assert_eq!(page.status, 200);
    assert!(String::from_utf8_lossy(&page.body).contains("selftest.js"));
    assert_eq!(s.get("/selftest/selftest.js", None).status, 200);
    // The page's own origin and local programs may use the API; a web page, even a trusted one,
    // may not (the self-test signs with the card).
    let own = format!("http://localhost:{}", s.port);
    let status = s.get("/selftest/api/status", Some(&own));
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["tokens"][0]["demo"], true);
    for origin in [TRUSTED, "https://evil.example"] {
        assert_eq!(
            s.get("/selftest/api/status", Some(origin)).status,
            403,
            "{origin}"
        );
    }
    let signed = s
        .post("/selftest/api/sign", &own, "", r#"{"pin":"123456"}"#)
        .json();
    assert_eq!(signed["agentVerified"], true, "{signed}");
    // Verified independently too: the signature over the sample text, with the certificate.
    let cert = s.dir.path().join("selftest.der");
    std::fs::write(&cert, b64(signed["certificate"].as_str().unwrap())).unwrap();
    let pubkey = s.dir.path().join("selftest.pem");
    assert!(
        openssl(&[
            "x509",
            "-inform",
            "DER",
            "-in",
            path(&cert),
            "-pubkey",
            "-noout",
            "-out",
            path(&pubkey)
        ])
        .0
    );
    let data = s.dir.path().join("selftest.txt");
    std::fs::write(&data, b64(signed["data"].as_str().unwrap())).unwrap();
    let sig = s.dir.path().join("selftest.sig");
    std::fs::write(&sig, b64(signed["signature"].as_str().unwrap())).unwrap();
    let (ok, text) = openssl_verify_pkcs1("-sha256", path(&pubkey), path(&sig), path(&data));
    assert!(ok, "{text}");
    let wrong = s
        .post("/selftest/api/sign", &own, "", r#"{"pin":"975310"}"#)
        .json();
    assert_eq!(wrong["error"]["code"], "PIN_INCORRECT");
    assert_eq!(wrong["error"]["retriesLeft"], 2);
    assert_eq!(
        s.post("/selftest/api/sign", TRUSTED, "", r#"{"pin":"123456"}"#)
            .status,
        403
    );
    // A request with no Origin and no browser's word that it is same-origin is nobody's: a
    // local program, or a hostile page's no-cors request.
    assert_eq!(s.get("/selftest/api/status", None).status, 403);
    // The live event stream opens with a comment line. The page's EventSource is a
    // same-origin GET: no Origin header, but the browser's Sec-Fetch-Site says it is ours.
    let mut stream = TcpStream::connect(("127.0.0.1", s.port)).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(
            format!(
                "GET /selftest/api/events HTTP/1.1\r\nHost: localhost:{}\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-Mode: cors\r\n\r\n",
                s.port
            )
            .as_bytes(),
        )
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b": card-agent events\n\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(
        head.contains("text/event-stream") && head.ends_with(": card-agent events\n\n"),
        "{head}"
    );
}
