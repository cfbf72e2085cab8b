//! Checking a document signed in the page: a detached CMS SignedData over the document's UTF-8
//! bytes, verified by `openssl cms -verify` against the site's trusted CAs. openssl, not
//! card-agent's own code, is the judge: an independent implementation.

use base64::Engine as _;
use card_agent_card::certificate::CertificateInfo;
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::login::User;
use crate::trust::{self, Trust};

/// What the sign page posts.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignedDocument {
    /// The document as the person saw it.
    data: String,
    /// base64 of the CMS SignedData (DER), from the page library's `sign`.
    signature: String,
}

/// Verifies a posted document and says who signed it.
pub async fn verify_request(
    body: &[u8],
    trust: &Trust,
    user: Option<&User>,
) -> (StatusCode, Value) {
    let refuse = |status, reason: &str, message: String| {
        (
            status,
            json!({ "ok": false, "reason": reason, "message": message }),
        )
    };
    let document: SignedDocument = match serde_json::from_slice(body) {
        Ok(d) => d,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, "malformed", format!("{e}")),
    };
    let Ok(signature) = base64::engine::general_purpose::STANDARD.decode(&document.signature)
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "malformed",
            "signature is not base64".to_owned(),
        );
    };
    match openssl_verify(document.data.as_bytes(), &signature, trust).await {
        Ok(signer) => {
            let same = match (
                user.and_then(|u| u.serial_number.as_deref()),
                &signer.subject_serial_number,
            ) {
                (Some(a), Some(b)) => Some(a == b),
                _ => None,
            };
            (
                StatusCode::OK,
                json!({
                    "ok": true,
                    "signer": {
                        "name": signer.holder_name(),
                        "cardFamily": signer.family.as_str(),
                        "subject": signer.subject,
                        "issuer": signer.issuer,
                    },
                    "sameAsLoggedIn": same,
                }),
            )
        }
        Err(Failure::Rejected(why)) => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, "invalid-signature", why)
        }
        Err(Failure::Internal(why)) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "internal", why),
    }
}

enum Failure {
    /// openssl says no.
    Rejected(String),
    /// We could not ask it.
    Internal(String),
}

/// Runs `openssl cms -verify` on the detached signature and returns the signer's certificate.
async fn openssl_verify(
    data: &[u8],
    signature: &[u8],
    trust: &Trust,
) -> Result<CertificateInfo, Failure> {
    let internal = |e: std::io::Error| Failure::Internal(e.to_string());
    let dir = tempfile::tempdir_in(trust.scratch_dir()).map_err(internal)?;
    let content = dir.path().join("document.txt");
    let cms = dir.path().join("signature.p7s");
    let signer = dir.path().join("signer.pem");
    std::fs::write(&content, data).map_err(internal)?;
    std::fs::write(&cms, signature).map_err(internal)?;
    let out = tokio::process::Command::new("openssl")
        .args(["cms", "-verify", "-binary", "-inform", "DER", "-in"])
        .arg(&cms)
        .arg("-content")
        .arg(&content)
        .arg("-CAfile")
        .arg(trust.bundle())
        // Card certificates carry no S/MIME extended key usage; the chain and signature are
        // what is checked here.
        .args(["-purpose", "any", "-out", "/dev/null", "-signer"])
        .arg(&signer)
        .output()
        .await
        .map_err(|e| Failure::Internal(format!("cannot run openssl: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("verification failed");
        return Err(Failure::Rejected(format!("openssl: {}", first.trim())));
    }
    let pem = std::fs::read(&signer).map_err(internal)?;
    let der = trust::first_certificate(&pem)
        .ok_or_else(|| Failure::Internal("openssl wrote no signer certificate".to_owned()))?;
    CertificateInfo::parse(&der).map_err(|e| Failure::Internal(e.to_string()))
}
