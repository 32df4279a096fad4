//! Token verification: the algorithm comes from the config, never from the token; the
//! token's `alg` header only has to be one of the configured ones, and the key is chosen by
//! the configured key source (an HMAC secret, or a JWKS key of the algorithm's family).

use std::sync::Arc;

use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::jwks::JwksFile;

/// The verified claims of a token.
pub type Claims = Map<String, Value>;

/// Where the verification keys come from.
pub enum Keys {
    /// One HMAC secret (HS256/384/512 only).
    Secret(DecodingKey),
    /// The RSA/EC keys of a JWKS file, selected by `kid`.
    Jwks(Arc<JwksFile>),
}

/// Why a token was refused. [`description`](Rejection::description) is the RFC 6750
/// `error_description`: fixed text, never anything taken from the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Longer than `max_token_bytes`.
    TooLarge,
    /// Not three base64url segments with a JSON header and claims.
    Malformed,
    /// The header's `alg` is not one of the configured algorithms (`none` never is).
    AlgorithmNotAllowed,
    /// No key for the header's `kid` and `alg`.
    UnknownKey,
    /// The signature does not verify.
    BadSignature,
    /// `exp` is past (beyond the leeway).
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    NotYetValid,
    /// A required claim (`exp`, or `iss`/`aud` when configured) is missing.
    MissingClaim,
    /// `aud` is not the configured audience.
    WrongAudience,
    /// `iss` is not the configured issuer.
    WrongIssuer,
    /// A registered claim has the wrong type (e.g. a string `exp`).
    BadClaim,
}

impl Rejection {
    /// The `error_description` of the 401.
    pub fn description(self) -> &'static str {
        match self {
            Rejection::TooLarge => "token too large",
            Rejection::Malformed => "malformed token",
            Rejection::AlgorithmNotAllowed => "algorithm not allowed",
            Rejection::UnknownKey => "no key for this token",
            Rejection::BadSignature => "invalid signature",
            Rejection::Expired => "token expired",
            Rejection::NotYetValid => "token not yet valid",
            Rejection::MissingClaim => "required claim missing",
            Rejection::WrongAudience => "invalid audience",
            Rejection::WrongIssuer => "invalid issuer",
            Rejection::BadClaim => "invalid claim",
        }
    }
}

/// What verifies tokens for one plugin instance.
pub struct Verifier {
    keys: Keys,
    /// One validation per allowed algorithm (the library wants every algorithm of a
    /// validation to be of the key's family).
    validations: Vec<(Algorithm, Validation)>,
    max_token_bytes: usize,
}

/// The part of the JOSE header looked at before the library runs.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl Verifier {
    /// A verifier of tokens signed with one of `algorithms`, each checked by `template`
    /// (leeway, `iss`, `aud`, required claims), whose `algorithms` field is replaced.
    pub fn new(
        keys: Keys,
        algorithms: &[Algorithm],
        template: &Validation,
        max_token_bytes: usize,
    ) -> Verifier {
        let validations = algorithms
            .iter()
            .map(|a| {
                let mut v = template.clone();
                v.algorithms = vec![*a];
                (*a, v)
            })
            .collect();
        Verifier {
            keys,
            validations,
            max_token_bytes,
        }
    }

    /// The claims of `token` if it is valid.
    pub fn verify(&self, token: &str) -> Result<Claims, Rejection> {
        if token.len() > self.max_token_bytes {
            return Err(Rejection::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(head), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejection::Malformed);
        };
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(head)
            .map_err(|_| Rejection::Malformed)?;
        let header: RawHeader = serde_json::from_slice(&raw).map_err(|_| Rejection::Malformed)?;
        let named = header.alg.parse::<Algorithm>().ok();
        let (alg, validation) = self
            .validations
            .iter()
            .find(|(a, _)| named == Some(*a))
            .ok_or(Rejection::AlgorithmNotAllowed)?;
        let guard;
        let key = match &self.keys {
            Keys::Secret(k) => k,
            Keys::Jwks(file) => {
                guard = file.keys();
                guard
                    .select(header.kid.as_deref(), *alg)
                    .ok_or(Rejection::UnknownKey)?
            }
        };
        jsonwebtoken::decode::<Claims>(token, key, validation)
            .map(|data| data.claims)
            .map_err(|e| rejection(e.kind()))
    }
}

fn rejection(kind: &jsonwebtoken::errors::ErrorKind) -> Rejection {
    use jsonwebtoken::errors::ErrorKind as K;
    match kind {
        K::ExpiredSignature => Rejection::Expired,
        K::ImmatureSignature => Rejection::NotYetValid,
        K::MissingRequiredClaim(_) => Rejection::MissingClaim,
        K::InvalidAudience => Rejection::WrongAudience,
        K::InvalidIssuer => Rejection::WrongIssuer,
        K::InvalidClaimFormat(_) => Rejection::BadClaim,
        K::InvalidAlgorithm | K::MissingAlgorithm | K::InvalidAlgorithmName => {
            Rejection::AlgorithmNotAllowed
        }
        K::InvalidToken | K::Base64(_) | K::Json(_) | K::Utf8(_) => Rejection::Malformed,
        _ => Rejection::BadSignature,
    }
}
