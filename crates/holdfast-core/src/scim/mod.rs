//! SCIM 2.0 as Holdfast speaks it to the company's identity provider (RFC 7643 schemas, RFC 7644
//! protocol): co-workers are Users (`userName` is the email), teams are Groups. This module is
//! the protocol's data: errors, filters, PATCH, reading a User or Group body, and writing one;
//! the service (`service/provisioning.rs`) does the work and writes the system events.

pub mod filter;
pub mod patch;

use serde_json::{Map, Value as Json, json};
use thiserror::Error;

use crate::coworker::{CoWorker, Identity, Team};
use crate::error::CoreError;
use crate::record::normalize_email;
use crate::time::format_timestamp;

use filter::{AttrPath, get_ci};

pub use filter::Filter;
pub use patch::{PatchOp, apply_patch, parse_patch};

pub const USER_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_SCHEMA: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SERVICE_PROVIDER_CONFIG: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_SCHEMA: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// The most resources one page returns (`count` above it is lowered to it).
pub const MAX_PAGE: usize = 500;
/// The page size when the identity provider asks for none.
pub const DEFAULT_PAGE: usize = 100;

/// A SCIM error (RFC 7644 §3.12): an HTTP status, perhaps a `scimType`, and what to do.
#[derive(Debug, Clone, PartialEq, Error)]
#[error("{detail}")]
pub struct ScimError {
    pub status: u16,
    pub scim_type: Option<&'static str>,
    pub detail: String,
}

impl ScimError {
    fn new(status: u16, scim_type: Option<&'static str>, detail: impl Into<String>) -> ScimError {
        ScimError { status, scim_type, detail: detail.into() }
    }
    pub fn invalid_filter(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidFilter"), detail)
    }
    pub fn invalid_syntax(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidSyntax"), detail)
    }
    pub fn invalid_path(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidPath"), detail)
    }
    pub fn invalid_value(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("invalidValue"), detail)
    }
    pub fn no_target(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("noTarget"), detail)
    }
    pub fn mutability(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("mutability"), detail)
    }
    pub fn too_many(detail: impl Into<String>) -> ScimError {
        ScimError::new(400, Some("tooMany"), detail)
    }
    pub fn uniqueness(detail: impl Into<String>) -> ScimError {
        ScimError::new(409, Some("uniqueness"), detail)
    }
    pub fn not_found(what: &str, id: &str) -> ScimError {
        ScimError::new(404, None, format!("no {what} has the id '{id}'"))
    }
    pub fn unauthorized(detail: impl Into<String>) -> ScimError {
        ScimError::new(401, None, detail)
    }
    pub fn forbidden(detail: impl Into<String>) -> ScimError {
        ScimError::new(403, None, detail)
    }
    pub fn status(status: u16, detail: impl Into<String>) -> ScimError {
        ScimError::new(status, None, detail)
    }

    /// The error as its JSON body.
    pub fn to_json(&self) -> Json {
        let mut body = json!({"schemas": [ERROR_SCHEMA], "status": self.status.to_string(), "detail": self.detail});
        if let Some(t) = self.scim_type {
            body["scimType"] = json!(t);
        }
        body
    }
}

impl From<crate::StorageError> for ScimError {
    fn from(e: crate::StorageError) -> ScimError {
        CoreError::from(e).into()
    }
}

impl From<CoreError> for ScimError {
    fn from(e: CoreError) -> ScimError {
        let detail = e.to_string();
        match e {
            CoreError::Invalid(_) | CoreError::BadFile(_) => ScimError::invalid_value(detail),
            CoreError::NotFound { .. } => ScimError::status(404, detail),
            CoreError::Unauthenticated(_) => ScimError::unauthorized(detail),
            CoreError::Forbidden(_) => ScimError::forbidden(detail),
            CoreError::Conflict(_) | CoreError::Protocol(_) => ScimError::uniqueness(detail),
            CoreError::Storage(crate::StorageError::Duplicate(_)) => ScimError::uniqueness(detail),
            CoreError::TooManyAttempts(_) => ScimError::status(429, detail),
            CoreError::Storage(crate::StorageError::Busy(_)) => {
                ScimError::status(503, "the database is busy; try again")
            }
            CoreError::Storage(_) => {
                tracing::error!(error = %detail, "storage failure in SCIM");
                ScimError::status(500, "the database could not complete the request; nothing was changed")
            }
        }
    }
}

/// The attributes a resource type has, so PATCH paths can be checked and spelled canonically.
#[derive(Debug)]
pub struct ResourceSchema {
    pub urn: &'static str,
    pub attributes: &'static [&'static str],
    /// Attributes a client may not change.
    pub read_only: &'static [&'static str],
    pub extension: Option<(&'static str, &'static [&'static str])>,
}

/// The User schema: every attribute of RFC 7643 §4.1 is known (those Holdfast does not keep are
/// accepted and not stored), and the enterprise extension's.
pub const USER_SCHEMA_INFO: ResourceSchema = ResourceSchema {
    urn: USER_SCHEMA,
    attributes: &[
        "id",
        "externalId",
        "meta",
        "schemas",
        "userName",
        "name",
        "displayName",
        "nickName",
        "profileUrl",
        "title",
        "userType",
        "preferredLanguage",
        "locale",
        "timezone",
        "active",
        "password",
        "emails",
        "phoneNumbers",
        "ims",
        "photos",
        "addresses",
        "groups",
        "entitlements",
        "roles",
        "x509Certificates",
    ],
    read_only: &["id", "meta", "groups"],
    extension: Some((
        ENTERPRISE_USER,
        &["employeeNumber", "costCenter", "organization", "division", "department", "manager"],
    )),
};

/// The Group schema (RFC 7643 §4.2).
pub const GROUP_SCHEMA_INFO: ResourceSchema = ResourceSchema {
    urn: GROUP_SCHEMA,
    attributes: &["id", "externalId", "meta", "schemas", "displayName", "members"],
    read_only: &["id", "meta"],
    extension: None,
};

impl ResourceSchema {
    /// The object an attribute lives in (the resource, or its extension's object) and the
    /// attribute's canonical name; unknown and read-only attributes are refused.
    pub(crate) fn container<'a>(
        &self,
        resource: &'a mut Json,
        attr: &AttrPath,
    ) -> Result<(&'a mut Map<String, Json>, &'static str), ScimError> {
        let in_extension = match &attr.schema {
            None => false,
            Some(s) if s.eq_ignore_ascii_case(self.urn) => false,
            Some(s) if self.extension.is_some_and(|(urn, _)| s.eq_ignore_ascii_case(urn)) => true,
            Some(s) => return Err(ScimError::invalid_path(format!("'{s}' is not a schema of this resource"))),
        };
        let Json::Object(top) = resource else { return Err(ScimError::invalid_value("the resource is not an object")) };
        let (list, urn) = match (in_extension, self.extension) {
            (true, Some((urn, attrs))) => (attrs, Some(urn)),
            _ => (self.attributes, None),
        };
        let canonical = list.iter().find(|a| a.eq_ignore_ascii_case(&attr.name)).copied().ok_or_else(|| {
            ScimError::invalid_path(format!("'{attr}' is not an attribute of {}", urn.unwrap_or(self.urn)))
        })?;
        if urn.is_none() && self.read_only.contains(&canonical) {
            return Err(ScimError::mutability(format!("\"{canonical}\" cannot be changed")));
        }
        match urn {
            None => Ok((top, canonical)),
            Some(urn) => {
                let key = top.keys().find(|k| k.eq_ignore_ascii_case(urn)).cloned().unwrap_or_else(|| urn.to_string());
                let ext = top.entry(key).or_insert_with(|| Json::Object(Map::new()));
                if !ext.is_object() {
                    *ext = Json::Object(Map::new());
                }
                match ext {
                    Json::Object(m) => Ok((m, canonical)),
                    _ => Err(ScimError::invalid_value("the extension is not an object")),
                }
            }
        }
    }

    /// Refuses a body that names a schema other than this resource's (and its extension), or an
    /// attribute no schema has.
    fn check_body(&self, body: &Json) -> Result<(), ScimError> {
        let Json::Object(top) = body else { return Err(ScimError::invalid_syntax("the body must be a JSON object")) };
        let schemas = get_ci(body, "schemas")
            .and_then(Json::as_array)
            .ok_or_else(|| ScimError::invalid_syntax(format!("the body needs \"schemas\": [\"{}\"]", self.urn)))?;
        let allowed = |s: &str| {
            s.eq_ignore_ascii_case(self.urn) || self.extension.is_some_and(|(urn, _)| s.eq_ignore_ascii_case(urn))
        };
        for s in schemas {
            match s.as_str() {
                Some(s) if allowed(s) => {}
                _ => return Err(ScimError::invalid_syntax(format!("{s} is not a schema of this resource"))),
            }
        }
        if !schemas.iter().any(|s| s.as_str().is_some_and(|s| s.eq_ignore_ascii_case(self.urn))) {
            return Err(ScimError::invalid_syntax(format!("\"schemas\" must include \"{}\"", self.urn)));
        }
        for (key, value) in top {
            if let Some((urn, attrs)) = self.extension.filter(|(urn, _)| key.eq_ignore_ascii_case(urn)) {
                let Json::Object(inner) = value else {
                    return Err(ScimError::invalid_syntax(format!("\"{urn}\" must be an object")));
                };
                if let Some(k) = inner.keys().find(|k| !attrs.iter().any(|a| a.eq_ignore_ascii_case(k))) {
                    return Err(ScimError::invalid_syntax(format!("'{k}' is not an attribute of {urn}")));
                }
            } else if !self.attributes.iter().any(|a| a.eq_ignore_ascii_case(key)) {
                return Err(ScimError::invalid_syntax(format!("'{key}' is not an attribute of {}", self.urn)));
            }
        }
        Ok(())
    }
}

/// A User body as Holdfast keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct UserFields {
    /// `userName`, the co-worker's email (lower case).
    pub email: String,
    pub external_id: Option<String>,
    pub name: String,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// `None` when the body leaves `active` out: no change.
    pub active: Option<bool>,
    pub title: Option<String>,
    pub department: Option<String>,
    /// The manager's SCIM id (a co-worker id).
    pub manager: Option<String>,
}

fn text(value: Option<&Json>, attr: &str, max: usize) -> Result<Option<String>, ScimError> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Json::String(s)) if s.chars().count() > max => {
            Err(ScimError::invalid_value(format!("\"{attr}\" is longer than {max} characters")))
        }
        Some(Json::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(ScimError::invalid_value(format!("\"{attr}\" must be a string"))),
    }
}

/// A SCIM boolean, as identity providers send it: `false`, or Entra's `"False"`.
fn boolean(value: Option<&Json>, attr: &str) -> Result<Option<bool>, ScimError> {
    match value {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Bool(b)) => Ok(Some(*b)),
        Some(Json::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Json::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(ScimError::invalid_value(format!("\"{attr}\" must be true or false, not {other}"))),
    }
}

impl UserFields {
    /// Reads a User body (POST, PUT, or a resource after PATCH).
    pub fn from_json(body: &Json) -> Result<UserFields, ScimError> {
        USER_SCHEMA_INFO.check_body(body)?;
        let user_name = text(get_ci(body, "userName"), "userName", 254)?
            .ok_or_else(|| ScimError::invalid_value("\"userName\" (the co-worker's email) is required"))?;
        let email = normalize_email(&user_name)
            .map_err(|_| ScimError::invalid_value(format!("userName '{user_name}' is not an email address")))?;
        let name_obj = get_ci(body, "name");
        if name_obj.is_some_and(|n| !n.is_object() && !n.is_null()) {
            return Err(ScimError::invalid_value("\"name\" must be an object"));
        }
        let sub = |k: &str| name_obj.and_then(|n| get_ci(n, k));
        let given_name = text(sub("givenName"), "name.givenName", 100)?;
        let family_name = text(sub("familyName"), "name.familyName", 100)?;
        let joined =
            [given_name.as_deref(), family_name.as_deref()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let name = text(sub("formatted"), "name.formatted", 200)?
            .or(text(get_ci(body, "displayName"), "displayName", 200)?)
            .or(Some(joined).filter(|j| !j.is_empty()))
            .unwrap_or_else(|| email.split('@').next().unwrap_or(&email).to_string());
        let extension = get_ci(body, ENTERPRISE_USER);
        let manager = match extension.and_then(|e| get_ci(e, "manager")) {
            None | Some(Json::Null) => None,
            Some(Json::String(s)) => Some(s.trim().to_string()).filter(|s| !s.is_empty()),
            Some(m @ Json::Object(_)) => text(get_ci(m, "value"), "manager.value", 100)?,
            Some(_) => return Err(ScimError::invalid_value("\"manager\" must be an object with a \"value\"")),
        };
        Ok(UserFields {
            email,
            external_id: text(get_ci(body, "externalId"), "externalId", 255)?,
            name,
            given_name,
            family_name,
            active: boolean(get_ci(body, "active"), "active")?,
            title: text(get_ci(body, "title"), "title", 200)?,
            department: text(extension.and_then(|e| get_ci(e, "department")), "department", 200)?,
            manager,
        })
    }
}

/// A Group body as Holdfast keeps it: a team's name and its members' SCIM ids.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupFields {
    pub name: String,
    pub members: Vec<String>,
}

impl GroupFields {
    pub fn from_json(body: &Json) -> Result<GroupFields, ScimError> {
        GROUP_SCHEMA_INFO.check_body(body)?;
        let name = text(get_ci(body, "displayName"), "displayName", 100)?
            .ok_or_else(|| ScimError::invalid_value("\"displayName\" (the team's name) is required"))?;
        let members = match get_ci(body, "members") {
            None | Some(Json::Null) => Vec::new(),
            Some(Json::Array(items)) => items
                .iter()
                .map(|m| match get_ci(m, "value") {
                    Some(Json::String(v)) => Ok(v.trim().to_string()),
                    _ => Err(ScimError::invalid_value("each member needs a \"value\": a user's id")),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(ScimError::invalid_value("\"members\" must be a list")),
        };
        Ok(GroupFields { name, members })
    }
}

fn meta(kind: &str, location: String, created: i64, modified: i64) -> Json {
    json!({"resourceType": kind, "created": format_timestamp(created), "lastModified": format_timestamp(modified),
           "location": location, "version": format!("W/\"{modified}\"")})
}

/// A co-worker as a SCIM User.
pub fn user_json(
    c: &CoWorker,
    identity: Option<&Identity>,
    team: Option<&Team>,
    manager: Option<&CoWorker>,
    base: &str,
) -> Json {
    let modified = identity.map_or(c.updated_at, |i| i.updated_at.max(c.updated_at));
    let mut name = json!({"formatted": c.name});
    if let Some(g) = identity.and_then(|i| i.given_name.as_ref()) {
        name["givenName"] = json!(g);
    }
    if let Some(f) = identity.and_then(|i| i.family_name.as_ref()) {
        name["familyName"] = json!(f);
    }
    let mut user = json!({
        "schemas": [USER_SCHEMA, ENTERPRISE_USER],
        "id": c.id,
        "userName": c.email,
        "name": name,
        "displayName": c.name,
        "emails": [{"value": c.email, "type": "work", "primary": true}],
        "active": c.status.may_sign_in(),
        "groups": team.map(|t| vec![json!({"value": t.id, "display": t.name, "$ref": format!("{base}/Groups/{}", t.id)})]).unwrap_or_default(),
        "meta": meta("User", format!("{base}/Users/{}", c.id), c.created_at, modified),
    });
    if let Some(x) = identity.and_then(|i| i.external_id.as_ref()) {
        user["externalId"] = json!(x);
    }
    if let Some(t) = &c.title {
        user["title"] = json!(t);
    }
    let mut enterprise = Map::new();
    if let Some(d) = identity.and_then(|i| i.department.as_ref()) {
        enterprise.insert("department".into(), json!(d));
    }
    if let Some(m) = manager {
        enterprise.insert(
            "manager".into(),
            json!({"value": m.id, "displayName": m.name, "$ref": format!("{base}/Users/{}", m.id)}),
        );
    }
    user[ENTERPRISE_USER] = Json::Object(enterprise);
    user
}

/// A team as a SCIM Group.
pub fn group_json(team: &Team, members: &[&CoWorker], base: &str, with_members: bool) -> Json {
    let mut group = json!({
        "schemas": [GROUP_SCHEMA],
        "id": team.id,
        "displayName": team.name,
        "meta": {"resourceType": "Group", "location": format!("{base}/Groups/{}", team.id)},
    });
    if with_members {
        group["members"] = members
            .iter()
            .map(
                |c| json!({"value": c.id, "display": c.name, "$ref": format!("{base}/Users/{}", c.id), "type": "User"}),
            )
            .collect();
    }
    group
}

/// A page of resources.
pub fn list_json(total: usize, start_index: usize, resources: Vec<Json>) -> Json {
    json!({"schemas": [LIST_RESPONSE], "totalResults": total, "startIndex": start_index,
           "itemsPerPage": resources.len(), "Resources": resources})
}

/// What this service provider supports (RFC 7643 §5).
pub fn service_provider_config(base: &str) -> Json {
    json!({
        "schemas": [SERVICE_PROVIDER_CONFIG],
        "documentationUri": "https://holdfast.dev/docs/identity",
        "patch": {"supported": true},
        "bulk": {"supported": false, "maxOperations": 0, "maxPayloadSize": 0},
        "filter": {"supported": true, "maxResults": MAX_PAGE},
        "changePassword": {"supported": false},
        "sort": {"supported": false},
        "etag": {"supported": false},
        "authenticationSchemes": [{
            "type": "oauthbearertoken",
            "name": "Bearer token",
            "description": "A SCIM token (holdfast token create --coworker ADMIN --scim) or an admin's API token",
            "primary": true
        }],
        "meta": {"resourceType": "ServiceProviderConfig", "location": format!("{base}/ServiceProviderConfig")}
    })
}

/// The resource types: User (with the enterprise extension) and Group.
pub fn resource_types(base: &str) -> Vec<Json> {
    vec![
        json!({"schemas": [RESOURCE_TYPE], "id": "User", "name": "User", "endpoint": "/Users",
               "description": "A co-worker", "schema": USER_SCHEMA,
               "schemaExtensions": [{"schema": ENTERPRISE_USER, "required": false}],
               "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/User")}}),
        json!({"schemas": [RESOURCE_TYPE], "id": "Group", "name": "Group", "endpoint": "/Groups",
               "description": "A team", "schema": GROUP_SCHEMA,
               "meta": {"resourceType": "ResourceType", "location": format!("{base}/ResourceTypes/Group")}}),
    ]
}

fn attribute(name: &str, kind: &str, multi: bool, required: bool, mutability: &str, description: &str) -> Json {
    json!({"name": name, "type": kind, "multiValued": multi, "required": required, "caseExact": false,
           "mutability": mutability, "returned": "default", "uniqueness": if name == "userName" { "server" } else { "none" },
           "description": description})
}

fn sub_attributes(mut attr: Json, subs: Vec<Json>) -> Json {
    attr["subAttributes"] = Json::Array(subs);
    attr
}

/// The schemas Holdfast keeps (RFC 7643 §7), as `/Schemas` lists them.
pub fn schemas(base: &str) -> Vec<Json> {
    let rw = "readWrite";
    let value = |d: &str| attribute("value", "string", false, false, rw, d);
    let user = json!({
        "schemas": [SCHEMA_SCHEMA], "id": USER_SCHEMA, "name": "User", "description": "A co-worker",
        "attributes": [
            attribute("userName", "string", false, true, rw, "The co-worker's email; they sign in with it"),
            sub_attributes(attribute("name", "complex", false, false, rw, "The co-worker's name"), vec![
                attribute("formatted", "string", false, false, rw, "The full name Holdfast shows"),
                attribute("givenName", "string", false, false, rw, "Given name"),
                attribute("familyName", "string", false, false, rw, "Family name"),
            ]),
            attribute("displayName", "string", false, false, rw, "The name shown, when name.formatted is not sent"),
            attribute("title", "string", false, false, rw, "Job title"),
            attribute("active", "boolean", false, false, rw,
                "false ends every session and token at once and opens a departure case for the co-worker's book"),
            sub_attributes(attribute("emails", "complex", true, false, rw, "The co-worker's email (the userName)"),
                vec![value("Email address"), attribute("type", "string", false, false, rw, "work"),
                     attribute("primary", "boolean", false, false, rw, "Always the userName")]),
            sub_attributes(attribute("groups", "complex", true, false, "readOnly", "The co-worker's team"),
                vec![value("The team's id"), attribute("display", "string", false, false, "readOnly", "The team's name")]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{USER_SCHEMA}")}
    });
    let enterprise = json!({
        "schemas": [SCHEMA_SCHEMA], "id": ENTERPRISE_USER, "name": "EnterpriseUser", "description": "Enterprise user",
        "attributes": [
            attribute("department", "string", false, false, rw, "Department"),
            sub_attributes(attribute("manager", "complex", false, false, rw, "The co-worker's manager"),
                vec![value("The manager's id (a User's id)"),
                     attribute("displayName", "string", false, false, "readOnly", "The manager's name")]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{ENTERPRISE_USER}")}
    });
    let group = json!({
        "schemas": [SCHEMA_SCHEMA], "id": GROUP_SCHEMA, "name": "Group", "description": "A team",
        "attributes": [
            attribute("displayName", "string", false, true, rw, "The team's name"),
            sub_attributes(attribute("members", "complex", true, false, rw,
                "The team's co-workers (a co-worker is in one team: adding them here moves them)"),
                vec![value("A User's id"), attribute("display", "string", false, false, "readOnly", "The co-worker's name")]),
        ],
        "meta": {"resourceType": "Schema", "location": format!("{base}/Schemas/{GROUP_SCHEMA}")}
    });
    vec![user, enterprise, group]
}

/// The `attributes` / `excludedAttributes` query parameters applied to a resource (top-level
/// attributes; `id` and `schemas` are always returned).
pub fn project(resource: &mut Json, attributes: Option<&str>, excluded: Option<&str>) {
    let names = |list: &str| -> Vec<String> {
        list.split(',')
            .map(|a| {
                let a = a.trim();
                let a = if a.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("urn:")) {
                    a.rsplit(':').next().unwrap_or(a)
                } else {
                    a
                };
                a.split('.').next().unwrap_or(a).to_ascii_lowercase()
            })
            .filter(|a| !a.is_empty())
            .collect()
    };
    let Json::Object(map) = resource else { return };
    if let Some(keep) = attributes.map(names).filter(|k| !k.is_empty()) {
        map.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            k == "id" || k == "schemas" || keep.contains(&k) || k.starts_with("urn:")
        });
    }
    if let Some(drop) = excluded.map(names) {
        map.retain(|k, _| {
            let k = k.to_ascii_lowercase();
            k == "id" || k == "schemas" || !drop.contains(&k)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn okta_and_entra_user_bodies_read() {
        // Okta's documented POST /Users.
        let okta = json!({
            "schemas": [USER_SCHEMA], "userName": "Isaac.Brock@example.com",
            "name": {"givenName": "Isaac", "familyName": "Brock"},
            "emails": [{"primary": true, "value": "isaac.brock@example.com", "type": "work"}],
            "displayName": "Isaac Brock", "locale": "en-US", "externalId": "00ujl29u0le5T6Aj10h7",
            "groups": [], "password": "1mz050nq", "active": true
        });
        let f = UserFields::from_json(&okta).expect("okta");
        assert_eq!(
            (f.email.as_str(), f.name.as_str(), f.active),
            ("isaac.brock@example.com", "Isaac Brock", Some(true))
        );
        assert_eq!(f.external_id.as_deref(), Some("00ujl29u0le5T6Aj10h7"));
        // Entra's documented POST /Users (string boolean, enterprise extension).
        let entra = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER], "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee-1e48-479e-a20b-2d77186b5dd1@testuser.com", "active": "False",
            "emails": [{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
            "roles": [],
            ENTERPRISE_USER: {"department": "Sales", "manager": {"value": "m-1"}}
        });
        let f = UserFields::from_json(&entra).expect("entra");
        assert_eq!(f.active, Some(false));
        assert_eq!(f.name, "givenName familyName");
        assert_eq!((f.department.as_deref(), f.manager.as_deref()), (Some("Sales"), Some("m-1")));
    }

    #[test]
    fn malformed_user_bodies_get_scim_errors() {
        let cases = [
            (json!([1, 2]), "invalidSyntax"),
            (json!({"userName": "a@example.com"}), "invalidSyntax"),
            (json!({"schemas": ["urn:example:Other"], "userName": "a@example.com"}), "invalidSyntax"),
            (json!({"schemas": [USER_SCHEMA], "userName": "a@example.com", "shoeSize": 9}), "invalidSyntax"),
            (json!({"schemas": [USER_SCHEMA], "userName": "not an email"}), "invalidValue"),
            (json!({"schemas": [USER_SCHEMA]}), "invalidValue"),
            (json!({"schemas": [USER_SCHEMA], "userName": "a@example.com", "active": "maybe"}), "invalidValue"),
            (json!({"schemas": [USER_SCHEMA], "userName": "a@example.com", "name": "Ada"}), "invalidValue"),
            (json!({"schemas": [USER_SCHEMA], "userName": 7}), "invalidValue"),
        ];
        for (body, scim_type) in cases {
            assert_eq!(UserFields::from_json(&body).expect_err(&body.to_string()).scim_type, Some(scim_type), "{body}");
        }
    }

    #[test]
    fn attributes_and_excluded_attributes_pick_what_is_returned() {
        let mut g = json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "EMEA", "members": []});
        project(&mut g, None, Some("members"));
        assert_eq!(g, json!({"schemas": [GROUP_SCHEMA], "id": "g", "displayName": "EMEA"}));
        let mut u = json!({"schemas": [USER_SCHEMA], "id": "u", "userName": "a@example.com", "title": "AE"});
        project(&mut u, Some("userName"), None);
        assert_eq!(u, json!({"schemas": [USER_SCHEMA], "id": "u", "userName": "a@example.com"}));
    }
}
