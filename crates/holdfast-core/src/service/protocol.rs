//! Contact protocol in the service layer: an activity or task that names a guarded contact is
//! checked when it is created or its contacts change. Without an approval it is refused with whom
//! to ask; logged as after the fact (the call already happened) it is kept, and the account owner
//! and the managers above them get a `protocol_breach` alert. Requests to reach a guarded contact
//! are asked, approved and denied here, each a system event.

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::alerts::NewAlert;
use super::{Holdfast, OrgChart, append_events};
use crate::coworker::{Actor, CoWorker, Role};
use crate::error::{CoreError, ProtocolRefusal};
use crate::event::NewEvent;
use crate::guard::Severity;
use crate::protocol::{APPROVAL_DAYS, ApprovalStatus, ContactApproval, Protocol, Reach, may_approve, may_reach};
use crate::record::{self, ACCOUNTS, CONTACTS, Kind, Record, RecordKind};
use crate::storage::{Database, Tx};
use crate::time::format_timestamp;

pub const CONTACT_APPROVAL_REQUEST: &str = "contact_approval.request";
pub const CONTACT_APPROVAL_DECIDE: &str = "contact_approval.decide";
/// The kind of alert raised when a guarded contact was reached without approval.
pub const PROTOCOL_BREACH: &str = "protocol_breach";

const DAY: i64 = 86_400_000_000;

/// What a create or change of an activity or task says about the protocol: the approval it
/// carries, or that the conversation already happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProtocolNote {
    pub approval_id: Option<Uuid>,
    pub after_the_fact: bool,
}

impl ProtocolNote {
    /// Takes `approval_id` and `after_the_fact` out of the body of an activity or task (they are
    /// not fields of the record); the rest is the record's fields. Other kinds keep their body as
    /// it is (so those words are unknown fields there).
    pub fn take(kind: &RecordKind, input: &Json) -> Result<(ProtocolNote, Json), CoreError> {
        let mut rest = input.clone();
        let mut note = ProtocolNote::default();
        if !matches!(kind.kind, Kind::Activity | Kind::Task) {
            return Ok((note, rest));
        }
        if let Json::Object(map) = &mut rest {
            match map.remove("approval_id") {
                None | Some(Json::Null) => {}
                Some(Json::String(s)) if s.trim().is_empty() => {}
                Some(Json::String(s)) => {
                    note.approval_id = Some(
                        Uuid::parse_str(s.trim())
                            .map_err(|_| CoreError::invalid("approval_id", "is not the id of an approval"))?,
                    );
                }
                Some(_) => return Err(CoreError::invalid("approval_id", "is not the id of an approval")),
            }
            match map.remove("after_the_fact") {
                None | Some(Json::Null) => {}
                Some(Json::Bool(b)) => note.after_the_fact = b,
                Some(Json::String(s)) if matches!(s.as_str(), "true" | "on" | "1") => note.after_the_fact = true,
                Some(Json::String(s)) if matches!(s.as_str(), "false" | "off" | "0" | "") => {}
                Some(_) => return Err(CoreError::invalid("after_the_fact", "is true or false")),
            }
        }
        Ok((note, rest))
    }
}

/// A guarded contact reached without approval, logged after the fact.
pub(crate) struct Breach {
    contact: Record,
    account: Option<Record>,
    protocol: Protocol,
}

impl Breach {
    /// The contact and protocol, for the event that recorded it.
    pub(crate) fn summary(&self) -> Json {
        json!({"contact_id": self.contact.id, "protocol": self.protocol.as_str(), "after_the_fact": true})
    }
}

/// The contacts an activity or task names.
pub(crate) fn reached_contacts(kind: &RecordKind, rec: &Record) -> Vec<Uuid> {
    match kind.kind {
        Kind::Activity => rec.links.get("contact_ids").cloned().unwrap_or_default(),
        Kind::Task => rec.get_ref("contact_id").into_iter().collect(),
        _ => Vec::new(),
    }
}

/// A request to reach a contact, with the names a page shows.
#[derive(Debug, Clone)]
pub struct ApprovalView {
    pub approval: ContactApproval,
    pub contact: String,
    pub account: Option<String>,
    pub requested_by: String,
    pub decided_by: Option<String>,
}

impl ApprovalView {
    pub fn to_json(&self) -> Json {
        let a = &self.approval;
        json!({
            "id": a.id,
            "contact_id": a.contact_id,
            "contact": self.contact,
            "account_id": a.account_id,
            "account": self.account,
            "requested_by": a.requested_by,
            "requested_by_name": self.requested_by,
            "reason": a.reason,
            "status": a.status.as_str(),
            "decided_by": a.decided_by,
            "decided_by_name": self.decided_by,
            "decided_at": a.decided_at.map(format_timestamp),
            "decision_reason": a.decision_reason,
            "created_at": format_timestamp(a.created_at),
            "expires_at": a.expires_at.map(format_timestamp),
        })
    }
}

/// The requests a co-worker sees: their own, and those waiting for their answer.
#[derive(Debug, Clone, Default)]
pub struct ApprovalList {
    pub mine: Vec<ApprovalView>,
    pub to_decide: Vec<ApprovalView>,
}

/// Who may approve reaching a contact of an account owned by `account_owner`, in the order a
/// refusal names them: the owner, the managers above them, directors, admins.
fn approvers(org: &OrgChart, requester: Uuid, account_owner: Option<Uuid>) -> Vec<&CoWorker> {
    let mut found: Vec<&CoWorker> = org
        .coworkers
        .iter()
        .filter(|c| c.status.may_sign_in())
        .filter(|c| {
            let manages = if c.role == Role::Manager { org.managed_by(c.id) } else { Vec::new() };
            may_approve(c.id, c.role, &manages, requester, account_owner)
        })
        .collect();
    let rank = |c: &CoWorker| {
        if Some(c.id) == account_owner {
            0
        } else {
            match c.role {
                Role::Manager => 1,
                Role::Director => 2,
                Role::Admin => 3,
                Role::Rep => 4,
            }
        }
    };
    found.sort_by_key(|c| rank(c));
    found
}

impl<D: Database> Holdfast<D> {
    /// Checks the contacts an activity or task reaches against their protocol, inside the write
    /// that creates or changes it. A contact the actor may not reach is fine with an approval of
    /// theirs for it (the one named, or any still valid); otherwise the write is refused with whom
    /// to ask, unless it is logged after the fact: then it is returned as a breach to alert on.
    pub(crate) fn check_protocol(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        contacts: &[Uuid],
        note: ProtocolNote,
        now: i64,
    ) -> Result<Vec<Breach>, CoreError> {
        let Some(me) = actor.id() else { return Ok(Vec::new()) };
        let mut breaches = Vec::new();
        let mut approvals: Option<Vec<ContactApproval>> = None;
        for contact_id in contacts {
            let Some(contact) = tx.get_record(&CONTACTS, *contact_id)? else { continue };
            let protocol = Protocol::parse(contact.get("protocol").as_text().unwrap_or(""));
            if protocol == Protocol::Open {
                continue;
            }
            let account = match contact.get_ref("account_id") {
                Some(a) => tx.get_record(&ACCOUNTS, a)?,
                None => None,
            };
            let account_owner = account.as_ref().and_then(|a| a.owner(&ACCOUNTS));
            let reach = Reach { protocol, account_owner, contact_owner: contact.owner(&CONTACTS) };
            if may_reach(actor, reach) {
                continue;
            }
            if approvals.is_none() {
                approvals = Some(tx.list_contact_approvals(Some(me), Some(ApprovalStatus::Approved), 500)?);
            }
            if let Some(named) = note.approval_id {
                let approval = tx.get_contact_approval(named)?;
                if approval.as_ref().is_some_and(|a| a.allows(me, *contact_id, now)) {
                    continue;
                }
                if approval.as_ref().is_none_or(|a| a.contact_id == *contact_id) && !note.after_the_fact {
                    return Err(CoreError::invalid(
                        "approval_id",
                        "is not an approval of yours to reach this contact that is approved and not expired",
                    ));
                }
            }
            if approvals.iter().flatten().any(|a| a.allows(me, *contact_id, now)) {
                continue;
            }
            if note.after_the_fact {
                breaches.push(Breach { contact, account, protocol });
                continue;
            }
            let org = OrgChart { coworkers: tx.list_coworkers()?, teams: tx.list_teams()? };
            return Err(CoreError::Protocol(Box::new(ProtocolRefusal {
                contact_id: contact_id.to_string(),
                contact: contact_name(&contact),
                protocol: protocol.as_str(),
                account: account.as_ref().map(|a| a.label(&ACCOUNTS)),
                approvers: approvers(&org, me, account_owner).iter().take(3).map(|c| c.name.clone()).collect(),
            })));
        }
        Ok(breaches)
    }

    /// Raises a `protocol_breach` alert per contact reached without approval, addressed to the
    /// account owner and the managers above them, pointing at the event that recorded it (at the
    /// record's last change).
    pub(crate) fn raise_protocol_alerts(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        kind: &RecordKind,
        rec: &Record,
        event_id: Uuid,
        breaches: Vec<Breach>,
    ) -> Result<(), CoreError> {
        let now = rec.updated_at;
        let Some(me) = actor.id() else { return Ok(()) };
        if breaches.is_empty() {
            return Ok(());
        }
        let org = OrgChart { coworkers: tx.list_coworkers()?, teams: tx.list_teams()? };
        for b in breaches {
            let owner = b.account.as_ref().and_then(|a| a.owner(&ACCOUNTS));
            let mut to: Vec<Uuid> = owner.into_iter().filter(|o| *o != me).collect();
            if let Some(owner) = owner {
                to.extend(
                    org.coworkers
                        .iter()
                        .filter(|c| c.role == Role::Manager && c.id != me && org.managed_by(c.id).contains(&owner))
                        .map(|c| c.id),
                );
            }
            let senior = matches!(b.contact.get("seniority").as_text(), Some("board" | "executive"));
            let what = match kind.kind {
                Kind::Activity => format!("logged a {}", rec.get("type").as_text().unwrap_or("conversation")),
                _ => "planned a task".to_string(),
            };
            let at = b.account.as_ref().map(|a| format!(" at {}", a.label(&ACCOUNTS))).unwrap_or_default();
            let who = actor.coworker.as_ref().map_or_else(|| actor.describe(), |c| c.name.clone());
            let summary = format!(
                "{who} {what} with {}{at} ({}) without approval",
                contact_name(&b.contact),
                b.protocol.describe()
            );
            self.raise_alert_in(
                tx,
                NewAlert {
                    coworker_id: me,
                    kind: PROTOCOL_BREACH,
                    severity: if senior { Severity::High } else { Severity::Medium },
                    summary,
                    details: json!({
                        "contact_id": b.contact.id,
                        "account_id": b.account.as_ref().map(|a| a.id),
                        "account_owner_id": owner,
                        "protocol": b.protocol.as_str(),
                        "record_type": kind.name,
                        "record_id": rec.id,
                        "after_the_fact": true,
                    }),
                    event_ids: vec![event_id],
                    dedupe_key: format!("{PROTOCOL_BREACH}:{}:{}", rec.id, b.contact.id),
                    recipient_ids: to,
                },
                now,
            )?;
        }
        Ok(())
    }

    /// Asks to reach a guarded contact (a pending request already asked is returned as it is).
    pub fn request_contact_approval(
        &self,
        actor: &Actor,
        contact_id: Uuid,
        reason: &str,
    ) -> Result<ApprovalView, CoreError> {
        self.noting_refusals(
            actor,
            || format!("ask to reach contact {contact_id}"),
            || {
                let me = actor.id().ok_or_else(|| CoreError::forbidden("the operator needs no approval"))?;
                let reason = reason.trim();
                if reason.is_empty() {
                    return Err(CoreError::invalid("reason", "say why you want to reach them"));
                }
                if reason.chars().count() > 2_000 {
                    return Err(CoreError::invalid("reason", "keep it under 2,000 characters"));
                }
                let now = self.now();
                let approval = self.db.write(|tx| {
                    let contact = self.load_live(tx, &CONTACTS, contact_id)?;
                    let policy = self.read_policy(tx)?;
                    if !self.may_open(tx, actor, policy, &CONTACTS, &contact)? {
                        return Err(CoreError::not_found("contact", contact_id));
                    }
                    let protocol = Protocol::parse(contact.get("protocol").as_text().unwrap_or(""));
                    let account_id = contact.get_ref("account_id");
                    let account = match account_id {
                        Some(a) => tx.get_record(&ACCOUNTS, a)?,
                        None => None,
                    };
                    let reach = Reach {
                        protocol,
                        account_owner: account.as_ref().and_then(|a| a.owner(&ACCOUNTS)),
                        contact_owner: contact.owner(&CONTACTS),
                    };
                    if may_reach(actor, reach) {
                        return Err(CoreError::Conflict(format!(
                            "{} is {}: you may reach out without an approval",
                            contact_name(&contact),
                            protocol.describe()
                        )));
                    }
                    let mine = tx.list_contact_approvals(Some(me), None, 500)?;
                    if let Some(open) = mine.into_iter().find(|a| {
                        a.contact_id == contact_id
                            && (a.status == ApprovalStatus::Pending || a.allows(me, contact_id, now))
                    }) {
                        return Ok(open);
                    }
                    let approval = ContactApproval {
                        id: Uuid::now_v7(),
                        contact_id,
                        account_id,
                        requested_by: me,
                        reason: reason.to_string(),
                        status: ApprovalStatus::Pending,
                        decided_by: None,
                        decided_at: None,
                        decision_reason: None,
                        created_at: now,
                        expires_at: None,
                    };
                    tx.insert_contact_approval(&approval)?;
                    append_events(
                        tx,
                        vec![
                            NewEvent::by(actor, now, CONTACT_APPROVAL_REQUEST)
                                .object("contact", contact_id)
                                .detail("approval_id", json!(approval.id))
                                .detail("protocol", json!(protocol.as_str()))
                                .detail("reason", json!(reason)),
                        ],
                    )?;
                    Ok(approval)
                })?;
                let mut views = self.approval_views(actor, vec![approval])?;
                views.pop().ok_or_else(|| CoreError::not_found("approval", contact_id))
            },
        )
    }

    /// Approves (for [`APPROVAL_DAYS`]) or denies a request to reach a contact: the account owner
    /// for others, or a manager above the account owner, a director or an admin.
    pub fn decide_contact_approval(
        &self,
        actor: &Actor,
        id: Uuid,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<ApprovalView, CoreError> {
        self.noting_refusals(
            actor,
            || format!("{} contact approval {id}", if approve { "approve" } else { "deny" }),
            || {
                let reason = reason.map(str::trim).filter(|r| !r.is_empty()).map(String::from);
                if reason.as_ref().is_some_and(|r| r.chars().count() > 2_000) {
                    return Err(CoreError::invalid("reason", "keep it under 2,000 characters"));
                }
                if !approve && reason.is_none() {
                    return Err(CoreError::invalid("reason", "say why, so they know what to do instead"));
                }
                let now = self.now();
                let approval = self.db.write(|tx| {
                    let mut approval =
                        tx.get_contact_approval(id)?.ok_or_else(|| CoreError::not_found("approval", id))?;
                    let owner = match approval.account_id {
                        Some(a) => tx.get_record(&ACCOUNTS, a)?.and_then(|a| a.owner(&ACCOUNTS)),
                        None => None,
                    };
                    if let Some(me) = actor.id() {
                        if me == approval.requested_by {
                            return Err(CoreError::forbidden(
                                "a request to reach a contact is answered by someone else",
                            ));
                        }
                        if !may_approve(me, actor.role(), &actor.manages, approval.requested_by, owner) {
                            return Err(CoreError::forbidden(
                                "requests to reach a contact are answered by the account owner or a manager above them",
                            ));
                        }
                    }
                    if approval.status != ApprovalStatus::Pending {
                        return Err(CoreError::Conflict(format!(
                            "the request is {} already",
                            approval.status.as_str()
                        )));
                    }
                    approval.status = if approve { ApprovalStatus::Approved } else { ApprovalStatus::Denied };
                    approval.decided_by = actor.id();
                    approval.decided_at = Some(now);
                    approval.decision_reason = reason.clone();
                    approval.expires_at = approve.then_some(now + APPROVAL_DAYS * DAY);
                    tx.update_contact_approval(&approval)?;
                    append_events(
                        tx,
                        vec![
                            NewEvent::by(actor, now, CONTACT_APPROVAL_DECIDE)
                                .object("contact", approval.contact_id)
                                .detail("approval_id", json!(approval.id))
                                .detail("requested_by", json!(approval.requested_by))
                                .detail("decision", json!(approval.status.as_str()))
                                .detail("reason", json!(reason)),
                        ],
                    )?;
                    Ok(approval)
                })?;
                let mut views = self.approval_views(actor, vec![approval])?;
                views.pop().ok_or_else(|| CoreError::not_found("approval", id))
            },
        )
    }

    /// The actor's own requests (newest first) and the pending ones waiting for their answer.
    pub fn contact_approvals(&self, actor: &Actor) -> Result<ApprovalList, CoreError> {
        let Some(me) = actor.id() else {
            let all = self.db.read(|tx| Ok(tx.list_contact_approvals(None, Some(ApprovalStatus::Pending), 200)?))?;
            return Ok(ApprovalList { mine: Vec::new(), to_decide: self.approval_views(actor, all)? });
        };
        let (mine, pending, owners) = self.db.read(|tx| {
            let mine = tx.list_contact_approvals(Some(me), None, 50)?;
            let pending = tx.list_contact_approvals(None, Some(ApprovalStatus::Pending), 500)?;
            let mut owners = HashMap::new();
            for a in &pending {
                if let Some(account) = a.account_id
                    && !owners.contains_key(&account)
                {
                    let owner = tx.get_record(&ACCOUNTS, account)?.and_then(|r| r.owner(&ACCOUNTS));
                    owners.insert(account, owner);
                }
            }
            Ok((mine, pending, owners))
        })?;
        let to_decide = pending
            .into_iter()
            .filter(|a| {
                let owner = a.account_id.and_then(|acc| owners.get(&acc).copied().flatten());
                may_approve(me, actor.role(), &actor.manages, a.requested_by, owner)
            })
            .collect();
        Ok(ApprovalList { mine: self.approval_views(actor, mine)?, to_decide: self.approval_views(actor, to_decide)? })
    }

    /// Names for requests: contacts and accounts (as the actor may open them) and co-workers.
    fn approval_views(&self, actor: &Actor, approvals: Vec<ContactApproval>) -> Result<Vec<ApprovalView>, CoreError> {
        let contact_ids: Vec<Uuid> = approvals.iter().map(|a| a.contact_id).collect();
        let account_ids: Vec<Uuid> = approvals.iter().filter_map(|a| a.account_id).collect();
        let contacts = self.labels(actor, &record::CONTACTS, &contact_ids)?;
        let accounts = self.labels(actor, &record::ACCOUNTS, &account_ids)?;
        let names: HashMap<Uuid, String> =
            self.db.read(|tx| Ok(tx.list_coworkers()?))?.into_iter().map(|c| (c.id, c.name)).collect();
        Ok(approvals
            .into_iter()
            .map(|a| ApprovalView {
                contact: contacts.get(&a.contact_id).cloned().unwrap_or_else(|| "a contact".into()),
                account: a.account_id.and_then(|id| accounts.get(&id).cloned()),
                requested_by: names.get(&a.requested_by).cloned().unwrap_or_default(),
                decided_by: a.decided_by.and_then(|d| names.get(&d).cloned()),
                approval: a,
            })
            .collect())
    }
}

/// "Lena Fischer (CFO)".
fn contact_name(contact: &Record) -> String {
    let name = contact.label(&CONTACTS);
    match contact.get("title").as_text().filter(|t| !t.is_empty()) {
        Some(title) => format!("{name} ({title})"),
        None => name,
    }
}
