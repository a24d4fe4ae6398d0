//! Converting a lead: the person becomes a contact at an account (an existing one of the same
//! name, or a new one), in one transaction, and the lead is marked converted.

use serde_json::json;
use uuid::Uuid;

use super::records::fields_json;
use super::{Holdfast, append_events};
use crate::access;
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::record::{self, ACCOUNTS, CONTACTS, LEADS, Value, parse_changes};
use crate::storage::Database;

/// What a conversion made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    pub account_id: Uuid,
    pub contact_id: Uuid,
    /// Whether the account was created (rather than found by name).
    pub new_account: bool,
}

impl<D: Database> Holdfast<D> {
    /// Converts a lead into a contact at an account. `account` picks the account; without it an
    /// account with the lead's company name is used, or created. The new records keep the lead's
    /// owner.
    pub fn convert_lead(&self, actor: &Actor, lead: Uuid, account: Option<Uuid>) -> Result<Conversion, CoreError> {
        self.noting_refusals(
            actor,
            || format!("convert lead {lead}"),
            || {
                self.db.write(|tx| {
                    let before = self.load_live(tx, &LEADS, lead)?;
                    if !access::may_edit(actor, before.owner(&LEADS), &[]) {
                        return Err(CoreError::forbidden(format!(
                            "{} may convert only leads they own, or their reports' leads",
                            actor.describe()
                        )));
                    }
                    if before.get("status").as_text() == Some("converted") {
                        return Err(CoreError::Conflict("this lead has already been converted".into()));
                    }
                    let text = |f: &str| before.get(f).as_text().map(str::to_string);
                    let owner = before.owner(&LEADS).map(|o| o.to_string());
                    let mut events = Vec::new();
                    let (account_id, new_account) = match account {
                        Some(id) => (self.load_live(tx, &ACCOUNTS, id)?.id, false),
                        None => {
                            let name = text("company")
                                .filter(|c| !c.trim().is_empty())
                                .unwrap_or_else(|| before.label(&LEADS));
                            match tx.find_accounts_by_name(&name)?.into_iter().next() {
                                Some(found) => (found.id, false),
                                None => {
                                    let changes =
                                        parse_changes(&ACCOUNTS, &json!({"name": name, "owner_id": owner}), true)?;
                                    let acc = self.insert_new(tx, actor, &ACCOUNTS, changes)?;
                                    events.push(
                                        NewEvent::by(actor, acc.created_at, action::RECORD_CREATE)
                                            .object(ACCOUNTS.name, acc.id)
                                            .rows(1)
                                            .detail("fields", fields_json(&ACCOUNTS, &acc)),
                                    );
                                    (acc.id, true)
                                }
                            }
                        }
                    };
                    let input = json!({
                        "account_id": account_id.to_string(),
                        "first_name": text("first_name"),
                        "last_name": text("last_name"),
                        "email": text("email"),
                        "phone": text("phone"),
                        "title": text("title"),
                        "owner_id": owner,
                    });
                    let changes = parse_changes(&CONTACTS, &input, true)?;
                    let contact = self.insert_new(tx, actor, &CONTACTS, changes)?;
                    events.push(
                        NewEvent::by(actor, contact.created_at, action::RECORD_CREATE)
                            .object(CONTACTS.name, contact.id)
                            .rows(1)
                            .detail("fields", fields_json(&CONTACTS, &contact))
                            .detail("from_lead", json!(lead)),
                    );
                    let mut status = record::Changes::default();
                    status.fields.insert("status", Value::Text("converted".into()));
                    let applied = self.apply_changes(tx, actor, &LEADS, lead, &status)?;
                    events.extend(applied.event.map(|e| {
                        e.detail(
                            "converted_to",
                            json!({"account": account_id, "contact": contact.id, "new_account": new_account}),
                        )
                    }));
                    append_events(tx, events)?;
                    Ok(Conversion { account_id, contact_id: contact.id, new_account })
                })
            },
        )
    }
}
