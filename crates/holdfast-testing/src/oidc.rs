//! An OpenID Connect provider for tests, started by the test kit itself on a local port: discovery,
//! JWKS, an authorization endpoint that signs in whichever user the test says, and a token
//! endpoint that checks the client's secret, the redirect URI and PKCE and returns an RS256-signed
//! ID token. A test can make it misbehave (wrong audience, expired token, a key not in its JWKS, a
//! wrong nonce or issuer) to see Holdfast refuse.
//!
//! Its RSA keys (`oidc_keys/*.pem`) were generated for these tests only and sign nothing else.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    AccessToken, Audience, AuthorizationCode, EmptyAdditionalClaims, EndUserEmail, IssuerUrl, JsonWebKeyId, Nonce,
    PrivateSigningKey, StandardClaims, SubjectIdentifier,
};
use serde_json::json;
use sha2::Digest;
use tower::ServiceExt;

const PROVIDER_KEY: &str = include_str!("oidc_keys/provider.pem");
const OTHER_KEY: &str = include_str!("oidc_keys/other.pem");

/// How the provider misbehaves in its next ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trick {
    Honest,
    WrongAudience,
    Expired,
    /// Signed with a key that is not in the provider's JWKS.
    ForeignKey,
    WrongNonce,
    WrongIssuer,
}

/// Who signs in at the provider.
#[derive(Debug, Clone)]
pub struct ProviderUser {
    pub subject: String,
    pub email: String,
    pub email_verified: bool,
}

struct Grant {
    redirect_uri: String,
    nonce: Option<String>,
    challenge: String,
    user: ProviderUser,
}

struct Shared {
    issuer: String,
    client_id: String,
    client_secret: String,
    user: Option<ProviderUser>,
    codes: HashMap<String, Grant>,
    trick: Trick,
}

type Provider = Arc<Mutex<Shared>>;

/// The running provider.
pub struct TestProvider {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    shared: Provider,
    router: Router,
}

fn key(pem: &str) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(pem, Some(JsonWebKeyId::new("test-key-1".into()))).expect("the test key parses")
}

impl TestProvider {
    /// Starts the provider on 127.0.0.1 (a free port) with one registered client.
    pub async fn start(client_id: &str, client_secret: &str) -> TestProvider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr: SocketAddr = listener.local_addr().expect("addr");
        let issuer = format!("http://127.0.0.1:{}", addr.port());
        let shared = Arc::new(Mutex::new(Shared {
            issuer: issuer.clone(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            user: None,
            codes: HashMap::new(),
            trick: Trick::Honest,
        }));
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .with_state(Arc::clone(&shared));
        let served = router.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, served).await;
        });
        TestProvider { issuer, client_id: client_id.into(), client_secret: client_secret.into(), shared, router }
    }

    /// The user the next sign-in at the provider is (its subject is `sub-{email}`).
    pub fn sign_in_as(&self, email: &str, verified: bool) {
        self.sign_in_as_account(&format!("sub-{email}"), email, verified);
    }

    /// The same, with the provider's own id for the account.
    pub fn sign_in_as_account(&self, subject: &str, email: &str, verified: bool) {
        if let Ok(mut s) = self.shared.lock() {
            s.user = Some(ProviderUser { subject: subject.into(), email: email.into(), email_verified: verified });
        }
    }

    pub fn trick(&self, trick: Trick) {
        if let Ok(mut s) = self.shared.lock() {
            s.trick = trick;
        }
    }

    /// The browser at the provider: opens the authorization URL Holdfast sent it to and returns
    /// where the provider sends it back (the redirect URI with `code` and `state`).
    pub async fn visit(&self, authorize_url: &str) -> String {
        let path = authorize_url.strip_prefix(&self.issuer).expect("an authorization URL of this provider");
        let req = Request::builder().uri(path).body(Body::empty()).expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        assert_eq!(resp.status(), StatusCode::FOUND, "the provider refused the authorization request");
        resp.headers().get(header::LOCATION).and_then(|l| l.to_str().ok()).unwrap_or_default().to_string()
    }
}

async fn discovery(State(p): State<Provider>) -> Json<serde_json::Value> {
    let issuer = p.lock().map(|s| s.issuer.clone()).unwrap_or_default();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "email", "profile"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256"]
    }))
}

async fn jwks() -> Json<CoreJsonWebKeySet> {
    Json(CoreJsonWebKeySet::new(vec![key(PROVIDER_KEY).as_verification_key()]))
}

fn bad(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

async fn authorize(State(p): State<Provider>, Query(q): Query<HashMap<String, String>>) -> Response {
    let Ok(mut s) = p.lock() else { return bad(StatusCode::INTERNAL_SERVER_ERROR, "server_error") };
    let get = |k: &str| q.get(k).cloned().unwrap_or_default();
    if get("response_type") != "code" || get("client_id") != s.client_id || get("code_challenge_method") != "S256" {
        return bad(StatusCode::BAD_REQUEST, "invalid_request");
    }
    if !get("scope").split(' ').any(|sc| sc == "openid") {
        return bad(StatusCode::BAD_REQUEST, "invalid_scope");
    }
    let Some(user) = s.user.clone() else { return bad(StatusCode::UNAUTHORIZED, "login_required") };
    let code = format!("code-{}", s.codes.len() + 1);
    let redirect_uri = get("redirect_uri");
    s.codes.insert(
        code.clone(),
        Grant {
            redirect_uri: redirect_uri.clone(),
            nonce: q.get("nonce").cloned(),
            challenge: get("code_challenge"),
            user,
        },
    );
    let state: String = get("state").bytes().map(|b| format!("%{b:02X}")).collect();
    let to = format!("{redirect_uri}?code={code}&state={state}");
    (StatusCode::FOUND, [(header::LOCATION, to)]).into_response()
}

async fn token(State(p): State<Provider>, headers: HeaderMap, Form(form): Form<HashMap<String, String>>) -> Response {
    let Ok(mut s) = p.lock() else { return bad(StatusCode::INTERNAL_SERVER_ERROR, "server_error") };
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    // The client authenticates with HTTP Basic (or in the body).
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let (id, secret) = match basic.as_deref().and_then(|b| b.split_once(':')) {
        Some((i, sec)) => (decode_form(i), decode_form(sec)),
        None => (get("client_id"), get("client_secret")),
    };
    if id != s.client_id || secret != s.client_secret {
        return bad(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    if get("grant_type") != "authorization_code" {
        return bad(StatusCode::BAD_REQUEST, "unsupported_grant_type");
    }
    let code = get("code");
    let Some(grant) = s.codes.remove(&code) else { return bad(StatusCode::BAD_REQUEST, "invalid_grant") };
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(get("code_verifier")));
    if grant.redirect_uri != get("redirect_uri") || grant.challenge != challenge {
        return bad(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let now = chrono::Utc::now();
    let (issuer, audience, expires, nonce, signer) = match s.trick {
        Trick::Honest => {
            (s.issuer.clone(), s.client_id.clone(), now + chrono::Duration::minutes(5), grant.nonce, PROVIDER_KEY)
        }
        Trick::WrongAudience => {
            (s.issuer.clone(), "someone-else".into(), now + chrono::Duration::minutes(5), grant.nonce, PROVIDER_KEY)
        }
        Trick::Expired => {
            (s.issuer.clone(), s.client_id.clone(), now - chrono::Duration::minutes(5), grant.nonce, PROVIDER_KEY)
        }
        Trick::ForeignKey => {
            (s.issuer.clone(), s.client_id.clone(), now + chrono::Duration::minutes(5), grant.nonce, OTHER_KEY)
        }
        Trick::WrongNonce => (
            s.issuer.clone(),
            s.client_id.clone(),
            now + chrono::Duration::minutes(5),
            Some("not-the-nonce".into()),
            PROVIDER_KEY,
        ),
        Trick::WrongIssuer => (
            "https://evil.example".into(),
            s.client_id.clone(),
            now + chrono::Duration::minutes(5),
            grant.nonce,
            PROVIDER_KEY,
        ),
    };
    let Ok(issuer) = IssuerUrl::new(issuer) else { return bad(StatusCode::INTERNAL_SERVER_ERROR, "server_error") };
    let standard = StandardClaims::new(SubjectIdentifier::new(grant.user.subject.clone()))
        .set_email(Some(EndUserEmail::new(grant.user.email.clone())))
        .set_email_verified(Some(grant.user.email_verified));
    let claims =
        CoreIdTokenClaims::new(issuer, vec![Audience::new(audience)], expires, now, standard, EmptyAdditionalClaims {})
            .set_nonce(nonce.map(Nonce::new));
    let access = AccessToken::new(format!("at-{code}"));
    let signed = CoreIdToken::new(
        claims,
        &key(signer),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        Some(&access),
        Some(&AuthorizationCode::new(code)),
    );
    match signed {
        Ok(id_token) => Json(json!({"access_token": access.secret(), "token_type": "Bearer", "expires_in": 300,
                                     "id_token": id_token.to_string()}))
        .into_response(),
        Err(_) => bad(StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

/// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first.
fn decode_form(s: &str) -> String {
    let mut out = Vec::new();
    let bytes = s.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => match s.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                Some(b) => {
                    out.push(b);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
