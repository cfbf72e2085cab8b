//! Distinguished names as text, and attribute look-up.

use der::asn1::ObjectIdentifier;
use der::{Encode, Tag, Tagged};
use x509_cert::name::Name;

/// commonName.
pub(super) const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
/// serialNumber.
pub(super) const SERIAL_NUMBER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.5");
/// organizationalUnitName.
pub(super) const OU: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.11");

/// Short names for the attributes found in Taiwan's government certificates; others are
/// shown by OID.
const SHORT_NAMES: &[(&str, &str)] = &[
    ("2.5.4.3", "CN"),
    ("2.5.4.4", "SN"),
    ("2.5.4.5", "serialNumber"),
    ("2.5.4.6", "C"),
    ("2.5.4.7", "L"),
    ("2.5.4.8", "ST"),
    ("2.5.4.10", "O"),
    ("2.5.4.11", "OU"),
    ("2.5.4.12", "title"),
    ("2.5.4.42", "GN"),
    ("1.2.840.113549.1.9.1", "emailAddress"),
    ("0.9.2342.19200300.100.1.25", "DC"),
];

/// The name in certificate order, `C=TW, O=行政院, OU=內政部憑證管理中心`, the same reading
/// order the agent's `types::Certificate::subject` uses. `,`, `+`, `=` and `\` in values are
/// escaped with `\` so the string cannot be mistaken for a different name.
pub(super) fn display(name: &Name) -> String {
    name.0
        .iter()
        .map(|rdn| {
            rdn.0
                .iter()
                .map(|atv| {
                    let oid = atv.oid.to_string();
                    let key = SHORT_NAMES
                        .iter()
                        .find(|(o, _)| *o == oid)
                        .map_or(oid.clone(), |(_, short)| (*short).to_owned());
                    format!("{key}={}", escape(&value_text(&atv.value)))
                })
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every value of the attribute `oid`, in certificate order.
pub(super) fn attribute_values(name: &Name, oid: ObjectIdentifier) -> Vec<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == oid)
        .map(|atv| value_text(&atv.value))
        .collect()
}

/// A directory string as text. Government certificates use UTF8String for Chinese and
/// PrintableString for codes; older ones may use BMPString. Anything else is shown as `#`
/// and the DER in hex, as RFC 4514 does.
fn value_text(value: &der::Any) -> String {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::VisibleString => {
            String::from_utf8_lossy(bytes).into_owned()
        }
        // T.61 is close enough to Latin-1 for the names that use it.
        Tag::TeletexString => bytes.iter().map(|&b| char::from(b)).collect(),
        Tag::BmpString => {
            let units: Vec<u16> = bytes
                .chunks(2)
                .map(|c| u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        _ => {
            let der = value.to_der().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("#{hex}")
        }
    }
}

fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            ',' | '+' | '=' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}
