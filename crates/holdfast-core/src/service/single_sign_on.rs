//! Single sign-on with the company's OpenID Connect provider: the admin's configuration, the
//! sign-ons begun in a browser (kept in the database until the provider sends the browser back,
//! then used once), and the session a verified identity opens. The protocol itself (discovery, the
//! code exchange, checking the ID token's signature, issuer, audience, expiry and nonce) is the web
//! layer's, which hands the services only an identity it has verified.

use serde::{Deserialize, Serialize};
use serde_json::json;

use super::{Holdfast, SESSION_DAYS, SignedIn, append_events};
use crate::coworker::{Actor, Channel, Role};
use crate::error::{CoreError, FieldError};
use crate::event::{NewEvent, action};
use crate::secret;
use crate::storage::{Credential, Database, SignInRequest};
use crate::time::MICROS_PER_DAY;

/// The settings key of the single sign-on configuration (JSON).
pub const SINGLE_SIGN_ON_SETTING: &str = "single_sign_on";
/// How long a sign-on begun in a browser may take at the identity provider.
pub const SIGN_IN_REQUEST_MINUTES: i64 = 10;
/// Hours a session begun through the identity provider lasts when the admin sets none.
pub const DEFAULT_SSO_SESSION_HOURS: i64 = 12;

/// Single sign-on as the admin configured it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SingleSignOn {
    /// The provider's issuer URL (its discovery document is at
    /// `{issuer}/.well-known/openid-configuration`).
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    /// What the sign-in button names: "Sign in with {name}".
    pub name: String,
    /// Whether co-workers may still sign in with a password.
    pub passwords: bool,
    /// With passwords off, the admin who keeps one (break glass, for when the provider is down).
    pub break_glass: Option<String>,
    /// Sessions begun through the provider end after this many hours.
    pub session_hours: i64,
}

impl SingleSignOn {
    /// The configuration without its secret, for pages, the API and the event log.
    pub fn to_public_json(&self) -> serde_json::Value {
        json!({"issuer": self.issuer, "client_id": self.client_id, "client_secret_set": !self.client_secret.is_empty(),
               "name": self.name, "passwords": self.passwords, "break_glass": self.break_glass,
               "session_hours": self.session_hours})
    }
}

/// A change to single sign-on: `None` fields keep what is set (the client secret, when left
/// empty, too).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct SingleSignOnChange {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub name: Option<String>,
    pub passwords: Option<bool>,
    pub break_glass: Option<String>,
    pub session_hours: Option<i64>,
}

/// An identity the web layer verified in an ID token from the configured provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderIdentity {
    pub issuer: String,
    pub subject: String,
    pub email: Option<String>,
    pub email_verified: Option<bool>,
}

pub(crate) fn parse(text: &str) -> Option<SingleSignOn> {
    serde_json::from_str(text).ok()
}

/// An https URL, or plain http to a host that cannot be on the public internet: this machine,
/// a private network address, or a single-label name (a container beside Holdfast, a test kit).
fn is_url(u: &str) -> bool {
    if u.contains(char::is_whitespace) {
        return false;
    }
    if let Some(rest) = u.strip_prefix("https://") {
        return !rest.is_empty();
    }
    let Some(rest) = u.strip_prefix("http://") else { return false };
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private(),
        Ok(std::net::IpAddr::V6(ip)) => ip.is_loopback(),
        // A single-label name: letters, digits and hyphens, starting with a letter (so neither a
        // number that resolvers read as an address, nor an escaped dot).
        Err(_) => {
            host.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        }
    }
}

impl<D: Database> Holdfast<D> {
    /// Turns single sign-on on or changes it (admins); `None` turns it off (passwords work again
    /// for everyone). Every value is checked first; the change is a `setting.update` event that
    /// never holds the client secret.
    pub fn set_single_sign_on(
        &self,
        actor: &Actor,
        change: Option<SingleSignOnChange>,
    ) -> Result<Option<SingleSignOn>, CoreError> {
        self.require_admin(actor, "change single sign-on")?;
        let before = self.settings()?.single_sign_on.clone();
        let after = match change {
            None => None,
            Some(ch) => {
                let old = before.clone();
                let pick = |new: Option<String>, old: Option<&str>| {
                    new.map(|v| v.trim().to_string()).or(old.map(String::from)).unwrap_or_default()
                };
                // Kept exactly as entered: discovery compares the issuer character for character
                // (Auth0's ends with a slash).
                let issuer = pick(ch.issuer, old.as_ref().map(|o| o.issuer.as_str()));
                let client_id = pick(ch.client_id, old.as_ref().map(|o| o.client_id.as_str()));
                let client_secret = match ch.client_secret.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
                    Some(s) => s,
                    None => old.as_ref().map(|o| o.client_secret.clone()).unwrap_or_default(),
                };
                let name = pick(ch.name, old.as_ref().map(|o| o.name.as_str()));
                let passwords = ch.passwords.or(old.as_ref().map(|o| o.passwords)).unwrap_or(true);
                let break_glass = match ch.break_glass {
                    Some(b) => Some(b.trim().to_lowercase()).filter(|b| !b.is_empty()),
                    None => old.as_ref().and_then(|o| o.break_glass.clone()),
                };
                let session_hours =
                    ch.session_hours.or(old.as_ref().map(|o| o.session_hours)).unwrap_or(DEFAULT_SSO_SESSION_HOURS);
                let mut errors = Vec::new();
                if !is_url(&issuer) {
                    errors.push(FieldError::new(
                        "issuer",
                        "must be the provider's https:// issuer URL (plain http only to this machine or a private network)",
                    ));
                }
                if client_id.is_empty() || client_id.chars().count() > 300 {
                    errors.push(FieldError::new("client_id", "is required (the id the provider gave Holdfast)"));
                }
                if client_secret.chars().count() > 1000 {
                    errors.push(FieldError::new("client_secret", "is longer than 1,000 characters"));
                }
                if !(1..=SESSION_DAYS * 24).contains(&session_hours) {
                    errors.push(FieldError::new(
                        "session_hours",
                        format!("must be between 1 and {} hours", SESSION_DAYS * 24),
                    ));
                }
                if name.chars().count() > 60 {
                    errors.push(FieldError::new("name", "keep it under 60 characters"));
                }
                if !passwords {
                    let admin = match &break_glass {
                        Some(email) => self.db.read(|tx| Ok(tx.get_coworker_by_email(email)?))?,
                        None => None,
                    };
                    if !admin.is_some_and(|a| a.role == Role::Admin && a.status.may_sign_in()) {
                        errors.push(FieldError::new(
                            "break_glass",
                            "with passwords off, name an active admin who keeps one (for when the provider is down)",
                        ));
                    }
                }
                if !errors.is_empty() {
                    return Err(CoreError::Invalid(errors));
                }
                let name = if name.is_empty() { "your identity provider".into() } else { name };
                Some(SingleSignOn { issuer, client_id, client_secret, name, passwords, break_glass, session_hours })
            }
        };
        let text = match &after {
            Some(sso) => serde_json::to_string(sso).map_err(|e| CoreError::invalid("single_sign_on", e.to_string()))?,
            None => String::new(),
        };
        self.db.write(|tx| {
            tx.set_setting(SINGLE_SIGN_ON_SETTING, &text)?;
            super::settings::bump_version(tx)?;
            let show = |s: &Option<SingleSignOn>| s.as_ref().map(SingleSignOn::to_public_json);
            let secret_changed = before.as_ref().map(|b| &b.client_secret) != after.as_ref().map(|a| &a.client_secret);
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::SETTING_UPDATE)
                        .object("setting", SINGLE_SIGN_ON_SETTING)
                        .detail("changes", json!({"single_sign_on": {"from": show(&before), "to": show(&after)}}))
                        .detail("client_secret_changed", json!(secret_changed)),
                ],
            )?;
            Ok(())
        })?;
        self.forget_settings();
        Ok(after)
    }

    /// Remembers a sign-on begun in a browser until the provider sends it back.
    pub fn remember_sign_in_request(
        &self,
        state: &str,
        nonce: &str,
        pkce_verifier: &str,
        next: &str,
    ) -> Result<(), CoreError> {
        let now = self.now();
        let request = SignInRequest {
            state_hash: secret::hash_token(state),
            nonce: nonce.into(),
            pkce_verifier: pkce_verifier.into(),
            next: next.into(),
            created_at: now,
        };
        self.db.write(|tx| Ok(tx.insert_sign_in_request(&request, now - SIGN_IN_REQUEST_MINUTES * 60_000_000)?))
    }

    /// The sign-on the provider's answer names by its `state`: once, and within ten minutes. A
    /// replayed or forged state finds nothing and is recorded as a failed sign-in.
    pub fn take_sign_in_request(
        &self,
        state: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<SignInRequest, CoreError> {
        let now = self.now();
        let found = self.db.write(|tx| Ok(tx.take_sign_in_request(&secret::hash_token(state))?))?;
        match found {
            Some(r) if r.created_at >= now - SIGN_IN_REQUEST_MINUTES * 60_000_000 => Ok(r),
            other => {
                let reason = if other.is_some() { "sign-in took too long" } else { "unknown or used state" };
                self.failed_provider_sign_in(None, reason, client_addr, user_agent)?;
                Err(CoreError::Unauthenticated(
                    "this sign-in link has expired or was already used; start again from the sign-in page".into(),
                ))
            }
        }
    }

    fn failed_provider_sign_in(
        &self,
        email: Option<&str>,
        reason: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(), CoreError> {
        let mut who = Actor::operator();
        who.channel = Channel::Session;
        who.client_addr = client_addr;
        who.user_agent = user_agent;
        let mut event = NewEvent::by(&who, self.now(), action::LOGIN_FAILED)
            .detail("method", json!("single_sign_on"))
            .detail("reason", json!(reason));
        if let Some(e) = email {
            event = event.detail("email", json!(e));
            event.coworker_id = self.db.read(|tx| Ok(tx.get_coworker_by_email(e)?))?.map(|c| c.id);
        }
        self.db.write(|tx| Ok(append_events(tx, vec![event])?))
    }

    /// A refusal the web layer met checking the provider's answer (a bad signature, a wrong
    /// audience…), recorded as a failed sign-in.
    pub fn note_refused_sign_on(
        &self,
        reason: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(), CoreError> {
        self.failed_provider_sign_in(None, reason, client_addr, user_agent)
    }

    /// Opens a session for the co-worker whose verified email the provider vouched for. The
    /// email must be verified (`email_verified: true`) and belong to a co-worker who may sign in;
    /// the session ends after the configured hours (and at once when SCIM deactivates them).
    pub fn sign_in_with_provider(
        &self,
        who: &ProviderIdentity,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<SignedIn, CoreError> {
        let sso = self
            .settings()?
            .single_sign_on
            .clone()
            .ok_or_else(|| CoreError::Unauthenticated("single sign-on is not set up".into()))?;
        let email = who.email.as_deref().map(|e| e.trim().to_lowercase());
        let refuse = |email: Option<&str>, reason: &str, message: String| -> Result<SignedIn, CoreError> {
            self.failed_provider_sign_in(email, reason, client_addr.clone(), user_agent.clone())?;
            Err(CoreError::Unauthenticated(message))
        };
        let Some(email) = email else {
            return refuse(None, "no email", format!("{} did not say your email; ask your admin", sso.name));
        };
        // Microsoft Entra ID sends no `email_verified`: an email the identity provider itself
        // provisioned by SCIM counts as verified by it.
        let provisioned = self.db.read(|tx| {
            Ok(match tx.get_coworker_by_email(&email)? {
                Some(c) => tx.get_identity(c.id)?.is_some_and(|i| i.removed_at.is_none() && i.provisioned_at.is_some()),
                None => false,
            })
        })?;
        let verified = who.email_verified == Some(true) || (who.email_verified.is_none() && provisioned);
        if !verified {
            return refuse(
                Some(&email),
                "email not verified",
                format!(
                    "{} has not verified the email {email}; Holdfast matches co-workers by verified email",
                    sso.name
                ),
            );
        }
        let found = self.db.read(|tx| Ok(tx.get_coworker_by_email(&email)?))?;
        let c = match found {
            Some(c) if c.status.may_sign_in() => c,
            Some(c) => {
                return refuse(
                    Some(&email),
                    "co-worker is not active",
                    format!("{} is {} in Holdfast", c.email, c.status.as_str()),
                );
            }
            None => {
                return refuse(
                    Some(&email),
                    "unknown email",
                    format!(
                        "no co-worker has the email {email}; ask an admin to add you (or to provision you by SCIM)"
                    ),
                );
            }
        };
        // The first sign-in through this provider binds the co-worker to its account (issuer and
        // subject); from then on only that account signs them in, so an email moved to another
        // account at the provider (or in Holdfast) opens nothing.
        let account = format!("{} {}", who.issuer, who.subject);
        let bound = self.db.write(|tx| {
            let mut identity =
                tx.get_identity(c.id)?.unwrap_or(crate::coworker::Identity { coworker_id: c.id, ..Default::default() });
            match identity.sso_subject.as_deref() {
                Some(s) if s == account => Ok(true),
                Some(s) if s.split(' ').next() == Some(who.issuer.as_str()) => Ok(false),
                _ => {
                    identity.sso_subject = Some(account.clone());
                    identity.updated_at = self.now();
                    tx.put_identity(&identity)?;
                    Ok(true)
                }
            }
        })?;
        if !bound {
            return refuse(
                Some(&email),
                "another account at the identity provider",
                format!("{email} signs in through {} with another account; ask your admin", sso.name),
            );
        }
        let now = self.now();
        let hours = sso.session_hours.clamp(1, SESSION_DAYS * 24);
        let (session, session_hash) = secret::new_token();
        let credential = Credential {
            id: crate::id::new_id(),
            coworker_id: c.id,
            kind: "session".into(),
            name: user_agent.clone().unwrap_or_else(|| "session".into()).chars().take(100).collect(),
            secret_hash: session_hash,
            created_at: now,
            expires_at: Some(now + hours * MICROS_PER_DAY / 24),
            last_used_at: Some(now),
            revoked_at: None,
        };
        let mut actor = Actor::operator();
        actor.channel = Channel::Session;
        actor.client_addr = client_addr;
        actor.user_agent = user_agent;
        actor.credential_id = Some(credential.id);
        actor.coworker = Some(c.clone());
        self.db.write(|tx| {
            tx.insert_credential(&credential)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(&actor, now, action::LOGIN)
                        .detail("method", json!("single_sign_on"))
                        .detail("issuer", json!(who.issuer))
                        .detail("subject", json!(who.subject)),
                ],
            )?;
            Ok(())
        })?;
        Ok(SignedIn { coworker: c, session, device: None, pending: false })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn plain_http_only_to_hosts_off_the_internet() {
        for ok in [
            "https://login.example.com",
            "http://localhost:8080/realms/x",
            "http://127.0.0.1:9",
            "http://[::1]:80",
            "http://10.1.2.3",
            "http://192.168.0.5:8443",
            "http://keycloak:8080/realms/acme",
        ] {
            assert!(super::is_url(ok), "{ok}");
        }
        for bad in [
            "http://login.example.com",
            "http://localhost.evil.com",
            "http://8.8.8.8",
            "http://134744072",
            "http://0x7f000001",
            "http://evil%2ecom",
            "ftp://x",
            "https://",
            "http://",
            "https://a b",
        ] {
            assert!(!super::is_url(bad), "{bad}");
        }
    }
}
