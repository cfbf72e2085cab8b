//! Request parsing, response and event shapes.

use serde_json::{json, Value};

use super::*;
use crate::types::Certificate;
use crate::{ErrorCode, SecretString};

const THUMB: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
/// base64 of 32 bytes: a valid SHA-256 digest and a minimal nonce.
const B64_32: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

fn parse(v: Value) -> Result<Request, InvalidRequest> {
    parse_request(v.to_string().as_bytes())
}

fn err(v: Value) -> InvalidRequest {
    parse(v).expect_err("request should be refused")
}

fn req(command: &str, arguments: Value) -> Value {
    json!({"id": 7, "command": command, "arguments": arguments})
}

fn sign_args(extra: Value) -> Value {
    let mut args = json!({
        "certificate": THUMB,
        "hash": B64_32,
        "hashAlgorithm": "SHA-256",
        "format": "pkcs1",
    });
    for (k, v) in extra.as_object().unwrap() {
        if v.is_null() {
            args.as_object_mut().unwrap().remove(k);
        } else {
            args[k] = v.clone();
        }
    }
    args
}

#[test]
fn every_command_parses_and_round_trips() {
    let commands = [
        Command::Version,
        Command::Status,
        Command::GetCertificates,
        Command::VerifyPin(VerifyPinArgs {
            token: Some("0000000012345678".into()),
            pin: Some(SecretString::from("123456")),
        }),
        Command::VerifyPin(VerifyPinArgs::default()),
        Command::Sign(SignArgs {
            certificate: THUMB.into(),
            hash: Some(B64_32.into()),
            data: None,
            hash_algorithm: HashAlgorithm::Sha256,
            format: SignatureFormat::Cms,
            nonce: Some(B64_32.into()),
            pin: None,
        }),
        Command::Sign(SignArgs {
            certificate: THUMB.into(),
            hash: None,
            data: Some("aGVsbG8=".into()),
            hash_algorithm: HashAlgorithm::Sha512,
            format: SignatureFormat::CmsAttached,
            nonce: None,
            pin: Some("1234".into()),
        }),
        Command::Authenticate(AuthenticateArgs {
            challenge_nonce: B64_32.into(),
            certificate: Some(THUMB.into()),
            pin: None,
        }),
        Command::Subscribe,
        Command::Unsubscribe,
        Command::LegacyRequest(LegacyRequestArgs {
            method: "POST".into(),
            path: "/sign".into(),
            body: Some(SecretString::from("tbsPackage=%7B%7D")),
        }),
        Command::SelfTestSign(SelfTestSignArgs {
            certificate: Some(THUMB.into()),
            pin: None,
        }),
        Command::EnvironmentCheck,
        Command::TrustedSites,
        Command::RemoveTrustedSite(RemoveTrustedSiteArgs {
            site: "https://example.gov.tw".into(),
        }),
        Command::SmartPkiOpen,
        Command::SmartPkiCall(super::SmartPkiCallArgs {
            port: 12_345_678,
            request: "sign".into(),
            cmd: Some("Initial".into()),
            solt_index: Some(-1),
            driver_type: Some(1),
            style: Some(0x140),
            ..super::SmartPkiCallArgs::default()
        }),
        Command::SmartPkiCall(super::SmartPkiCallArgs {
            port: 12_345_678,
            request: "sign".into(),
            cmd: Some("Sign".into()),
            pin: Some("ab12".repeat(128).into()),
            sign_time: Some(0),
            ..super::SmartPkiCallArgs::default()
        }),
        Command::SmartPkiClose(super::SmartPkiCloseArgs { port: 12_345_678 }),
    ];
    for (i, command) in commands.into_iter().enumerate() {
        assert!(COMMAND_NAMES.contains(&command.name()));
        let request = Request::new(i as i64, command).with_origin("https://example.gov.tw");
        let bytes = request.to_json().unwrap();
        assert_eq!(parse_request(&bytes).unwrap(), request, "{request:?}");
        // Local clients send no origin.
        let local = Request {
            origin: None,
            ..request
        };
        assert_eq!(parse_request(&local.to_json().unwrap()).unwrap(), local);
    }
}

#[test]
fn smartpki_calls_are_bounded_and_typed() {
    let call = |args: Value| parse(req("smartpki-call", args));
    assert!(call(json!({"port": 5, "request": "info"})).is_ok());
    let e = call(json!({"request": "info"})).unwrap_err();
    assert_eq!(e.error.to_string(), "missing field `arguments.port`");
    let e = call(json!({"port": 0, "request": "info"})).unwrap_err();
    assert!(
        e.error.to_string().contains("positive integer"),
        "{}",
        e.error
    );
    let e = call(json!({"port": 5, "request": "sign", "style": "64"})).unwrap_err();
    assert_eq!(
        e.error.to_string(),
        "`arguments.style` must be an integer, not a string"
    );
    let e = call(json!({"port": 5, "request": "sign", "signTime": 1.5})).unwrap_err();
    assert!(e.error.to_string().contains("integer"), "{}", e.error);
    let pin = "1".repeat(super::MAX_SMARTPKI_PIN_CHARS + 1);
    let e = call(json!({"port": 5, "request": "sign", "pin": pin})).unwrap_err();
    assert!(
        !e.error.to_string().contains("1111"),
        "the PIN is never echoed"
    );
    let e = call(json!({"port": 5, "request": "sign", "data": "x"})).unwrap_err();
    assert!(e
        .error
        .to_string()
        .starts_with("unknown field `arguments.data`"));
    let e = parse(req("smartpki-close", json!({"port": 5, "x": 1}))).unwrap_err();
    assert!(e
        .error
        .to_string()
        .starts_with("unknown field `arguments.x`"));
    let reply = super::SmartPkiReply::error(9008, "wrong PIN");
    assert_eq!(
        serde_json::to_value(&reply).unwrap(),
        json!({"errorCode": 9008, "errorMessage": "wrong PIN"})
    );
}

#[test]
fn remove_trusted_site_needs_one_printable_site() {
    let ok = parse(req(
        "remove-trusted-site",
        json!({"site": "https://a.gov.tw"}),
    ))
    .unwrap();
    assert_eq!(
        ok.command,
        Command::RemoveTrustedSite(RemoveTrustedSiteArgs {
            site: "https://a.gov.tw".into()
        })
    );
    let field = |v: Value| err(v).error.to_error_body().field;
    let path = Some("arguments.site".to_owned());
    assert_eq!(field(req("remove-trusted-site", json!({}))), path);
    assert_eq!(field(req("remove-trusted-site", json!({"site": ""}))), path);
    assert_eq!(
        field(req("remove-trusted-site", json!({"site": "https://a b"}))),
        path
    );
    assert_eq!(field(req("remove-trusted-site", json!({"site": 1}))), path);
    let long = format!("https://{}.tw", "a".repeat(600));
    assert_eq!(
        field(req("remove-trusted-site", json!({"site": long}))),
        path
    );
    let stray = err(req(
        "remove-trusted-site",
        json!({"site": "https://a.gov.tw", "x": 1}),
    ));
    assert_eq!(
        stray.error.to_error_body().field.as_deref(),
        Some("arguments.x")
    );
    assert!(
        err(req("trusted-sites", json!({"site": "https://a.gov.tw"})))
            .error
            .to_string()
            .contains("arguments")
    );
}

#[test]
fn argument_structs_also_read_with_plain_serde() {
    let args: SignArgs = serde_json::from_value(sign_args(json!({}))).unwrap();
    assert_eq!(args.hash_algorithm, HashAlgorithm::Sha256);
    let stray = serde_json::from_value::<VerifyPinArgs>(json!({"pin": "1", "x": 1}));
    assert!(stray.is_err(), "deny_unknown_fields");
}

#[test]
fn ids_string_or_integer_and_echoed() {
    assert_eq!(
        parse(json!({"id": "abc", "command": "version"}))
            .unwrap()
            .id,
        RequestId::String("abc".into())
    );
    assert_eq!(
        parse(json!({"id": -5, "command": "version"})).unwrap().id,
        RequestId::Number(-5)
    );
    assert!(parse(json!({"id": "x".repeat(MAX_ID), "command": "version"})).is_ok());

    let e = err(json!({"id": "x".repeat(MAX_ID + 1), "command": "version"}));
    assert_eq!(e.id, None);
    assert_eq!(e.error.to_string(), "`id` is longer than 128 characters");
    let e = err(json!({"id": 1.5, "command": "version"}));
    assert_eq!(e.error.field(), Some("id"));
    let e = err(json!({"id": u64::MAX, "command": "version"}));
    assert!(matches!(e.error, RequestError::InvalidValue { .. }));
    let e = err(json!({"id": true, "command": "version"}));
    assert_eq!(
        e.error.to_string(),
        "`id` must be a string or an integer, not a boolean"
    );
    let e = err(json!({"command": "version"}));
    assert_eq!(e.error.to_string(), "missing field `id`");
    assert_eq!(
        e.to_response().to_json().unwrap(),
        br#"{"id":null,"error":{"code":"BAD_REQUEST","message":"missing field `id`","field":"id"}}"#
    );
}

const MAX_ID: usize = limits::MAX_ID_CHARS;

#[test]
fn not_utf8_not_json_not_object() {
    let e = parse_request(b"{\"id\":1,\"command\":\"\xff\"}").unwrap_err();
    assert_eq!(e.error, RequestError::NotUtf8 { offset: 19 });
    assert_eq!(e.id, None);
    let e = parse_request(b"{\"id\":1,").unwrap_err();
    assert!(matches!(e.error, RequestError::InvalidJson { .. }));
    assert!(e
        .error
        .to_string()
        .starts_with("the message is not valid JSON"));
    let e = parse_request(b"[1,2]").unwrap_err();
    assert_eq!(e.error, RequestError::NotAnObject { found: "an array" });
    let e = parse_request(b"").unwrap_err();
    assert!(matches!(e.error, RequestError::InvalidJson { .. }));
}

#[test]
fn duplicate_keys_are_refused_at_any_depth() {
    let e = parse_request(br#"{"id":1,"id":2,"command":"version"}"#).unwrap_err();
    assert!(e.error.to_string().contains("duplicate key `id`"), "{e}");
    let e =
        parse_request(br#"{"id":1,"command":"verify-pin","arguments":{"token":"a","token":"b"}}"#)
            .unwrap_err();
    assert!(e.error.to_string().contains("duplicate key `token`"), "{e}");
}

#[test]
fn unknown_top_level_field_keeps_the_id() {
    let e = err(json!({"id": "r1", "command": "version", "extra": 1}));
    assert_eq!(e.id, Some(RequestId::String("r1".into())));
    assert_eq!(
        e.error.to_string(),
        "unknown field `extra` (allowed: id, command, origin, arguments)"
    );
    let response = serde_json::to_value(e.to_response()).unwrap();
    assert_eq!(response["id"], "r1");
    assert_eq!(response["error"]["code"], "BAD_REQUEST");
    assert_eq!(response["error"]["field"], "extra");
}

#[test]
fn caller_chosen_names_are_shortened_and_sanitised() {
    let long = format!("a\n{}", "b".repeat(500));
    let e = err(json!({"id": 1, "command": long}));
    let text = e.error.to_string();
    assert!(!text.contains('\n') && text.len() < 400, "{text}");
    assert!(text.starts_with("unknown command `a\u{fffd}bbb"), "{text}");
}

#[test]
fn command_problems() {
    assert_eq!(
        err(json!({"id": 1})).error.to_string(),
        "missing field `command`"
    );
    assert_eq!(
        err(json!({"id": 1, "command": 3})).error.to_string(),
        "`command` must be a string, not a number"
    );
    let e = err(json!({"id": 1, "command": "format-disk"}));
    assert_eq!(
        e.error.to_string(),
        "unknown command `format-disk` (known: version, status, get-certificates, verify-pin, \
         sign, authenticate, subscribe, unsubscribe, legacy-request, self-test-sign, \
         environment-check, trusted-sites, remove-trusted-site, smartpki-open, smartpki-call, \
         smartpki-close)"
    );
    assert_eq!(e.error.field(), Some("command"));
    assert_eq!(e.id, Some(RequestId::Number(1)));
}

#[test]
fn origin_problems() {
    let base = |origin: Value| json!({"id": 1, "command": "status", "origin": origin});
    assert_eq!(parse(base(Value::Null)).unwrap().origin, None);
    assert_eq!(
        err(base(json!(5))).error.to_string(),
        "`origin` must be a string, not a number"
    );
    for bad in [
        "",
        "https://exa mple.gov.tw",
        "https://例子.tw",
        "https://x\u{7}",
    ] {
        let e = err(base(json!(bad)));
        assert_eq!(e.error.field(), Some("origin"), "{bad}");
        assert!(
            matches!(e.error, RequestError::InvalidValue { .. }),
            "{bad}"
        );
    }
    let long = format!("https://{}", "a".repeat(600));
    assert!(matches!(
        err(base(json!(long))).error,
        RequestError::TooLong { max_chars: 512, .. }
    ));
}

#[test]
fn arguments_must_be_an_object_and_exact() {
    assert_eq!(
        err(req("status", json!([]))).error.to_string(),
        "`arguments` must be an object, not an array"
    );
    assert!(parse(req("status", json!({}))).is_ok());
    assert!(parse(req("status", Value::Null)).is_ok());
    assert_eq!(
        err(req("version", json!({"verbose": true})))
            .error
            .to_string(),
        "unknown field `arguments.verbose` (no fields are allowed here)"
    );
    assert_eq!(
        err(req("verify-pin", json!({"pim": "1"})))
            .error
            .to_string(),
        "unknown field `arguments.pim` (allowed: token, pin)"
    );
    // Wire names are camelCase only.
    let e = err(req("sign", sign_args(json!({"hash_algorithm": "SHA-256"}))));
    assert_eq!(e.error.field(), Some("arguments.hash_algorithm"));
}

#[test]
fn pins_never_appear_in_errors_or_debug_output() {
    let e = err(req("verify-pin", json!({"pin": 987654})));
    assert_eq!(
        e.error.to_string(),
        "`arguments.pin` must be a string, not a number"
    );
    let e = err(req("verify-pin", json!({"pin": "9".repeat(65)})));
    assert_eq!(
        e.error.to_string(),
        "`arguments.pin` is longer than 64 characters"
    );
    assert!(!format!("{e:?}").contains("999999"));

    let r = parse(req("verify-pin", json!({"pin": "987654"}))).unwrap();
    assert!(!format!("{r:?}").contains("987654"), "{r:?}");
    let r = parse(req("sign", sign_args(json!({"pin": "987654"})))).unwrap();
    assert!(!format!("{r:?}").contains("987654"), "{r:?}");
    let r = parse(req(
        "authenticate",
        json!({"challengeNonce": B64_32, "pin": "987654"}),
    ))
    .unwrap();
    assert!(!format!("{r:?}").contains("987654"), "{r:?}");
    let Command::Authenticate(args) = r.command else {
        panic!("wrong command")
    };
    assert_eq!(args.pin.unwrap().into_inner(), "987654");
}

#[test]
fn verify_pin_bounds() {
    let e = err(req("verify-pin", json!({"token": "x".repeat(65)})));
    assert_eq!(e.error.field(), Some("arguments.token"));
    let r = parse(req("verify-pin", json!({"token": null, "pin": null}))).unwrap();
    assert_eq!(r.command, Command::VerifyPin(VerifyPinArgs::default()));
}

#[test]
fn sign_required_fields() {
    for field in ["certificate", "hashAlgorithm", "format"] {
        let e = err(req("sign", sign_args(json!({ field: null }))));
        assert_eq!(
            e.error.to_string(),
            format!("missing field `arguments.{field}`")
        );
    }
}

#[test]
fn sign_thumbprint_checked_and_normalised() {
    let r = parse(req(
        "sign",
        sign_args(json!({"certificate": THUMB.to_uppercase()})),
    ))
    .unwrap();
    let Command::Sign(args) = r.command else {
        panic!("wrong command")
    };
    assert_eq!(args.certificate, THUMB);
    for bad in [&THUMB[..40], &format!("{}zz", &THUMB[..62])] {
        let e = err(req("sign", sign_args(json!({ "certificate": bad }))));
        assert_eq!(
            e.error.to_string(),
            "`arguments.certificate` must be the certificate's SHA-256 thumbprint: 64 \
             hexadecimal digits"
        );
    }
}

#[test]
fn sign_exactly_one_of_hash_and_data() {
    let e = err(req("sign", sign_args(json!({"data": "aGk="}))));
    assert_eq!(
        e.error.to_string(),
        "exactly one of `arguments.hash` and `arguments.data` must be given"
    );
    let e = err(req("sign", sign_args(json!({"hash": null}))));
    assert!(matches!(e.error, RequestError::ExactlyOneOf { .. }));
    let r = parse(req(
        "sign",
        sign_args(json!({"hash": null, "data": "aGVsbG8"})),
    ))
    .unwrap();
    let Command::Sign(args) = r.command else {
        panic!("wrong command")
    };
    assert_eq!(args.input().unwrap(), SignInput::Data(b"hello".to_vec()));
}

#[test]
fn sign_hash_checked_against_algorithm() {
    let e = err(req("sign", sign_args(json!({"hashAlgorithm": "SHA-384"}))));
    assert_eq!(
        e.error.to_string(),
        "`arguments.hash` decodes to 32 bytes, but a SHA-384 digest is 48 bytes"
    );
    let e = err(req("sign", sign_args(json!({"hash": "***"}))));
    assert_eq!(e.error.field(), Some("arguments.hash"));
    let e = err(req("sign", sign_args(json!({"hashAlgorithm": "sha256"}))));
    assert_eq!(
        e.error.to_string(),
        "`arguments.hashAlgorithm` must be one of SHA-1, SHA-256, SHA-384, SHA-512"
    );
    for &alg in HashAlgorithm::ALL {
        assert_eq!(HashAlgorithm::from_wire(alg.as_str()), Some(alg));
        let json = serde_json::to_string(&alg).unwrap();
        assert_eq!(json, format!("\"{}\"", alg.as_str()));
    }
    let sha1 = crate::encoding::encode_base64(&[1; 20]);
    let r = parse(req(
        "sign",
        sign_args(json!({"hashAlgorithm": "SHA-1", "hash": sha1})),
    ))
    .unwrap();
    let Command::Sign(args) = r.command else {
        panic!("wrong command")
    };
    assert_eq!(args.input().unwrap(), SignInput::Hash(vec![1; 20]));
}

#[test]
fn sign_format_rules() {
    let e = err(req("sign", sign_args(json!({"format": "pkcs7"}))));
    assert_eq!(
        e.error.to_string(),
        "`arguments.format` must be one of pkcs1, cms, cms-attached"
    );
    let e = err(req("sign", sign_args(json!({"format": "cms-attached"}))));
    assert_eq!(e.error.field(), Some("arguments.hash"));
    assert!(e.error.to_string().contains("send `data` instead"));
    let e = err(req("sign", sign_args(json!({"hash": null, "data": ""}))));
    assert_eq!(e.error.to_string(), "`arguments.data` must not be empty");
    let e = err(req("sign", sign_args(json!({"nonce": "%%%"}))));
    assert_eq!(e.error.field(), Some("arguments.nonce"));
    let e = err(req("sign", sign_args(json!({"nonce": "A".repeat(1025)}))));
    assert!(matches!(
        e.error,
        RequestError::TooLong {
            max_chars: 1024,
            ..
        }
    ));
}

#[test]
fn sign_args_debug_summarises_data() {
    let args = SignArgs {
        certificate: THUMB.into(),
        hash: None,
        data: Some("A".repeat(10_000)),
        hash_algorithm: HashAlgorithm::Sha256,
        format: SignatureFormat::Pkcs1,
        nonce: None,
        pin: Some("24680".into()),
    };
    let debug = format!("{args:?}");
    assert!(
        debug.contains("<10000 base64 chars>") && debug.len() < 500,
        "{debug}"
    );
    assert!(!debug.contains("24680"));
}

#[test]
fn authenticate_nonce_rules() {
    let e = err(req("authenticate", json!({})));
    assert_eq!(
        e.error.to_string(),
        "missing field `arguments.challengeNonce`"
    );
    let e = err(req("authenticate", json!({"challengeNonce": null})));
    assert_eq!(
        e.error.to_string(),
        "`arguments.challengeNonce` must be a string, not null"
    );
    let short = crate::encoding::encode_base64(&[9; 16]);
    let e = err(req("authenticate", json!({"challengeNonce": short})));
    assert_eq!(
        e.error.to_string(),
        "`arguments.challengeNonce` the challenge nonce carries 128 bits; at least 256 random \
         bits are required"
    );
    let e = err(req(
        "authenticate",
        json!({"challengeNonce": "A".repeat(2000)}),
    ));
    assert!(matches!(
        e.error,
        RequestError::TooLong {
            max_chars: 1024,
            ..
        }
    ));
    let e = err(req(
        "authenticate",
        json!({"challengeNonce": B64_32, "certificate": "abc"}),
    ));
    assert_eq!(e.error.field(), Some("arguments.certificate"));
    // URL-safe, unpadded nonces are fine.
    let url_safe = B64_32.replace('+', "-").replace('/', "_");
    assert!(parse(req(
        "authenticate",
        json!({"challengeNonce": url_safe.trim_end_matches('=')})
    ))
    .is_ok());
}

#[test]
fn response_shapes() {
    let ok = Response::ok(RequestId::from(3), json!({"verified": true}));
    assert_eq!(
        ok.to_json().unwrap(),
        br#"{"id":3,"result":{"verified":true}}"#
    );
    let e = Response::error(
        RequestId::from("a"),
        ErrorBody::new(ErrorCode::PinIncorrect, "The PIN is incorrect.").with_retries_left(2),
    );
    assert_eq!(
        serde_json::to_value(&e).unwrap(),
        json!({"id": "a", "error": {"code": "PIN_INCORRECT", "message": "The PIN is incorrect.",
               "retriesLeft": 2}})
    );
    let unknown = Response::error(
        None,
        ErrorBody::from_code(ErrorCode::UnknownCard, crate::Language::En).with_atr("3B8F"),
    );
    let v = serde_json::to_value(&unknown).unwrap();
    assert_eq!(v["id"], Value::Null);
    assert_eq!(v["error"]["atr"], "3B8F");
    assert!(unknown.is_error() && !ok.is_error());

    // Clients can read responses back, and a response with both bodies is refused.
    for r in [ok, e, unknown] {
        let back: Response = serde_json::from_slice(&r.to_json().unwrap()).unwrap();
        assert_eq!(back, r);
    }
    assert!(serde_json::from_value::<Response>(
        json!({"id": 1, "result": {}, "error": {"code": "INTERNAL", "message": "x"}})
    )
    .is_err());
}

#[test]
fn typed_results() {
    let v = serde_json::to_value(Response::result(
        RequestId::from(1),
        &VersionResult::new("0.1.0"),
    ))
    .unwrap();
    assert_eq!(
        v["result"],
        json!({"version": "0.1.0", "protocol": 1, "name": "card-agent"})
    );
    let sign = SignResult {
        signature: "c2ln".into(),
        format: SignatureFormat::CmsAttached,
        certificate: "Y2VydA==".into(),
    };
    assert_eq!(
        serde_json::to_value(sign).unwrap(),
        json!({"signature": "c2ln", "format": "cms-attached", "certificate": "Y2VydA=="})
    );
    assert_eq!(
        serde_json::to_value(VerifyPinResult { verified: true }).unwrap(),
        json!({"verified": true})
    );
    assert_eq!(
        serde_json::to_value(SubscriptionResult { subscribed: false }).unwrap(),
        json!({"subscribed": false})
    );
    let sites = TrustedSitesResult {
        sites: vec![TrustedSite {
            origin: "https://example.gov.tw".into(),
            approved_at: "2025-01-31T08:00:00Z".into(),
        }],
        configured: vec!["https://*.gov.tw".into()],
    };
    assert_eq!(
        serde_json::to_value(&sites).unwrap(),
        json!({"sites": [{"origin": "https://example.gov.tw", "approvedAt": "2025-01-31T08:00:00Z"}],
               "configured": ["https://*.gov.tw"]})
    );
    assert_eq!(
        serde_json::to_value(RemoveTrustedSiteResult { removed: true }).unwrap(),
        json!({"removed": true})
    );
    let status = serde_json::to_value(StatusResult::default()).unwrap();
    assert_eq!(status, json!({"readers": [], "tokens": [], "modules": []}));

    let certs = CertificatesResult {
        certificates: vec![TokenCertificate {
            token_serial: "0000000012345678".into(),
            certificate: sample_certificate(),
        }],
    };
    let v = serde_json::to_value(&certs).unwrap();
    assert_eq!(v["certificates"][0]["tokenSerial"], "0000000012345678");
    assert_eq!(v["certificates"][0]["cardFamily"], "MOICA");
    let back: CertificatesResult = serde_json::from_value(v).unwrap();
    assert_eq!(back, certs);
}

fn sample_certificate() -> Certificate {
    Certificate {
        subject: "C=TW, CN=王小明, serialNumber=0000000112831644".into(),
        subject_cn: Some("王小明".into()),
        issuer: "C=TW, O=行政院, OU=內政部憑證管理中心".into(),
        serial: "01AB".into(),
        not_before: "2024-01-01T00:00:00Z".into(),
        not_after: "2029-01-01T00:00:00Z".into(),
        days_to_expiry: 1000,
        key_usage: vec!["digitalSignature".into()],
        key_algorithm: "RSA-2048".into(),
        sha1: "00".repeat(20),
        sha256: THUMB.into(),
        pkcs11_id: "01".into(),
        pkcs11_label: "auth".into(),
        card_family: "MOICA".into(),
        id_last4: Some("6789".into()),
        business_number: None,
        organisation_code: None,
        has_private_key: true,
        der_base64: "MA==".into(),
    }
}

#[test]
fn oversized_responses_become_errors_with_the_same_id() {
    let big = Response::ok(RequestId::from(9), json!({"blob": "x".repeat(1_000_000)}));
    let framed = big.frame_for_browser();
    let payload = &framed[4..];
    assert_eq!(
        u32::from_ne_bytes(framed[..4].try_into().unwrap()) as usize,
        payload.len()
    );
    let v: Value = serde_json::from_slice(payload).unwrap();
    assert_eq!(v["id"], 9);
    assert_eq!(v["error"]["code"], "INTERNAL");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("too large"));
    // The same response still fits the IPC limit.
    assert_eq!(&big.frame()[4..], big.to_json().unwrap());
}

#[test]
fn events() {
    let inserted = Event::CardInserted {
        reader: "Generic USB Reader 00 00".into(),
        atr: "3BBE9600004103000000000000000000029000".into(),
        card_family: "MOICA".into(),
    };
    assert_eq!(
        serde_json::to_value(inserted.clone().into_message()).unwrap(),
        json!({"event": {"type": "card-inserted", "reader": "Generic USB Reader 00 00",
               "atr": "3BBE9600004103000000000000000000029000", "cardFamily": "MOICA"}})
    );
    let others = [
        Event::CardRemoved { reader: "r".into() },
        Event::ReaderAdded { reader: "r".into() },
        Event::ReaderRemoved { reader: "r".into() },
    ];
    for e in others {
        let v = serde_json::to_value(e.clone().into_message()).unwrap();
        assert_eq!(v, json!({"event": {"type": e.kind(), "reader": "r"}}));
        assert_eq!(e.reader(), "r");
    }
    let bytes = inserted.clone().into_message().to_json().unwrap();
    assert_eq!(
        ServerMessage::parse(&bytes).unwrap(),
        ServerMessage::Event(inserted)
    );
    let response = Response::ok(RequestId::from(1), json!({}));
    assert_eq!(
        ServerMessage::parse(&response.to_json().unwrap()).unwrap(),
        ServerMessage::Response(response)
    );
}

#[test]
fn every_request_error_maps_to_bad_request() {
    let samples = [
        parse_request(b"\xff").unwrap_err(),
        parse_request(b"nope").unwrap_err(),
        err(json!(1)),
        err(json!({"id": 1, "command": "sign"})),
        err(json!({"id": 1, "command": "x"})),
    ];
    for e in samples {
        assert_eq!(e.error.code(), ErrorCode::BadRequest);
        let body = e.error.to_error_body();
        assert_eq!(body.code, ErrorCode::BadRequest);
        assert_eq!(body.message, e.error.to_string());
    }
}

/// The README's examples are part of the contract: each JSON block must parse as what it
/// shows, and every error code and command must be documented.
#[test]
fn readme_examples_parse_and_cover_every_code_and_command() {
    let readme = include_str!("../../README.md");
    let mut blocks = 0;
    for block in readme.split("```json\n").skip(1) {
        let text = block.split("```").next().unwrap();
        let value: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        blocks += 1;
        if value.get("command").is_some() {
            parse_request(text.as_bytes()).unwrap_or_else(|e| panic!("{e}: {text}"));
        } else if value.get("format").is_some() {
            serde_json::from_value::<crate::auth::AuthToken>(value).unwrap();
        } else {
            let message = ServerMessage::parse(text.as_bytes()).unwrap();
            if let ServerMessage::Response(Response {
                body: ResponseBody::Result(result),
                ..
            }) = message
            {
                if result.get("certificates").is_some() {
                    serde_json::from_value::<CertificatesResult>(result).unwrap();
                } else if result.get("sites").is_some() {
                    serde_json::from_value::<TrustedSitesResult>(result).unwrap();
                } else if result.get("readers").is_some() {
                    serde_json::from_value::<StatusResult>(result).unwrap();
                }
            }
        }
    }
    assert!(blocks >= 20, "only {blocks} JSON examples found");
    for code in ErrorCode::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", code.as_str())),
            "{code} is not documented"
        );
    }
    for name in COMMAND_NAMES {
        assert!(
            readme.contains(&format!("`{name}`")),
            "{name} is not documented"
        );
        assert!(
            readme.contains(&format!("\"command\": \"{name}\"")),
            "{name} has no example"
        );
    }
}
