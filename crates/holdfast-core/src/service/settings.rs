//! The installation's settings, as one typed struct: who may open which customer records, who may
//! export, how much reading in 24 hours counts as exporting, and the confidentiality notice.
//!
//! Every audited read consults them, so each process keeps one copy, tagged with the settings
//! version it was read at. Every change bumps the version in the same transaction; a request
//! compares versions before it trusts the copy (PostgreSQL servers hear of a change at once through
//! LISTEN/NOTIFY; on SQLite the version is one indexed read in the request's own transaction), so
//! a change made anywhere, by the API, a page or the CLI, applies on the next request. They change
//! through one command, [`SettingsChange`]: every value is checked before any is saved, and each
//! setting changed is a `setting.update` system event saying from what to what.

use std::sync::{Arc, Mutex};

use serde_json::{Value as Json, json};

use super::confidentiality::{ConfidentialityNotice, DEFAULT_NOTICE, NOTICE_SETTING};
use super::departures::{DEFAULT_INTRODUCTION, INTRODUCTION_SETTING};
use super::metering::{BULK_READ_SETTING, DEFAULT_BULK_READ_LIMIT, EXPORT_POLICY_SETTING, ExportPolicy};
use super::{Holdfast, append_events};
use crate::access::ReadPolicy;
use crate::coworker::Actor;
use crate::error::{CoreError, FieldError};
use crate::event::{NewEvent, action};
use crate::guard::{POLICIES_SETTING, Policies, webhook_key};
use crate::storage::{Database, Tx};

/// The settings key of the version every change bumps.
pub const SETTINGS_VERSION: &str = "settings_version";

pub const WEBHOOK_URL_SETTING: &str = "alert_webhook_url";
pub const WEBHOOK_SECRET_SETTING: &str = "alert_webhook_secret";
pub const SMTP_URL_SETTING: &str = "alert_smtp_url";
pub const EMAIL_FROM_SETTING: &str = "alert_email_from";
/// The From address when an admin has not set one.
pub const DEFAULT_EMAIL_FROM: &str = "Holdfast <holdfast@localhost>";

/// The smallest and largest bulk-read limits an admin may set, in rows a day.
const BULK_READ_RANGE: std::ops::RangeInclusive<i64> = 50..=10_000_000;

/// Every setting, with its default when an admin has not set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub read_policy: ReadPolicy,
    pub export_policy: ExportPolicy,
    /// Rows per co-worker per 24 hours before reading counts as exporting.
    pub bulk_read_limit: i64,
    /// What a departing co-worker is asked to acknowledge.
    pub confidentiality_notice: ConfidentialityNotice,
    /// Export and read limits per role, team and co-worker.
    pub policies: Policies,
    /// Where alerts are posted (Standard Webhooks), and the `whsec_…` secret they are signed with.
    pub alert_webhook_url: Option<String>,
    pub alert_webhook_secret: Option<String>,
    /// The SMTP server alerts are mailed through (`smtp://host:25`, `smtps://user:pass@host`,
    /// `smtp://host:587?tls=required`), and the From address.
    pub alert_smtp_url: Option<String>,
    pub alert_email_from: Option<String>,
    /// The introduction email drafted for a departure's key contacts (`{contact}`, `{account}`,
    /// `{new_owner}`, `{leaver}` are filled in).
    pub introduction_template: String,
    /// How often someone senior should be in touch with an account, by tier.
    pub senior_cadence: super::Cadences,
    /// Single sign-on with the company's OpenID Connect provider, when an admin set it up.
    pub single_sign_on: Option<super::SingleSignOn>,
    /// Admins must sign in with a second factor (they enrol one before anything else).
    pub two_factor_for_admins: bool,
    /// Lead scoring, routing and the speed-to-lead clock.
    pub lead_rules: crate::lead::LeadRules,
    /// Leak tracing: the canary domain and phone range, the company's own mail domains, and how
    /// many customers in one outgoing message raise an alert.
    pub leak_tracing: LeakTracing,
}

/// Leak-tracing settings.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakTracing {
    /// The domain the company controls for canary addresses; canaries are on once it is set.
    pub canary_email_domain: Option<String>,
    /// The start of a phone range the company controls (`+1 555 01`); canaries get no phone
    /// without one.
    pub canary_phone_prefix: Option<String>,
    /// The company's own mail domains; when empty, the domains of co-workers' addresses.
    pub company_email_domains: Vec<String>,
    /// Customers (distinct emails or phones) in one outgoing message that raise an alert.
    pub mail_alert_threshold: i64,
    /// The installation's fingerprint key (made at install time, never shown).
    pub fingerprint_key: String,
}

impl std::fmt::Debug for LeakTracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeakTracing")
            .field("canary_email_domain", &self.canary_email_domain)
            .field("canary_phone_prefix", &self.canary_phone_prefix)
            .field("company_email_domains", &self.company_email_domains)
            .field("mail_alert_threshold", &self.mail_alert_threshold)
            .field("fingerprint_key", &"(hidden)")
            .finish()
    }
}

impl Default for LeakTracing {
    fn default() -> Self {
        LeakTracing {
            canary_email_domain: None,
            canary_phone_prefix: None,
            company_email_domains: Vec::new(),
            mail_alert_threshold: DEFAULT_MAIL_ALERT_THRESHOLD,
            fingerprint_key: String::new(),
        }
    }
}

pub const CANARY_DOMAIN_SETTING: &str = "canary_email_domain";
pub const CANARY_PHONE_SETTING: &str = "canary_phone_prefix";
pub const COMPANY_DOMAINS_SETTING: &str = "company_email_domains";
pub const MAIL_THRESHOLD_SETTING: &str = "mail_alert_threshold";
const FINGERPRINT_KEY_SETTING: &str = "fingerprint_key";
pub const DEFAULT_MAIL_ALERT_THRESHOLD: i64 = 20;

/// A change to some settings; `None` leaves a setting as it is. Policies are given as their words
/// (`all`, `managers`, …) so that a wrong one is reported beside its field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SettingsChange {
    pub read_policy: Option<String>,
    pub export_policy: Option<String>,
    pub bulk_read_limit: Option<i64>,
    /// The new notice text; empty brings back the default notice.
    pub confidentiality_notice: Option<String>,
    /// The new introduction email template; empty brings back the default one.
    pub introduction_template: Option<String>,
    /// The whole policy document (replaces the one in force).
    pub policies: Option<Policies>,
    /// An `http(s)://` URL; empty stops webhook deliveries.
    pub alert_webhook_url: Option<String>,
    /// A `whsec_…` secret; empty removes it.
    pub alert_webhook_secret: Option<String>,
    /// An `smtp://` or `smtps://` URL; empty stops email deliveries.
    pub alert_smtp_url: Option<String>,
    /// The From address of alert emails.
    pub alert_email_from: Option<String>,
    /// Senior-contact cadences, `strategic=60, enterprise=90, …`; empty brings back the defaults.
    pub senior_cadence: Option<String>,
    /// Whether admins must use two-factor sign-in.
    pub two_factor_for_admins: Option<bool>,
    /// The canary domain (`leaks.example.com`); empty turns canaries off.
    pub canary_email_domain: Option<String>,
    /// The canary phone range's start (`+1 555 01`); empty gives canaries no phone.
    pub canary_phone_prefix: Option<String>,
    /// The company's mail domains, comma-separated; empty: the co-workers' domains.
    pub company_email_domains: Option<String>,
    /// Customers in one outgoing message that raise an alert.
    pub mail_alert_threshold: Option<i64>,
}

impl SettingsChange {
    pub fn is_empty(&self) -> bool {
        *self == SettingsChange::default()
    }
}

/// The process's copy of the settings, with the version it was read at.
#[derive(Default)]
pub(crate) struct SettingsCache(Mutex<Option<(i64, Arc<Settings>)>>);

impl SettingsCache {
    fn get(&self, version: i64) -> Option<Arc<Settings>> {
        let cached = self.0.lock().ok()?;
        cached.as_ref().filter(|(v, _)| *v == version).map(|(_, s)| Arc::clone(s))
    }
    fn put(&self, version: i64, s: Arc<Settings>) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = Some((version, s));
        }
    }
    /// After a change through this process, whose announcement may not have come back yet.
    fn forget(&self) {
        if let Ok(mut cached) = self.0.lock() {
            *cached = None;
        }
    }
}

fn version_in(tx: &mut dyn Tx) -> Result<i64, CoreError> {
    Ok(tx.settings_version()?)
}

fn load(tx: &mut dyn Tx) -> Result<Settings, CoreError> {
    let read_policy = tx.get_setting(ReadPolicy::SETTING)?.and_then(|p| ReadPolicy::parse(&p).ok()).unwrap_or_default();
    let export_policy =
        tx.get_setting(EXPORT_POLICY_SETTING)?.and_then(|p| ExportPolicy::parse(&p).ok()).unwrap_or_default();
    let bulk_read_limit =
        tx.get_setting(BULK_READ_SETTING)?.and_then(|l| l.parse().ok()).unwrap_or(DEFAULT_BULK_READ_LIMIT);
    let notice = tx.get_setting(NOTICE_SETTING)?.filter(|t| !t.trim().is_empty());
    let policies = tx.get_setting(POLICIES_SETTING)?.and_then(|p| Policies::parse(&p).ok()).unwrap_or_default();
    let present = |v: Option<String>| v.filter(|v| !v.trim().is_empty());
    Ok(Settings {
        policies,
        alert_webhook_url: present(tx.get_setting(WEBHOOK_URL_SETTING)?),
        alert_webhook_secret: present(tx.get_setting(WEBHOOK_SECRET_SETTING)?),
        alert_smtp_url: present(tx.get_setting(SMTP_URL_SETTING)?),
        alert_email_from: present(tx.get_setting(EMAIL_FROM_SETTING)?),
        read_policy,
        export_policy,
        bulk_read_limit,
        confidentiality_notice: ConfidentialityNotice::of(notice.unwrap_or_else(|| DEFAULT_NOTICE.into())),
        introduction_template: present(tx.get_setting(INTRODUCTION_SETTING)?)
            .unwrap_or_else(|| DEFAULT_INTRODUCTION.into()),
        senior_cadence: tx
            .get_setting(super::CADENCE_SETTING)?
            .and_then(|c| super::Cadences::parse(&c).ok())
            .unwrap_or_default(),
        single_sign_on: tx
            .get_setting(super::single_sign_on::SINGLE_SIGN_ON_SETTING)?
            .and_then(|t| super::single_sign_on::parse(&t)),
        two_factor_for_admins: tx.get_setting(super::TWO_FACTOR_FOR_ADMINS_SETTING)?.as_deref() == Some("true"),
        lead_rules: tx
            .get_setting(crate::lead::LEAD_RULES_SETTING)?
            .and_then(|t| crate::lead::LeadRules::parse(&t).ok())
            .unwrap_or_default(),
        leak_tracing: LeakTracing {
            canary_email_domain: present(tx.get_setting(CANARY_DOMAIN_SETTING)?),
            canary_phone_prefix: present(tx.get_setting(CANARY_PHONE_SETTING)?),
            company_email_domains: domain_list(&tx.get_setting(COMPANY_DOMAINS_SETTING)?.unwrap_or_default())
                .unwrap_or_default(),
            mail_alert_threshold: tx
                .get_setting(MAIL_THRESHOLD_SETTING)?
                .and_then(|t| t.parse().ok())
                .unwrap_or(DEFAULT_MAIL_ALERT_THRESHOLD),
            fingerprint_key: tx.get_setting(FINGERPRINT_KEY_SETTING)?.unwrap_or_default(),
        },
    })
}

impl<D: Database> Holdfast<D> {
    /// The settings in force.
    pub fn settings(&self) -> Result<Arc<Settings>, CoreError> {
        if let Some(s) = self.db.settings_version_hint().and_then(|v| self.settings_cache.get(v)) {
            return Ok(s);
        }
        self.db.read(|tx| self.settings_in(tx))
    }

    /// The settings, checked against the version inside the caller's transaction.
    pub(crate) fn settings_in(&self, tx: &mut dyn Tx) -> Result<Arc<Settings>, CoreError> {
        let version = match self.db.settings_version_hint() {
            Some(v) => v,
            None => version_in(tx)?,
        };
        if let Some(s) = self.settings_cache.get(version) {
            return Ok(s);
        }
        let s = Arc::new(load(tx)?);
        self.settings_cache.put(version, Arc::clone(&s));
        Ok(s)
    }

    /// The admin's read policy (what every audited read checks).
    pub(crate) fn read_policy(&self, tx: &mut dyn Tx) -> Result<ReadPolicy, CoreError> {
        Ok(self.settings_in(tx)?.read_policy)
    }

    /// Changes some settings (admins). Every value is checked before any is saved, so one bad
    /// value changes nothing; each setting changed is recorded with what it was and became.
    pub fn change_settings(&self, actor: &Actor, change: &SettingsChange) -> Result<Arc<Settings>, CoreError> {
        self.require_admin(actor, "change settings")?;
        let mut errors = Vec::new();
        let read_policy = match change.read_policy.as_deref().map(ReadPolicy::parse).transpose() {
            Ok(p) => p,
            Err(r) => {
                errors.push(FieldError::new("read_policy", r));
                None
            }
        };
        let export_policy = match change.export_policy.as_deref().map(ExportPolicy::parse).transpose() {
            Ok(p) => p,
            Err(r) => {
                errors.push(FieldError::new("export_policy", r));
                None
            }
        };
        if change.bulk_read_limit.is_some_and(|n| !BULK_READ_RANGE.contains(&n)) {
            errors.push(FieldError::new("bulk_read_limit", "must be between 50 and 10,000,000 rows a day"));
        }
        let notice = change.confidentiality_notice.as_deref().map(|t| t.trim().replace("\r\n", "\n"));
        if notice.as_ref().is_some_and(|t| t.chars().count() > 5_000) {
            errors.push(FieldError::new(NOTICE_SETTING, "keep it under 5,000 characters"));
        }
        let introduction = change.introduction_template.as_deref().map(|t| t.trim().replace("\r\n", "\n"));
        if introduction.as_ref().is_some_and(|t| t.chars().count() > 5_000) {
            errors.push(FieldError::new(INTRODUCTION_SETTING, "keep it under 5,000 characters"));
        }
        if let Some(p) = &change.policies {
            errors.extend(policy_problems(p).into_iter().map(|r| FieldError::new("policies", r)));
        }
        let url = change.alert_webhook_url.as_deref().map(str::trim);
        if let Some(u) = url.filter(|u| !u.is_empty())
            && !(u.starts_with("https://") || u.starts_with("http://"))
        {
            errors.push(FieldError::new(WEBHOOK_URL_SETTING, "must be an http:// or https:// URL"));
        }
        let secret = change.alert_webhook_secret.as_deref().map(str::trim);
        if let Some(Err(why)) = secret.filter(|s| !s.is_empty()).map(webhook_key) {
            errors.push(FieldError::new(WEBHOOK_SECRET_SETTING, why));
        }
        let smtp = change.alert_smtp_url.as_deref().map(str::trim);
        if let Some(u) = smtp.filter(|u| !u.is_empty())
            && !(u.starts_with("smtp://") || u.starts_with("smtps://"))
        {
            errors.push(FieldError::new(SMTP_URL_SETTING, "must be an smtp:// or smtps:// URL"));
        }
        let from = change.alert_email_from.as_deref().map(str::trim);
        if let Some(f) = from.filter(|f| !f.is_empty())
            && (!f.contains('@') || f.chars().count() > 200 || f.contains(['\r', '\n']))
        {
            errors
                .push(FieldError::new(EMAIL_FROM_SETTING, "must be an email address, like Holdfast <crm@example.com>"));
        }
        let cadence = match change.senior_cadence.as_deref().map(super::Cadences::parse).transpose() {
            Ok(c) => c,
            Err(r) => {
                errors.push(FieldError::new(super::CADENCE_SETTING, r));
                None
            }
        };
        let canary_domain = change
            .canary_email_domain
            .as_deref()
            .map(str::trim)
            .map(|d| if d.is_empty() { Ok(String::new()) } else { crate::record::normalize_domain(d) });
        let canary_domain = match canary_domain.transpose() {
            Ok(d) => d,
            Err(why) => {
                errors.push(FieldError::new(CANARY_DOMAIN_SETTING, why));
                None
            }
        };
        if let Some(d) = canary_domain.as_deref().filter(|d| crate::lead::FREE_MAIL.contains(d)) {
            errors.push(FieldError::new(
                CANARY_DOMAIN_SETTING,
                format!("{d} is a free-mail provider; use a domain the company controls"),
            ));
        }
        let canary_phone = change.canary_phone_prefix.as_deref().map(str::trim);
        if let Some(p) = canary_phone.filter(|p| !p.is_empty()) {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            if !(3..=11).contains(&digits) || !p.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) {
                errors.push(FieldError::new(
                    CANARY_PHONE_SETTING,
                    "must be the start of a phone range the company controls, 3 to 11 digits, like +1 555 01",
                ));
            }
        }
        let company_domains = match change.company_email_domains.as_deref().map(domain_list).transpose() {
            Ok(d) => d,
            Err(why) => {
                errors.push(FieldError::new(COMPANY_DOMAINS_SETTING, why));
                None
            }
        };
        if change.mail_alert_threshold.is_some_and(|n| !(1..=1_000_000).contains(&n)) {
            errors.push(FieldError::new(MAIL_THRESHOLD_SETTING, "must be between 1 and 1,000,000 customers"));
        }
        if !errors.is_empty() {
            return Err(CoreError::Invalid(errors));
        }
        let now = self.now();
        self.db.write(|tx| {
            let before = load(tx)?;
            let mut events = Vec::new();
            if let Some(p) = read_policy {
                tx.set_setting(ReadPolicy::SETTING, p.as_str())?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE).object("setting", ReadPolicy::SETTING).detail(
                        "changes",
                        json!({"read_policy": {"from": before.read_policy.as_str(), "to": p.as_str()}}),
                    ),
                );
            }
            if export_policy.is_some() || change.bulk_read_limit.is_some() {
                let policy = export_policy.unwrap_or(before.export_policy);
                let limit = change.bulk_read_limit.unwrap_or(before.bulk_read_limit);
                tx.set_setting(EXPORT_POLICY_SETTING, policy.as_str())?;
                tx.set_setting(BULK_READ_SETTING, &limit.to_string())?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE).object("setting", EXPORT_POLICY_SETTING).detail(
                        "changes",
                        json!({
                            "export_policy": {"from": before.export_policy.as_str(), "to": policy.as_str()},
                            "bulk_read_limit": {"from": before.bulk_read_limit, "to": limit},
                        }),
                    ),
                );
            }
            if let Some(text) = &notice {
                tx.set_setting(NOTICE_SETTING, text)?;
                let shown =
                    ConfidentialityNotice::of(if text.is_empty() { DEFAULT_NOTICE.into() } else { text.clone() });
                let version = tx.keep_notice_version(&shown.sha256, &shown.text, now, actor.id())?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", NOTICE_SETTING)
                        .detail("sha256", json!(shown.sha256))
                        .detail("version", json!(version)),
                );
            }
            if let Some(text) = &introduction {
                tx.set_setting(INTRODUCTION_SETTING, text)?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", INTRODUCTION_SETTING)
                        .detail("changes", json!({"introduction_template": {"from": before.introduction_template, "to": text}})),
                );
            }
            if let Some(p) = &change.policies {
                let text = serde_json::to_string(p).map_err(|e| CoreError::invalid("policies", e.to_string()))?;
                tx.set_setting(POLICIES_SETTING, &text)?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", POLICIES_SETTING)
                        .detail("changes", json!({"policies": {"from": before.policies, "to": p}})),
                );
            }
            if let Some(u) = url {
                tx.set_setting(WEBHOOK_URL_SETTING, u)?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE).object("setting", WEBHOOK_URL_SETTING).detail(
                        "changes",
                        json!({WEBHOOK_URL_SETTING: {"from": before.alert_webhook_url, "to": (!u.is_empty()).then_some(u)}}),
                    ),
                );
            }
            if let Some(s) = secret {
                tx.set_setting(WEBHOOK_SECRET_SETTING, s)?;
                // The secret itself is never written to the log.
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", WEBHOOK_SECRET_SETTING)
                        .detail("set", json!(!s.is_empty())),
                );
            }
            if let Some(u) = smtp {
                tx.set_setting(SMTP_URL_SETTING, u)?;
                // The URL may hold a password: the log says only whether one is set.
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", SMTP_URL_SETTING)
                        .detail("set", json!(!u.is_empty())),
                );
            }
            if let Some(f) = from {
                tx.set_setting(EMAIL_FROM_SETTING, f)?;
                events.push(NewEvent::by(actor, now, action::SETTING_UPDATE).object("setting", EMAIL_FROM_SETTING).detail(
                    "changes",
                    json!({EMAIL_FROM_SETTING: {"from": before.alert_email_from, "to": (!f.is_empty()).then_some(f)}}),
                ));
            }
            if let Some(c) = cadence {
                tx.set_setting(super::CADENCE_SETTING, &c.to_text())?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE).object("setting", super::CADENCE_SETTING).detail(
                        "changes",
                        json!({super::CADENCE_SETTING: {"from": before.senior_cadence.to_text(), "to": c.to_text()}}),
                    ),
                );
            }
            if let Some(on) = change.two_factor_for_admins {
                tx.set_setting(super::TWO_FACTOR_FOR_ADMINS_SETTING, if on { "true" } else { "false" })?;
                events.push(
                    NewEvent::by(actor, now, action::SETTING_UPDATE)
                        .object("setting", super::TWO_FACTOR_FOR_ADMINS_SETTING)
                        .detail("changes", json!({"two_factor_for_admins": {"from": before.two_factor_for_admins, "to": on}})),
                );
            }
            let leak = &before.leak_tracing;
            // The canary domain may not be the company's own (its co-workers' addresses).
            if let Some(d) = canary_domain.as_deref().filter(|d| !d.is_empty()) {
                let own = tx.list_coworkers()?.iter().any(|c| c.email.to_lowercase().ends_with(&format!("@{d}")));
                if own || leak.company_email_domains.iter().any(|c| c == d) {
                    return Err(CoreError::invalid(
                        CANARY_DOMAIN_SETTING,
                        format!("{d} is the company's own mail domain; use a domain kept for canaries"),
                    ));
                }
            }
            let mut leak_change = |key: &str, from: Json, to: Option<String>, shown: Json| -> Result<(), CoreError> {
                // Saving the same value again changes nothing and records nothing.
                if let Some(to) = to.filter(|_| from != shown) {
                    tx.set_setting(key, &to)?;
                    events.push(
                        NewEvent::by(actor, now, action::SETTING_UPDATE)
                            .object("setting", key)
                            .detail("changes", json!({key: {"from": from, "to": shown}})),
                    );
                }
                Ok(())
            };
            leak_change(
                CANARY_DOMAIN_SETTING,
                json!(leak.canary_email_domain),
                canary_domain.clone(),
                json!(canary_domain.as_deref().filter(|d| !d.is_empty())),
            )?;
            leak_change(
                CANARY_PHONE_SETTING,
                json!(leak.canary_phone_prefix),
                canary_phone.map(String::from),
                json!(canary_phone.filter(|p| !p.is_empty())),
            )?;
            leak_change(
                COMPANY_DOMAINS_SETTING,
                json!(leak.company_email_domains),
                company_domains.as_ref().map(|d| d.join(", ")),
                json!(company_domains),
            )?;
            leak_change(
                MAIL_THRESHOLD_SETTING,
                json!(leak.mail_alert_threshold),
                change.mail_alert_threshold.map(|n| n.to_string()),
                json!(change.mail_alert_threshold),
            )?;
            bump_version(tx)?;
            append_events(tx, events)?;
            Ok(())
        })?;
        self.settings_cache.forget();
        self.db.read(|tx| self.settings_in(tx))
    }

    /// After a settings change through this process.
    pub(crate) fn forget_settings(&self) {
        self.settings_cache.forget();
    }
}

/// A comma- or space-separated list of mail domains, each checked.
fn domain_list(text: &str) -> Result<Vec<String>, String> {
    text.split([',', ' ', ';', '\n'])
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| crate::record::normalize_domain(d.trim_start_matches('@')))
        .collect()
}

/// Inside a settings change's transaction: the version goes up, and every server hears of it.
pub(crate) fn bump_version(tx: &mut dyn Tx) -> Result<(), CoreError> {
    let version = version_in(tx)? + 1;
    tx.set_setting(SETTINGS_VERSION, &version.to_string())?;
    tx.announce_settings(version)?;
    Ok(())
}

/// What is wrong with a policy document: bad numbers, unknown columns or roles.
fn policy_problems(p: &Policies) -> Vec<String> {
    let mut columns: Vec<&str> = vec!["id", "created_at", "updated_at"];
    for kind in crate::record::ALL_KINDS {
        for f in kind.fields {
            if !columns.contains(&f.name) {
                columns.push(f.name);
            }
        }
    }
    let mut out = Vec::new();
    for role in p.roles.keys() {
        if crate::coworker::Role::parse(role).is_err() {
            out.push(format!("'{role}' is not a role; use rep, manager or admin"));
        }
    }
    for patch in p.roles.values().chain(p.teams.values()).chain(p.coworkers.values()) {
        out.extend(patch.problems(&columns));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_change_is_empty() {
        assert!(SettingsChange::default().is_empty());
        assert!(!SettingsChange { bulk_read_limit: Some(100), ..Default::default() }.is_empty());
    }
}

/// What a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyScope {
    Role,
    Team,
    CoWorker,
}

impl PolicyScope {
    pub fn parse(s: &str) -> Result<PolicyScope, String> {
        match s.trim() {
            "role" | "roles" => Ok(PolicyScope::Role),
            "team" | "teams" => Ok(PolicyScope::Team),
            "coworker" | "coworkers" | "co-worker" => Ok(PolicyScope::CoWorker),
            other => Err(format!("'{other}' is not a policy scope; use role, team or coworker")),
        }
    }
}

impl<D: Database> Holdfast<D> {
    /// Sets (or with `None` removes) the policy of one role (`rep`), team (by name) or co-worker
    /// (by email or id), keeping every other policy as it is (admins).
    pub fn set_policy(
        &self,
        actor: &Actor,
        scope: PolicyScope,
        name: &str,
        patch: Option<crate::guard::PolicyPatch>,
    ) -> Result<Arc<Settings>, CoreError> {
        self.require_admin(actor, "change export and reading policies")?;
        let mut policies = self.settings()?.policies.clone();
        match scope {
            PolicyScope::Role => {
                let role = crate::coworker::Role::parse(name).map_err(|r| CoreError::invalid("role", r))?;
                match patch {
                    Some(p) => policies.roles.insert(role.as_str().into(), p),
                    None => policies.roles.remove(role.as_str()),
                };
            }
            PolicyScope::Team => {
                let team = self
                    .list_teams()?
                    .into_iter()
                    .find(|t| t.name.eq_ignore_ascii_case(name.trim()) || t.id.to_string() == name.trim())
                    .ok_or_else(|| CoreError::not_found("team", name))?;
                match patch {
                    Some(p) => policies.teams.insert(team.id, p),
                    None => policies.teams.remove(&team.id),
                };
            }
            PolicyScope::CoWorker => {
                let who = self.db.read(|tx| self.resolve_coworker(tx, "coworker", name))?;
                match patch {
                    Some(p) => policies.coworkers.insert(who.id, p),
                    None => policies.coworkers.remove(&who.id),
                };
            }
        }
        self.change_settings(actor, &SettingsChange { policies: Some(policies), ..Default::default() })
    }

    /// The limits in force for one co-worker (themselves, their managers, admins).
    pub fn limits_of(&self, actor: &Actor, who: &str) -> Result<crate::guard::Limits, CoreError> {
        let target = if actor.coworker.as_ref().is_some_and(|c| c.email == who || c.id.to_string() == who) {
            actor.coworker.clone().ok_or_else(|| CoreError::not_found("co-worker", who))?
        } else {
            self.coworker_for_review(actor, who)?
        };
        Ok(self.settings()?.policies.limits_for(&target))
    }
}
