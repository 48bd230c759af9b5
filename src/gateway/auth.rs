//! Authenticating a media WebSocket upgrade before any call state exists.
//!
//! Two schemes, either of which admits a request:
//! - **Twilio** signs the upgrade with `X-Twilio-Signature`: base64(HMAC-SHA1(auth token,
//!   URL + sorted POST params)). A WebSocket upgrade is a GET with no body, so the signed text
//!   is the URL exactly as Twilio dialled it, `wss://` scheme included. Behind a TLS proxy the
//!   engine cannot see that URL, so it is rebuilt from the configured public base URL, never
//!   from `Host` or `X-Forwarded-*` (twilio-labs/twilio-aspnet#162). Twilio drops query strings
//!   from stream URLs, so the path alone is signed in practice.
//! - A **path token** for gateways that cannot sign (Asterisk, FreeSWITCH): the URL starts
//!   with `/k/<token>/`, e.g. `wss://ivr.example.com/k/s3cret/asterisk`. A path segment, not a
//!   query parameter, because Twilio strips queries (openclaw/openclaw#8814).
//!
//! Comparisons are constant-time (`subtle`). Secrets never reach logs: [`Secret`]'s `Debug`
//! prints `***`. Without any secret configured the server refuses to bind a non-loopback
//! address ([`check_bind`]). Twilio's HMAC-SHA256 "webhook rules" variant is not supported.
//!
//! This module only decides; it must not touch sockets or count metrics itself.

use std::fmt;
use std::net::SocketAddr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// A secret string (auth token, path token). Never printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The secret's bytes, for keying and comparing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Who may open a media stream.
#[derive(Clone, Debug, Default)]
pub struct AuthConfig {
    /// The Twilio account auth token that keys `X-Twilio-Signature`.
    pub twilio_auth_token: Option<Secret>,
    /// The public base URL Twilio dials, e.g. `wss://ivr.example.com` (no trailing slash).
    pub public_base_url: Option<String>,
    /// A shared path token (`/k/<token>/...`) for gateways that cannot sign.
    pub path_token: Option<Secret>,
}

impl AuthConfig {
    /// Whether any secret is configured (else only loopback may be served).
    pub fn has_secret(&self) -> bool {
        self.twilio_auth_token.is_some() || self.path_token.is_some()
    }
}

/// Why an upgrade was refused. Each maps to a bounded metric label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A Twilio path without an `X-Twilio-Signature` header, and no valid path token.
    #[error("missing X-Twilio-Signature")]
    MissingSignature,
    /// The signature does not match the configured URL and token.
    #[error("bad X-Twilio-Signature")]
    BadSignature,
    /// No valid path token, and no other scheme applies.
    #[error("bad or missing path token")]
    BadToken,
}

impl Refusal {
    /// The metric label (`ivr_ws_handshakes_rejected_total{reason}`).
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::MissingSignature => "missing_signature",
            Refusal::BadSignature => "bad_signature",
            Refusal::BadToken => "bad_token",
        }
    }
}

/// A request path with any `/k/<token>` prefix split off.
#[derive(Debug, PartialEq, Eq)]
pub struct Admitted<'a> {
    /// The path the router sees (`/twilio/95017`).
    pub path: &'a str,
    /// Which scheme admitted it.
    pub by: Scheme,
}

/// How a request was admitted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// No secret configured (loopback only).
    Open,
    /// A valid Twilio signature.
    TwilioSignature,
    /// A valid path token.
    PathToken,
}

/// base64(HMAC-SHA1(token, url + concatenation of sorted `key value` params)), the
/// `X-Twilio-Signature` of a request.
pub fn twilio_signature(token: &str, url: &str, params: &[(&str, &str)]) -> String {
    let mut sorted: Vec<&(&str, &str)> = params.iter().collect();
    sorted.sort();
    // HMAC takes keys of any length, so this cannot fail; fall back to an impossible
    // signature rather than panic if the crate ever changes that.
    let Ok(mut mac) = <Hmac<Sha1> as KeyInit>::new_from_slice(token.as_bytes()) else {
        return String::new();
    };
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    BASE64.encode(mac.finalize().into_bytes())
}

/// Compares two strings in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// Checks `X-Twilio-Signature` for a request to `url` with POST `params`.
pub fn verify_twilio(token: &str, url: &str, params: &[(&str, &str)], header: &str) -> bool {
    let expected = twilio_signature(token, url, params);
    !expected.is_empty() && constant_time_eq(&expected, header.trim())
}

fn split_token(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/k/")?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

impl AuthConfig {
    /// Decides an upgrade request for `path_and_query` (as received) with the value of its
    /// `X-Twilio-Signature` header, if any.
    pub fn admit<'a>(
        &self,
        path_and_query: &'a str,
        twilio_signature: Option<&str>,
    ) -> Result<Admitted<'a>, Refusal> {
        let path = path_and_query
            .split_once('?')
            .map_or(path_and_query, |(p, _)| p);
        if let Some((token, rest)) = split_token(path) {
            return match &self.path_token {
                Some(secret) if constant_time_eq(secret.expose(), token) => Ok(Admitted {
                    path: rest,
                    by: Scheme::PathToken,
                }),
                _ => Err(Refusal::BadToken),
            };
        }
        if !self.has_secret() {
            return Ok(Admitted {
                path,
                by: Scheme::Open,
            });
        }
        let is_twilio = path == "/twilio" || path.starts_with("/twilio/");
        match (&self.twilio_auth_token, is_twilio) {
            (Some(token), true) => {
                let Some(sig) = twilio_signature else {
                    return Err(Refusal::MissingSignature);
                };
                let base = self.public_base_url.as_deref().unwrap_or("");
                let url = format!("{}{}", base.trim_end_matches('/'), path_and_query);
                if verify_twilio(token.expose(), &url, &[], sig) {
                    Ok(Admitted {
                        path,
                        by: Scheme::TwilioSignature,
                    })
                } else {
                    Err(Refusal::BadSignature)
                }
            }
            _ => Err(Refusal::BadToken),
        }
    }
}

/// Refuses to serve a non-loopback address without any secret configured.
pub fn check_bind(addr: SocketAddr, auth: &AuthConfig) -> Result<(), String> {
    if auth.has_secret() || addr.ip().is_loopback() {
        Ok(())
    } else {
        Err(format!(
            "refusing to serve media on {addr} without an auth secret: set \
             twilio_auth_token (with public_base_url) or path_token, or listen on loopback"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio_auth() -> AuthConfig {
        AuthConfig {
            twilio_auth_token: Some(Secret::new("12345")),
            public_base_url: Some("wss://ivr.example.com".into()),
            path_token: Some(Secret::new("s3cret")),
        }
    }

    // Expected values computed independently with Python's hmac/hashlib/base64 modules.
    #[test]
    fn signature_matches_an_independent_implementation() {
        assert_eq!(
            twilio_signature("12345", "wss://ivr.example.com/twilio/95017", &[]),
            "Npguz9cUdidnGWLRIsgYjdxO+5w="
        );
        assert_eq!(
            twilio_signature(
                "12345",
                "https://ivr.example.com/twilio/after-stream",
                &[
                    ("To", "95017"),
                    ("CallSid", "CA1234567890ABCDE"),
                    ("From", "+14158675310")
                ]
            ),
            "u1mox42TwDuTPJBdO5XA5n9FmXE="
        );
    }

    #[test]
    fn valid_twilio_signature_is_admitted() {
        let a = twilio_auth();
        assert_eq!(
            a.admit("/twilio/95017", Some("Npguz9cUdidnGWLRIsgYjdxO+5w=")),
            Ok(Admitted {
                path: "/twilio/95017",
                by: Scheme::TwilioSignature
            })
        );
    }

    #[test]
    fn signature_over_an_https_rewrite_or_other_path_is_refused() {
        let a = twilio_auth();
        let https = twilio_signature("12345", "https://ivr.example.com/twilio/95017", &[]);
        assert_eq!(
            a.admit("/twilio/95017", Some(&https)),
            Err(Refusal::BadSignature)
        );
        assert_eq!(
            a.admit("/twilio/95018", Some("Npguz9cUdidnGWLRIsgYjdxO+5w=")),
            Err(Refusal::BadSignature)
        );
        assert_eq!(a.admit("/twilio", None), Err(Refusal::MissingSignature));
    }

    #[test]
    fn path_token_admits_and_is_stripped() {
        let a = twilio_auth();
        assert_eq!(
            a.admit("/k/s3cret/asterisk?to=95017", None),
            Ok(Admitted {
                path: "/asterisk",
                by: Scheme::PathToken
            })
        );
        assert_eq!(a.admit("/k/wrong/asterisk", None), Err(Refusal::BadToken));
        assert_eq!(a.admit("/asterisk", None), Err(Refusal::BadToken));
    }

    #[test]
    fn without_secrets_everything_is_open_but_only_on_loopback() {
        let a = AuthConfig::default();
        assert_eq!(a.admit("/twilio", None).map(|x| x.by), Ok(Scheme::Open));
        assert!(check_bind("127.0.0.1:8080".parse().unwrap(), &a).is_ok());
        assert!(check_bind("[::1]:8080".parse().unwrap(), &a).is_ok());
        assert!(check_bind("0.0.0.0:8080".parse().unwrap(), &a).is_err());
        assert!(check_bind("0.0.0.0:8080".parse().unwrap(), &twilio_auth()).is_ok());
    }

    #[test]
    fn secrets_never_print() {
        let a = twilio_auth();
        let shown = format!("{a:?}");
        assert!(
            !shown.contains("12345") && !shown.contains("s3cret"),
            "{shown}"
        );
    }
}
