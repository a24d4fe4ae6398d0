//! What a bulk operation (a bulk change of owner, a handover, an undo) did to each record.
//!
//! A handover of 100,000 records is one system event, not 100,001: the event holds how many
//! records of each kind moved and a SHA-256 of the operation's rows (`records_digest`), and the
//! rows themselves (the record, its owner before and after) are kept in a table indexed by record,
//! which is what a record's history page and an undo read. The chain vouches for the rows through
//! the digest: `audit verify` recomputes it, and an undo refuses rows that do not match it.

use sha2::{Digest, Sha256};
use uuid::Uuid;

/// Which step of an operation a row belongs to: the operation itself, or its undo; for an
/// import, the contacts it created (`Done`) and the existing contacts its rows matched (`Merged`,
/// vouched for by the event's `merged_digest`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Done,
    Undone,
    Merged,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Done => "do",
            Step::Undone => "undo",
            Step::Merged => "merge",
        }
    }
    pub fn parse(s: &str) -> Option<Step> {
        match s {
            "do" => Some(Step::Done),
            "undo" => Some(Step::Undone),
            "merge" => Some(Step::Merged),
            _ => None,
        }
    }
}

/// One record an operation changed: its kind (singular name), id, and owner before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationRecord {
    pub kind: String,
    pub record_id: Uuid,
    pub owner_before: Option<Uuid>,
    pub owner_after: Option<Uuid>,
}

/// An operation's row as a record's history finds it: which operation, which step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordOperation {
    pub operation: Uuid,
    pub step: Step,
    pub row: OperationRecord,
}

/// The running SHA-256 of an operation's rows, in the order they were written: one line per row,
/// `kind TAB record TAB owner before TAB owner after LF`, an owner of nobody written empty.
#[derive(Clone, Default)]
pub struct RecordsDigest {
    hasher: Sha256,
    rows: u64,
}

impl RecordsDigest {
    pub fn add(&mut self, r: &OperationRecord) {
        let mut buf = Uuid::encode_buffer();
        self.hasher.update(r.kind.as_bytes());
        for id in [Some(r.record_id), r.owner_before, r.owner_after] {
            self.hasher.update(b"\t");
            if let Some(id) = id {
                self.hasher.update(id.hyphenated().encode_lower(&mut buf).as_bytes());
            }
        }
        self.hasher.update(b"\n");
        self.rows += 1;
    }
    pub fn rows(&self) -> u64 {
        self.rows
    }
    /// `sha256:` and the hex digest.
    pub fn finish(self) -> String {
        format!("sha256:{}", hex::encode(self.hasher.finalize()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_depends_on_every_cell_and_on_the_order() {
        let a = OperationRecord {
            kind: "account".into(),
            record_id: Uuid::from_u128(1),
            owner_before: Some(Uuid::from_u128(2)),
            owner_after: None,
        };
        let b = OperationRecord { record_id: Uuid::from_u128(3), ..a.clone() };
        let digest = |rows: &[&OperationRecord]| {
            let mut d = RecordsDigest::default();
            rows.iter().for_each(|r| d.add(r));
            d.finish()
        };
        let base = digest(&[&a, &b]);
        assert!(base.starts_with("sha256:") && base.len() == 7 + 64, "{base}");
        assert_ne!(base, digest(&[&b, &a]), "order counts");
        assert_ne!(base, digest(&[&a]), "every row counts");
        let moved = OperationRecord { owner_after: Some(Uuid::from_u128(4)), ..b.clone() };
        assert_ne!(base, digest(&[&a, &moved]), "the owner after counts");
        assert_eq!(base, digest(&[&a, &b]), "and it is deterministic");
        let text = format!(
            "account\t{}\t{}\t\naccount\t{}\t{}\t\n",
            a.record_id,
            Uuid::from_u128(2),
            b.record_id,
            Uuid::from_u128(2)
        );
        assert_eq!(base, format!("sha256:{}", hex::encode(Sha256::digest(text.as_bytes()))), "the documented lines");
    }
}
