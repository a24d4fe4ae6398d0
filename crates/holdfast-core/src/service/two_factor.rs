//! Two-factor sign-in for password users (TOTP, RFC 6238, through `totp-rs`): a co-worker enrols
//! an authenticator app (a QR code of its `otpauth://` URL, confirmed by one code) and gets ten
//! single-use recovery codes; from then on a password sign-in also asks for a code. A code is
//! accepted within one 30-second step either side, and never twice. An admin setting makes it
//! required for admins; a lost device is reset by another admin, recorded.

use rand::RngExt;
use serde_json::json;
use totp_rs::{Secret, Totp};
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::coworker::{Actor, CoWorker, Role};
use crate::error::CoreError;
use crate::event::NewEvent;
use crate::secret;
use crate::storage::{Database, SecondFactor, Tx};

pub const TWO_FACTOR_ENROL: &str = "two_factor.enrol";
pub const TWO_FACTOR_RESET: &str = "two_factor.reset";
pub const TWO_FACTOR_RECOVERY_USED: &str = "two_factor.recovery_used";
/// The settings key: `true` when admins must use two-factor sign-in.
pub const TWO_FACTOR_FOR_ADMINS_SETTING: &str = "two_factor_for_admins";
/// How many recovery codes an enrolment gives.
pub const RECOVERY_CODES: usize = 10;

/// An authenticator being enrolled: what the app needs (shown once, until confirmed).
#[derive(Debug, Clone)]
pub struct Enrolment {
    /// The secret in base32, for typing into an app by hand.
    pub secret: String,
    /// `otpauth://totp/Holdfast:{email}?secret=…&issuer=Holdfast`, for the QR code.
    pub otpauth_url: String,
}

fn authenticator(secret_base32: &str, account: &str) -> Result<Totp, CoreError> {
    let bytes = Secret::try_from_base32(secret_base32)
        .map_err(|_| CoreError::invalid("two_factor", "the stored authenticator secret is damaged; reset it"))?;
    totp_rs::Builder::new()
        .with_secret(bytes.as_bytes().to_vec())
        .with_account_name(account.replace(':', ""))
        .with_issuer(Some("Holdfast"))
        .build()
        .map_err(|e| CoreError::invalid("two_factor", e.to_string()))
}

/// A recovery code: `xxxxx-xxxxx`, letters and digits that are not easily confused.
fn recovery_code() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    let mut rng = rand::rng();
    let mut pick = || ALPHABET[rng.random_range(0..ALPHABET.len())] as char;
    let first: String = (0..5).map(|_| pick()).collect();
    let second: String = (0..5).map(|_| pick()).collect();
    format!("{first}-{second}")
}

fn normalize_code(code: &str) -> String {
    let code = code.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    // A recovery code typed without its hyphen.
    if code.len() == 10 && code.is_ascii() && code.chars().any(|c| c.is_ascii_alphabetic()) {
        return format!("{}-{}", &code[..5], &code[5..]);
    }
    code
}

impl<D: Database> Holdfast<D> {
    fn me(&self, actor: &Actor) -> Result<CoWorker, CoreError> {
        actor.coworker.clone().ok_or_else(|| CoreError::invalid("as", "two-factor sign-in is a co-worker's own"))
    }

    /// Whether the co-worker has a confirmed authenticator, and how many recovery codes are left.
    pub fn two_factor_of(&self, coworker: Uuid) -> Result<Option<i64>, CoreError> {
        self.db.read(|tx| {
            Ok(match tx.get_second_factor(coworker)?.filter(|f| f.confirmed_at.is_some()) {
                Some(_) => Some(tx.unused_recovery_codes(coworker)?),
                None => None,
            })
        })
    }

    /// Starts enrolling an authenticator app for the actor, who gives their password again (a
    /// session left open on someone's desk cannot lock its owner out with a stranger's phone): a
    /// new secret, not asked for until a code from the app confirms it. An authenticator already
    /// confirmed is not replaced here.
    pub fn begin_two_factor(&self, actor: &Actor, password: &str) -> Result<Enrolment, CoreError> {
        let me = self.me(actor)?;
        let hash = self.db.read(|tx| Ok(tx.get_coworker(me.id)?.and_then(|c| c.password_hash)))?;
        let Some(hash) = hash else {
            return Err(CoreError::Conflict(
                "two-factor sign-in is for signing in with a password; you sign in through the identity provider"
                    .into(),
            ));
        };
        // Guesses here count against the sign-in limits, as at the sign-in page.
        let reservation = self.sign_in_limits.reserve(&me.email, actor.client_addr.as_deref(), false, self.now())?;
        if !secret::verify_password(password, &hash) {
            return Err(CoreError::invalid("password", "is not your current password"));
        }
        self.sign_in_limits.give_back(reservation);
        let mut bytes = [0u8; 20];
        rand::rng().fill(&mut bytes[..]);
        let secret = Secret::from(bytes.to_vec()).to_base32();
        let url =
            authenticator(&secret, &me.email)?.to_url().map_err(|e| CoreError::invalid("two_factor", e.to_string()))?;
        self.db.write(|tx| {
            if tx.get_second_factor(me.id)?.is_some_and(|f| f.confirmed_at.is_some()) {
                return Err(CoreError::Conflict(
                    "two-factor sign-in is already on; to move to a new device, ask another admin to reset it".into(),
                ));
            }
            tx.put_second_factor(&SecondFactor {
                coworker_id: me.id,
                secret: secret.clone(),
                confirmed_at: None,
                last_step: None,
                created_at: self.now(),
            })?;
            Ok(())
        })?;
        Ok(Enrolment { secret, otpauth_url: url })
    }

    /// The authenticator being enrolled (not confirmed yet), to show again after a wrong code.
    pub fn two_factor_enrolment(&self, actor: &Actor) -> Result<Option<Enrolment>, CoreError> {
        let me = self.me(actor)?;
        let factor = self.db.read(|tx| Ok(tx.get_second_factor(me.id)?))?;
        match factor.filter(|f| f.confirmed_at.is_none()) {
            Some(f) => {
                let url = authenticator(&f.secret, &me.email)?
                    .to_url()
                    .map_err(|e| CoreError::invalid("two_factor", e.to_string()))?;
                Ok(Some(Enrolment { secret: f.secret, otpauth_url: url }))
            }
            None => Ok(None),
        }
    }

    /// Confirms the authenticator with a code from it; answers the recovery codes (shown once,
    /// stored as hashes).
    pub fn confirm_two_factor(&self, actor: &Actor, code: &str) -> Result<Vec<String>, CoreError> {
        let me = self.me(actor)?;
        let codes: Vec<String> = (0..RECOVERY_CODES).map(|_| recovery_code()).collect();
        let hashes: Vec<String> = codes.iter().map(|c| secret::hash_token(c)).collect();
        let now = self.now();
        self.db.write(|tx| {
            let factor = tx
                .get_second_factor(me.id)?
                .filter(|f| f.confirmed_at.is_none())
                .ok_or_else(|| CoreError::Conflict("start the enrolment first (a new QR code)".into()))?;
            let step = authenticator(&factor.secret, &me.email)?
                .check(&normalize_code(code), (now / 1_000_000).max(0) as u64)
                .ok_or_else(|| {
                    CoreError::invalid("code", "that code does not match; type the 6 digits the app shows now")
                })?;
            tx.put_second_factor(&SecondFactor { confirmed_at: Some(now), last_step: Some(step as i64), ..factor })?;
            tx.insert_recovery_codes(me.id, &hashes, now)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, now, TWO_FACTOR_ENROL)
                        .object("coworker", me.id)
                        .detail("recovery_codes", json!(RECOVERY_CODES)),
                ],
            )?;
            Ok(())
        })?;
        Ok(codes)
    }

    /// Removes a co-worker's authenticator and recovery codes (their lost device), and ends their
    /// sessions: another admin does it, never they themselves.
    pub fn reset_two_factor(&self, actor: &Actor, who: &str) -> Result<CoWorker, CoreError> {
        self.require_admin(actor, "reset another co-worker's two-factor sign-in")?;
        self.db.write(|tx| {
            let c = self.resolve_coworker(tx, "coworker", who)?;
            if actor.id() == Some(c.id) {
                return Err(CoreError::forbidden("another admin resets your two-factor sign-in, not you"));
            }
            if tx.get_second_factor(c.id)?.is_none() {
                return Err(CoreError::Conflict(format!("{} has no two-factor sign-in to reset", c.email)));
            }
            tx.delete_second_factor(c.id)?;
            let now = self.now();
            // Their sign-ins end; their API and SCIM tokens are not sign-ins and keep working.
            let mut revoked = 0;
            for cred in tx.list_credentials(c.id)? {
                if matches!(cred.kind.as_str(), "session" | "pending" | "device") && cred.revoked_at.is_none() {
                    revoked += tx.revoke_credentials(c.id, Some(cred.id), now)?;
                }
            }
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, now, TWO_FACTOR_RESET)
                        .object("coworker", c.id)
                        .detail("credentials_revoked", json!(revoked)),
                ],
            )?;
            Ok(c)
        })
    }

    /// Inside a sign-in: whether `code` is a current authenticator code (a step not used before)
    /// or an unused recovery code of the co-worker's (then used up, recorded).
    pub(crate) fn second_factor_passes(
        &self,
        tx: &mut dyn Tx,
        who: &Actor,
        c: &CoWorker,
        code: &str,
    ) -> Result<bool, CoreError> {
        let Some(factor) = tx.get_second_factor(c.id)?.filter(|f| f.confirmed_at.is_some()) else { return Ok(true) };
        let code = normalize_code(code);
        let now = self.now();
        if code.contains('-') {
            if tx.use_recovery_code(c.id, &secret::hash_token(&code), now)? {
                let left = tx.unused_recovery_codes(c.id)?;
                append_events(
                    tx,
                    vec![
                        NewEvent::by(who, now, TWO_FACTOR_RECOVERY_USED)
                            .object("coworker", c.id)
                            .detail("left", json!(left)),
                    ],
                )?;
                return Ok(true);
            }
            return Ok(false);
        }
        match authenticator(&factor.secret, &c.email)?.check(&code, (now / 1_000_000).max(0) as u64) {
            Some(step) => Ok(tx.advance_second_factor(c.id, step as i64)?),
            None => Ok(false),
        }
    }

    /// Whether the co-worker must give a second factor when signing in with a password.
    pub(crate) fn has_second_factor(&self, tx: &mut dyn Tx, c: &CoWorker) -> Result<bool, CoreError> {
        Ok(tx.get_second_factor(c.id)?.is_some_and(|f| f.confirmed_at.is_some()))
    }

    /// Whether the actor must enrol an authenticator before anything else (an admin, when the
    /// admin setting requires two-factor sign-in for admins, who has none).
    pub fn must_enrol_two_factor(&self, actor: &Actor) -> Result<bool, CoreError> {
        let Some(c) = &actor.coworker else { return Ok(false) };
        if c.role != Role::Admin || c.password_hash.is_none() || !self.settings()?.two_factor_for_admins {
            return Ok(false);
        }
        self.db.read(|tx| Ok(!self.has_second_factor(tx, c)?))
    }
}
