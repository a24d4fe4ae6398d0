//! SCIM PATCH (RFC 7644 §3.5.2) applied to a resource's JSON, accepting what Okta and Microsoft
//! Entra ID really send: capitalised ops (`"Replace"`), path-less ops whose value is an object of
//! attributes (dotted and URN-qualified keys included), `add` on an attribute that already has a
//! value, value paths (`emails[type eq "work"].value`), and Entra's removal of group members by a
//! `value` list instead of a filter. The patched JSON is then read back like a PUT.

use serde_json::{Map, Value as Json};

use super::filter::{AttrPath, Filter, Op, get_ci};
use super::{PATCH_OP, ResourceSchema, ScimError};

/// The most operations one PATCH may carry.
pub const MAX_OPERATIONS: usize = 1000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    Add,
    Remove,
    Replace,
}

/// `attr[filter].sub`: what an operation's `path` names.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    pub attr: AttrPath,
    pub filter: Option<Filter>,
    /// The sub-attribute after a value filter (`emails[type eq "work"].value`).
    pub sub_after_filter: Option<String>,
}

impl PatchPath {
    pub fn parse(text: &str) -> Result<PatchPath, ScimError> {
        let text = text.trim();
        let Some(open) = text.find('[') else {
            let attr = AttrPath::parse(text).map_err(ScimError::invalid_path)?;
            return Ok(PatchPath { attr, filter: None, sub_after_filter: None });
        };
        let close = text
            .rfind(']')
            .filter(|c| *c > open)
            .ok_or_else(|| ScimError::invalid_path(format!("the bracket in '{text}' is not closed")))?;
        let attr = AttrPath::parse(&text[..open]).map_err(ScimError::invalid_path)?;
        if attr.sub.is_some() {
            return Err(ScimError::invalid_path(format!("'{text}': a value filter follows a multi-valued attribute")));
        }
        let filter = Filter::parse(&text[open + 1..close])
            .map_err(|e| ScimError::invalid_path(format!("the filter in '{text}': {}", e.detail)))?;
        let rest = &text[close + 1..];
        let sub_after_filter = match rest.strip_prefix('.') {
            Some(sub) if AttrPath::parse(sub).is_ok_and(|p| p.sub.is_none() && p.schema.is_none()) => {
                Some(sub.to_string())
            }
            None if rest.is_empty() => None,
            _ => return Err(ScimError::invalid_path(format!("'{text}' is not a path"))),
        };
        Ok(PatchPath { attr, filter: Some(filter), sub_after_filter })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatchOp {
    pub kind: PatchKind,
    pub path: Option<PatchPath>,
    pub value: Option<Json>,
}

/// Reads a PatchOp request body.
pub fn parse_patch(body: &Json) -> Result<Vec<PatchOp>, ScimError> {
    let schemas = get_ci(body, "schemas").and_then(Json::as_array);
    if !schemas.is_some_and(|s| s.iter().any(|v| v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(PATCH_OP)))) {
        return Err(ScimError::invalid_syntax(format!("a PATCH body's \"schemas\" must be [\"{PATCH_OP}\"]")));
    }
    let ops = get_ci(body, "Operations")
        .and_then(Json::as_array)
        .ok_or_else(|| ScimError::invalid_syntax("a PATCH body needs \"Operations\", a list of operations"))?;
    if ops.is_empty() {
        return Err(ScimError::invalid_syntax("\"Operations\" is empty"));
    }
    if ops.len() > MAX_OPERATIONS {
        return Err(ScimError::too_many(format!("one PATCH may carry at most {MAX_OPERATIONS} operations")));
    }
    ops.iter()
        .enumerate()
        .map(|(i, op)| {
            let n = i + 1;
            let kind = match get_ci(op, "op").and_then(Json::as_str).map(str::to_ascii_lowercase).as_deref() {
                Some("add") => PatchKind::Add,
                Some("remove") => PatchKind::Remove,
                Some("replace") => PatchKind::Replace,
                Some(other) => {
                    return Err(ScimError::invalid_syntax(format!(
                        "operation {n}: '{other}' is not an op; use add, remove or replace"
                    )));
                }
                None => return Err(ScimError::invalid_syntax(format!("operation {n} has no \"op\""))),
            };
            let path = match get_ci(op, "path") {
                None | Some(Json::Null) => None,
                Some(Json::String(p)) if p.trim().is_empty() => None,
                Some(Json::String(p)) => Some(PatchPath::parse(p)?),
                Some(_) => return Err(ScimError::invalid_path(format!("operation {n}: \"path\" must be a string"))),
            };
            let value = get_ci(op, "value").cloned();
            if kind == PatchKind::Remove && path.is_none() {
                return Err(ScimError::no_target(format!("operation {n}: remove needs a \"path\"")));
            }
            if kind != PatchKind::Remove && value.is_none() {
                return Err(ScimError::invalid_value(format!("operation {n}: add and replace need a \"value\"")));
            }
            Ok(PatchOp { kind, path, value })
        })
        .collect()
}

/// Applies the operations to `resource` in order (all or nothing: the caller keeps the original
/// until every operation has applied).
pub fn apply_patch(resource: &mut Json, ops: &[PatchOp], schema: &ResourceSchema) -> Result<(), ScimError> {
    for op in ops {
        match &op.path {
            Some(path) => apply_at(resource, op.kind, path, op.value.clone(), schema)?,
            None => {
                let Some(Json::Object(values)) = &op.value else {
                    return Err(ScimError::invalid_value(
                        "an add or replace without a path needs an object as its value",
                    ));
                };
                for (key, value) in values {
                    if key.eq_ignore_ascii_case("schemas") || key.eq_ignore_ascii_case("meta") {
                        continue;
                    }
                    if key.eq_ignore_ascii_case("id") {
                        if get_ci(resource, "id") == Some(value) {
                            continue;
                        }
                        return Err(ScimError::mutability("\"id\" cannot be changed"));
                    }
                    let extension = schema.extension.filter(|(urn, _)| key.eq_ignore_ascii_case(urn));
                    match (extension, value) {
                        (Some((urn, _)), Json::Object(inner)) => {
                            for (k, v) in inner {
                                let attr = AttrPath::parse(&format!("{urn}:{k}")).map_err(ScimError::invalid_path)?;
                                let path = PatchPath { attr, filter: None, sub_after_filter: None };
                                apply_at(resource, op.kind, &path, Some(v.clone()), schema)?;
                            }
                        }
                        _ => {
                            let path = PatchPath::parse(key)?;
                            apply_at(resource, op.kind, &path, Some(value.clone()), schema)?;
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The key `name` has in `object` (any case), or its canonical spelling.
fn key_in(object: &Map<String, Json>, canonical: &str) -> String {
    object.keys().find(|k| k.eq_ignore_ascii_case(canonical)).cloned().unwrap_or_else(|| canonical.to_string())
}

fn apply_at(
    resource: &mut Json,
    kind: PatchKind,
    path: &PatchPath,
    value: Option<Json>,
    schema: &ResourceSchema,
) -> Result<(), ScimError> {
    let (container, canonical) = schema.container(resource, &path.attr)?;
    let key = key_in(container, canonical);
    let sub = path.attr.sub.as_deref();
    match (&path.filter, kind) {
        (None, PatchKind::Remove) => {
            match (sub, value) {
                (Some(sub), _) => {
                    if let Some(Json::Object(inner)) = container.get_mut(&key) {
                        let k = key_in(inner, sub);
                        inner.remove(&k);
                    }
                }
                // Entra: {"op":"Remove","path":"members","value":[{"value":"…"}]}.
                (None, Some(Json::Array(gone))) => {
                    if let Some(Json::Array(items)) = container.get_mut(&key) {
                        items.retain(|item| !gone.iter().any(|g| same_element(item, g)));
                    }
                }
                (None, _) => {
                    container.remove(&key);
                }
            }
            Ok(())
        }
        (None, kind) => {
            let value = value.unwrap_or(Json::Null);
            match sub {
                Some(sub) => {
                    let slot = container.entry(key).or_insert_with(|| Json::Object(Map::new()));
                    match slot {
                        Json::Object(inner) => {
                            let k = key_in(inner, sub);
                            set_or_clear(inner, k, value);
                        }
                        Json::Array(items) => {
                            if items.is_empty() {
                                items.push(Json::Object(Map::new()));
                            }
                            for item in items.iter_mut() {
                                if let Json::Object(inner) = item {
                                    let k = key_in(inner, sub);
                                    inner.insert(k, value.clone());
                                }
                            }
                        }
                        other => {
                            let mut inner = Map::new();
                            inner.insert(sub.to_string(), value);
                            *other = Json::Object(inner);
                        }
                    }
                }
                None => match (kind, container.get_mut(&key), value) {
                    (PatchKind::Add, Some(Json::Array(items)), new) => {
                        let new = match new {
                            Json::Array(list) => list,
                            one => vec![one],
                        };
                        for n in new {
                            if !items.iter().any(|i| same_element(i, &n)) {
                                items.push(n);
                            }
                        }
                    }
                    (PatchKind::Add, Some(Json::Object(inner)), Json::Object(new)) => {
                        for (k, v) in new {
                            let k = key_in(inner, &k);
                            inner.insert(k, v);
                        }
                    }
                    (_, _, value) => set_or_clear(container, key, value),
                },
            }
            Ok(())
        }
        (Some(filter), kind) => {
            let slot = container.entry(key).or_insert_with(|| Json::Array(Vec::new()));
            if !slot.is_array() {
                *slot = Json::Array(vec![slot.take()].into_iter().filter(|v| !v.is_null()).collect());
            }
            let Json::Array(items) = slot else { return Ok(()) };
            let target = path.sub_after_filter.as_deref();
            if kind == PatchKind::Remove {
                match target {
                    Some(t) => {
                        for item in items.iter_mut().filter(|i| filter.matches(i)) {
                            if let Json::Object(inner) = item {
                                let k = key_in(inner, t);
                                inner.remove(&k);
                            }
                        }
                    }
                    None => items.retain(|i| !filter.matches(i)),
                }
                return Ok(());
            }
            let value = value.unwrap_or(Json::Null);
            if !items.iter().any(|i| filter.matches(i)) {
                // Entra replaces `emails[type eq "work"].value` on a user with no work email yet:
                // an element that the filter names by one equality is created.
                match filter {
                    Filter::Compare(p, Op::Eq, v) if p.sub.is_none() && p.schema.is_none() => {
                        let mut element = Map::new();
                        element.insert(p.name.clone(), v.clone());
                        items.push(Json::Object(element));
                    }
                    _ => {
                        return Err(ScimError::no_target(format!(
                            "no value of \"{}\" matches the filter {filter}",
                            path.attr.name
                        )));
                    }
                }
            }
            for item in items.iter_mut().filter(|i| filter.matches(i)) {
                match (target, item) {
                    (Some(t), Json::Object(inner)) => {
                        let k = key_in(inner, t);
                        inner.insert(k, value.clone());
                    }
                    (None, Json::Object(inner)) if value.is_object() => {
                        if let Json::Object(new) = &value {
                            for (k, v) in new {
                                let k = key_in(inner, k);
                                inner.insert(k, v.clone());
                            }
                        }
                    }
                    (_, item) => *item = value.clone(),
                }
            }
            Ok(())
        }
    }
}

fn set_or_clear(object: &mut Map<String, Json>, key: String, value: Json) {
    if value.is_null() {
        object.remove(&key);
    } else {
        object.insert(key, value);
    }
}

/// Two elements of a multi-valued attribute are the same when their `value`s are (members and
/// emails are matched so), or when they are equal.
fn same_element(a: &Json, b: &Json) -> bool {
    match (get_ci(a, "value"), get_ci(b, "value")) {
        (Some(Json::String(x)), Some(Json::String(y))) => x.eq_ignore_ascii_case(y),
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scim::{ENTERPRISE_USER, GROUP_SCHEMA_INFO, USER_SCHEMA_INFO};
    use serde_json::json;

    fn patch(resource: &Json, ops: Json, schema: &ResourceSchema) -> Result<Json, ScimError> {
        let body = json!({"schemas": [PATCH_OP], "Operations": ops});
        let ops = parse_patch(&body)?;
        let mut r = resource.clone();
        apply_patch(&mut r, &ops, schema)?;
        Ok(r)
    }

    fn user() -> Json {
        json!({"id": "u1", "userName": "ada@example.com", "active": true, "title": "AE",
               "name": {"givenName": "Ada", "familyName": "Lovelace"},
               "emails": [{"value": "ada@example.com", "type": "work", "primary": true}]})
    }

    #[test]
    fn entra_and_okta_shapes_apply() {
        let s = &USER_SCHEMA_INFO;
        // Entra, without the aadOptscim062020 flag: capitalised op, string boolean.
        let r = patch(&user(), json!([{"op": "Replace", "path": "active", "value": "False"}]), s).expect("entra");
        assert_eq!(r["active"], json!("False"));
        // Okta: path-less replace with a value object.
        let r = patch(&user(), json!([{"op": "replace", "value": {"active": false, "id": "u1"}}]), s).expect("okta");
        assert_eq!(r["active"], json!(false));
        // Entra: dotted and URN keys in a path-less value; add on an attribute that has a value.
        let r = patch(
            &user(),
            json!([
                {"op": "Add", "value": {"name.givenName": "Augusta", "title": "Director"}},
                {"op": "Add", "path": "title", "value": "VP"},
                {"op": "Replace", "value": {ENTERPRISE_USER: {"department": "Sales"}}},
                {"op": "Add", "path": format!("{ENTERPRISE_USER}:manager"), "value": "m1"},
                {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "augusta@example.com"},
                {"op": "Add", "path": "emails[type eq \"home\"].value", "value": "a@home.example"},
                {"op": "Remove", "path": "name.familyName"},
            ]),
            s,
        )
        .expect("entra mix");
        assert_eq!(r["name"], json!({"givenName": "Augusta"}));
        assert_eq!(r["title"], json!("VP"));
        assert_eq!(r[ENTERPRISE_USER], json!({"department": "Sales", "manager": "m1"}));
        assert_eq!(r["emails"][0]["value"], json!("augusta@example.com"));
        assert_eq!(r["emails"][1], json!({"type": "home", "value": "a@home.example"}));
    }

    #[test]
    fn members_are_added_and_removed_both_ways() {
        let g = json!({"id": "g1", "displayName": "EMEA", "members": [{"value": "a"}, {"value": "b"}]});
        let s = &GROUP_SCHEMA_INFO;
        let r = patch(
            &g,
            json!([
                {"op": "add", "path": "members", "value": [{"value": "c"}, {"value": "a"}]},
                {"op": "remove", "path": "members[value eq \"b\"]"},
                {"op": "Remove", "path": "members", "value": [{"value": "a"}]},
                {"op": "replace", "path": "displayName", "value": "EMEA Sales"},
            ]),
            s,
        )
        .expect("members");
        assert_eq!(r["members"], json!([{"value": "c"}]));
        assert_eq!(r["displayName"], json!("EMEA Sales"));
    }

    #[test]
    fn bad_patches_get_scim_errors() {
        let s = &USER_SCHEMA_INFO;
        let cases = [
            (json!({"Operations": [{"op": "add", "path": "title", "value": "x"}]}), "invalidSyntax"),
            (json!({"schemas": [PATCH_OP], "Operations": []}), "invalidSyntax"),
            (json!({"schemas": [PATCH_OP], "Operations": [{"op": "move", "path": "title"}]}), "invalidSyntax"),
            (json!({"schemas": [PATCH_OP], "Operations": [{"op": "remove"}]}), "noTarget"),
            (json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "title"}]}), "invalidValue"),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "shoeSize", "value": 9}]}),
                "invalidPath",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "emails[type eq", "value": 9}]}),
                "invalidPath",
            ),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}),
                "mutability",
            ),
            (json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "value": {"id": "other"}}]}), "mutability"),
            (
                json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "emails[type co \"w\" and primary eq true].value", "value": "x"}]}),
                "noTarget",
            ),
        ];
        for (body, scim_type) in cases {
            let result = parse_patch(&body).and_then(|ops| {
                let mut r = user();
                r["emails"] = json!([]);
                apply_patch(&mut r, &ops, s)
            });
            assert_eq!(result.expect_err(&body.to_string()).scim_type, Some(scim_type), "{body}");
        }
    }
}
