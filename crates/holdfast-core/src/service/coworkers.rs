//! Co-workers, teams, sign-in, sessions and API tokens, and admin settings.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::coworker::{Actor, Channel, CoWorker, Role, Seniority, Status, Team};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::record::normalize_email;
use crate::secret;
use crate::storage::{Credential, Database, Tx};
use crate::time::MICROS_PER_DAY;

/// A co-worker to add.
#[derive(Debug, Clone)]
pub struct NewCoWorker {
    pub email: String,
    pub name: String,
    pub role: Role,
    pub seniority: Option<Seniority>,
    /// Team name; created if it does not exist yet.
    pub team: Option<String>,
    /// Email of the co-worker's manager.
    pub manager: Option<String>,
    pub title: Option<String>,
    pub password: Option<String>,
    /// The password is one someone else chose for them (generated and shown once): they must
    /// change it at their first sign-in.
    pub password_must_change: bool,
}

/// Changes to a co-worker (admin).
#[derive(Debug, Clone, Default)]
pub struct CoWorkerChanges {
    /// A new email (the identity provider renames users); it must not be anyone else's.
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Option<Role>,
    pub status: Option<Status>,
    pub seniority: Option<Seniority>,
    pub team: Option<Option<String>>,
    pub manager: Option<Option<String>>,
    pub title: Option<Option<String>>,
    pub password: Option<String>,
    /// With `password`: it is a temporary one the co-worker must change at their next sign-in.
    pub password_must_change: bool,
    /// With `status: departed`: the admin was told how many records the co-worker still owns and
    /// confirmed (without it, setting someone departed who owns records is refused, saying how many).
    pub confirm_owned_records: bool,
}

/// A freshly created token: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub credential: Credential,
    pub secret: String,
}

/// The co-workers and teams, for working out who manages whom.
#[derive(Debug, Clone, Default)]
pub struct OrgChart {
    pub coworkers: Vec<CoWorker>,
    pub teams: Vec<Team>,
}

impl OrgChart {
    /// Co-workers `id` manages: direct reports, members of teams they manage, and so on down; a
    /// director, everyone.
    pub fn managed_by(&self, id: Uuid) -> Vec<Uuid> {
        if self.coworkers.iter().any(|c| c.id == id && c.role == crate::coworker::Role::Director) {
            return self.coworkers.iter().filter(|c| c.id != id).map(|c| c.id).collect();
        }
        let mut found: Vec<Uuid> = Vec::new();
        let mut frontier = vec![id];
        while let Some(m) = frontier.pop() {
            let teams: Vec<Uuid> = self.teams.iter().filter(|t| t.manager_id == Some(m)).map(|t| t.id).collect();
            for c in &self.coworkers {
                let reports = c.manager_id == Some(m) || c.team_id.is_some_and(|t| teams.contains(&t));
                if reports && c.id != id && !found.contains(&c.id) {
                    found.push(c.id);
                    frontier.push(c.id);
                }
            }
        }
        found
    }
    pub fn team_of(&self, id: Uuid) -> Vec<Uuid> {
        let team = self.coworkers.iter().find(|c| c.id == id).and_then(|c| c.team_id);
        match team {
            Some(t) => self.coworkers.iter().filter(|c| c.team_id == Some(t)).map(|c| c.id).collect(),
            None => vec![id],
        }
    }
}

/// Sessions last this long without use.
pub const SESSION_DAYS: i64 = 14;
/// How long a browser that signed in is remembered (its device cookie).
pub const DEVICE_DAYS: i64 = 365;

/// A sign-in attempt.
pub struct SignIn<'a> {
    pub email: &'a str,
    pub password: &'a str,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// The device token the browser holds from an earlier sign-in, if any.
    pub device: Option<&'a str>,
    /// Give the browser a device token when it has none for this account.
    pub remember_device: bool,
    /// The second factor (an authenticator code or a recovery code), for co-workers who have one.
    pub code: Option<&'a str>,
    /// Without `code`, a co-worker with a second factor gets a pending sign-in to finish with
    /// [`Holdfast::complete_sign_in`] (the pages' two steps) instead of a refusal (the API).
    pub pending_allowed: bool,
}

/// A successful sign-in.
pub struct SignedIn {
    pub coworker: CoWorker,
    /// The session secret (the cookie's value, or the API's bearer token).
    pub session: String,
    /// A new device token for the browser to keep, when one was made.
    pub device: Option<String>,
    /// `session` is a pending sign-in's secret, not a session: the second factor comes next.
    pub pending: bool,
}

/// What every password sign-in hears while passwords are off (the break-glass admin's wrong
/// password too, so the answer does not tell which email keeps one).
fn passwords_off_refusal(provider: &str) -> CoreError {
    CoreError::Forbidden(format!(
        "password sign-in is off here (except for the break-glass admin): use \"Sign in with {provider}\""
    ))
}

/// A sign-in waiting for its second factor lasts this long.
pub const PENDING_SIGN_IN_MINUTES: i64 = 5;

/// A token's use is recorded as a system event at most this often.
const TOKEN_USE_EVENT_EVERY: i64 = 3_600 * 1_000_000;
const ORG_CACHE_TTL: Duration = Duration::from_secs(5);

fn validate_name(name: &str) -> Result<String, CoreError> {
    let n = name.trim();
    if n.is_empty() || n.chars().count() > 200 {
        return Err(CoreError::invalid("name", "must be between 1 and 200 characters"));
    }
    Ok(n.to_string())
}

impl<D: Database> Holdfast<D> {
    pub(crate) fn require_admin(&self, actor: &Actor, what: &str) -> Result<(), CoreError> {
        if actor.is_admin() { Ok(()) } else { Err(CoreError::forbidden(format!("only an admin may {what}"))) }
    }

    fn resolve_team(
        &self,
        tx: &mut dyn Tx,
        name: &str,
        events: &mut Vec<NewEvent>,
        actor: &Actor,
    ) -> Result<Uuid, CoreError> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(CoreError::invalid("team", "must be between 1 and 100 characters"));
        }
        if let Some(t) = tx.list_teams()?.into_iter().find(|t| t.name.eq_ignore_ascii_case(name)) {
            return Ok(t.id);
        }
        let team = Team { id: crate::id::new_id(), name: name.to_string(), manager_id: None };
        tx.insert_team(&team)?;
        events.push(
            NewEvent::by(actor, self.now(), action::TEAM_CREATE).object("team", team.id).detail("name", json!(name)),
        );
        Ok(team.id)
    }

    pub(crate) fn resolve_coworker(
        &self,
        tx: &mut dyn Tx,
        field: &str,
        email_or_id: &str,
    ) -> Result<CoWorker, CoreError> {
        let found = match Uuid::parse_str(email_or_id) {
            Ok(id) => tx.get_coworker(id)?,
            Err(_) => tx.get_coworker_by_email(&email_or_id.trim().to_lowercase())?,
        };
        found.ok_or_else(|| CoreError::invalid(field, format!("no co-worker has the email or id '{email_or_id}'")))
    }

    /// Adds a co-worker (admins; the operator may add the first admin).
    pub fn add_coworker(&self, actor: &Actor, new: NewCoWorker) -> Result<CoWorker, CoreError> {
        self.require_admin(actor, "add co-workers")?;
        self.insert_coworker(actor, new, false)
    }

    /// First run: creates the first admin, and only while there are no co-workers at all (checked
    /// in the same transaction, so it can happen once).
    pub fn create_first_admin(
        &self,
        mut new: NewCoWorker,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<CoWorker, CoreError> {
        new.role = Role::Admin;
        let mut actor = Actor::operator();
        actor.channel = Channel::Session;
        actor.client_addr = client_addr;
        actor.user_agent = user_agent;
        self.insert_coworker(&actor, new, true)
    }

    fn insert_coworker(&self, actor: &Actor, new: NewCoWorker, first_only: bool) -> Result<CoWorker, CoreError> {
        normalize_email(&new.email).map_err(|r| CoreError::invalid("email", r))?;
        validate_name(&new.name)?;
        let password_hash = match &new.password {
            Some(p) => Some(secret::hash_password(p)?),
            None => None,
        };
        let coworker = self.db.write(|tx| {
            if first_only && !tx.list_coworkers()?.is_empty() {
                return Err(CoreError::Conflict(
                    "Holdfast is already set up; sign in, or ask an admin for an account".into(),
                ));
            }
            self.insert_coworker_in(tx, actor, &new, password_hash.clone())
        })?;
        self.forget_org();
        Ok(coworker)
    }

    /// Adds a co-worker inside `tx` (no authorization: callers check it), with its events.
    pub(crate) fn insert_coworker_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        new: &NewCoWorker,
        password_hash: Option<String>,
    ) -> Result<CoWorker, CoreError> {
        let email = normalize_email(&new.email).map_err(|r| CoreError::invalid("email", r))?;
        let name = validate_name(&new.name)?;
        {
            if tx.get_coworker_by_email(&email)?.is_some() {
                return Err(CoreError::Conflict(format!("a co-worker with the email {email} already exists")));
            }
            let mut events = Vec::new();
            let team_id = match &new.team {
                Some(t) => Some(self.resolve_team(tx, t, &mut events, actor)?),
                None => None,
            };
            let manager_id = match &new.manager {
                Some(m) => Some(self.resolve_coworker(tx, "manager", m)?.id),
                None => None,
            };
            let now = self.now();
            let coworker = CoWorker {
                id: crate::id::new_id(),
                email: email.clone(),
                name,
                role: new.role,
                status: Status::Active,
                seniority: new.seniority.unwrap_or(match new.role {
                    Role::Manager => Seniority::Manager,
                    _ => Seniority::Individual,
                }),
                team_id,
                manager_id,
                title: new.title.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(String::from),
                password_must_change: password_hash.is_some() && new.password_must_change,
                password_hash,
                created_at: now,
                updated_at: now,
            };
            tx.insert_coworker(&coworker)?;
            events.push(
                NewEvent::by(actor, now, action::COWORKER_CREATE)
                    .object("coworker", coworker.id)
                    .detail("email", json!(coworker.email))
                    .detail("role", json!(coworker.role.as_str())),
            );
            append_events(tx, events)?;
            Ok(coworker)
        }
    }

    /// Changes a co-worker. Suspending or marking departed revokes their sessions and tokens at once.
    pub fn update_coworker(&self, actor: &Actor, who: &str, ch: CoWorkerChanges) -> Result<CoWorker, CoreError> {
        self.require_admin(actor, "change co-workers")?;
        if ch.status == Some(Status::Departed) && !ch.confirm_owned_records {
            let owned = self.db.read(|tx| {
                let c = self.resolve_coworker(tx, "coworker", who)?;
                let mut owned = Vec::new();
                if c.status != Status::Departed {
                    for kind in super::HANDED_OVER.iter().copied() {
                        let n = tx.count_owned(kind, c.id)?;
                        if n > 0 {
                            owned.push(format!("{n} {}", kind.plural));
                        }
                    }
                }
                Ok((c.name, owned))
            })?;
            if !owned.1.is_empty() {
                return Err(CoreError::Conflict(format!(
                    "{} still owns {}; hand them over first, or confirm that they leave owning them",
                    owned.0,
                    owned.1.join(", ")
                )));
            }
        }
        let password_hash = match &ch.password {
            Some(p) => Some(secret::hash_password(p)?),
            None => None,
        };
        let (updated, became_departing) = self.db.write(|tx| {
            let changed = self.change_coworker_in(tx, actor, who, &ch, password_hash.as_deref())?;
            if changed.0.status == Status::Departed {
                // Set departed by hand: their open departure case records that access ended.
                self.note_departed(tx, actor, changed.0.id)?;
            }
            Ok(changed)
        })?;
        self.forget_org();
        if became_departing {
            // On the watchlist from now on; look back over their last 90 days at once.
            self.look_back(&updated)?;
        }
        Ok(updated)
    }

    /// Changes a co-worker inside `tx` (no authorization: callers check it), writing its
    /// `coworker.update` event; a status that may not sign in revokes every credential. Returns the
    /// co-worker as changed and whether they just became departing.
    pub(crate) fn change_coworker_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        who: &str,
        ch: &CoWorkerChanges,
        password_hash: Option<&str>,
    ) -> Result<(CoWorker, bool), CoreError> {
        {
            let before = self.resolve_coworker(tx, "coworker", who)?;
            let mut c = before.clone();
            let mut events = Vec::new();
            if let Some(e) = &ch.email {
                let e = normalize_email(e).map_err(|r| CoreError::invalid("email", r))?;
                if e != c.email && tx.get_coworker_by_email(&e)?.is_some() {
                    return Err(CoreError::Conflict(format!("a co-worker with the email {e} already exists")));
                }
                c.email = e;
            }
            if let Some(n) = &ch.name {
                c.name = validate_name(n)?;
            }
            if let Some(r) = ch.role {
                c.role = r;
            }
            if let Some(s) = ch.status {
                c.status = s;
            }
            if let Some(s) = ch.seniority {
                c.seniority = s;
            }
            if let Some(t) = &ch.team {
                c.team_id = match t {
                    Some(name) => Some(self.resolve_team(tx, name, &mut events, actor)?),
                    None => None,
                };
            }
            if let Some(m) = &ch.manager {
                c.manager_id = match m {
                    Some(email) => {
                        let m = self.resolve_coworker(tx, "manager", email)?;
                        if m.id == c.id {
                            return Err(CoreError::invalid("manager", "a co-worker cannot be their own manager"));
                        }
                        Some(m.id)
                    }
                    None => None,
                };
            }
            if let Some(t) = &ch.title {
                c.title = t.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(String::from);
            }
            if let Some(hash) = password_hash {
                c.password_hash = Some(hash.to_string());
                c.password_must_change = ch.password_must_change;
            }
            if c == before {
                return Ok((c, false));
            }
            c.updated_at = self.now();
            tx.update_coworker(&c)?;
            // A status Holdfast changed is Holdfast's: the provider's "it switched them off" goes.
            if before.status != c.status
                && let Some(mut identity) = tx.get_identity(c.id)?.filter(|i| i.deactivated_at.is_some())
            {
                identity.deactivated_at = None;
                identity.updated_at = c.updated_at;
                tx.put_identity(&identity)?;
            }
            let mut changes = serde_json::Map::new();
            let pairs = [
                ("email", json!(before.email), json!(c.email)),
                ("name", json!(before.name), json!(c.name)),
                ("role", json!(before.role), json!(c.role)),
                ("status", json!(before.status), json!(c.status)),
                ("seniority", json!(before.seniority), json!(c.seniority)),
                ("team_id", json!(before.team_id), json!(c.team_id)),
                ("manager_id", json!(before.manager_id), json!(c.manager_id)),
                ("title", json!(before.title), json!(c.title)),
            ];
            for (k, from, to) in pairs {
                if from != to {
                    changes.insert(k.into(), json!({"from": from, "to": to}));
                }
            }
            if before.password_hash != c.password_hash {
                changes.insert("password".into(), json!("changed"));
            }
            let mut event = NewEvent::by(actor, c.updated_at, action::COWORKER_UPDATE)
                .object("coworker", c.id)
                .detail("changes", Json::Object(changes));
            if !c.status.may_sign_in() || password_hash.is_some() {
                let revoked = tx.revoke_credentials(c.id, None, c.updated_at)?;
                event = event.detail("credentials_revoked", json!(revoked));
            }
            events.push(event);
            append_events(tx, events)?;
            let leaving = |s: Status| matches!(s, Status::Departing | Status::Departed);
            if leaving(c.status) && !leaving(before.status) {
                self.reengage_leads_in(tx, actor, c.id)?;
            }
            let became_departing = before.status != Status::Departing && c.status == Status::Departing;
            Ok((c, became_departing))
        }
    }

    /// The co-worker directory (everyone signed in may see names, emails and roles).
    pub fn list_coworkers(&self, actor: &Actor) -> Result<Vec<CoWorker>, CoreError> {
        let list = self.db.read(|tx| Ok(tx.list_coworkers()?))?;
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ).object_type("coworker").rows(list.len()),
        ])?;
        Ok(list)
    }

    pub fn get_coworker(&self, actor: &Actor, who: &str) -> Result<CoWorker, CoreError> {
        let c = self.db.read(|tx| self.resolve_coworker(tx, "coworker", who))?;
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::COWORKER_READ).object("coworker", c.id).rows(1),
        ])?;
        Ok(c)
    }

    pub fn list_teams(&self) -> Result<Vec<Team>, CoreError> {
        self.db.read(|tx| Ok(tx.list_teams()?))
    }

    /// Whether anyone has been set up yet (first start).
    pub fn has_coworkers(&self) -> Result<bool, CoreError> {
        self.db.read(|tx| Ok(!tx.list_coworkers()?.is_empty()))
    }

    /// Creates an API token for `who` (an admin for anyone; a co-worker for themselves).
    pub fn create_token(&self, actor: &Actor, who: &str, name: &str) -> Result<NewToken, CoreError> {
        self.new_token(actor, who, name, "api")
    }

    /// Creates a SCIM token for the identity provider: it opens `/scim/v2` and nothing else, and
    /// acts as `who`, an admin (it dies with their access: give it to an admin who stays).
    pub fn create_scim_token(&self, actor: &Actor, who: &str, name: &str) -> Result<NewToken, CoreError> {
        self.require_admin(actor, "create SCIM tokens")?;
        self.new_token(actor, who, name, "scim")
    }

    fn new_token(&self, actor: &Actor, who: &str, name: &str, kind: &str) -> Result<NewToken, CoreError> {
        let name = name.trim();
        if name.chars().count() > 100 {
            return Err(CoreError::invalid("name", "must be at most 100 characters"));
        }
        self.db.write(|tx| {
            let owner = self.resolve_coworker(tx, "coworker", who)?;
            if !actor.is_admin() && actor.id() != Some(owner.id) {
                return Err(CoreError::forbidden("only an admin may create tokens for another co-worker"));
            }
            if !owner.status.may_sign_in() {
                return Err(CoreError::Conflict(format!(
                    "{} is {}; reactivate them first",
                    owner.email,
                    owner.status.as_str()
                )));
            }
            if kind == "scim" && owner.role != Role::Admin {
                return Err(CoreError::invalid(
                    "coworker",
                    format!("a SCIM token acts as an admin; {} is a {}", owner.email, owner.role.as_str()),
                ));
            }
            let (secret, hash) = secret::new_token();
            let default_name = if kind == "scim" { "SCIM token (identity provider)" } else { "API token" };
            let credential = Credential {
                id: crate::id::new_id(),
                coworker_id: owner.id,
                kind: kind.into(),
                name: if name.is_empty() { default_name.into() } else { name.to_string() },
                secret_hash: hash,
                created_at: self.now(),
                expires_at: None,
                last_used_at: None,
                revoked_at: None,
            };
            tx.insert_credential(&credential)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, credential.created_at, action::TOKEN_CREATE)
                        .object("credential", credential.id)
                        .detail("coworker_id", json!(owner.id))
                        .detail("kind", json!(credential.kind))
                        .detail("name", json!(credential.name)),
                ],
            )?;
            Ok(NewToken { credential, secret })
        })
    }

    /// A co-worker's tokens and sessions (never their secrets).
    pub fn list_credentials(&self, actor: &Actor, who: &str) -> Result<Vec<Credential>, CoreError> {
        self.db.read(|tx| {
            let owner = self.resolve_coworker(tx, "coworker", who)?;
            if !actor.is_admin() && actor.id() != Some(owner.id) {
                return Err(CoreError::forbidden("only an admin may see another co-worker's tokens"));
            }
            Ok(tx.list_credentials(owner.id)?)
        })
    }

    /// Revokes one credential of `who`.
    pub fn revoke_token(&self, actor: &Actor, who: &str, credential: Uuid) -> Result<(), CoreError> {
        self.db.write(|tx| {
            let owner = self.resolve_coworker(tx, "coworker", who)?;
            if !actor.is_admin() && actor.id() != Some(owner.id) {
                return Err(CoreError::forbidden("only an admin may revoke another co-worker's tokens"));
            }
            let n = tx.revoke_credentials(owner.id, Some(credential), self.now())?;
            if n == 0 {
                return Err(CoreError::not_found("token", credential));
            }
            append_events(
                tx,
                vec![NewEvent::by(actor, self.now(), action::TOKEN_REVOKE).object("credential", credential)],
            )?;
            Ok(())
        })
    }

    /// Signs in with email and password; returns the co-worker and a new session secret.
    pub fn login(
        &self,
        email: &str,
        password: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<(CoWorker, String), CoreError> {
        let attempt = SignIn {
            email,
            password,
            client_addr,
            user_agent,
            device: None,
            remember_device: false,
            code: None,
            pending_allowed: false,
        };
        let done = self.sign_in(attempt)?;
        Ok((done.coworker, done.session))
    }

    /// Signs in with email and password, within the sign-in limits (see `sign_in_limits.rs`).
    /// Every attempt costs one password verification, whatever the email, so the time taken
    /// tells nothing about which emails exist or belong to someone who left.
    pub fn sign_in(&self, attempt: SignIn<'_>) -> Result<SignedIn, CoreError> {
        let email = attempt.email.trim().to_lowercase();
        let mut who = Actor::operator();
        who.channel = Channel::Session;
        who.client_addr = attempt.client_addr;
        who.user_agent = attempt.user_agent;
        let found = self.db.read(|tx| Ok(tx.get_coworker_by_email(&email)?))?;
        let trusted = match (attempt.device, &found) {
            (Some(device), Some(c)) => self.device_known(device, c.id)?,
            _ => false,
        };
        let failed = |reason: &str, coworker: Option<uuid::Uuid>| {
            let mut event = NewEvent::by(&who, self.now(), action::LOGIN_FAILED)
                .detail("email", json!(email))
                .detail("reason", json!(reason));
            event.coworker_id = coworker;
            self.db.write(|tx| Ok(append_events(tx, vec![event])?))
        };
        let reservation = match self.sign_in_limits.reserve(&email, who.client_addr.as_deref(), trusted, self.now()) {
            Ok(r) => r,
            Err(refused) => {
                failed("throttled", found.as_ref().map(|c| c.id))?;
                return Err(refused);
            }
        };
        // With single sign-on and passwords off, only the break-glass admin signs in with one.
        // Everyone else is refused before any password is checked, and the attempt counts against
        // the limits; every refusal (a wrong break-glass password too) reads the same.
        let passwords_off = self.settings()?.single_sign_on.clone().filter(|s| !s.passwords);
        if let Some(sso) = &passwords_off
            && found
                .as_ref()
                .is_none_or(|c| c.role != Role::Admin || sso.break_glass.as_deref() != Some(c.email.as_str()))
        {
            // The same time as the break-glass admin's password check: the answer's delay does
            // not tell which email keeps a password.
            secret::burn_password_time(attempt.password);
            failed("password sign-in is off", found.as_ref().map(|c| c.id))?;
            return Err(passwords_off_refusal(&sso.name));
        }
        let verified = match found.as_ref().and_then(|c| c.password_hash.as_deref()) {
            Some(hash) => secret::verify_password(attempt.password, hash),
            None => {
                secret::burn_password_time(attempt.password);
                false
            }
        };
        let checked = match &found {
            None => Err("unknown email"),
            Some(_) if !verified => Err("wrong password"),
            Some(c) if !c.status.may_sign_in() => Err("co-worker is not active"),
            Some(c) => Ok(c.clone()),
        };
        let c = match checked {
            Ok(c) => c,
            Err(reason) if passwords_off.is_some() => {
                failed(reason, found.as_ref().map(|c| c.id))?;
                return Err(passwords_off_refusal(passwords_off.as_ref().map_or("", |s| s.name.as_str())));
            }
            Err(reason) => {
                failed(reason, found.as_ref().map(|c| c.id))?;
                return Err(CoreError::Unauthenticated("the email or password is wrong".into()));
            }
        };
        let mut signed = who.clone();
        signed.coworker = Some(c.clone());
        if self.db.read(|tx| self.has_second_factor(tx, &c))? {
            match attempt.code.map(str::trim).filter(|code| !code.is_empty()) {
                Some(code) => {
                    if !self.db.write(|tx| self.second_factor_passes(tx, &signed, &c, code))? {
                        failed("wrong second factor", Some(c.id))?;
                        return Err(CoreError::Unauthenticated(
                            "the two-factor code is wrong or was already used".into(),
                        ));
                    }
                }
                None if attempt.pending_allowed => {
                    self.sign_in_limits.give_back(reservation);
                    return self.pending_sign_in(&c);
                }
                None => {
                    failed("second factor missing", Some(c.id))?;
                    return Err(CoreError::Unauthenticated(
                        "this co-worker signs in with a two-factor code too: send \"code\" (from the authenticator app, or a recovery code)".into(),
                    ));
                }
            }
        }
        self.sign_in_limits.give_back(reservation);
        self.open_session(signed, c, attempt.remember_device && !trusted)
    }

    /// A password accepted for a co-worker with a second factor: a pending sign-in (it opens
    /// nothing) that [`Holdfast::complete_sign_in`] finishes with a code within five minutes.
    fn pending_sign_in(&self, c: &CoWorker) -> Result<SignedIn, CoreError> {
        let now = self.now();
        let (pending, hash) = secret::new_token();
        let credential = Credential {
            id: crate::id::new_id(),
            coworker_id: c.id,
            kind: "pending".into(),
            name: "sign-in waiting for its second factor".into(),
            secret_hash: hash,
            created_at: now,
            expires_at: Some(now + PENDING_SIGN_IN_MINUTES * 60_000_000),
            last_used_at: None,
            revoked_at: None,
        };
        self.db.write(|tx| Ok(tx.insert_credential(&credential)?))?;
        Ok(SignedIn { coworker: c.clone(), session: pending, device: None, pending: true })
    }

    /// Finishes a pending sign-in with the second factor (an authenticator code, or a recovery
    /// code): within the sign-in limits, once.
    pub fn complete_sign_in(
        &self,
        pending: &str,
        code: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
        remember_device: bool,
    ) -> Result<SignedIn, CoreError> {
        let now = self.now();
        let expired = || CoreError::Unauthenticated("this sign-in has expired; enter your password again".into());
        let (credential, c) = self.db.read(|tx| {
            let cred = tx.find_credential(&secret::hash_token(pending.trim()))?;
            let cred = cred
                .filter(|c| c.kind == "pending" && c.revoked_at.is_none() && c.expires_at.is_some_and(|e| e > now))
                .ok_or_else(expired)?;
            let c = tx.get_coworker(cred.coworker_id)?.filter(|c| c.status.may_sign_in()).ok_or_else(expired)?;
            Ok((cred, c))
        })?;
        let mut who = Actor::operator();
        who.channel = Channel::Session;
        who.client_addr = client_addr;
        who.user_agent = user_agent;
        who.coworker = Some(c.clone());
        let reservation = self.sign_in_limits.reserve(&c.email, who.client_addr.as_deref(), false, now)?;
        // The code is checked and the pending sign-in used up in one transaction: two answers
        // sent at once cannot both open a session.
        let passed = self.db.write(|tx| {
            if !self.second_factor_passes(tx, &who, &c, code)? {
                return Ok(false);
            }
            if tx.revoke_credentials(c.id, Some(credential.id), now)? != 1 {
                return Err(expired());
            }
            Ok(true)
        })?;
        if !passed {
            let mut event = NewEvent::by(&who, now, action::LOGIN_FAILED)
                .detail("email", json!(c.email))
                .detail("reason", json!("wrong second factor"));
            event.coworker_id = Some(c.id);
            self.db.write(|tx| Ok(append_events(tx, vec![event])?))?;
            return Err(CoreError::Unauthenticated("that code is wrong or was already used".into()));
        }
        self.sign_in_limits.give_back(reservation);
        self.open_session(who, c, remember_device)
    }

    /// Opens a session (and perhaps remembers the browser) for a co-worker whose sign-in passed.
    fn open_session(&self, mut who: Actor, c: CoWorker, remember_device: bool) -> Result<SignedIn, CoreError> {
        let now = self.now();
        let (session, session_hash) = secret::new_token();
        let credential = Credential {
            id: crate::id::new_id(),
            coworker_id: c.id,
            kind: "session".into(),
            name: who.user_agent.clone().unwrap_or_else(|| "session".into()).chars().take(100).collect(),
            secret_hash: session_hash,
            created_at: now,
            expires_at: Some(now + SESSION_DAYS * MICROS_PER_DAY),
            last_used_at: Some(now),
            revoked_at: None,
        };
        // A browser that signs in is remembered, so someone else's guesses never hold it back.
        let device = remember_device.then(secret::new_token);
        let device_credential = device.as_ref().map(|(_, hash)| Credential {
            id: crate::id::new_id(),
            kind: "device".into(),
            name: "browser".into(),
            secret_hash: hash.clone(),
            expires_at: Some(now + DEVICE_DAYS * MICROS_PER_DAY),
            last_used_at: None,
            ..credential.clone()
        });
        who.coworker = Some(c.clone());
        who.credential_id = Some(credential.id);
        self.db.write(|tx| {
            tx.insert_credential(&credential)?;
            if let Some(d) = &device_credential {
                tx.insert_credential(d)?;
            }
            append_events(tx, vec![NewEvent::by(&who, now, action::LOGIN)])?;
            Ok(())
        })?;
        Ok(SignedIn { coworker: c, session, device: device.map(|(secret, _)| secret), pending: false })
    }

    /// Whether `device` is a live device token of this co-worker's.
    fn device_known(&self, device: &str, coworker: uuid::Uuid) -> Result<bool, CoreError> {
        let hash = secret::hash_token(device.trim());
        let found = self.db.read(|tx| Ok(tx.find_credential(&hash)?))?;
        let now = self.now();
        Ok(found.is_some_and(|d| {
            d.kind == "device"
                && d.coworker_id == coworker
                && d.revoked_at.is_none()
                && d.expires_at.is_none_or(|e| e > now)
        }))
    }

    /// Ends the actor's session.
    pub fn logout(&self, actor: &Actor) -> Result<(), CoreError> {
        let (Some(me), Some(cred)) = (actor.id(), actor.credential_id) else { return Ok(()) };
        self.db.write(|tx| {
            tx.revoke_credentials(me, Some(cred), self.now())?;
            append_events(tx, vec![NewEvent::by(actor, self.now(), action::LOGOUT)])?;
            Ok(())
        })
    }

    /// Resolves a bearer token or session secret to the co-worker behind it. Revoked, expired and
    /// deprovisioned co-workers' credentials are refused on the spot.
    pub fn authenticate(
        &self,
        secret_text: &str,
        client_addr: Option<String>,
        user_agent: Option<String>,
    ) -> Result<Actor, CoreError> {
        let hash = secret::hash_token(secret_text.trim());
        let now = self.now();
        let (credential, coworker) = self.db.read(|tx| {
            let cred = tx
                .find_credential(&hash)?
                .ok_or_else(|| CoreError::Unauthenticated("the token is not valid".into()))?;
            let coworker = tx.get_coworker(cred.coworker_id)?;
            Ok((cred, coworker))
        })?;
        // A device token only vouches for a browser at sign-in, and a pending sign-in waits for
        // its second factor: neither opens anything by itself.
        if credential.kind == "device" || credential.kind == "pending" {
            return Err(CoreError::Unauthenticated("the token is not valid".into()));
        }
        if credential.revoked_at.is_some() {
            return Err(CoreError::Unauthenticated("the token has been revoked".into()));
        }
        if credential.expires_at.is_some_and(|e| e <= now) {
            return Err(CoreError::Unauthenticated("the session has expired; sign in again".into()));
        }
        let coworker =
            coworker.ok_or_else(|| CoreError::Unauthenticated("the token's co-worker no longer exists".into()))?;
        if !coworker.status.may_sign_in() {
            return Err(CoreError::Unauthenticated(format!("{} is {}", coworker.email, coworker.status.as_str())));
        }
        let org = self.org_chart()?;
        let actor = Actor {
            manages: org.managed_by(coworker.id),
            team_mates: org.team_of(coworker.id),
            coworker: Some(coworker),
            channel: match credential.kind.as_str() {
                "api" => Channel::ApiToken,
                "scim" => Channel::Scim,
                _ => Channel::Session,
            },
            credential_id: Some(credential.id),
            client_addr,
            user_agent,
        };
        if credential.last_used_at.is_none_or(|t| now - t > TOKEN_USE_EVENT_EVERY) {
            self.db.write(|tx| {
                tx.touch_credential(credential.id, now)?;
                let mut ev = NewEvent::by(&actor, now, action::TOKEN_USE).object("credential", credential.id);
                if credential.kind == "session" {
                    ev = ev.detail("kind", json!("session"));
                }
                append_events(tx, vec![ev])?;
                Ok(())
            })?;
        }
        Ok(actor)
    }

    /// Builds an actor for a co-worker acting at the command line (`--as EMAIL`).
    pub fn actor_for(&self, email: &str) -> Result<Actor, CoreError> {
        let c = self
            .db
            .read(|tx| Ok(tx.get_coworker_by_email(&email.trim().to_lowercase())?))?
            .ok_or_else(|| CoreError::invalid("as", format!("no co-worker has the email {email}")))?;
        let org = self.org_chart()?;
        let mut actor = Actor::operator();
        actor.manages = org.managed_by(c.id);
        actor.team_mates = org.team_of(c.id);
        actor.coworker = Some(c);
        Ok(actor)
    }

    fn org_chart(&self) -> Result<Arc<OrgChart>, CoreError> {
        if let Ok(guard) = self.org.read()
            && let Some((at, org)) = guard.as_ref()
            && at.elapsed() < ORG_CACHE_TTL
        {
            return Ok(Arc::clone(org));
        }
        let org =
            Arc::new(self.db.read(|tx| Ok(OrgChart { coworkers: tx.list_coworkers()?, teams: tx.list_teams()? }))?);
        if let Ok(mut guard) = self.org.write() {
            *guard = Some((Instant::now(), Arc::clone(&org)));
        }
        Ok(org)
    }

    /// Co-workers' display names by id, for pages (names only; no customer data), as pages show
    /// an owner: someone who has left is "Name (left)", so a record of a departed owner says so
    /// wherever its owner is shown.
    pub fn coworker_names(&self) -> Result<std::collections::HashMap<Uuid, String>, CoreError> {
        Ok(self
            .org_chart()?
            .coworkers
            .iter()
            .map(|c| {
                let name = if c.status == Status::Departed { format!("{} (left)", c.name) } else { c.name.clone() };
                (c.id, name)
            })
            .collect())
    }

    pub(crate) fn forget_org(&self) {
        if let Ok(mut guard) = self.org.write() {
            *guard = None;
        }
    }

    /// Sets a team's manager (admin).
    pub fn set_team_manager(&self, actor: &Actor, team: &str, manager: &str) -> Result<Team, CoreError> {
        self.require_admin(actor, "change teams")?;
        let team = self.db.write(|tx| {
            let mut events = Vec::new();
            let id = self.resolve_team(tx, team, &mut events, actor)?;
            let m = self.resolve_coworker(tx, "manager", manager)?;
            let mut t =
                tx.list_teams()?.into_iter().find(|t| t.id == id).ok_or_else(|| CoreError::not_found("team", id))?;
            t.manager_id = Some(m.id);
            tx.insert_team(&t)?;
            events.push(
                NewEvent::by(actor, self.now(), action::COWORKER_UPDATE)
                    .object("team", t.id)
                    .detail("manager_id", json!(m.id)),
            );
            append_events(tx, events)?;
            Ok(t)
        })?;
        self.forget_org();
        Ok(team)
    }
}
