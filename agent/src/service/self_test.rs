//! The self-test's "sign and verify": the card signs a sample text, and the agent checks the
//! signature with the certificate's public key before anyone else does (the self-test page then
//! checks it again, independently, with WebCrypto).

use base64::Engine as _;
use card_agent_protocol::message::SelfTestSignResult;
use card_agent_protocol::SecretString;

use super::{Caller, Service, SignRequest};
use crate::error::Result;
use crate::signer::{self, CmsOptions, HashAlgorithm, SignFormat, SignInput};

impl Service {
    /// Signs a sample text with the chosen (or only) signing certificate and verifies it. For the
    /// user's own tools only: a web page's request is refused.
    pub fn self_test_sign(
        &self,
        caller: &Caller,
        certificate: Option<String>,
        pin: Option<SecretString>,
    ) -> Result<SelfTestSignResult> {
        caller.require_own()?;
        let data = format!(
            "card-agent 自我測試 self-test {}",
            crate::inventory::rfc3339(crate::inventory::now_unix())
        )
        .into_bytes();
        let out = self.sign(
            caller,
            SignRequest {
                certificate,
                input: SignInput::Data(data.clone()),
                hash: HashAlgorithm::Sha256,
                format: SignFormat::Pkcs1,
                cms: CmsOptions::default(),
                pin,
                slot_description: None,
                with_card_serial: false,
                check_validity: false,
            },
        )?;
        let agent_verified = signer::verify(
            &out.certificate.info,
            HashAlgorithm::Sha256,
            &data,
            &out.signature,
        )?;
        let b64 = base64::engine::general_purpose::STANDARD;
        Ok(SelfTestSignResult {
            data: b64.encode(&data),
            signature: b64.encode(&out.signature),
            certificate: b64.encode(&out.certificate.info.der),
            hash_algorithm: "SHA-256".to_owned(),
            agent_verified,
        })
    }
}
