//! The OpenAPI document against the server, schema by schema: for every record kind, requests
//! generated from the document's own schema are taken when the schema allows them and refused
//! (422, naming the field) when it does not, and every answer carrying a record fits the schema.
//! (The route-by-route completeness checks live next to the document, in `src/openapi.rs`.)

use std::collections::BTreeMap;

use super::*;

/// The schema a `$ref` points at, or the schema itself.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

fn type_matches(value: &Value, ty: &str) -> bool {
    match ty {
        "string" => value.is_string(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn format_matches(text: &str, format: &str) -> bool {
    match format {
        "uuid" => uuid::Uuid::parse_str(text).is_ok(),
        "date" => text.len() == 10 && text.parse::<jiff::civil::Date>().is_ok(),
        "date-time" => text.parse::<jiff::Timestamp>().is_ok(),
        "email" => text.split_once('@').is_some_and(|(l, d)| !l.is_empty() && d.contains('.')),
        _ => true,
    }
}

/// Where `value` breaks `schema` (the JSON Schema keywords the document uses), each problem with its JSON path. An empty list means it fits. `answer` says
/// the value is a server's answer (writeOnly properties must not appear) rather than a request.
fn violations(doc: &Value, schema: &Value, value: &Value, path: &str, answer: bool) -> Vec<String> {
    let schema = resolve(doc, schema);
    let mut out = Vec::new();
    if let Some(any) = schema.get("anyOf").and_then(Value::as_array) {
        if !any.iter().any(|s| violations(doc, s, value, path, answer).is_empty()) {
            out.push(format!("{path}: {value} fits none of {}", Value::Array(any.clone())));
        }
        return out;
    }
    let fits_type = match schema.get("type") {
        Some(Value::String(t)) => type_matches(value, t),
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).any(|t| type_matches(value, t)),
        _ => true,
    };
    if !fits_type {
        out.push(format!("{path}: {value} is not of type {}", schema["type"]));
        return out;
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array)
        && !options.contains(value)
    {
        out.push(format!("{path}: {value} is not one of {}", schema["enum"]));
    }
    if let Some(text) = value.as_str() {
        let chars = text.chars().count() as u64;
        if schema.get("maxLength").and_then(Value::as_u64).is_some_and(|m| chars > m) {
            out.push(format!("{path}: longer than {}", schema["maxLength"]));
        }
        if schema.get("minLength").and_then(Value::as_u64).is_some_and(|m| chars < m) {
            out.push(format!("{path}: shorter than {}", schema["minLength"]));
        }
        if let Some(p) = schema.get("pattern").and_then(Value::as_str)
            && !regex::Regex::new(p).is_ok_and(|re| re.is_match(text))
        {
            out.push(format!("{path}: {text:?} does not match {p}"));
        }
        if let Some(f) = schema.get("format").and_then(Value::as_str)
            && !format_matches(text, f)
        {
            out.push(format!("{path}: {text:?} is not a {f}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if schema.get("minimum").and_then(Value::as_f64).is_some_and(|m| n < m) {
            out.push(format!("{path}: {n} is below {}", schema["minimum"]));
        }
        if schema.get("maximum").and_then(Value::as_f64).is_some_and(|m| n > m) {
            out.push(format!("{path}: {n} is above {}", schema["maximum"]));
        }
    }
    if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
        for (i, item) in list.iter().enumerate() {
            out.extend(violations(doc, items, item, &format!("{path}[{i}]"), answer));
        }
    }
    if let Some(object) = value.as_object() {
        let props = schema.get("properties").and_then(Value::as_object);
        for name in schema.get("required").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(name) {
                out.push(format!("{path}.{name}: required but missing"));
            }
        }
        for (name, v) in object {
            match props.and_then(|p| p.get(name)) {
                Some(p) if answer && p.get("writeOnly") == Some(&json!(true)) => {
                    out.push(format!("{path}.{name}: writeOnly, but in an answer"))
                }
                Some(p) => out.extend(violations(doc, p, v, &format!("{path}.{name}"), answer)),
                None if schema.get("additionalProperties") == Some(&json!(false)) => {
                    out.push(format!("{path}.{name}: not in the schema"))
                }
                None => {}
            }
        }
    }
    out
}

/// The first alternative of an `anyOf` (the document lists the plain type first, then text, then null).
fn plain(schema: &Value) -> &Value {
    match schema.get("anyOf").and_then(|a| a.get(0)) {
        Some(first) => plain(first),
        None => schema,
    }
}

/// Whether a number field also takes its value as text (an `anyOf` with a string alternative).
fn takes_text(schema: &Value) -> bool {
    schema
        .get("anyOf")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|b| b["type"] == "string" || takes_text(b)))
}

/// A value the schema allows, referring to existing records through `x-references`.
fn valid_value(schema: &Value, ids: &BTreeMap<String, String>) -> Option<Value> {
    let s = plain(schema);
    if let Some(target) = s.get("x-references").and_then(Value::as_str) {
        let id = ids.get(target)?.clone();
        return Some(if type_matches(&json!([]), s["type"].as_str().unwrap_or("array")) || s["type"].is_array() {
            json!([id])
        } else {
            json!(id)
        });
    }
    if let Some(first) = s.get("enum").and_then(|e| e.get(0)) {
        return Some(first.clone());
    }
    if let Some(example) = s.get("examples").and_then(|e| e.get(0)) {
        return Some(example.clone());
    }
    Some(match (s["type"].as_str(), s.get("format").and_then(Value::as_str)) {
        (Some("string"), Some("email")) => json!("ada@example.com"),
        (Some("string"), Some("date")) => json!("2026-12-01"),
        (Some("string"), Some("date-time")) => json!("2026-11-30T10:00:00Z"),
        (Some("string"), _) => json!("Ada"),
        (Some("integer"), _) => s["minimum"].clone(),
        (Some("number"), _) => json!(1234.5),
        _ => return None,
    })
}

fn nullable(schema: &Value) -> bool {
    schema.get("anyOf").and_then(Value::as_array).is_some_and(|a| a.iter().any(|b| b["type"] == "null"))
}

/// Values the schema forbids for one property, each with what it shows.
fn invalid_values(schema: &Value) -> Vec<(Value, &'static str)> {
    let s = plain(schema);
    let mut bad = vec![(json!({"an": "object"}), "an object")];
    if s.get("x-references").is_some() {
        if s["type"].is_array() {
            bad.push((json!("not a list"), "text for a list"));
            bad.push((json!(["not-an-id"]), "a list with something not an id"));
        } else {
            bad.push((json!("not-an-id"), "text that is not an id"));
            bad.push((json!(42), "a number for an id"));
        }
        return bad;
    }
    if s.get("enum").is_some() {
        bad.push((json!("no_such_option"), "a value not in the enum"));
        bad.push((json!(7), "a number for a choice"));
        return bad;
    }
    match (s["type"].as_str(), s.get("format").and_then(Value::as_str)) {
        (Some("string"), format) => {
            bad.push((json!(42), "a number for text"));
            bad.push((json!(["a"]), "a list for text"));
            match format {
                Some("email") => bad.push((json!("not an email"), "text that is not an email")),
                Some("date") => bad.push((json!("2026-13-45"), "text that is not a date")),
                Some("date-time") => bad.push((json!("yesterday"), "text that is not a time")),
                _ => {}
            }
            if let Some(max) = s.get("maxLength").and_then(Value::as_u64) {
                bad.push((json!("7".repeat(max as usize + 1)), "text one longer than maxLength"));
            }
            if s.get("minLength").is_some() {
                bad.push((json!("   "), "blank text where it must not be blank"));
            }
            if !nullable(schema) {
                bad.push((Value::Null, "null where the schema is not nullable"));
            }
        }
        (Some("integer"), _) => {
            bad.push((json!("many"), "text that is not a number"));
            bad.push((json!(1.5), "a fraction"));
            bad.push((json!(true), "a boolean"));
            if let Some(m) = s["minimum"].as_i64() {
                bad.push((json!(m - 1), "one below the minimum"));
            }
            if let Some(m) = s["maximum"].as_i64() {
                bad.push((json!(m + 1), "one above the maximum"));
            }
        }
        (Some("number"), _) => {
            bad.push((json!("lots"), "text that is not an amount"));
            bad.push((json!(-1), "below the minimum"));
            bad.push((json!(10.001), "not a multiple of 0.01"));
            bad.push((json!(1e14), "above the maximum"));
        }
        _ => {}
    }
    bad
}

/// Whether a problem answer names `field` among its errors.
fn names_field(problem: &Value, field: &str) -> bool {
    problem["errors"].as_array().is_some_and(|errors| errors.iter().any(|e| e["field"] == field))
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_answers_follow_the_openapi_document() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (s, doc) = app.call("GET", "/api/v1/openapi.json", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        let (_, me) = app.call("GET", "/api/v1/me", Some(&admin), None).await;
        let mut ids: BTreeMap<String, String> = BTreeMap::new();
        ids.insert("coworker".into(), me["coworker"]["id"].as_str().expect("my id").to_string());
        let mut checked = 0;

        for kind in holdfast_core::record::ALL_KINDS {
            let schema = &doc["components"]["schemas"][kind.name];
            let props = schema["properties"].as_object().expect("properties");
            let required: Vec<&str> =
                schema["required"].as_array().expect("required").iter().filter_map(Value::as_str).collect();
            let writable: Vec<(&String, &Value)> =
                props.iter().filter(|(_, p)| p.get("readOnly").is_none() && p.get("writeOnly").is_none()).collect();
            let base = format!("/api/v1/{}", kind.plural);
            let fits = |answer: &Value, what: &str| {
                let v = violations(&doc, schema, answer, kind.name, true);
                assert!(v.is_empty(), "{}: {what} does not fit the document: {v:#?}", app.db.backend);
            };

            // Only what is required: taken.
            let minimal: serde_json::Map<String, Value> = required
                .iter()
                .map(|name| (name.to_string(), valid_value(&props[*name], &ids).expect("a value for a required field")))
                .collect();
            let (s, created) = app.call("POST", &base, Some(&admin), Some(Value::Object(minimal.clone()))).await;
            assert_eq!(s, StatusCode::CREATED, "{}: {} {minimal:?} -> {created}", app.db.backend, kind.name);
            fits(&created, "the answer to a create with only required fields");
            ids.insert(kind.name.into(), id_of(&created));

            // Every writable field: taken, and the answer, the record read back and the list fit.
            let full: serde_json::Map<String, Value> =
                writable.iter().filter_map(|(name, p)| valid_value(p, &ids).map(|v| (name.to_string(), v))).collect();
            assert_eq!(full.len(), writable.len(), "{}: a value for every writable field", kind.name);
            let (s, created) = app.call("POST", &base, Some(&admin), Some(Value::Object(full.clone()))).await;
            // A lead with an email that is already a lead's is that lead again (200, "repeat").
            let taken = |s: StatusCode, answer: &Value| {
                s == StatusCode::CREATED || (s == StatusCode::OK && answer["repeat"] == true)
            };
            assert!(taken(s, &created), "{}: {} {full:?} -> {s} {created}", app.db.backend, kind.name);
            fits(&created, "the answer to a create with every field");
            let path = format!("{base}/{}", id_of(&created));
            let (_, read) = app.call("GET", &path, Some(&admin), None).await;
            fits(&read, "a record read by id");
            let (_, list) = app.call("GET", &base, Some(&admin), None).await;
            for item in list["items"].as_array().expect("items") {
                fits(item, "a list item");
            }

            // At the edges the schema draws: the longest text and numbers as text are taken.
            let mut edges = full.clone();
            for (name, p) in &writable {
                let s = plain(p);
                if let (Some(max), None, None, None) =
                    (s["maxLength"].as_u64(), s.get("format"), s.get("enum"), s.get("examples"))
                    && s.get("x-references").is_none()
                {
                    edges.insert(name.to_string(), json!("é".repeat(max as usize)));
                }
                if takes_text(p) && s["type"] != "string" {
                    let text = if s["type"] == "integer" { format!(" {} ", s["minimum"]) } else { "12,500.50".into() };
                    edges.insert(name.to_string(), json!(text));
                }
                if s.get("enum").is_some() {
                    let option = s["enum"][0].as_str().expect("option").replace('_', " ").to_uppercase();
                    edges.insert(name.to_string(), json!(option));
                }
            }
            let (s, answer) = app.call("POST", &base, Some(&admin), Some(Value::Object(edges.clone()))).await;
            assert!(taken(s, &answer), "{}: {} at the edges {edges:?} -> {s} {answer}", app.db.backend, kind.name);
            fits(&answer, "the answer to a create at the edges");

            // Each field nullable by the document may be emptied by a change.
            for (name, p) in &writable {
                if violations(&doc, p, &Value::Null, name, false).is_empty() {
                    let (s, answer) =
                        app.call("PATCH", &path, Some(&admin), Some(json!({ name.as_str(): null }))).await;
                    assert_eq!(s, StatusCode::OK, "{}: {}.{name} = null -> {answer}", app.db.backend, kind.name);
                    fits(&answer, "the answer to emptying a field");
                }
            }

            // Everything the document forbids is refused, on create and on change, naming the field.
            let (_, before) = app.call("GET", &format!("{base}?limit=200"), Some(&admin), None).await;
            for (name, p) in &writable {
                for (bad, what) in invalid_values(p) {
                    assert!(
                        !violations(&doc, p, &bad, name, false).is_empty() || what.contains("multiple"),
                        "{}.{name}: the test's {what} fits the document",
                        kind.name
                    );
                    let mut body = full.clone();
                    body.insert(name.to_string(), bad.clone());
                    let (s, problem) = app.call("POST", &base, Some(&admin), Some(Value::Object(body))).await;
                    assert_eq!(
                        s,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{}: create {}.{name} = {bad} ({what}) -> {problem}",
                        app.db.backend,
                        kind.name
                    );
                    assert!(names_field(&problem, name), "{}.{name} ({what}): {problem}", kind.name);
                    let (s, problem) =
                        app.call("PATCH", &path, Some(&admin), Some(json!({ name.as_str(): bad }))).await;
                    assert_eq!(
                        s,
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "{}: change {}.{name} = {bad} ({what}) -> {problem}",
                        app.db.backend,
                        kind.name
                    );
                    checked += 2;
                }
            }
            for name in &required {
                let mut body = full.clone();
                body.remove(*name);
                let (s, problem) = app.call("POST", &base, Some(&admin), Some(Value::Object(body))).await;
                assert_eq!(
                    s,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "{}: {} without {name} -> {problem}",
                    app.db.backend,
                    kind.name
                );
                assert!(names_field(&problem, name), "{}: without {name}: {problem}", kind.name);
                checked += 1;
            }
            let mut body = full.clone();
            body.insert("no_such_field".into(), json!("x"));
            let (s, problem) = app.call("POST", &base, Some(&admin), Some(Value::Object(body))).await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{}: unknown field -> {problem}", kind.name);
            assert!(names_field(&problem, "no_such_field"), "{problem}");
            let (_, after) = app.call("GET", &format!("{base}?limit=200"), Some(&admin), None).await;
            assert_eq!(after["items"], before["items"], "{}: refused requests changed nothing", kind.name);
        }
        assert!(checked > 300, "{checked} refusals checked");
    }
}
