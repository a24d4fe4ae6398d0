//! Request extractors: the actor behind a request, and JSON bodies parsed with useful errors.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Path, Request};
use axum::http::header;
use axum::http::request::Parts;
use holdfast_core::CoreError;
use holdfast_core::coworker::Actor;
use holdfast_core::record::RecordKind;
use uuid::Uuid;

use crate::AppState;
use crate::problem::ApiError;

/// Client address and user agent of a request, for system events and sign-in limits.
///
/// The address is the connection's peer, unless that peer is the reverse proxy named in
/// `HOLDFAST_TRUSTED_PROXY` (comma-separated addresses): then it is the last address that proxy
/// added to `X-Forwarded-For`. A forwarded address from anyone else is ignored, so a client cannot
/// choose the address it is counted and recorded under.
pub fn client_of(parts: &Parts) -> (Option<String>, Option<String>) {
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let addr = client_addr(peer, &parts.headers, trusted_proxies());
    let agent =
        parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(300).collect());
    (addr.map(|a| a.to_string()), agent)
}

fn client_addr(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> Option<std::net::IpAddr> {
    let forwarded = || {
        let header = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).next_back()?;
        header.rsplit(',').next()?.trim().parse::<std::net::IpAddr>().ok()
    };
    match peer {
        Some(p) if trusted.contains(&p) => forwarded().or(Some(p)),
        other => other,
    }
}

/// Whether the browser reached Holdfast over TLS: the server is told so for every request
/// (`HOLDFAST_SECURE_COOKIES=1`), or the request came from a trusted reverse proxy
/// (`HOLDFAST_TRUSTED_PROXY`) that says it took it over https (`X-Forwarded-Proto` or
/// `Forwarded: proto=https`). Cookies set in answer to it are then `Secure`.
pub fn over_tls(parts: &Parts) -> bool {
    let told = std::env::var("HOLDFAST_SECURE_COOKIES").is_ok_and(|v| v == "1" || v == "true");
    let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    told || forwarded_over_tls(peer, &parts.headers, trusted_proxies())
}

fn forwarded_over_tls(
    peer: Option<std::net::IpAddr>,
    headers: &axum::http::HeaderMap,
    trusted: &[std::net::IpAddr],
) -> bool {
    if !peer.is_some_and(|p| trusted.contains(&p)) {
        return false;
    }
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .next_back()
            .and_then(|h| h.rsplit(',').next())
            .map(str::trim)
    };
    if let Some(proto) = last("x-forwarded-proto") {
        return proto.eq_ignore_ascii_case("https");
    }
    last("forwarded").is_some_and(|element| {
        element.split(';').any(|pair| {
            pair.trim().split_once('=').is_some_and(|(k, v)| {
                k.eq_ignore_ascii_case("proto") && v.trim_matches('"').eq_ignore_ascii_case("https")
            })
        })
    })
}

/// This server's address as browsers and identity providers reach it: `HOLDFAST_PUBLIC_URL`
/// when set (behind a proxy, say `https://crm.example.com`), else the request's `Host` with
/// `https` when [`over_tls`] says so. SCIM's `meta.location`, the single sign-on redirect URI and
/// the settings page that shows both use it, so they always agree.
pub fn public_base(parts: &Parts) -> String {
    if let Ok(url) = std::env::var("HOLDFAST_PUBLIC_URL")
        && (url.starts_with("https://") || url.starts_with("http://"))
    {
        return url.trim_end_matches('/').to_string();
    }
    let host = parts.headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let host: String = host.chars().filter(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(*c)).collect();
    let scheme = if over_tls(parts) { "https" } else { "http" };
    format!("{scheme}://{host}")
}

/// The reverse proxies whose `X-Forwarded-For` is believed (`HOLDFAST_TRUSTED_PROXY`).
fn trusted_proxies() -> &'static [std::net::IpAddr] {
    static PROXIES: std::sync::OnceLock<Vec<std::net::IpAddr>> = std::sync::OnceLock::new();
    PROXIES.get_or_init(|| {
        std::env::var("HOLDFAST_TRUSTED_PROXY")
            .unwrap_or_default()
            .split(',')
            .filter_map(|a| a.trim().parse().ok())
            .collect()
    })
}

/// The token of `Authorization: Bearer <token>`: `None` without the header, `Some(None)` when it
/// is not a bearer token.
pub fn bearer(parts: &Parts) -> Option<Option<String>> {
    let h = parts.headers.get(header::AUTHORIZATION)?;
    let h = h.to_str().ok();
    Some(h.and_then(|h| {
        let (scheme, token) = h.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_string()).filter(|t| !t.is_empty())
    }))
}

/// The signed-in co-worker, from `Authorization: Bearer <token>` (API tokens and session tokens).
pub struct Caller(pub Actor);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = match bearer(parts) {
            Some(Some(t)) => t,
            Some(None) => {
                return Err(CoreError::Unauthenticated("use the header 'Authorization: Bearer <token>'".into()).into());
            }
            None => {
                return Err(CoreError::Unauthenticated(
                    "no API token was sent; create one with `holdfast token create --coworker EMAIL` and send 'Authorization: Bearer <token>'".into(),
                )
                .into());
            }
        };
        let (addr, agent) = client_of(parts);
        let services = state.clone();
        let actor = crate::blocking(move || services.authenticate(&token, addr, agent)).await?;
        if actor.channel == holdfast_core::coworker::Channel::Scim {
            return Err(
                CoreError::Unauthenticated("a SCIM token opens /scim/v2 only; use an API token here".into()).into()
            );
        }
        // An admin session (not a token) that must have a second factor and has none enrols first.
        if actor.channel == holdfast_core::coworker::Channel::Session
            && actor.is_admin()
            && !parts.uri.path().ends_with("/sessions/current")
        {
            let (services, a) = (state.clone(), actor.clone());
            if crate::blocking(move || services.must_enrol_two_factor(&a)).await? {
                return Err(CoreError::forbidden(
                    "admins here sign in with a second factor: set it up at /two-factor first",
                )
                .into());
            }
        }
        // A password someone else set is replaced before anything else, as on the pages.
        let must_change = actor.coworker.as_ref().is_some_and(|c| c.password_must_change);
        let path = parts.uri.path();
        if must_change && !path.ends_with("/me/password") && !path.ends_with("/sessions/current") {
            return Err(CoreError::forbidden(
                "the password you signed in with was set for you; choose your own first with POST /api/v1/me/password",
            )
            .into());
        }
        Ok(Caller(actor))
    }
}

/// A JSON body as a `serde_json::Value`, with problem+json errors for bad JSON and big bodies.
pub struct JsonBody(pub serde_json::Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_lowercase);
        if let Some(ct) = &content_type
            && !ct.starts_with("application/json")
            && !ct.contains("+json")
        {
            return Err(ApiError::UnsupportedMediaType("application/json"));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::JSON_BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })?;
        if bytes.is_empty() {
            return Err(ApiError::BadJson("the body is empty; send a JSON object".into()));
        }
        serde_json::from_slice(&bytes).map(JsonBody).map_err(|e| ApiError::BadJson(e.to_string()))
    }
}

/// Raw body bytes with the size limit mapped to a problem.
pub struct RawBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(req, state).await.map(RawBody).map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::TooLarge(crate::IMPORT_BODY_LIMIT)
            } else {
                ApiError::BadRequest(rejection.body_text())
            }
        })
    }
}

/// The kind of record a path names (`/api/v1/{kind}/…`), or 404 naming the collection.
pub struct KindPath(pub &'static RecordKind);

fn kind_of(plural: &str) -> Result<&'static RecordKind, ApiError> {
    RecordKind::by_plural(plural)
        .ok_or_else(|| ApiError::Core(CoreError::NotFound { what: "collection", id: format!("/api/v1/{plural}") }))
}

fn path_error(rejection: axum::extract::rejection::PathRejection) -> ApiError {
    ApiError::BadRequest(rejection.body_text())
}

impl<S: Send + Sync> FromRequestParts<S> for KindPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(params) = Path::<Vec<(String, String)>>::from_request_parts(parts, state).await.map_err(path_error)?;
        let plural = params.iter().find(|(name, _)| name == "kind").map(|(_, v)| v.as_str()).unwrap_or_default();
        Ok(KindPath(kind_of(plural)?))
    }
}

/// One record a path names (`/api/v1/{kind}/{id}/…`): its kind and id, or 404.
pub struct RecordPath(pub &'static RecordKind, pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for RecordPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path((plural, id)) =
            Path::<(String, String)>::from_request_parts(parts, state).await.map_err(path_error)?;
        let kind = kind_of(&plural)?;
        Ok(RecordPath(kind, crate::api::parse_id(kind.name, &id)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let mut headers = axum::http::HeaderMap::new();
        headers.insert("x-forwarded-for", "203.0.113.9, 198.51.100.7".parse().expect("header"));
        let proxy = [ip("127.0.0.1")];
        assert_eq!(client_addr(Some(ip("127.0.0.1")), &headers, &proxy), Some(ip("198.51.100.7")));
        assert_eq!(client_addr(Some(ip("192.0.2.1")), &headers, &proxy), Some(ip("192.0.2.1")), "not the proxy");
        assert_eq!(client_addr(Some(ip("127.0.0.1")), &headers, &[]), Some(ip("127.0.0.1")), "no proxy configured");
        let garbage: axum::http::HeaderMap =
            [(axum::http::header::HeaderName::from_static("x-forwarded-for"), "nonsense".parse().expect("h"))]
                .into_iter()
                .collect();
        assert_eq!(client_addr(Some(ip("127.0.0.1")), &garbage, &proxy), Some(ip("127.0.0.1")));
    }

    #[test]
    fn tls_is_believed_only_from_a_trusted_proxy() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        let headers = |name: &'static str, value: &str| -> axum::http::HeaderMap {
            [(axum::http::header::HeaderName::from_static(name), value.parse().expect("header"))].into_iter().collect()
        };
        let proxy = [ip("10.0.0.2")];
        let https = headers("x-forwarded-proto", "https");
        assert!(forwarded_over_tls(Some(ip("10.0.0.2")), &https, &proxy));
        assert!(!forwarded_over_tls(Some(ip("192.0.2.1")), &https, &proxy), "not the proxy");
        assert!(!forwarded_over_tls(Some(ip("10.0.0.2")), &https, &[]), "no proxy configured");
        assert!(
            !forwarded_over_tls(Some(ip("10.0.0.2")), &headers("x-forwarded-proto", "https, http"), &proxy),
            "the proxy's own hop was http"
        );
        assert!(forwarded_over_tls(
            Some(ip("10.0.0.2")),
            &headers("forwarded", "for=192.0.2.60;proto=https;by=10.0.0.2"),
            &proxy
        ));
        assert!(!forwarded_over_tls(Some(ip("10.0.0.2")), &headers("forwarded", "for=192.0.2.60;proto=http"), &proxy));
        assert!(!forwarded_over_tls(Some(ip("10.0.0.2")), &axum::http::HeaderMap::new(), &proxy));
    }
}
