//! The TLS series blackbox_exporter derives from the server's certificates
//! (`probe_ssl_earliest_cert_expiry`, `probe_ssl_last_chain_info`), with
//! the label values written exactly as Go writes them: the subject and
//! issuer as `pkix.Name.String()` does (RFC 2253 order, reversed from the
//! certificate's field order), DNS SANs comma-joined, the serial as the
//! lower-case hex of its big-endian bytes without leading zeros, and the
//! fingerprint as the lower-case hex SHA-256 of the DER.

use rustls::pki_types::CertificateDer;
use sha2::{Digest, Sha256};
use x509_parser::prelude::*;

/// What the leaf certificate shows, as label values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeafInfo {
    /// Hex SHA-256 of the DER.
    pub fingerprint_sha256: String,
    /// Go's `Subject.String()`.
    pub subject: String,
    /// Go's `Issuer.String()`.
    pub issuer: String,
    /// DNS SANs joined with `,`.
    pub subjectalternative: String,
    /// Serial number bytes in hex.
    pub serialnumber: String,
}

/// The earliest `notAfter` of the chain the server sent, in Unix seconds.
pub fn earliest_expiry(chain: &[CertificateDer<'_>]) -> Option<i64> {
    chain
        .iter()
        .filter_map(|der| X509Certificate::from_der(der).ok())
        .map(|(_, cert)| cert.validity().not_after.timestamp())
        .min()
}

/// The leaf's label values, `None` when it does not parse.
pub fn leaf_info(chain: &[CertificateDer<'_>]) -> Option<LeafInfo> {
    let der = chain.first()?;
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext
            .value
            .general_names
            .iter()
            .filter_map(|name| match name {
                GeneralName::DNSName(dns) => Some(*dns),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    };
    let serial = cert.raw_serial();
    let first = serial.iter().position(|b| *b != 0).unwrap_or(serial.len());
    Some(LeafInfo {
        fingerprint_sha256: hex(&Sha256::digest(der.as_ref())),
        subject: go_name(cert.subject()),
        issuer: go_name(cert.issuer()),
        subjectalternative: sans,
        serialnumber: hex(&serial[first..]),
    })
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The `2.5.4.N` attributes Go keeps in named fields, in the order
/// `pkix.Name.ToRDNSequence` writes them, with their short names.
const NAMED: [(u64, &str); 9] = [
    (6, "C"),
    (8, "ST"),
    (7, "L"),
    (9, "STREET"),
    (17, "POSTALCODE"),
    (10, "O"),
    (11, "OU"),
    (3, "CN"),
    (5, "SERIALNUMBER"),
];

fn named_index(oid: &x509_parser::der_parser::oid::Oid<'_>) -> Option<u64> {
    let arcs: Vec<u64> = oid.iter()?.collect();
    match arcs.as_slice() {
        [2, 5, 4, n] => Some(*n),
        _ => None,
    }
}

/// Go's `pkix.Name.String()`.
fn go_name(name: &X509Name<'_>) -> String {
    // rdns is built in Go's order and printed reversed.
    let mut rdns: Vec<Vec<String>> = Vec::new();
    let mut named: Vec<(u64, Vec<String>)> = NAMED.iter().map(|(n, _)| (*n, Vec::new())).collect();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            let value = atv.as_str().unwrap_or_default().to_owned();
            match named_index(atv.attr_type()).filter(|n| NAMED.iter().any(|(k, _)| k == n)) {
                Some(n) => {
                    if let Some((_, values)) = named.iter_mut().find(|(k, _)| *k == n) {
                        // Go keeps only the last CN and serial number.
                        if matches!(n, 3 | 5) {
                            values.clear();
                        }
                        values.push(value);
                    }
                }
                None => {
                    // Non-standard attributes come first in the sequence,
                    // so last in the string, as `#`-hex of the value's DER.
                    let raw = atv.attr_value().data;
                    rdns.push(vec![format!("{}=#{}", atv.attr_type(), hex(raw))]);
                }
            }
        }
    }
    for ((_, short), (_, values)) in NAMED.iter().zip(named) {
        if !values.is_empty() {
            rdns.push(
                values
                    .iter()
                    .map(|v| format!("{short}={}", escape(v)))
                    .collect(),
            );
        }
    }
    rdns.iter()
        .rev()
        .map(|rdn| rdn.join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Go's RFC 2253 escaping of an attribute value.
fn escape(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let mut out = String::with_capacity(value.len());
    for (i, c) in chars.iter().enumerate() {
        let needs = match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' => true,
            ' ' => i == 0 || i == chars.len() - 1,
            '#' => i == 0,
            _ => false,
        };
        if needs {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_style_names_and_fields() {
        let mut params =
            rcgen::CertificateParams::new(vec!["a.test".into(), "b.test".into()]).expect("params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "server, one");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "Acme");
        params
            .distinguished_name
            .push(rcgen::DnType::CountryName, "DE");
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x8f, 0x01]));
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("cert");
        let chain = vec![cert.der().clone()];
        let info = leaf_info(&chain).expect("parses");
        assert_eq!(info.subject, "CN=server\\, one,O=Acme,C=DE");
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.subjectalternative, "a.test,b.test");
        assert_eq!(info.serialnumber, "8f01");
        assert_eq!(info.fingerprint_sha256.len(), 64);
        assert!(earliest_expiry(&chain).is_some());
    }

    #[test]
    fn escaping() {
        assert_eq!(escape(" #a+b "), "\\ #a\\+b\\ ");
        assert_eq!(escape("#x"), "\\#x");
    }
}
