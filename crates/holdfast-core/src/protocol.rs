//! Contact protocol: who at the company may call whom at the customer.
//!
//! A rep who goes around a customer's CIO and CEO to their board chairman can lose the account.
//! Each contact carries a protocol the account owner sets: open to anyone, the owner only, or
//! escalation only (a manager's or the owner's approval first). Logging or planning an activity
//! with a contact whose protocol the co-worker does not meet is refused with the way to ask, or,
//! when the call already happened, recorded and raised as an alert to the account owner and their
//! managers. The rules are here, pure; the service applies them.

use uuid::Uuid;

use crate::coworker::{Actor, Role};

/// How a contact may be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    /// Anyone at the company may reach out.
    #[default]
    Open,
    /// The account owner (and the contact's owner, and whoever manages the account owner).
    OwnerOnly,
    /// Only with an approval from the account owner or a manager; managers above the account
    /// owner, directors and admins reach out without one.
    EscalationOnly,
}

pub const PROTOCOLS: &[&str] = &["open", "owner_only", "escalation_only"];
pub const SENIORITIES: &[&str] = &["board", "executive", "vp", "manager", "staff"];

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Open => "open",
            Protocol::OwnerOnly => "owner_only",
            Protocol::EscalationOnly => "escalation_only",
        }
    }
    /// Unknown or empty values read as open (what a contact without a protocol is).
    pub fn parse(s: &str) -> Protocol {
        match s {
            "owner_only" => Protocol::OwnerOnly,
            "escalation_only" => Protocol::EscalationOnly,
            _ => Protocol::Open,
        }
    }
    /// In words, for pages and refusals.
    pub fn describe(self) -> &'static str {
        match self {
            Protocol::Open => "open to anyone",
            Protocol::OwnerOnly => "owner only",
            Protocol::EscalationOnly => "escalation only",
        }
    }
}

/// The account and contact a co-worker wants to reach, as far as the protocol cares.
#[derive(Debug, Clone, Copy)]
pub struct Reach {
    pub protocol: Protocol,
    pub account_owner: Option<Uuid>,
    pub contact_owner: Option<Uuid>,
}

/// Whether `actor` may reach the contact without an approval.
pub fn may_reach(actor: &Actor, reach: Reach) -> bool {
    let Some(me) = actor.id() else { return true };
    if matches!(actor.role(), Role::Admin | Role::Director) {
        return true;
    }
    let above_owner = reach.account_owner.is_some_and(|o| actor.manages.contains(&o));
    match reach.protocol {
        Protocol::Open => true,
        Protocol::OwnerOnly => above_owner || reach.account_owner == Some(me) || reach.contact_owner == Some(me),
        Protocol::EscalationOnly => above_owner,
    }
}

/// Whether `approver` (who manages the co-workers in `approver_manages`) may approve `requester`
/// reaching a contact of an account owned by `account_owner`: the account owner for others, and
/// whoever manages the account owner, a director or an admin, never the requester themself.
pub fn may_approve(
    approver: Uuid,
    approver_role: Role,
    approver_manages: &[Uuid],
    requester: Uuid,
    account_owner: Option<Uuid>,
) -> bool {
    if approver == requester {
        return false;
    }
    matches!(approver_role, Role::Admin | Role::Director)
        || account_owner == Some(approver)
        || account_owner.is_some_and(|o| approver_manages.contains(&o))
}

/// How long an approval to reach a contact lasts.
pub const APPROVAL_DAYS: i64 = 30;

/// Where an approval to reach a contact stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Denied,
}

impl ApprovalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Denied => "denied",
        }
    }
    pub fn parse(s: &str) -> Option<ApprovalStatus> {
        match s {
            "pending" => Some(ApprovalStatus::Pending),
            "approved" => Some(ApprovalStatus::Approved),
            "denied" => Some(ApprovalStatus::Denied),
            _ => None,
        }
    }
}

/// A co-worker's request to reach a contact the protocol guards, and its answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactApproval {
    pub id: Uuid,
    pub contact_id: Uuid,
    pub account_id: Option<Uuid>,
    pub requested_by: Uuid,
    pub reason: String,
    pub status: ApprovalStatus,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    pub created_at: i64,
    /// Until when an approved request lets the requester reach the contact.
    pub expires_at: Option<i64>,
}

impl ContactApproval {
    /// Whether it lets `who` reach `contact` at `now`.
    pub fn allows(&self, who: Uuid, contact: Uuid, now: i64) -> bool {
        self.status == ApprovalStatus::Approved
            && self.requested_by == who
            && self.contact_id == contact
            && self.expires_at.is_some_and(|e| now < e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::coworker::{Channel, CoWorker, Seniority, Status};

    fn actor(role: Role, manages: Vec<Uuid>) -> Actor {
        let id = Uuid::now_v7();
        Actor {
            coworker: Some(CoWorker {
                id,
                email: "x@example.com".into(),
                name: "X".into(),
                role,
                status: Status::Active,
                seniority: Seniority::Individual,
                team_id: None,
                manager_id: None,
                title: None,
                password_hash: None,
                created_at: 0,
                updated_at: 0,
                password_must_change: false,
            }),
            channel: Channel::ApiToken,
            credential_id: None,
            client_addr: None,
            user_agent: None,
            manages,
            team_mates: Vec::new(),
        }
    }

    #[test]
    fn who_may_reach_whom() {
        let owner = Uuid::now_v7();
        let rep = actor(Role::Rep, vec![]);
        let owner_actor = {
            let mut a = actor(Role::Rep, vec![]);
            if let Some(c) = a.coworker.as_mut() {
                c.id = owner;
            }
            a
        };
        let manager = actor(Role::Manager, vec![owner]);
        let other_manager = actor(Role::Manager, vec![]);
        let reach = |protocol| Reach { protocol, account_owner: Some(owner), contact_owner: None };

        assert!(may_reach(&rep, reach(Protocol::Open)));
        assert!(!may_reach(&rep, reach(Protocol::OwnerOnly)));
        assert!(may_reach(&owner_actor, reach(Protocol::OwnerOnly)));
        assert!(may_reach(&manager, reach(Protocol::OwnerOnly)));
        assert!(!may_reach(&other_manager, reach(Protocol::OwnerOnly)));

        assert!(!may_reach(&rep, reach(Protocol::EscalationOnly)));
        assert!(!may_reach(&owner_actor, reach(Protocol::EscalationOnly)), "the owner asks a manager");
        assert!(may_reach(&manager, reach(Protocol::EscalationOnly)));
        assert!(may_reach(&actor(Role::Director, vec![]), reach(Protocol::EscalationOnly)));

        let contact_owner =
            Reach { protocol: Protocol::OwnerOnly, account_owner: Some(owner), contact_owner: rep.id() };
        assert!(may_reach(&rep, contact_owner));
    }

    #[test]
    fn who_may_approve() {
        let (owner, rep, manager) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        assert!(may_approve(owner, Role::Rep, &[], rep, Some(owner)));
        assert!(!may_approve(owner, Role::Rep, &[], owner, Some(owner)), "nobody approves themself");
        assert!(may_approve(manager, Role::Manager, &[owner], owner, Some(owner)));
        assert!(!may_approve(manager, Role::Manager, &[rep], rep, Some(owner)), "managing the asker is not enough");
        assert!(!may_approve(rep, Role::Rep, &[], owner, Some(owner)));
        assert!(may_approve(manager, Role::Admin, &[], rep, None));
    }

    #[test]
    fn an_approval_is_for_one_person_one_contact_for_a_while() {
        let (who, contact) = (Uuid::now_v7(), Uuid::now_v7());
        let approval = ContactApproval {
            id: Uuid::now_v7(),
            contact_id: contact,
            account_id: None,
            requested_by: who,
            reason: "renewal".into(),
            status: ApprovalStatus::Approved,
            decided_by: None,
            decided_at: Some(0),
            decision_reason: None,
            created_at: 0,
            expires_at: Some(100),
        };
        assert!(approval.allows(who, contact, 50));
        assert!(!approval.allows(who, contact, 100));
        assert!(!approval.allows(Uuid::now_v7(), contact, 50));
        assert!(!approval.allows(who, Uuid::now_v7(), 50));
        assert!(!ContactApproval { status: ApprovalStatus::Pending, ..approval }.allows(who, contact, 50));
    }
}
