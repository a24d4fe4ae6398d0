//! Relationship coverage: how many people on each side of an account have actually talked.
//!
//! A customer who talks to one co-worker, or through one contact, hangs on one person: when that
//! rep leaves or that contact changes jobs, the relationship goes with them. Coverage counts who
//! took part in the account's calls, emails, meetings and notes over a window, so a page can say
//! plainly when an account is single-threaded.

use std::collections::BTreeSet;

use uuid::Uuid;

use crate::record::{ACTIVITIES, Record};

/// How well an account's relationship is spread over people.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoverageLevel {
    /// Nobody has talked to the customer in the window.
    Silent,
    /// One co-worker, or one contact, carries the whole relationship.
    SingleThreaded,
    /// At least two co-workers have talked with at least two contacts.
    MultiThreaded,
}

/// Who took part in an account's activities in a window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// Co-workers who logged or took part in an activity.
    pub coworkers: BTreeSet<Uuid>,
    /// Customer contacts who took part.
    pub contacts: BTreeSet<Uuid>,
    pub level: CoverageLevel,
}

/// Coverage from an account's activities, counting those that happened at or after `since`.
pub fn coverage(activities: &[Record], since: i64) -> Coverage {
    let mut coworkers = BTreeSet::new();
    let mut contacts = BTreeSet::new();
    let mut any = false;
    for a in activities {
        if a.deleted_at.is_some() || a.get("occurred_at").as_int().is_none_or(|t| t < since) {
            continue;
        }
        any = true;
        coworkers.extend(a.owner(&ACTIVITIES));
        coworkers.extend(a.links.get("coworker_ids").into_iter().flatten().copied());
        contacts.extend(a.links.get("contact_ids").into_iter().flatten().copied());
    }
    let level = if !any {
        CoverageLevel::Silent
    } else if coworkers.len() >= 2 && contacts.len() >= 2 {
        CoverageLevel::MultiThreaded
    } else {
        CoverageLevel::SingleThreaded
    };
    Coverage { coworkers, contacts, level }
}

/// How often one co-worker and one customer contact took part in the same activity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thread {
    pub coworker: Uuid,
    pub contact: Uuid,
    pub activities: usize,
}

/// Who talks to whom at an account: every (co-worker, contact) pair that shared an activity (the
/// one who logged it and those who took part), busiest first, at most `limit`.
pub fn threads(activities: &[Record], limit: usize) -> Vec<Thread> {
    let mut pairs: std::collections::BTreeMap<(Uuid, Uuid), usize> = std::collections::BTreeMap::new();
    for a in activities.iter().filter(|a| a.deleted_at.is_none()) {
        let mut ours: BTreeSet<Uuid> = a.owner(&ACTIVITIES).into_iter().collect();
        ours.extend(a.links.get("coworker_ids").into_iter().flatten());
        for contact in a.links.get("contact_ids").into_iter().flatten() {
            for coworker in &ours {
                *pairs.entry((*coworker, *contact)).or_default() += 1;
            }
        }
    }
    let mut out: Vec<Thread> =
        pairs.into_iter().map(|((coworker, contact), activities)| Thread { coworker, contact, activities }).collect();
    out.sort_by_key(|t| std::cmp::Reverse(t.activities));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    fn activity(at: i64, owner: u128, with: &[u128], contacts: &[u128]) -> Record {
        let mut r = Record { id: Uuid::from_u128(at as u128 + 1000), ..Default::default() };
        r.fields.insert("occurred_at", Value::Int(at));
        r.fields.insert("owner_id", Value::Text(Uuid::from_u128(owner).to_string()));
        r.links.insert("coworker_ids", with.iter().map(|c| Uuid::from_u128(*c)).collect());
        r.links.insert("contact_ids", contacts.iter().map(|c| Uuid::from_u128(*c)).collect());
        r
    }

    #[test]
    fn one_rep_or_one_contact_is_single_threaded() {
        assert_eq!(coverage(&[], 0).level, CoverageLevel::Silent);
        let one_rep = [activity(10, 1, &[], &[7]), activity(11, 1, &[], &[8])];
        assert_eq!(coverage(&one_rep, 0).level, CoverageLevel::SingleThreaded);
        let one_contact = [activity(10, 1, &[2], &[7]), activity(11, 3, &[], &[7])];
        assert_eq!(coverage(&one_contact, 0).level, CoverageLevel::SingleThreaded);
        let spread = [activity(10, 1, &[2], &[7]), activity(11, 1, &[], &[8])];
        let c = coverage(&spread, 0);
        assert_eq!(c.level, CoverageLevel::MultiThreaded);
        assert_eq!((c.coworkers.len(), c.contacts.len()), (2, 2));
        // Old activity falls out of the window.
        assert_eq!(coverage(&spread, 11).level, CoverageLevel::SingleThreaded);
        assert_eq!(coverage(&spread, 12).level, CoverageLevel::Silent);
    }

    #[test]
    fn threads_count_each_pair_that_shared_an_activity_busiest_first() {
        let u = Uuid::from_u128;
        let acts = [activity(10, 1, &[2], &[7]), activity(11, 1, &[], &[7]), activity(12, 3, &[], &[8])];
        let t = threads(&acts, 10);
        assert_eq!(t[0], Thread { coworker: u(1), contact: u(7), activities: 2 });
        assert_eq!(t.len(), 3);
        assert!(t.contains(&Thread { coworker: u(2), contact: u(7), activities: 1 }));
        assert_eq!(threads(&acts, 1).len(), 1);
    }
}
