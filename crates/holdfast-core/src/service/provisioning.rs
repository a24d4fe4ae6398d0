//! Provisioning by the company's identity provider (SCIM 2.0): Okta, Microsoft Entra ID, Google
//! Workspace or Keycloak create co-workers, keep their name, title, department and manager up to
//! date, put them in teams, and deactivate them. A deactivation (`active: false` or DELETE) ends
//! every session and token at once and opens the co-worker's departure case, so the book they
//! leave is handed over, never orphaned. Every read and change writes its system event (the
//! token's channel, `scim`, says the identity provider did it).

use std::collections::HashMap;

use serde_json::{Value as Json, json};
use uuid::Uuid;

use super::{CoWorkerChanges, Holdfast, NewCoWorker, append_events};
use crate::coworker::{Actor, CoWorker, Identity, Role, Status, Team};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::scim::{
    self, DEFAULT_PAGE, Filter, GROUP_SCHEMA_INFO, GroupFields, MAX_PAGE, ScimError, USER_SCHEMA_INFO, UserFields,
};
use crate::storage::{Database, Tx};

/// A list request: `filter`, `startIndex` (from 1), `count`, and which attributes to return.
#[derive(Debug, Clone, Default)]
pub struct ScimQuery {
    pub filter: Option<String>,
    pub start_index: Option<i64>,
    pub count: Option<i64>,
    pub attributes: Option<String>,
    pub excluded_attributes: Option<String>,
}

/// A page of resources, as a SCIM ListResponse.
#[derive(Debug, Clone)]
pub struct ScimPage {
    pub total: usize,
    pub start_index: usize,
    pub resources: Vec<Json>,
}

impl ScimPage {
    pub fn to_json(self) -> Json {
        scim::list_json(self.total, self.start_index, self.resources)
    }
}

/// The co-workers, what the identity provider says about them, and the teams, read together.
struct Directory {
    coworkers: Vec<CoWorker>,
    identities: HashMap<Uuid, Identity>,
    teams: Vec<Team>,
}

impl Directory {
    fn read(tx: &mut dyn Tx) -> Result<Directory, CoreError> {
        Ok(Directory {
            coworkers: tx.list_coworkers()?,
            identities: tx.list_identities()?.into_iter().map(|i| (i.coworker_id, i)).collect(),
            teams: tx.list_teams()?,
        })
    }
    fn removed(&self, id: Uuid) -> bool {
        self.identities.get(&id).is_some_and(|i| i.removed_at.is_some())
    }
    fn user(&self, c: &CoWorker, base: &str) -> Json {
        let team = c.team_id.and_then(|t| self.teams.iter().find(|team| team.id == t));
        let manager = c.manager_id.and_then(|m| self.coworkers.iter().find(|x| x.id == m));
        scim::user_json(c, self.identities.get(&c.id), team, manager, base)
    }
    fn group(&self, t: &Team, base: &str, with_members: bool) -> Json {
        let members: Vec<&CoWorker> = self.coworkers.iter().filter(|c| c.team_id == Some(t.id)).collect();
        scim::group_json(t, &members, base, with_members)
    }
}

fn parse_id(what: &str, id: &str) -> Result<Uuid, ScimError> {
    Uuid::parse_str(id.trim()).map_err(|_| ScimError::not_found(what, id))
}

/// The page a query asks for: `startIndex` below 1 counts as 1, `count` is kept within
/// [0, MAX_PAGE] (RFC 7644 §3.4.2.4).
fn bounds(q: &ScimQuery) -> (usize, usize) {
    let start = q.start_index.unwrap_or(1).max(1);
    let count = q.count.unwrap_or(DEFAULT_PAGE as i64).clamp(0, MAX_PAGE as i64);
    (usize::try_from(start).unwrap_or(usize::MAX), usize::try_from(count).unwrap_or(MAX_PAGE))
}

fn page(matched: Vec<Json>, q: &ScimQuery) -> ScimPage {
    let (start, count) = bounds(q);
    let total = matched.len();
    let resources = matched
        .into_iter()
        .skip(start - 1)
        .take(count)
        .map(|mut r| {
            scim::project(&mut r, q.attributes.as_deref(), q.excluded_attributes.as_deref());
            r
        })
        .collect();
    ScimPage { total, start_index: start, resources }
}

fn parse_filter(q: &ScimQuery) -> Result<Option<Filter>, ScimError> {
    q.filter.as_deref().map(str::trim).filter(|f| !f.is_empty()).map(Filter::parse).transpose()
}

/// Whether `excludedAttributes` leaves a group's members out (Okta and Entra ask so).
fn members_wanted(q: &ScimQuery) -> bool {
    let names = |list: &Option<String>| -> Vec<String> {
        list.as_deref().unwrap_or_default().split(',').map(|a| a.trim().to_ascii_lowercase()).collect()
    };
    let attributes = names(&q.attributes);
    !names(&q.excluded_attributes).iter().any(|a| a == "members")
        && (q.attributes.is_none() || attributes.iter().any(|a| a == "members"))
}

impl<D: Database> Holdfast<D> {
    /// A write transaction whose work fails with SCIM errors (rolled back on any error).
    fn scim_write<T>(&self, f: impl FnOnce(&mut dyn Tx) -> Result<T, ScimError>) -> Result<T, ScimError> {
        let mut refused = None;
        let result = self.db.write(|tx| {
            f(tx).map_err(|e| {
                let core = CoreError::Conflict(e.detail.clone());
                refused = Some(e);
                core
            })
        });
        result.map_err(|e| refused.take().unwrap_or_else(|| e.into()))
    }

    /// SCIM is the identity provider's: a SCIM token, or an admin's API token.
    fn scim_allowed(&self, actor: &Actor) -> Result<(), ScimError> {
        if actor.is_admin() {
            Ok(())
        } else {
            Err(ScimError::forbidden(
                "SCIM is for the identity provider: send a SCIM token (holdfast token create --coworker ADMIN --scim) or an admin's API token",
            ))
        }
    }

    /// `GET /Users`: co-workers matching the filter, a page at a time.
    pub fn scim_users(&self, actor: &Actor, q: &ScimQuery, base: &str) -> Result<ScimPage, ScimError> {
        self.scim_allowed(actor)?;
        let filter = parse_filter(q)?;
        let dir = self.db.read(Directory::read)?;
        let matched: Vec<Json> = dir
            .coworkers
            .iter()
            .filter(|c| !dir.removed(c.id))
            .map(|c| dir.user(c, base))
            .filter(|u| filter.as_ref().is_none_or(|f| f.matches(u)))
            .collect();
        let page = page(matched, q);
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ)
                .object_type("coworker")
                .rows(page.resources.len())
                .detail("filter", json!(q.filter)),
        ])?;
        Ok(page)
    }

    /// `GET /Users/{id}`.
    pub fn scim_user(&self, actor: &Actor, id: &str, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let uid = parse_id("user", id)?;
        let dir = self.db.read(Directory::read)?;
        let c = dir
            .coworkers
            .iter()
            .find(|c| c.id == uid && !dir.removed(c.id))
            .ok_or_else(|| ScimError::not_found("user", id))?;
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::COWORKER_READ).object("coworker", c.id).rows(1),
        ])?;
        Ok(dir.user(c, base))
    }

    /// `POST /Users`: a new co-worker (a rep, who signs in through single sign-on). A userName
    /// the identity provider deleted earlier brings that co-worker back, history and all.
    pub fn scim_create_user(&self, actor: &Actor, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let fields = UserFields::from_json(body)?;
        let (coworker, deprovisioned) = self.scim_write(|tx| {
            if let Some(existing) = tx.get_coworker_by_email(&fields.email)? {
                let identity = tx.get_identity(existing.id)?;
                if identity.as_ref().is_none_or(|i| i.removed_at.is_none()) {
                    return Err(ScimError::uniqueness(format!(
                        "a co-worker with the userName {} exists (id {}); find them with filter=userName eq \"{}\"",
                        fields.email, existing.id, fields.email
                    )));
                }
                return self.apply_user(tx, actor, existing, identity, &fields);
            }
            let manager = self.scim_manager(tx, &fields, None)?;
            let new = NewCoWorker {
                email: fields.email.clone(),
                name: fields.name.clone(),
                role: Role::Rep,
                seniority: None,
                team: None,
                manager: manager.map(|m| m.to_string()),
                title: fields.title.clone(),
                password: None,
                password_must_change: false,
            };
            let created = self.insert_coworker_in(tx, actor, &new, None)?;
            self.put_identity_in(tx, actor, &created, None, &fields)?;
            if fields.active == Some(false) {
                // Provisioned inactive: they have not worked here yet, so no departure case.
                let ch = CoWorkerChanges { status: Some(Status::Suspended), ..Default::default() };
                let (c, _) = self.change_coworker_in(tx, actor, &created.id.to_string(), &ch, None)?;
                self.note_switched_off(tx, c.id)?;
                return Ok((c, None));
            }
            Ok((created, None))
        })?;
        self.after_provisioning(&coworker, deprovisioned)?;
        self.scim_user_unrecorded(coworker.id, base)
    }

    /// `PUT /Users/{id}`: the user as the identity provider has it now (attributes left out are
    /// cleared).
    pub fn scim_replace_user(&self, actor: &Actor, id: &str, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let uid = parse_id("user", id)?;
        let fields = UserFields::from_json(body)?;
        let (coworker, deprovisioned) = self.scim_write(|tx| {
            let (c, identity) = self.provisioned(tx, uid, id)?;
            self.apply_user(tx, actor, c, identity, &fields)
        })?;
        self.after_provisioning(&coworker, deprovisioned)?;
        self.scim_user_unrecorded(coworker.id, base)
    }

    /// `PATCH /Users/{id}`: the operations applied to the user as it is, all or nothing.
    pub fn scim_patch_user(&self, actor: &Actor, id: &str, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let uid = parse_id("user", id)?;
        let ops = scim::parse_patch(body)?;
        let (coworker, deprovisioned) = self.scim_write(|tx| {
            let (c, identity) = self.provisioned(tx, uid, id)?;
            let dir = Directory::read(tx)?;
            let mut resource = dir.user(&c, base);
            scim::apply_patch(&mut resource, &ops, &USER_SCHEMA_INFO)?;
            let fields = UserFields::from_json(&resource)?;
            self.apply_user(tx, actor, c, identity, &fields)
        })?;
        self.after_provisioning(&coworker, deprovisioned)?;
        self.scim_user_unrecorded(coworker.id, base)
    }

    /// `DELETE /Users/{id}`: access ends and the departure case opens as for `active: false`;
    /// the co-worker and their history stay, and the SCIM resource is gone.
    pub fn scim_delete_user(&self, actor: &Actor, id: &str) -> Result<(), ScimError> {
        self.scim_allowed(actor)?;
        let uid = parse_id("user", id)?;
        let (coworker, case) = self.scim_write(|tx| {
            let (c, _) = self.provisioned(tx, uid, id)?;
            let case = self.scim_deactivate(tx, actor, &c, "deleted by the identity provider")?;
            let now = self.now();
            let mut identity = tx.get_identity(c.id)?.unwrap_or(Identity { coworker_id: c.id, ..Default::default() });
            identity.removed_at = Some(now);
            identity.updated_at = now;
            tx.put_identity(&identity)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, now, action::COWORKER_UPDATE)
                        .object("coworker", c.id)
                        .detail("identity", json!("deleted by the identity provider")),
                ],
            )?;
            Ok((c, case))
        })?;
        self.after_provisioning(&coworker, case)
    }

    /// The co-worker a SCIM id names, unless the identity provider deleted them.
    fn provisioned(&self, tx: &mut dyn Tx, uid: Uuid, id: &str) -> Result<(CoWorker, Option<Identity>), ScimError> {
        let c = tx.get_coworker(uid)?.ok_or_else(|| ScimError::not_found("user", id))?;
        let identity = tx.get_identity(uid)?;
        if identity.as_ref().is_some_and(|i| i.removed_at.is_some()) {
            return Err(ScimError::not_found("user", id));
        }
        Ok((c, identity))
    }

    fn scim_user_unrecorded(&self, id: Uuid, base: &str) -> Result<Json, ScimError> {
        let dir = self.db.read(Directory::read)?;
        let c =
            dir.coworkers.iter().find(|c| c.id == id).ok_or_else(|| ScimError::not_found("user", &id.to_string()))?;
        Ok(dir.user(c, base))
    }

    /// The manager a User body names (by their SCIM id), checked.
    fn scim_manager(&self, tx: &mut dyn Tx, fields: &UserFields, me: Option<Uuid>) -> Result<Option<Uuid>, ScimError> {
        let Some(m) = &fields.manager else { return Ok(None) };
        let id = Uuid::parse_str(m)
            .map_err(|_| ScimError::invalid_value(format!("manager '{m}' is not the id of a user here")))?;
        if Some(id) == me {
            return Err(ScimError::invalid_value("a co-worker cannot be their own manager"));
        }
        tx.get_coworker(id)?.ok_or_else(|| ScimError::invalid_value(format!("no user has the id '{m}' (manager)")))?;
        Ok(Some(id))
    }

    /// Makes a co-worker what a User body says: email, name, title, manager, what only the
    /// identity provider keeps (externalId, given and family name, department), and whether they
    /// may sign in. Returns the co-worker and, when this deactivated them, their departure case.
    fn apply_user(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        c: CoWorker,
        identity: Option<Identity>,
        fields: &UserFields,
    ) -> Result<(CoWorker, Option<Uuid>), ScimError> {
        let manager = self.scim_manager(tx, fields, Some(c.id))?;
        // An admin's email is changed in Holdfast, not by SCIM: single sign-on matches by email,
        // so a renamed admin would be a way in for whoever holds the provider's other account.
        if c.role == Role::Admin && fields.email != c.email {
            return Err(ScimError::mutability(format!(
                "{} is an admin here: change an admin's email in Holdfast, not through SCIM",
                c.email
            )));
        }
        let ch = CoWorkerChanges {
            email: Some(fields.email.clone()),
            name: Some(fields.name.clone()),
            title: Some(fields.title.clone()),
            manager: Some(manager.map(|m| m.to_string())),
            ..Default::default()
        };
        let (c, _) = self.change_coworker_in(tx, actor, &c.id.to_string(), &ch, None)?;
        let deactivated_by_provider = identity.as_ref().and_then(|i| i.deactivated_at);
        self.put_identity_in(tx, actor, &c, identity, fields)?;
        if c.status.may_sign_in() && fields.active == Some(false) {
            let case = self.scim_deactivate(tx, actor, &c, "deactivated by the identity provider")?;
            let c = tx.get_coworker(c.id)?.ok_or_else(|| ScimError::not_found("user", &c.id.to_string()))?;
            return Ok((c, case));
        }
        // Only a co-worker the identity provider switched off does it switch on again; one an
        // admin suspended or set departed in Holdfast stays so, whatever the provider's next sync says.
        if !c.status.may_sign_in() && fields.active == Some(true) && deactivated_by_provider.is_some() {
            self.reactivate_in(tx, actor, &c)?;
            let mut identity = tx.get_identity(c.id)?.unwrap_or(Identity { coworker_id: c.id, ..Default::default() });
            identity.deactivated_at = None;
            identity.updated_at = self.now();
            tx.put_identity(&identity)?;
            let c = tx.get_coworker(c.id)?.ok_or_else(|| ScimError::not_found("user", &c.id.to_string()))?;
            return Ok((c, None));
        }
        Ok((c, None))
    }

    /// Deactivates a co-worker for the identity provider: access ends and their departure case
    /// records it (opened when they have none), and the identity remembers that the provider did
    /// it. The token's own admin and the break-glass admin are refused: either would lock the
    /// company out. Returns the case, when one was opened or carried on.
    fn scim_deactivate(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        c: &CoWorker,
        why: &str,
    ) -> Result<Option<Uuid>, ScimError> {
        if actor.id() == Some(c.id) {
            return Err(ScimError::mutability(
                "this SCIM token acts as this admin: deactivating them would end the token too; use another admin's token",
            ));
        }
        let break_glass = self.settings_in(tx)?.single_sign_on.clone().and_then(|s| s.break_glass);
        if break_glass.as_deref() == Some(c.email.as_str()) {
            return Err(ScimError::mutability(format!(
                "{} is the break-glass admin who keeps a password for when the identity provider is down; name another in Holdfast first",
                c.email
            )));
        }
        let case = self.deprovision_in(tx, actor, c, why)?;
        // Only someone who could sign in was switched off by the provider; someone an admin had
        // already suspended or set departed stays Holdfast's to switch on.
        if c.status.may_sign_in() {
            self.note_switched_off(tx, c.id)?;
        }
        Ok(case.map(|c| c.id))
    }

    /// Remembers that the identity provider switched the co-worker off (any later change of
    /// their status forgets it).
    fn note_switched_off(&self, tx: &mut dyn Tx, id: Uuid) -> Result<(), ScimError> {
        let now = self.now();
        let mut identity = tx.get_identity(id)?.unwrap_or(Identity { coworker_id: id, ..Default::default() });
        identity.deactivated_at = Some(now);
        identity.updated_at = now;
        tx.put_identity(&identity)?;
        Ok(())
    }

    /// Stores what only the identity provider keeps, with an event when it changed (an
    /// externalId another user has is refused).
    fn put_identity_in(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        c: &CoWorker,
        before: Option<Identity>,
        fields: &UserFields,
    ) -> Result<(), ScimError> {
        let now = self.now();
        let after = Identity {
            coworker_id: c.id,
            external_id: fields.external_id.clone(),
            given_name: fields.given_name.clone(),
            family_name: fields.family_name.clone(),
            department: fields.department.clone(),
            removed_at: None,
            deactivated_at: before.as_ref().and_then(|b| b.deactivated_at),
            sso_subject: before.as_ref().and_then(|b| b.sso_subject.clone()),
            provisioned_at: before.as_ref().and_then(|b| b.provisioned_at).or(Some(now)),
            updated_at: now,
        };
        let before = before.unwrap_or(Identity { coworker_id: c.id, ..Default::default() });
        if (Identity { updated_at: 0, ..after.clone() }) == (Identity { updated_at: 0, ..before.clone() }) {
            return Ok(());
        }
        if let Some(x) = &after.external_id
            && tx.list_identities()?.iter().any(|i| i.coworker_id != c.id && i.external_id.as_ref() == Some(x))
        {
            return Err(ScimError::uniqueness(format!("another user has the externalId '{x}'")));
        }
        tx.put_identity(&after)?;
        let mut changes = serde_json::Map::new();
        let pairs = [
            ("external_id", &before.external_id, &after.external_id),
            ("given_name", &before.given_name, &after.given_name),
            ("family_name", &before.family_name, &after.family_name),
            ("department", &before.department, &after.department),
        ];
        for (k, from, to) in pairs {
            if from != to {
                changes.insert(k.into(), json!({"from": from, "to": to}));
            }
        }
        if before.removed_at.is_some() {
            changes.insert("identity".into(), json!("created again by the identity provider"));
        }
        append_events(
            tx,
            vec![
                NewEvent::by(actor, now, action::COWORKER_UPDATE)
                    .object("coworker", c.id)
                    .detail("changes", Json::Object(changes)),
            ],
        )?;
        Ok(())
    }

    /// After a provisioning change: the org chart is read again, and a co-worker just
    /// deactivated gets the departing look-back over their last 90 days (as a recorded departure
    /// does), so the case's review has its alerts.
    fn after_provisioning(&self, c: &CoWorker, deprovisioned: Option<Uuid>) -> Result<(), ScimError> {
        self.forget_org();
        if deprovisioned.is_some() {
            self.look_back(c)?;
        }
        Ok(())
    }

    /// `GET /Groups`: teams matching the filter, a page at a time.
    pub fn scim_groups(&self, actor: &Actor, q: &ScimQuery, base: &str) -> Result<ScimPage, ScimError> {
        self.scim_allowed(actor)?;
        let filter = parse_filter(q)?;
        let dir = self.db.read(Directory::read)?;
        let with_members = members_wanted(q);
        let matched: Vec<Json> = dir
            .teams
            .iter()
            .map(|t| dir.group(t, base, true))
            .filter(|g| filter.as_ref().is_none_or(|f| f.matches(g)))
            .map(|mut g| {
                if !with_members {
                    scim::project(&mut g, None, Some("members"));
                }
                g
            })
            .collect();
        let page = page(matched, q);
        self.record_read(vec![
            NewEvent::by(actor, self.now(), action::LIST_READ)
                .object_type("team")
                .rows(page.resources.len())
                .detail("filter", json!(q.filter)),
        ])?;
        Ok(page)
    }

    /// `GET /Groups/{id}`.
    pub fn scim_group(&self, actor: &Actor, id: &str, q: &ScimQuery, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let tid = parse_id("group", id)?;
        let dir = self.db.read(Directory::read)?;
        let team = dir.teams.iter().find(|t| t.id == tid).ok_or_else(|| ScimError::not_found("group", id))?;
        let mut group = dir.group(team, base, members_wanted(q));
        scim::project(&mut group, q.attributes.as_deref(), q.excluded_attributes.as_deref());
        self.record_read(vec![NewEvent::by(actor, self.now(), action::LIST_READ).object("team", team.id).rows(1)])?;
        Ok(group)
    }

    /// `POST /Groups`: a new team with its members.
    pub fn scim_create_group(&self, actor: &Actor, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let fields = GroupFields::from_json(body)?;
        let team = self.scim_write(|tx| {
            if tx.list_teams()?.iter().any(|t| t.name.eq_ignore_ascii_case(&fields.name)) {
                return Err(ScimError::uniqueness(format!("a team named '{}' exists", fields.name)));
            }
            let team = Team { id: crate::id::new_id(), name: fields.name.clone(), manager_id: None };
            tx.insert_team(&team)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::TEAM_CREATE)
                        .object("team", team.id)
                        .detail("name", json!(team.name)),
                ],
            )?;
            self.set_members(tx, actor, &team, &fields.members)?;
            Ok(team)
        })?;
        self.forget_org();
        self.scim_group_unrecorded(team.id, base)
    }

    /// `PUT /Groups/{id}`: the team's name and members as the identity provider has them.
    pub fn scim_replace_group(&self, actor: &Actor, id: &str, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let tid = parse_id("group", id)?;
        let fields = GroupFields::from_json(body)?;
        self.scim_write(|tx| self.apply_group(tx, actor, tid, id, &fields))?;
        self.forget_org();
        self.scim_group_unrecorded(tid, base)
    }

    /// `PATCH /Groups/{id}`: members added and removed, or the team renamed.
    pub fn scim_patch_group(&self, actor: &Actor, id: &str, body: &Json, base: &str) -> Result<Json, ScimError> {
        self.scim_allowed(actor)?;
        let tid = parse_id("group", id)?;
        let ops = scim::parse_patch(body)?;
        self.scim_write(|tx| {
            let dir = Directory::read(tx)?;
            let team = dir.teams.iter().find(|t| t.id == tid).ok_or_else(|| ScimError::not_found("group", id))?;
            let mut resource = dir.group(team, base, true);
            scim::apply_patch(&mut resource, &ops, &GROUP_SCHEMA_INFO)?;
            let fields = GroupFields::from_json(&resource)?;
            self.apply_group(tx, actor, tid, id, &fields)
        })?;
        self.forget_org();
        self.scim_group_unrecorded(tid, base)
    }

    /// `DELETE /Groups/{id}`: the team's members leave it and the team is removed.
    pub fn scim_delete_group(&self, actor: &Actor, id: &str) -> Result<(), ScimError> {
        self.scim_allowed(actor)?;
        let tid = parse_id("group", id)?;
        self.scim_write(|tx| {
            let team =
                tx.list_teams()?.into_iter().find(|t| t.id == tid).ok_or_else(|| ScimError::not_found("group", id))?;
            self.set_members(tx, actor, &team, &[])?;
            tx.delete_team(tid)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::TEAM_DELETE)
                        .object("team", tid)
                        .detail("name", json!(team.name)),
                ],
            )?;
            Ok(())
        })?;
        self.forget_org();
        Ok(())
    }

    fn apply_group(
        &self,
        tx: &mut dyn Tx,
        actor: &Actor,
        tid: Uuid,
        id: &str,
        fields: &GroupFields,
    ) -> Result<(), ScimError> {
        let teams = tx.list_teams()?;
        let mut team = teams.iter().find(|t| t.id == tid).cloned().ok_or_else(|| ScimError::not_found("group", id))?;
        if team.name != fields.name {
            if teams.iter().any(|t| t.id != tid && t.name.eq_ignore_ascii_case(&fields.name)) {
                return Err(ScimError::uniqueness(format!("a team named '{}' exists", fields.name)));
            }
            let before = std::mem::replace(&mut team.name, fields.name.clone());
            tx.insert_team(&team)?;
            append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::TEAM_UPDATE)
                        .object("team", team.id)
                        .detail("name", json!({"from": before, "to": team.name})),
                ],
            )?;
        }
        self.set_members(tx, actor, &team, &fields.members)
    }

    /// Makes `members` (SCIM user ids) the team's co-workers: each joins it (leaving the team
    /// they were in: a co-worker is in one team) and those not named leave it.
    fn set_members(&self, tx: &mut dyn Tx, actor: &Actor, team: &Team, members: &[String]) -> Result<(), ScimError> {
        let mut wanted = Vec::new();
        for m in members {
            let id =
                Uuid::parse_str(m).map_err(|_| ScimError::invalid_value(format!("member '{m}' is not a user's id")))?;
            tx.get_coworker(id)?
                .ok_or_else(|| ScimError::invalid_value(format!("no user has the id '{m}' (member)")))?;
            wanted.push(id);
        }
        for c in tx.list_coworkers()? {
            let change = match (c.team_id == Some(team.id), wanted.contains(&c.id)) {
                (false, true) => Some(Some(team.name.clone())),
                (true, false) => Some(None),
                _ => None,
            };
            if let Some(t) = change {
                let ch = CoWorkerChanges { team: Some(t), ..Default::default() };
                self.change_coworker_in(tx, actor, &c.id.to_string(), &ch, None)?;
            }
        }
        Ok(())
    }

    fn scim_group_unrecorded(&self, id: Uuid, base: &str) -> Result<Json, ScimError> {
        let dir = self.db.read(Directory::read)?;
        let team =
            dir.teams.iter().find(|t| t.id == id).ok_or_else(|| ScimError::not_found("group", &id.to_string()))?;
        Ok(dir.group(team, base, true))
    }
}
