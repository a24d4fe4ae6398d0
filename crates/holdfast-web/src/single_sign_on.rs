//! OpenID Connect relying party (authorization code with PKCE, the `openidconnect` crate): the
//! sign-in button sends the browser to the company's provider with a fresh state, nonce and PKCE
//! challenge (kept in the database, usable once); the provider sends it back with a code, which is
//! exchanged for an ID token whose signature (the provider's JWKS), issuer, audience, expiry and
//! nonce are checked here. The services get only the identity it vouches for.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use holdfast_core::CoreError;
use holdfast_core::service::{ProviderIdentity, SingleSignOn};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};

/// How long a provider's discovery document and keys are trusted before they are fetched again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);
/// The longest a call to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// What the provider's discovery said, per issuer, and when it was fetched.
static DISCOVERED: Mutex<Option<HashMap<String, (Instant, CoreProviderMetadata)>>> = Mutex::new(None);

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ProviderCallError(String);

/// Calls the provider: no redirects followed (they would open the server to SSRF), a timeout, and
/// every HTTP status handed back for the protocol to read.
fn call_provider(request: HttpRequest) -> Result<HttpResponse, ProviderCallError> {
    static AGENT: std::sync::OnceLock<ureq::Agent> = std::sync::OnceLock::new();
    let agent = AGENT.get_or_init(|| {
        ureq::Agent::config_builder()
            .timeout_global(Some(PROVIDER_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .user_agent(concat!("holdfast/", env!("CARGO_PKG_VERSION")))
            .build()
            .into()
    });
    let mut response = agent.run(request).map_err(|e| ProviderCallError(e.to_string()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.body_mut().read_to_vec().map_err(|e| ProviderCallError(e.to_string()))?;
    let mut out = HttpResponse::new(body);
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

fn unavailable(what: impl std::fmt::Display) -> CoreError {
    CoreError::Unauthenticated(format!(
        "The identity provider could not be reached, or answered wrongly ({what}). Try again in a minute; if it persists, tell your admin."
    ))
}

/// The provider's metadata and keys (cached for an hour; `fresh` fetches them again, as after a
/// key rotation).
fn metadata(issuer: &str, fresh: bool) -> Result<CoreProviderMetadata, CoreError> {
    if !fresh
        && let Ok(guard) = DISCOVERED.lock()
        && let Some((at, m)) = guard.as_ref().and_then(|map| map.get(issuer))
        && at.elapsed() < DISCOVERY_TTL
    {
        return Ok(m.clone());
    }
    let url = IssuerUrl::new(issuer.to_string()).map_err(|e| unavailable(format!("the issuer URL: {e}")))?;
    let m = CoreProviderMetadata::discover(&url, &call_provider).map_err(|e| unavailable(error_chain(&e)))?;
    if let Ok(mut guard) = DISCOVERED.lock() {
        guard.get_or_insert_with(HashMap::new).insert(issuer.to_string(), (Instant::now(), m.clone()));
    }
    Ok(m)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn client(
    sso: &SingleSignOn,
    redirect: &str,
    fresh: bool,
) -> Result<
    CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    >,
    CoreError,
> {
    let secret = Some(sso.client_secret.clone()).filter(|s| !s.is_empty()).map(ClientSecret::new);
    let redirect = RedirectUrl::new(redirect.to_string()).map_err(|e| unavailable(format!("the redirect URL: {e}")))?;
    Ok(CoreClient::from_provider_metadata(metadata(&sso.issuer, fresh)?, ClientId::new(sso.client_id.clone()), secret)
        .set_redirect_uri(redirect))
}

/// A sign-on begun: where to send the browser, and what to keep until it comes back.
pub struct Begun {
    pub authorize_url: String,
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

/// Builds the provider's authorization URL (code flow, PKCE S256, `openid email profile`).
pub fn begin(sso: &SingleSignOn, redirect: &str) -> Result<Begun, CoreError> {
    let client = client(sso, redirect, false)?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
        .add_scope(Scope::new("email".into()))
        .add_scope(Scope::new("profile".into()))
        .set_pkce_challenge(challenge)
        .url();
    Ok(Begun {
        authorize_url: url.to_string(),
        state: state.secret().clone(),
        nonce: nonce.secret().clone(),
        pkce_verifier: verifier.secret().clone(),
    })
}

/// Exchanges the code for tokens and checks the ID token: signed by one of the provider's keys
/// with an asymmetric algorithm, issued by the configured issuer, for this client, not expired,
/// and carrying the nonce this sign-on sent.
pub fn finish(
    sso: &SingleSignOn,
    redirect: &str,
    code: &str,
    pkce_verifier: &str,
    nonce: &str,
) -> Result<ProviderIdentity, CoreError> {
    let refused =
        |what: String| CoreError::Unauthenticated(format!("The identity provider's answer was refused: {what}."));
    let client = client(sso, redirect, false)?;
    let tokens = client
        .exchange_code(AuthorizationCode::new(code.to_string()))
        .map_err(|e| unavailable(e.to_string()))?
        .set_pkce_verifier(PkceCodeVerifier::new(pkce_verifier.to_string()))
        .request(&call_provider)
        .map_err(|e| refused(format!("the code exchange failed: {}", error_chain(&e))))?;
    let id_token = tokens.id_token().ok_or_else(|| refused("no ID token came back".into()))?;
    let algs = [
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
        CoreJwsSigningAlgorithm::RsaSsaPssSha256,
        CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        CoreJwsSigningAlgorithm::EcdsaP384Sha384,
        CoreJwsSigningAlgorithm::EdDsa,
    ];
    let nonce = Nonce::new(nonce.to_string());
    let verified = {
        let verifier = client.id_token_verifier().set_allowed_algs(algs.clone());
        id_token.claims(&verifier, &nonce).cloned()
    };
    // A key the cached JWKS does not know may be a rotated one: fetch the keys once more.
    let claims = match verified {
        Ok(c) => c,
        Err(openidconnect::ClaimsVerificationError::SignatureVerification(_)) => {
            let again = self::client(sso, redirect, true)?;
            let verifier = again.id_token_verifier().set_allowed_algs(algs);
            id_token.claims(&verifier, &nonce).map_err(|e| refused(error_chain(&e)))?.clone()
        }
        Err(e) => return Err(refused(error_chain(&e))),
    };
    Ok(ProviderIdentity {
        issuer: claims.issuer().to_string(),
        subject: claims.subject().to_string(),
        email: claims.email().map(|e| e.to_string()),
        email_verified: claims.email_verified(),
    })
}
