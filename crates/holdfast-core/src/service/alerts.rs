//! Alerts: what the guard found that a person should look at, who looks at it, and how it
//! reaches them (signed webhooks, retried with backoff, with a delivery log).
//!
//! An alert is raised at most once per dedupe key (kind, co-worker and day, say), each raise and
//! each change of state is a system event, and admins see every alert while managers see those
//! about the co-workers they manage.

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{Holdfast, append_events};
use crate::coworker::{Actor, Role};
use crate::error::CoreError;
use crate::event::{EventFilter, NewEvent};
use crate::guard::{
    Alert, AlertDelivery, AlertState, DELIVERY_ATTEMPTS, Severity, retry_delay_micros, webhook_signature,
};
use crate::storage::{Database, Tx};
use crate::time::format_timestamp;

pub const ALERT_RAISE: &str = "alert.raise";
pub const ALERT_STATE: &str = "alert.state";

/// An alert about to be raised.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub coworker_id: Uuid,
    pub kind: &'static str,
    pub severity: Severity,
    pub summary: String,
    pub details: Json,
    pub event_ids: Vec<Uuid>,
    pub dedupe_key: String,
    /// Who else is told besides admins and the managers of whom it is about.
    pub recipient_ids: Vec<Uuid>,
}

/// A webhook post about to go out: the Standard Webhooks headers and the body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookPost {
    pub url: String,
    pub id: String,
    pub timestamp: i64,
    pub signature: Option<String>,
    pub body: String,
}

/// An alert email about to go out through the admin's SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertEmail {
    pub smtp_url: String,
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub body: String,
}

/// What sends alerts out of the building (the server's HTTP and SMTP clients; a test's recorder).
pub trait AlertSender: Send + Sync {
    /// Posts one webhook; `Err` with what went wrong (refused, timed out, a non-2xx answer).
    fn post_webhook(&self, post: &WebhookPost) -> Result<(), String>;
    /// Mails one alert; `Err` with what went wrong (server down, recipient refused).
    fn send_email(&self, email: &AlertEmail) -> Result<(), String>;
}

/// What one round of deliveries did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRound {
    pub delivered: usize,
    pub failed: usize,
}

/// Who is mailed about an alert on `about`: every admin and director, every manager above them, and
/// whoever else it is addressed to (not themselves, and nobody who can no longer sign in).
fn alert_recipients(tx: &mut dyn Tx, about: Uuid, also: &[Uuid]) -> Result<Vec<String>, CoreError> {
    let org = super::OrgChart { coworkers: tx.list_coworkers()?, teams: tx.list_teams()? };
    Ok(org
        .coworkers
        .iter()
        .filter(|c| c.id != about && c.status.may_sign_in())
        .filter(|c| {
            c.role == Role::Admin
                || also.contains(&c.id)
                || (matches!(c.role, Role::Manager | Role::Director) && org.managed_by(c.id).contains(&about))
        })
        .map(|c| c.email.clone())
        .collect())
}

/// Which alerts a co-worker sees: those about these co-workers (everyone's when `None`) and those
/// addressed to them.
struct AlertScope {
    about: Option<Vec<Uuid>>,
    addressed_to: Option<Uuid>,
}

impl AlertScope {
    fn covers(&self, alert: &Alert) -> bool {
        self.about.as_ref().is_none_or(|s| s.contains(&alert.coworker_id))
            || self.addressed_to.is_some_and(|me| alert.recipient_ids.contains(&me))
    }
}

/// How long a server holds a delivery it is trying before another server may try it.
const DELIVERY_LEASE: i64 = 60 * 1_000_000;

impl<D: Database> Holdfast<D> {
    /// Raises an alert (once per dedupe key): the alert, its `alert.raise` event and its
    /// deliveries, in one transaction. `None` when it had been raised already.
    pub(crate) fn raise_alert(&self, new: NewAlert) -> Result<Option<Alert>, CoreError> {
        let now = self.now();
        let raised = self.db.write(|tx| self.raise_alert_in(tx, new, now))?;
        Ok(raised)
    }

    pub(crate) fn raise_alert_in(&self, tx: &mut dyn Tx, new: NewAlert, now: i64) -> Result<Option<Alert>, CoreError> {
        let alert = Alert {
            id: Uuid::now_v7(),
            coworker_id: new.coworker_id,
            kind: new.kind.to_string(),
            severity: new.severity,
            state: AlertState::Open,
            summary: new.summary,
            details: new.details,
            event_ids: new.event_ids,
            owner_id: None,
            state_reason: None,
            created_at: now,
            updated_at: now,
            dedupe_key: new.dedupe_key,
            recipient_ids: new.recipient_ids,
        };
        if !tx.insert_alert(&alert)? {
            return Ok(None);
        }
        let settings = self.settings_in(tx)?;
        let email = tx.get_coworker(alert.coworker_id)?.map(|c| c.email).unwrap_or_default();
        if let Some(url) = &settings.alert_webhook_url {
            let payload = json!({
                "type": "alert.raised",
                "timestamp": format_timestamp(now),
                "data": alert.to_json(&email),
            });
            tx.insert_delivery(&AlertDelivery {
                id: Uuid::now_v7(),
                alert_id: alert.id,
                channel: "webhook".into(),
                target: url.clone(),
                payload: payload.to_string(),
                attempts: 0,
                next_at: now,
                delivered_at: None,
                failed_at: None,
                last_error: None,
                created_at: now,
            })?;
        }
        if settings.alert_smtp_url.is_some() {
            let to = alert_recipients(tx, alert.coworker_id, &alert.recipient_ids)?;
            if !to.is_empty() {
                let payload = json!({
                    "subject": format!("[Holdfast] {} alert: {}", alert.severity.as_str(), alert.kind.replace('_', " ")),
                    "body": format!(
                        "{}\n\nSeverity: {}\nAbout: {email}\nRaised: {}\nSystem events behind it: {}\n\n\
                         Open the Alerts page in Holdfast to acknowledge, resolve or dismiss it.\n",
                        alert.summary,
                        alert.severity.as_str(),
                        format_timestamp(now),
                        alert.event_ids.len()
                    ),
                });
                tx.insert_delivery(&AlertDelivery {
                    id: Uuid::now_v7(),
                    alert_id: alert.id,
                    channel: "email".into(),
                    target: to.join(", "),
                    payload: payload.to_string(),
                    attempts: 0,
                    next_at: now,
                    delivered_at: None,
                    failed_at: None,
                    last_error: None,
                    created_at: now,
                })?;
            }
        }
        append_events(
            tx,
            vec![NewEvent {
                at: now,
                coworker_id: None,
                action: ALERT_RAISE.into(),
                object_type: Some("alert".into()),
                object_id: Some(alert.id.to_string()),
                row_count: 0,
                client_addr: None,
                user_agent: None,
                details: json!({
                    "via": "guard",
                    "about": alert.coworker_id,
                    "kind": alert.kind,
                    "severity": alert.severity,
                    "summary": alert.summary,
                    "event_ids": alert.event_ids,
                }),
            }],
        )?;
        Ok(Some(alert))
    }

    /// Whose alerts the actor may see: everyone's for admins, the people they manage for
    /// managers; and anyone's addressed to them (a rep told that a colleague broke the protocol
    /// of one of their contacts).
    fn alert_scope(&self, actor: &Actor) -> AlertScope {
        match actor.role() {
            Role::Admin => AlertScope { about: None, addressed_to: actor.id() },
            Role::Manager | Role::Director => {
                AlertScope { about: Some(actor.manages.clone()), addressed_to: actor.id() }
            }
            Role::Rep => AlertScope { about: Some(Vec::new()), addressed_to: actor.id() },
        }
    }

    /// Alerts the actor may see, newest first, with the email of who each is about.
    pub fn alerts(
        &self,
        actor: &Actor,
        state: Option<AlertState>,
        limit: u32,
    ) -> Result<Vec<(Alert, String)>, CoreError> {
        self.noting_refusals(
            actor,
            || "list alerts".into(),
            || {
                let scope = self.alert_scope(actor);
                let alerts = self.db.read(|tx| {
                    Ok(tx.list_alerts(scope.about.as_deref(), scope.addressed_to, state, limit.clamp(1, 1_000))?)
                })?;
                let names = self.coworker_emails()?;
                Ok(alerts
                    .into_iter()
                    .map(|a| {
                        let email = names.get(&a.coworker_id).cloned().unwrap_or_default();
                        (a, email)
                    })
                    .collect())
            },
        )
    }

    /// Alerts about one co-worker (for their profile), for whoever may see them.
    pub fn alerts_about(&self, actor: &Actor, coworker: Uuid, limit: u32) -> Result<Vec<Alert>, CoreError> {
        let scope = self.alert_scope(actor);
        if scope.about.as_ref().is_some_and(|s| !s.contains(&coworker)) {
            return Err(CoreError::forbidden("managers see alerts about the co-workers they manage"));
        }
        self.db.read(|tx| Ok(tx.list_alerts(Some(&[coworker]), None, None, limit)?))
    }

    /// Open alerts the actor may see (the count in the navigation); 0 for reps.
    pub fn open_alert_count(&self, actor: &Actor) -> Result<i64, CoreError> {
        let scope = self.alert_scope(actor);
        self.db.read(|tx| Ok(tx.count_alerts(scope.about.as_deref(), scope.addressed_to, AlertState::Open)?))
    }

    /// Moves an alert on (acknowledged, resolved, dismissed — a dismissal needs a reason — or
    /// open again), recording who and why.
    pub fn set_alert_state(
        &self,
        actor: &Actor,
        id: Uuid,
        to: AlertState,
        reason: Option<&str>,
    ) -> Result<Alert, CoreError> {
        self.noting_refusals(
            actor,
            || format!("change alert {id}"),
            || {
                let scope = self.alert_scope(actor);
                let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(String::from);
                if to == AlertState::Dismissed && reason.is_none() {
                    return Err(CoreError::invalid("reason", "say why the alert is dismissed"));
                }
                if reason.as_ref().is_some_and(|r| r.chars().count() > 2_000) {
                    return Err(CoreError::invalid("reason", "keep it under 2,000 characters"));
                }
                let now = self.now();
                self.db.write(|tx| {
                    let mut alert = tx.get_alert(id)?.ok_or_else(|| CoreError::not_found("alert", id))?;
                    if !scope.covers(&alert) {
                        return Err(CoreError::not_found("alert", id));
                    }
                    if !alert.state.may_become(to) {
                        return Err(CoreError::Conflict(format!(
                            "the alert is {}; it cannot become {}",
                            alert.state.as_str(),
                            to.as_str()
                        )));
                    }
                    let from = alert.state;
                    alert.state = to;
                    alert.state_reason = reason.clone();
                    alert.updated_at = now;
                    if to == AlertState::Acknowledged {
                        alert.owner_id = actor.id();
                    }
                    tx.update_alert(&alert)?;
                    append_events(
                        tx,
                        vec![
                            NewEvent::by(actor, now, ALERT_STATE)
                                .object("alert", alert.id)
                                .detail("about", json!(alert.coworker_id))
                                .detail("changes", json!({"state": {"from": from.as_str(), "to": to.as_str()}}))
                                .detail("reason", json!(reason)),
                        ],
                    )?;
                    Ok(alert)
                })
            },
        )
    }

    /// The newest deliveries (admins): where each alert went, how often it was tried, what failed.
    pub fn alert_deliveries(&self, actor: &Actor, limit: u32) -> Result<Vec<AlertDelivery>, CoreError> {
        self.require_admin(actor, "see the alert delivery log")?;
        self.db.read(|tx| Ok(tx.list_deliveries(limit.clamp(1, 1_000))?))
    }

    /// Sends what is due: each delivery is leased (so another server does not send it too), sent
    /// outside any transaction, then marked delivered or scheduled again with backoff; given up
    /// after [`DELIVERY_ATTEMPTS`] tries.
    pub fn deliver_due_alerts(&self, sender: &dyn AlertSender) -> Result<DeliveryRound, CoreError> {
        let now = self.now();
        let (due, settings) = self.db.write(|tx| {
            let due = tx.due_deliveries(now, 20)?;
            for d in &due {
                let mut leased = d.clone();
                leased.next_at = now + DELIVERY_LEASE;
                tx.update_delivery(&leased)?;
            }
            Ok((due, self.settings_in(tx)?))
        })?;
        let mut round = DeliveryRound::default();
        for mut d in due {
            let sent = match d.channel.as_str() {
                "email" => self.send_alert_email(sender, &settings, &d),
                _ => {
                    let timestamp = self.now() / 1_000_000;
                    let id = format!("msg_{}", d.id.simple());
                    let secret = settings.alert_webhook_secret.as_deref();
                    let signature = match secret.map(|s| webhook_signature(s, &id, timestamp, &d.payload)) {
                        Some(Err(e)) => Err(e),
                        Some(Ok(sig)) => Ok(Some(sig)),
                        None => Ok(None),
                    };
                    signature.and_then(|signature| {
                        sender.post_webhook(&WebhookPost {
                            url: d.target.clone(),
                            id,
                            timestamp,
                            signature,
                            body: d.payload.clone(),
                        })
                    })
                }
            };
            d.attempts += 1;
            let at = self.now();
            match sent {
                Ok(()) => {
                    d.delivered_at = Some(at);
                    d.last_error = None;
                    round.delivered += 1;
                }
                Err(e) => {
                    d.last_error = Some(e.chars().take(500).collect());
                    if d.attempts >= DELIVERY_ATTEMPTS {
                        d.failed_at = Some(at);
                    } else {
                        d.next_at = at + retry_delay_micros(d.attempts - 1);
                    }
                    round.failed += 1;
                }
            }
            self.db.write(|tx| Ok(tx.update_delivery(&d)?))?;
        }
        let notes = self.deliver_due_notifications(sender)?;
        round.delivered += notes.delivered;
        round.failed += notes.failed;
        Ok(round)
    }

    /// Ids of the co-worker's events behind an alert, between `from` and `until`: their reads
    /// (or all their events when `reads_only` is false), newest first, at most 200.
    pub(crate) fn evidence(&self, who: Uuid, from: i64, until: i64, reads_only: bool) -> Result<Vec<Uuid>, CoreError> {
        let filter = EventFilter {
            coworker_id: Some(who),
            since: Some(from),
            until: Some(until),
            limit: 2_000,
            ..Default::default()
        };
        let events = self.db.read(|tx| Ok(tx.list_events(&filter)?))?;
        Ok(events
            .iter()
            .filter(|e| !reads_only || crate::event::action::READS.contains(&e.event.action.as_str()))
            .take(200)
            .map(|e| e.id)
            .collect())
    }

    fn send_alert_email(
        &self,
        sender: &dyn AlertSender,
        settings: &super::Settings,
        d: &AlertDelivery,
    ) -> Result<(), String> {
        let smtp_url = settings.alert_smtp_url.clone().ok_or("no SMTP server is set (Settings)")?;
        let payload: Json = serde_json::from_str(&d.payload).map_err(|e| e.to_string())?;
        sender.send_email(&AlertEmail {
            smtp_url,
            from: settings.alert_email_from.clone().unwrap_or_else(|| super::DEFAULT_EMAIL_FROM.into()),
            to: d.target.split(", ").map(String::from).collect(),
            subject: payload["subject"].as_str().unwrap_or("[Holdfast] alert").into(),
            body: payload["body"].as_str().unwrap_or_default().into(),
        })
    }

    fn coworker_emails(&self) -> Result<std::collections::HashMap<Uuid, String>, CoreError> {
        let all = self.db.read(|tx| Ok(tx.list_coworkers()?))?;
        Ok(all.into_iter().map(|c| (c.id, c.email)).collect())
    }
}
