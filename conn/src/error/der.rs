//! Just enough DER to name a certificate's signature algorithm when rustls
//! calls it unsupported: the OID inside an `AlgorithmIdentifier`, mapped to
//! the name an operator knows (`rsassa-pss`, `ed448`, ...). No ASN.1 crate:
//! this is one tag-length walk over bytes the server sent, bounded by them.

/// The OID, and its name when it is a signature algorithm one meets in old
/// certificates, of a DER AlgorithmIdentifier's contents (the OID, then
/// any parameters).
pub(crate) fn algorithm_name(der: &[u8]) -> Option<String> {
    let oid = der_oid(der)?;
    let name = match oid.as_str() {
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10040.4.3" => "dsa-with-sha1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-sha256",
        "1.3.101.113" => "Ed448",
        _ => return Some(oid),
    };
    Some(format!("{name}, {oid}"))
}

/// A DER OBJECT IDENTIFIER at the start of `der`, dotted.
fn der_oid(der: &[u8]) -> Option<String> {
    let [0x06, len, rest @ ..] = der else {
        return None;
    };
    // Signature algorithm OIDs are short: the short length form only.
    if *len >= 0x80 {
        return None;
    }
    let body = rest.get(..usize::from(*len))?;
    if body.last().is_none_or(|last| last & 0x80 != 0) {
        return None;
    }
    let mut arcs: Vec<u64> = Vec::new();
    let mut value: u64 = 0;
    for &byte in body {
        value = value.checked_mul(128)? | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            arcs.push(value);
            value = 0;
        }
    }
    let (&first, later) = arcs.split_first()?;
    let (a, b) = if first < 80 {
        (first / 40, first % 40)
    } else {
        (2, first - 80)
    };
    let mut text = format!("{a}.{b}");
    for arc in later {
        text.push('.');
        text.push_str(&arc.to_string());
    }
    Some(text)
}
