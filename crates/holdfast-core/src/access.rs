//! Who may read and change what. Checked in the services, never in handlers.
//!
//! - Admins (and the operator at the command line) may do everything.
//! - Every co-worker may read any customer record unless the admin's read policy narrows it
//!   (open collaboration: whoever takes the customer's call can help them).
//! - A rep may change records they own, and records of accounts whose team they are on.
//! - A manager may also change records owned by the co-workers they manage; a director manages
//!   everyone (and so reads every team's records, reports and system events), without settings.

use uuid::Uuid;

use crate::coworker::{Actor, Role};

/// The admin setting that decides which customer records co-workers may open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadPolicy {
    /// Anyone may open any customer record.
    #[default]
    All,
    /// Co-workers may open records owned by their team (and those they manage).
    Team,
    /// Co-workers may open only their own records (and those they manage).
    Own,
}

impl ReadPolicy {
    pub const SETTING: &'static str = "read_policy";
    pub fn as_str(self) -> &'static str {
        match self {
            ReadPolicy::All => "all",
            ReadPolicy::Team => "team",
            ReadPolicy::Own => "own",
        }
    }
    pub fn parse(s: &str) -> Result<ReadPolicy, String> {
        match s.trim() {
            "all" => Ok(ReadPolicy::All),
            "team" => Ok(ReadPolicy::Team),
            "own" => Ok(ReadPolicy::Own),
            other => Err(format!("'{other}' is not a read policy; use all, team or own")),
        }
    }
}

/// The owners whose records `actor` may read, or `None` for no restriction.
pub fn readable_owners(actor: &Actor, policy: ReadPolicy) -> Option<Vec<Uuid>> {
    let me = actor.id()?;
    if matches!(actor.role(), Role::Admin | Role::Director) || policy == ReadPolicy::All {
        return None;
    }
    let mut owners = vec![me];
    owners.extend(actor.manages.iter().copied());
    if policy == ReadPolicy::Team {
        owners.extend(actor.team_mates.iter().copied());
    }
    owners.sort();
    owners.dedup();
    Some(owners)
}

/// Whether `actor` may open a record owned by `owner` on an account team of `account_team`.
pub fn may_read(actor: &Actor, policy: ReadPolicy, owner: Option<Uuid>, account_team: &[Uuid]) -> bool {
    match readable_owners(actor, policy) {
        None => true,
        Some(owners) => {
            owner.is_some_and(|o| owners.contains(&o)) || actor.id().is_some_and(|me| account_team.contains(&me))
        }
    }
}

/// Whether `actor` may change (or delete) a record owned by `owner`; `account_team` is the owner
/// and collaborators of the account the record belongs to.
pub fn may_edit(actor: &Actor, owner: Option<Uuid>, account_team: &[Uuid]) -> bool {
    let Some(me) = actor.id() else { return true };
    match actor.role() {
        Role::Admin => true,
        Role::Manager | Role::Director => {
            owner == Some(me)
                || owner.is_some_and(|o| actor.manages.contains(&o))
                || account_team.contains(&me)
                || account_team.iter().any(|t| actor.manages.contains(t))
        }
        Role::Rep => owner == Some(me) || account_team.contains(&me),
    }
}

/// Whether `actor` may make `owner` the owner of a record.
pub fn may_assign(actor: &Actor, owner: Uuid) -> bool {
    let Some(me) = actor.id() else { return true };
    match actor.role() {
        Role::Admin => true,
        Role::Manager | Role::Director => owner == me || actor.manages.contains(&owner),
        Role::Rep => owner == me,
    }
}

/// Whether `actor` may see `coworker`'s system events.
pub fn may_review(actor: &Actor, coworker: Uuid) -> bool {
    match actor.id() {
        None => true,
        Some(me) => actor.is_admin() || me == coworker || actor.manages.contains(&coworker),
    }
}
