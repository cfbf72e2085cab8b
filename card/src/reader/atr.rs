//! Recognising a card from its ATR (answer to reset), in one table.
//!
//! An ATR only hints at the card: it names the chip and its operating system, not the CA that
//! issued the certificates on it. The token label and the certificates' issuer have the last
//! word; this table lets the agent say "a MOICA card was inserted" before any PKCS#11 call.

use crate::certificate::CardFamily;

/// ATR of first-generation MOICA citizen cards; the historical bytes spell "CHTMOICA".
pub const MOICA_GEN1_ATR: [u8; 17] = [
    0x3B, 0xB8, 0x13, 0x00, 0x81, 0x31, 0xFA, 0x52, 0x43, 0x48, 0x54, 0x4D, 0x4F, 0x49, 0x43, 0x41,
    0xA5,
];

/// How one row of [`TABLE`] matches an ATR.
enum Pattern {
    /// The whole ATR, byte for byte.
    Exact(&'static [u8]),
    /// These bytes anywhere in the historical bytes.
    HistoricalContains(&'static [u8]),
    /// The historical bytes start with these, possibly after one category-indicator byte
    /// (ISO 7816-4 puts one first; HiCOS cards put ASCII text straight away).
    HistoricalStartsWith(&'static [u8]),
}

/// The recognised cards, first match wins.
///
/// "CHT" (Chunghwa Telecom, maker of the HiCOS chip) alone counts as MOICA: citizen cards are by
/// far the most common HiCOS cards, and the token label or certificate corrects the guess for
/// business and agency cards, whose ATRs are not documented here.
const TABLE: &[(Pattern, CardFamily)] = &[
    (Pattern::Exact(&MOICA_GEN1_ATR), CardFamily::Moica),
    (Pattern::HistoricalContains(b"MOICA"), CardFamily::Moica),
    (Pattern::HistoricalStartsWith(b"CHT"), CardFamily::Moica),
];

/// The card family an ATR suggests; [`CardFamily::Unknown`] when the table does not know it.
pub fn family_from_atr(atr: &[u8]) -> CardFamily {
    let historical = historical_bytes(atr).unwrap_or_default();
    TABLE
        .iter()
        .find(|(pattern, _)| match pattern {
            Pattern::Exact(bytes) => atr == *bytes,
            Pattern::HistoricalContains(needle) => {
                historical.windows(needle.len()).any(|w| w == *needle)
            }
            Pattern::HistoricalStartsWith(prefix) => {
                historical.starts_with(prefix)
                    || historical
                        .get(1..)
                        .is_some_and(|rest| rest.starts_with(prefix))
            }
        })
        .map(|(_, family)| *family)
        .unwrap_or(CardFamily::Unknown)
}

/// The ATR in upper-case hex without spaces, e.g. `3BB81300...`.
pub fn atr_hex(atr: &[u8]) -> String {
    hex::encode_upper(atr)
}

/// The historical bytes of an ATR (ISO 7816-3 §8.2), or `None` if it is too short to have a
/// format byte. A truncated ATR yields the historical bytes it does have.
pub fn historical_bytes(atr: &[u8]) -> Option<&[u8]> {
    // atr[0] is TS, atr[1] is T0: high nibble says which of TA1..TD1 follow, low nibble is K,
    // the number of historical bytes. Each TDi announces the next group the same way.
    let t0 = *atr.get(1)?;
    let count = usize::from(t0 & 0x0F);
    let mut presence = t0 >> 4;
    let mut index = 2;
    loop {
        // TAi, TBi and TCi (bits 0..=2) come before TDi (bit 3).
        index += (presence & 0x07).count_ones() as usize;
        if presence & 0x08 == 0 {
            break;
        }
        let td = *atr.get(index)?;
        index += 1;
        presence = td >> 4;
    }
    let rest = atr.get(index..)?;
    Some(&rest[..count.min(rest.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_generation_moica_is_recognised() {
        assert_eq!(family_from_atr(&MOICA_GEN1_ATR), CardFamily::Moica);
        assert_eq!(historical_bytes(&MOICA_GEN1_ATR), Some(&b"CHTMOICA"[..]));
    }

    #[test]
    fn atr_hex_is_upper_case_without_spaces() {
        assert_eq!(
            atr_hex(&MOICA_GEN1_ATR),
            "3BB813008131FA524348544D4F494341A5"
        );
        assert_eq!(atr_hex(&[]), "");
    }

    #[test]
    fn other_generations_are_recognised_by_historical_bytes() {
        // Same text behind a different interface-byte layout: T0 = 0x88, TD1 = 0x01 (T=1).
        let mut atr = vec![0x3B, 0x88, 0x01];
        atr.extend_from_slice(b"CHTMOICA");
        assert_eq!(historical_bytes(&atr), Some(&b"CHTMOICA"[..]));
        assert_eq!(family_from_atr(&atr), CardFamily::Moica);

        // "CHT" with a category indicator in front and other text after it.
        let mut atr = vec![0x3B, 0x08, 0x80];
        atr.extend_from_slice(b"CHTHCOS");
        assert_eq!(family_from_atr(&atr), CardFamily::Moica);

        // "MOICA" not at the start.
        let mut atr = vec![0x3B, 0x07, 0x00, 0x01];
        atr.extend_from_slice(b"MOICA");
        assert_eq!(family_from_atr(&atr), CardFamily::Moica);
    }

    #[test]
    fn a_truncated_atr_still_yields_what_it_has() {
        assert_eq!(family_from_atr(&MOICA_GEN1_ATR[..14]), CardFamily::Moica);
        assert_eq!(historical_bytes(&[0x3B]), None);
        assert_eq!(historical_bytes(&[0x3B, 0x80]), None);
    }

    #[test]
    fn everything_else_is_unknown() {
        // A Yubikey 5 NFC and a Belgian eID card.
        let yubikey = hex::decode("3BFD1300008131FE158073C021C057597562694B657940").expect("hex");
        let beid = hex::decode("3B9813400AA503010101AD1311").expect("hex");
        for atr in [&yubikey[..], &beid[..], &[], &[0x3B], &[0x3B, 0x00]] {
            assert_eq!(
                family_from_atr(atr),
                CardFamily::Unknown,
                "{}",
                atr_hex(atr)
            );
        }
        // "CHT" buried in the middle is not a HiCOS prefix.
        let mut atr = vec![0x3B, 0x06];
        atr.extend_from_slice(b"ABCHTX");
        assert_eq!(family_from_atr(&atr), CardFamily::Unknown);
    }
}
