//! Self-signed certificates (ECDSA P-256) for tests and first-run demos — never for
//! production: browsers and curl refuse them without `-k` or the certificate as CA.

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509NameBuilder, X509};

/// A certificate for `names` (DNS names, wildcards allowed, or IP addresses; the first is also the subject
/// CN), valid from a day ago until `days` from now (negative: already expired). Returns
/// `(certificate PEM, private key PEM)`.
pub fn generate(names: &[&str], days: i64) -> Result<(Vec<u8>, Vec<u8>), ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    let key = PKey::from_ec_key(EcKey::generate(&group)?)?;
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(
        Nid::COMMONNAME,
        names.first().copied().unwrap_or("localhost"),
    )?;
    let name = name.build();
    let mut b = X509::builder()?;
    b.set_version(2)?;
    let mut serial = BigNum::new()?;
    serial.rand(64, MsbOption::MAYBE_ZERO, false)?;
    let serial = serial.to_asn1_integer()?;
    b.set_serial_number(&serial)?;
    b.set_subject_name(&name)?;
    b.set_issuer_name(&name)?;
    b.set_pubkey(&key)?;
    let now = super::certs::now_unix();
    let not_before = Asn1Time::from_unix(now - 86_400)?;
    let not_after = Asn1Time::from_unix(now + days * 86_400)?;
    b.set_not_before(&not_before)?;
    b.set_not_after(&not_after)?;
    if !names.is_empty() {
        let mut san = SubjectAlternativeName::new();
        for n in names {
            match n.parse::<std::net::IpAddr>() {
                Ok(_) => san.ip(n),
                Err(_) => san.dns(n),
            };
        }
        let san = san.build(&b.x509v3_context(None, None))?;
        b.append_extension(san)?;
    }
    b.sign(&key, MessageDigest::sha256())?;
    Ok((b.build().to_pem()?, key.private_key_to_pem_pkcs8()?))
}
