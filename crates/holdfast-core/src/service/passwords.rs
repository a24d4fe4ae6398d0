//! A co-worker changes their own password: the current one is asked for (and guessing it through
//! this door counts against the same sign-in limits), every other session of theirs ends, and a
//! temporary password someone else chose stops being one.

use serde_json::json;

use super::{Holdfast, append_events};
use crate::coworker::Actor;
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::secret;
use crate::storage::Database;

impl<D: Database> Holdfast<D> {
    /// Changes the signed-in co-worker's own password. Their API tokens stay; their other
    /// sessions (other browsers, other devices) end at once.
    pub fn change_own_password(&self, actor: &Actor, current: &str, new: &str) -> Result<(), CoreError> {
        let me = actor
            .coworker
            .as_ref()
            .ok_or_else(|| CoreError::forbidden("only a signed-in co-worker has a password to change"))?;
        let reservation = self.sign_in_limits.reserve(&me.email, actor.client_addr.as_deref(), false, self.now())?;
        let stored =
            self.db.read(|tx| Ok(tx.get_coworker(me.id)?))?.ok_or_else(|| CoreError::not_found("co-worker", me.id))?;
        let verified = match stored.password_hash.as_deref() {
            Some(hash) => secret::verify_password(current, hash),
            None => {
                secret::burn_password_time(current);
                false
            }
        };
        if !verified {
            let event = NewEvent::by(actor, self.now(), action::LOGIN_FAILED)
                .detail("email", json!(me.email))
                .detail("reason", json!("wrong current password"));
            self.db.write(|tx| Ok(append_events(tx, vec![event])?))?;
            return Err(CoreError::invalid("current_password", "is not your current password"));
        }
        self.sign_in_limits.give_back(reservation);
        if new == current {
            return Err(CoreError::invalid("new_password", "must differ from the current one"));
        }
        let hash = secret::hash_password(new).map_err(|_| {
            CoreError::invalid("new_password", format!("must be at least {} characters", secret::MIN_PASSWORD_LEN))
        })?;
        let now = self.now();
        self.db.write(|tx| {
            let mut c = tx.get_coworker(me.id)?.ok_or_else(|| CoreError::not_found("co-worker", me.id))?;
            c.password_hash = Some(hash);
            c.password_must_change = false;
            c.updated_at = now;
            tx.update_coworker(&c)?;
            let mut ended = 0;
            for cred in tx.list_credentials(c.id)? {
                let other_session = cred.kind == "session" && Some(cred.id) != actor.credential_id;
                if other_session && cred.revoked_at.is_none() {
                    ended += tx.revoke_credentials(c.id, Some(cred.id), now)?;
                }
            }
            let event = NewEvent::by(actor, now, action::COWORKER_UPDATE)
                .object("coworker", c.id)
                .detail("changes", json!({"password": "changed by its owner"}))
                .detail("sessions_ended", json!(ended));
            append_events(tx, vec![event])?;
            Ok(())
        })?;
        self.forget_org();
        Ok(())
    }
}
