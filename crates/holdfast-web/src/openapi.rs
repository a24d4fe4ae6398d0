//! The OpenAPI 3.1 document, generated from the record descriptors that also drive validation
//! and storage, so the document cannot drift from what the server accepts.

use holdfast_core::record::{ALL_KINDS, Field, FieldType, RecordKind};
use serde_json::{Map, Value, json};

/// Text without control characters other than tab and line breaks (what the server refuses).
const NO_CONTROL: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F]*$";

/// The schema of one field's value, exactly as `record::parse_value` takes it: text is trimmed
/// and blank text means empty; whole numbers and amounts may come as numbers or as text (forms
/// and imports send text); a field that must not be empty (required, or with a default other than
/// the empty text) is not nullable.
fn field_schema(field: &Field) -> Value {
    let mut s = match field.ty {
        FieldType::Text { max } => json!({"type": "string", "maxLength": max, "pattern": NO_CONTROL}),
        FieldType::Email => json!({"type": "string", "format": "email", "maxLength": 254}),
        FieldType::Phone => json!({"type": "string", "maxLength": 40, "pattern": "^[0-9A-Za-z +().x/-]*$",
            "description": "5 to 20 digits", "examples": ["+1 415 555 0100"]}),
        FieldType::Domain => json!({"type": "string", "maxLength": 253, "examples": ["acme.com"],
            "description": "a web domain; a URL is reduced to its domain"}),
        FieldType::Int { min, max } => json!({"anyOf": [{"type": "integer", "minimum": min, "maximum": max},
            {"type": "string", "pattern": "^\\s*[+-]?[0-9]+\\s*$", "description": "the same whole number as text"}]}),
        FieldType::Money => json!({"anyOf": [{"type": "number", "minimum": 0, "maximum": 1e13, "multipleOf": 0.01},
            {"type": "string", "pattern": "^[\\s$€£]*[0-9][0-9, ]*(\\.[0-9]{1,2})?\\s*$", "examples": ["12,500.50"],
             "description": "the same amount as text"}]}),
        FieldType::Date => json!({"type": "string", "format": "date"}),
        FieldType::Timestamp => json!({"type": "string", "format": "date-time"}),
        FieldType::Choice(options) => json!({"type": "string", "enum": options,
            "description": "letter case, spaces and hyphens are forgiven (\"Closed Won\" is closed_won)"}),
        FieldType::Ref(k) => json!({"type": "string", "format": "uuid", "x-references": k.name()}),
        FieldType::Lines { max } => json!({"type": "array", "items": {"type": "string"}, "maxLength": max}),
        FieldType::RefList(k) => {
            return json!({"type": ["array", "null"], "items": {"type": "string", "format": "uuid"}, "x-references": k.name(),
                "description": format!("{} (ids of {}s)", field.doc, k.name())});
        }
    };
    let what = s.get("description").and_then(Value::as_str).map(|d| format!("{} ({d})", field.doc));
    s["description"] = json!(what.unwrap_or_else(|| field.doc.to_string()));
    if let Some(d) = field.default {
        s["default"] = json!(d);
    }
    let never_empty = field.required || field.default.is_some_and(|d| !d.is_empty());
    if never_empty {
        if matches!(field.ty, FieldType::Text { .. }) {
            s["minLength"] = json!(1);
            s["pattern"] = json!("\\S");
            s["description"] = json!(format!("{} (not blank; no control characters)", field.doc));
        }
    } else {
        s = json!({"anyOf": [s, {"type": "null"}], "description": s["description"].clone()});
    }
    if field.computed {
        s["readOnly"] = json!(true);
    }
    s
}

/// A record as the API answers it and takes it: the fields of its kind plus the system fields
/// the server sets. Fields the server fills when they are left out (timestamps) are not required.
fn schema(kind: &RecordKind) -> Value {
    let mut props = Map::new();
    props.insert("id".into(), json!({"type": "string", "format": "uuid", "readOnly": true}));
    for f in kind.fields {
        props.insert(f.name.into(), field_schema(f));
    }
    if matches!(kind.kind, holdfast_core::record::Kind::Activity | holdfast_core::record::Kind::Task) {
        props.insert("approval_id".into(), json!({"anyOf": [{"type": "string", "format": "uuid"}, {"type": "null"}], "writeOnly": true,
            "description": "An approved request to reach a contact whose protocol asks for one (POST /api/v1/contact-approvals)"}));
        props.insert("after_the_fact".into(), json!({"type": "boolean", "writeOnly": true,
            "description": "The conversation already happened: a guarded contact reached without approval is recorded and the account owner and their managers get a protocol_breach alert, instead of a 409"}));
    }
    if kind.kind == holdfast_core::record::Kind::Lead {
        props.insert("repeat".into(), json!({"type": "boolean", "readOnly": true,
            "description": "In the answer to a create: the email was already a lead's, and this is that lead, updated (200)"}));
        props.insert(
            "routed".into(),
            json!({"type": ["object", "null"], "readOnly": true,
            "description": "In the answer to a create: to whom the lead was routed and why",
            "properties": {"to": {"type": "string", "format": "uuid"}, "why": {"type": "string"}}}),
        );
    }
    for t in ["created_at", "updated_at"] {
        props.insert(t.into(), json!({"type": "string", "format": "date-time", "readOnly": true}));
    }
    props.insert("deleted_at".into(), json!({"type": ["string", "null"], "format": "date-time", "readOnly": true}));
    for t in ["created_by", "updated_by"] {
        props.insert(t.into(), json!({"type": ["string", "null"], "format": "uuid", "readOnly": true}));
    }
    let required: Vec<&str> =
        kind.fields.iter().filter(|f| f.required && f.ty != FieldType::Timestamp).map(|f| f.name).collect();
    json!({"type": "object", "properties": props, "required": required, "additionalProperties": false,
        "description": "System fields (readOnly) may be sent back as read; they are ignored"})
}

fn problem_ref() -> Value {
    json!({"description": "Problem", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}})
}

fn record_ops(kind: &RecordKind) -> (Value, Value) {
    let r = format!("#/components/schemas/{}", kind.name);
    let params: Vec<Value> = [
        ("q", "Search words (prefix match on names, emails, phones, domains)"),
        ("owner", "Owner: co-worker id or email"),
        ("sort", "Field to sort by, '-' in front for descending"),
        ("limit", "Page size, 1-500 (default 50)"),
        ("cursor", "next_cursor from the previous page"),
        ("offset", "Rows to skip (for simple clients)"),
        ("deleted", "true to list deleted records (admins)"),
    ]
    .iter()
    .map(|(n, d)| json!({"name": n, "in": "query", "required": false, "description": d, "schema": {"type": "string"}}))
    .collect();
    let errors = json!({"400": problem_ref(), "401": problem_ref(), "403": problem_ref(), "404": problem_ref(), "409": problem_ref(), "422": problem_ref()});
    let mut list_resp = errors.clone();
    list_resp["200"] = json!({"description": "A page", "content": {"application/json": {"schema": {
        "type": "object", "properties": {"items": {"type": "array", "items": {"$ref": r}}, "next_cursor": {"type": ["string", "null"]}}}}}});
    let mut create_resp = errors.clone();
    create_resp["201"] = json!({"description": "Created", "content": {"application/json": {"schema": {"$ref": r}}}});
    let collection = json!({
        "get": {"summary": format!("List {}", kind.plural), "tags": [kind.plural], "parameters": params, "responses": list_resp},
        "post": {"summary": format!("Create a {}", kind.name), "tags": [kind.plural],
                 "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": r}}}}, "responses": create_resp},
    });
    let mut one = errors.clone();
    one["200"] = json!({"description": "The record", "content": {"application/json": {"schema": {"$ref": r}}}});
    let mut gone = errors;
    gone["204"] = json!({"description": "Deleted (recoverable by an admin)"});
    let id = json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
    let item = json!({
        "parameters": id,
        "get": {"summary": format!("Open a {}", kind.name), "tags": [kind.plural], "responses": one},
        "patch": {"summary": format!("Change fields of a {}", kind.name), "tags": [kind.plural],
                  "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": r}}}}, "responses": one},
        "delete": {"summary": format!("Delete a {}", kind.name), "tags": [kind.plural], "responses": gone},
    });
    (collection, item)
}

/// Declares every `{name}` of every path as a required path parameter, where the path item does
/// not declare it already (ids, emails, tokens: text the server checks).
fn declare_path_parameters(paths: &mut Map<String, Value>) {
    for (path, item) in paths.iter_mut() {
        let names: Vec<&str> = path.split('{').skip(1).filter_map(|p| p.split('}').next()).collect();
        let Some(item) = item.as_object_mut() else { continue };
        let declared = item.entry("parameters").or_insert_with(|| json!([]));
        let Some(list) = declared.as_array_mut() else { continue };
        for name in names {
            if !list.iter().any(|p| p["name"] == name && p["in"] == "path") {
                list.push(json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}));
            }
        }
    }
}

/// Lead forms, the speed-to-lead figures, the lead rules, duplicates and the queue (docs/leads.md).
fn lead_paths(paths: &mut Map<String, Value>) {
    let errors = |ok: Value| {
        let mut r = json!({"401": problem_ref(), "403": problem_ref(), "404": problem_ref(), "409": problem_ref(), "422": problem_ref()});
        if let (Some(r), Some(ok)) = (r.as_object_mut(), ok.as_object()) {
            r.extend(ok.clone());
        }
        r
    };
    paths.insert("/api/v1/lead-forms".into(), json!({
        "get": {"summary": "Web-to-lead forms (admins): id, name, fields, post_url, snippet, submissions", "tags": ["leads"],
                "responses": errors(json!({"200": {"description": "items"}}))},
        "post": {"summary": "Make a web-to-lead form (admins); first_name and email are always asked. Answers with post_url (no sign-in needed to post) and the HTML snippet to paste", "tags": ["leads"],
                 "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["name"], "properties": {
                     "name": {"type": "string"}, "fields": {"type": "array", "items": {"enum": holdfast_core::service::FORM_FIELDS}},
                     "redirect_url": {"type": "string", "format": "uri"}}}}}},
                 "responses": errors(json!({"201": {"description": "id, name, fields, post_url, page_url, snippet"}}))}}));
    paths.insert("/api/v1/lead-forms/{id}/archive".into(), json!({"post": {"summary": "Archive a form (its URL stops taking posts), or bring it back with {\"archived\": false}", "tags": ["leads"],
        "responses": errors(json!({"200": {"description": "The form"}}))}}));
    paths.insert("/api/v1/leads/metrics".into(), json!({"get": {"summary": "Speed to lead over the last days (default 30): median and p90 seconds to first touch, share within the SLA, qualification rate, funnel, by rep and by source (a recorded report)", "tags": ["leads"],
        "parameters": [{"name": "days", "in": "query", "schema": {"type": "integer"}}],
        "responses": errors(json!({"200": {"description": "days, sla_minutes, leads, touched, median_seconds_to_first_touch, p90_seconds_to_first_touch, within_sla_share, qualification_rate, funnel, by_rep, by_source"}}))}}));
    paths.insert(
        "/api/v1/leads/duplicates".into(),
        json!({"get": {"summary": "Leads marked as probably the same person (managers, admins)", "tags": ["leads"],
        "responses": errors(json!({"200": {"description": "items: lead, duplicate_of"}}))}}),
    );
    paths.insert("/api/v1/leads/reengagement".into(), json!({"get": {"summary": "The re-engagement queue: leads of co-workers who left, re-routed with a fresh clock and not yet touched", "tags": ["leads"],
        "responses": errors(json!({"200": {"description": "items"}}))}}));
    paths.insert("/api/v1/leads/{id}/merge".into(), json!({"post": {"summary": "Merge another lead into this one: empty fields filled, touches and calls moved, the other deleted (restorable)", "tags": ["leads"],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["drop"], "properties": {"drop": {"type": "string", "format": "uuid"}}}}}},
        "responses": errors(json!({"200": {"description": "The lead kept"}}))}}));
    paths.insert(
        "/api/v1/leads/{id}/not-a-duplicate".into(),
        json!({"post": {"summary": "The lead is not the lead it was marked as duplicating", "tags": ["leads"],
        "responses": errors(json!({"200": {"description": "The lead"}}))}}),
    );
    paths.insert("/api/v1/leads/{id}/convert".into(), json!({"post": {"summary": "Convert a lead: the contact with its email is reused (else created) at its account (else one of the company's name, else a new one); with deal, a deal opens in the same step", "tags": ["leads"],
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {
            "account_id": {"type": "string", "format": "uuid"},
            "deal": {"anyOf": [{"type": "boolean"}, {"type": "object", "properties": {"name": {"type": "string"}, "amount": {"type": "number"}}}]}}}}}},
        "responses": errors(json!({"201": {"description": "account_id, contact_id, deal_id, new_account, new_contact"}}))}}));
    paths.insert("/api/v1/imports/leads".into(), json!({"post": {"summary": "Import leads from CSV (ours, HubSpot's or Salesforce's lead export); every row matched, scored and routed like a form post; dry_run=true rehearses", "tags": ["leads"],
        "parameters": [{"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}],
        "requestBody": {"required": true, "content": {"text/csv": {}}},
        "responses": errors(json!({"200": {"description": "rows, created, updated, linked_to_contacts, flagged_duplicates, routed, rejected, columns"}}))}}));
    paths.insert("/api/v1/settings/leads".into(), json!({
        "get": {"summary": "The lead rules: sla_minutes, reroute_minutes, business_hours, fit rules, routing rules, round_robin, away (managers, admins)", "tags": ["leads"],
                "responses": errors(json!({"200": {"description": "The rules"}}))},
        "put": {"summary": "Replace the lead rules (admins); every rule is checked before any is saved", "tags": ["leads"],
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": errors(json!({"200": {"description": "The rules"}}))}}));
    paths.insert("/api/v1/notifications".into(), json!({"get": {"summary": "Your notifications (a lead routed to you, a lead past its clock), newest first, with the unread count",
        "responses": errors(json!({"200": {"description": "items, unread"}}))}}));
    paths.insert(
        "/api/v1/notifications/read".into(),
        json!({"post": {"summary": "Mark your notifications read",
        "responses": errors(json!({"200": {"description": "marked_read"}}))}}),
    );
}

/// Leak tracing: the mail journal, canary hits, tracing a found file (docs/leak-tracing.md).
fn leak_paths(paths: &mut Map<String, Value>) {
    let body = |required: &[&str], props: Value| json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": props, "additionalProperties": false}}}});
    let errors = |ok: Value| {
        let mut r = json!({"401": problem_ref(), "403": problem_ref(), "422": problem_ref()});
        if let (Some(r), Some(ok)) = (r.as_object_mut(), ok.as_object()) {
            r.extend(ok.clone());
        }
        r
    };
    paths.insert("/api/v1/mail-journal".into(), json!({"post": {"summary": "Hand in a journal copy of one outgoing message (admins; the mail server's journaling rule): customers' emails and phones sent outside the company's domains are recorded as mail.outbound (counts, hashes and addresses, never the message) and past mail_alert_threshold raise a mail_customer_data alert naming the sender", "tags": ["leak tracing"],
        "requestBody": {"required": true, "content": {"message/rfc822": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": errors(json!({"202": {"description": "message_sha256, sender, external_recipients, to_free_mail, customers, customer_emails, customer_phones, attachments, canary_exports, traced_exports, event_id, alert_id"}, "415": problem_ref()}))}}));
    paths.insert("/api/v1/canaries/hits".into(), json!({"post": {"summary": "A message or call to a canary address or number (admins; a mail gateway or catch-all mailbox script): a critical canary_hit alert names the export and its maker", "tags": ["leak tracing"],
        "requestBody": body(&[], json!({"address": {"type": "string", "description": "The canary's email or phone (or give it as to)"}, "to": {"type": "string"}, "from": {"type": "string"}, "subject": {"type": "string"}, "via": {"type": "string"}})),
        "responses": errors(json!({"200": {"description": "canary (bool), export_id, kind, made_by, made_at, alert_id"}}))}}));
    paths.insert("/api/v1/trace".into(), json!({"post": {"summary": "Trace a file found in the wild (CSV in any separator or encoding, XLSX, vCard) to the export(s) it most likely came from, with the evidence (admins)", "tags": ["leak tracing"],
        "parameters": [{"name": "name", "in": "query", "schema": {"type": "string"}}],
        "requestBody": {"required": true, "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
        "responses": errors(json!({"200": {"description": "matched, rows, headers, matches (export_id, made_by, made_at, door, rows_matched, share_of_file, share_of_export, canaries_found, columns_kept, columns_dropped)"}}))}}));
    paths.insert("/api/v1/exports/{id}/canaries".into(), json!({"get": {"summary": "The canaries placed in an export (admins)", "tags": ["leak tracing"],
        "responses": errors(json!({"200": {"description": "items: email, phone, first_name, last_name, id_in_file"}, "404": problem_ref()}))}}));
}

/// Departure cases, the handover by rule and the bulk operations list (docs/departures.md).
fn departure_paths(paths: &mut Map<String, Value>) {
    let errors = |ok: Value| {
        let mut r = json!({"401": problem_ref(), "403": problem_ref(), "404": problem_ref(), "409": problem_ref(), "422": problem_ref()});
        if let (Some(r), Some(ok)) = (r.as_object_mut(), ok.as_object()) {
            r.extend(ok.clone());
        }
        r
    };
    let body = |required: &[&str], props: Value| json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": props, "additionalProperties": false}}}});
    let optional = |props: Value| json!({"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": props, "additionalProperties": false}}}});
    let case = json!({"description": "The case: id, coworker_id, status (open, closed, cancelled), reason, notice_date, last_day, access_ends_at, steps (who did each and when), notice_acknowledged, still_owned, value_not_handed_over, open_alerts, progress"});
    let rule_props = json!({
        "to": {"type": "string", "description": "One colleague (email or id) for everything; with rule picked, the colleague for the rest"},
        "rule": {"enum": ["one", "round_robin", "team", "territory", "picked"]},
        "recipients": {"type": "array", "items": {"type": "string"}, "description": "round_robin: the colleagues (emails)"},
        "team": {"type": "string", "description": "team: the team whose active members share the book (the leaver's by default)"},
        "territories": {"type": "object", "additionalProperties": {"type": "string"}, "description": "territory: account country to colleague, '*' for the rest"},
        "accounts": {"type": "object", "additionalProperties": {"type": "string"}, "description": "picked: account id to colleague"},
        "rest": {"type": "string", "description": "picked: the colleague for everything not picked"},
        "dry_run": {"type": "boolean"}});
    paths.insert("/api/v1/coworkers/{id}/departure".into(), json!({"post": {
        "summary": "Record a departure: the co-worker becomes departing (a termination ends access at once) and a case opens",
        "requestBody": body(&["last_day"], json!({"last_day": {"type": "string", "format": "date"}, "reason": {"enum": ["resignation", "termination", "retirement", "other"]},
            "notice_date": {"type": "string", "format": "date"}, "destination": {"type": "string"}, "good_terms": {"type": "boolean"}})),
        "responses": errors(json!({"201": case}))}}));
    paths.insert("/api/v1/departures".into(), json!({"get": {"summary": "Departure cases: open ones, or all with all=true (managers see the people they manage)",
        "parameters": [{"name": "all", "in": "query", "schema": {"type": "boolean"}}, {"name": "status", "in": "query", "schema": {"enum": ["open", "any"]}}],
        "responses": errors(json!({"200": {"description": "items: cases"}}))}}));
    paths.insert(
        "/api/v1/departures/{id}".into(),
        json!({"get": {"summary": "One departure case", "responses": errors(json!({"200": case}))}}),
    );
    paths.insert(
        "/api/v1/departures/{id}/review".into(),
        json!({"post": {"summary": "Mark the data review done (the 90-day report, alerts, evidence)",
        "requestBody": optional(json!({"note": {"type": "string"}})), "responses": errors(json!({"200": case}))}}),
    );
    paths.insert("/api/v1/departures/{id}/plan".into(), json!({"post": {"summary": "Record the transition plan and preview it (counts and value per recipient)",
        "requestBody": body(&[], rule_props.clone()), "responses": errors(json!({"200": {"description": "per_recipient, value_per_recipient, total"}}))}}));
    paths.insert(
        "/api/v1/departures/{id}/introductions".into(),
        json!({"post": {"summary": "Introduction and check-in tasks for the key accounts handed over",
        "responses": errors(json!({"200": {"description": "accounts, tasks"}}))}}),
    );
    paths.insert(
        "/api/v1/departures/{id}/end-access".into(),
        json!({"post": {"summary": "End the co-worker's access now: departed, every session and token ended",
        "responses": errors(json!({"200": case}))}}),
    );
    paths.insert(
        "/api/v1/departures/{id}/cancel".into(),
        json!({"post": {"summary": "Call the case off: the co-worker stays",
        "requestBody": optional(json!({"reason": {"type": "string"}})), "responses": errors(json!({"200": case}))}}),
    );
    paths.insert("/api/v1/coworkers/{id}/handover".into(), json!({"post": {
        "summary": "Hand everything a co-worker owns to one colleague, or share it by rule; an account moves with its contacts, deals, contracts and tasks; one step, undoable. With dry_run, what would move and nothing changes",
        "requestBody": body(&[], rule_props),
        "responses": errors(json!({"200": {"description": "dry run: per_recipient {email: {kind: count}}, value_per_recipient, total; else operation, changed, per_kind, per_recipient, from, to"}}))}}));
    paths.insert("/api/v1/coverage/exposure".into(), json!({"get": {"summary": "Walk-out exposure: per co-worker, the accounts where they hold the only live relationship (activities in 180 days), riskiest first",
        "parameters": [{"name": "coworker", "in": "query", "schema": {"type": "string"}, "description": "One co-worker (email or id), with their exposed accounts"}],
        "responses": errors(json!({"200": {"description": "items: coworker_email, coworker_id, name, accounts, value_at_stake, open_pipeline, renewals_90_days (exposed_accounts with coworker)"}}))}}));
    paths.insert("/api/v1/accounts/{id}/coverage".into(), json!({"get": {"summary": "An account's coverage: score 0-100, the plain reason, co-workers and contacts talked to in 180 days, last senior contact (a recorded read)",
        "responses": errors(json!({"200": {"description": "score, reason, coworkers, contacts, last_senior_contact, senior_cadence_days, top_share_percent"}}))}}));
    paths.insert("/api/v1/coverage/accounts".into(), json!({"get": {"summary": "Every account you may read by coverage, weakest first (a recorded report)",
        "parameters": [{"name": "only", "in": "query", "schema": {"enum": ["single", "senior"]}}, {"name": "tier", "in": "query", "schema": {"type": "string"}},
                       {"name": "limit", "in": "query", "schema": {"type": "integer"}}, {"name": "offset", "in": "query", "schema": {"type": "integer"}}],
        "responses": errors(json!({"200": {"description": "total, items: account_id, name, tier, owner_id, annual_value, score, reason, coworkers, contacts, last_senior_contact, single_threaded, senior_overdue"}}))}}));
    paths.insert("/api/v1/renewals".into(), json!({"get": {"summary": "The renewal calendar: contracts renewing in the next days (default 90), soonest first, with the account's fiscal year end and coverage (a recorded report)",
        "parameters": [{"name": "days", "in": "query", "schema": {"type": "integer"}}],
        "responses": errors(json!({"200": {"description": "days, items: contract_id, name, value, renewal_date, end_date, account_id, account, owner_id, tier, fiscal_year_end_month, coverage"}}))}}));
    let approval = json!({"description": "The request: id, contact_id, contact, account_id, account, requested_by, requested_by_name, reason, status (pending, approved, denied), decided_by, decided_at, decision_reason, expires_at"});
    paths.insert("/api/v1/contact-approvals".into(), json!({
        "get": {"summary": "Requests to reach a guarded contact: yours (mine) and those waiting for your answer (to_decide)",
            "responses": errors(json!({"200": {"description": "mine, to_decide"}}))},
        "post": {"summary": "Ask to reach a contact whose protocol is owner_only or escalation_only (the account owner or a manager above them answers)",
            "requestBody": body(&["contact_id", "reason"], json!({"contact_id": {"type": "string", "format": "uuid"}, "reason": {"type": "string"}})),
            "responses": errors(json!({"201": approval}))}}));
    paths.insert("/api/v1/contact-approvals/{id}/approve".into(), json!({"post": {"summary": "Approve a request to reach a contact (for 30 days)",
        "requestBody": optional(json!({"reason": {"type": "string"}})), "responses": errors(json!({"200": approval}))}}));
    paths.insert("/api/v1/contact-approvals/{id}/deny".into(), json!({"post": {"summary": "Deny a request to reach a contact, saying why",
        "requestBody": body(&["reason"], json!({"reason": {"type": "string"}})), "responses": errors(json!({"200": approval}))}}));
    paths.insert("/api/v1/bulk-operations".into(), json!({"get": {"summary": "Bulk changes and handovers, newest first, with undoable (not undone, and some record still as it left it)",
        "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
        "responses": errors(json!({"200": {"description": "items: id, action, by, at, records, per_kind, from, to, undone, undoable"}}))}}));
}

/// Exports, approvals, alerts, policies and the confidentiality notice (docs/guard.md).
fn guard_paths(paths: &mut Map<String, Value>) {
    let errors = |ok: Value| {
        let mut r = json!({"401": problem_ref(), "403": problem_ref(), "404": problem_ref(), "409": problem_ref(), "422": problem_ref()});
        if let (Some(r), Some(ok)) = (r.as_object_mut(), ok.as_object()) {
            r.extend(ok.clone());
        }
        r
    };
    let body = |required: &[&str], props: Value| json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": props, "additionalProperties": false}}}});
    let export_props = json!({
        "kind": {"type": "string", "examples": ["contacts"]}, "q": {"type": "string"}, "owner": {"type": "string"},
        "filters": {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}},
        "ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
        "limit": {"type": "integer", "minimum": 1, "maximum": 2_000_000}, "format": {"enum": ["csv", "xlsx", "vcard"]},
        "columns": {"type": "array", "items": {"type": "string"}}, "reason": {"type": "string"}});
    let export_obj = json!({"description": "The export: id, status (pending, ready, denied, downloaded, expired), matched, columns, rows and sha256 once downloaded, download_url while ready"});
    paths.insert("/api/v1/exports".into(), json!({
        "post": {"summary": "Ask for an export: 201 ready (download once within 24 hours), 202 waiting for approval, 403 refused by policy",
            "requestBody": body(&["kind"], export_props), "responses": errors(json!({"201": export_obj, "202": export_obj}))},
        "get": {"summary": "Exports: yours (which=mine), waiting for your approval (which=to_approve), or all you may see (which=all)",
            "parameters": [{"name": "which", "in": "query", "schema": {"enum": ["mine", "to_approve", "all"]}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
            "responses": errors(json!({"200": {"description": "items"}}))}}));
    paths.insert("/api/v1/exports/{id}".into(), json!({"get": {"summary": "One export (its requester, their manager, admins)", "responses": errors(json!({"200": export_obj}))}}));
    paths.insert("/api/v1/exports/{id}/file".into(), json!({"get": {"summary": "The file, once, by its requester: rows read now and recorded as export.create with the file's SHA-256 (also in X-Holdfast-SHA256)",
        "responses": errors(json!({"200": {"description": "The file", "content": {"text/csv": {}, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}, "text/vcard": {}}}}))}}));
    paths.insert("/api/v1/exports/{id}/approve".into(), json!({"post": {"summary": "Approve a pending export (an admin or the requester's manager)",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"reason": {"type": "string"}}}}}},
        "responses": errors(json!({"200": export_obj}))}}));
    paths.insert("/api/v1/exports/{id}/deny".into(), json!({"post": {"summary": "Deny a pending export, saying why",
        "requestBody": body(&["reason"], json!({"reason": {"type": "string"}})), "responses": errors(json!({"200": export_obj}))}}));
    paths.insert("/api/v1/alerts".into(), json!({"get": {"summary": "Alerts, newest first (admins: all; managers: their people): id, coworker_id, coworker_email, kind, severity, state, summary, details, event_ids, created_at",
        "parameters": [{"name": "state", "in": "query", "schema": {"enum": ["open", "acknowledged", "resolved", "dismissed"]}}, {"name": "limit", "in": "query", "schema": {"type": "integer"}}],
        "responses": errors(json!({"200": {"description": "items"}}))}}));
    paths.insert("/api/v1/alerts/{id}/state".into(), json!({"post": {"summary": "Move an alert on (a dismissal needs a reason)",
        "requestBody": body(&["state"], json!({"state": {"enum": ["open", "acknowledged", "resolved", "dismissed"]}, "reason": {"type": "string"}})),
        "responses": errors(json!({"200": {"description": "The alert"}}))}}));
    paths.insert(
        "/api/v1/alert-deliveries".into(),
        json!({"get": {"summary": "The webhook delivery log (admins): attempts, last error, delivered or given up",
        "responses": errors(json!({"200": {"description": "items"}}))}}),
    );
    paths.insert("/api/v1/policies".into(), json!({"get": {"summary": "Export and reading policies per role, team and co-worker, and the limits in force for the caller",
        "responses": errors(json!({"200": {"description": "policies, mine"}}))}}));
    let patch = json!({"export_rows": {"type": "integer", "minimum": 1}, "daily_rows": {"type": "integer", "minimum": 1},
        "weekly_rows": {"type": "integer", "minimum": 1}, "denied_columns": {"type": "array", "items": {"type": "string"}},
        "over_limit": {"enum": ["allow_and_alert", "approval", "refuse"]}});
    paths.insert("/api/v1/policies/{scope}/{name}".into(), json!({
        "parameters": [{"name": "scope", "in": "path", "required": true, "schema": {"enum": ["role", "team", "coworker"]}},
                       {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}, "description": "rep or manager; a team's name; a co-worker's email or id"}],
        "put": {"summary": "Set the policy of a role, team or co-worker (admins)", "requestBody": body(&[], patch), "responses": errors(json!({"200": {"description": "policies"}}))},
        "delete": {"summary": "Remove it (the level below applies again)", "responses": errors(json!({"200": {"description": "policies"}}))}}));
    paths.insert("/api/v1/me/confidentiality".into(), json!({
        "get": {"summary": "The confidentiality notice a departing co-worker still has to acknowledge: pending, text, sha256", "responses": errors(json!({"200": {"description": "pending"}}))},
        "post": {"summary": "Acknowledge the notice with the sha256 of the text read", "requestBody": body(&["sha256"], json!({"sha256": {"type": "string"}})),
            "responses": errors(json!({"204": {"description": "Acknowledged"}}))}}));
}

pub fn document() -> Value {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for kind in ALL_KINDS {
        let (collection, item) = record_ops(kind);
        paths.insert(format!("/api/v1/{}", kind.plural), collection);
        paths.insert(format!("/api/v1/{}/{{id}}", kind.plural), item);
        paths.insert(
            format!("/api/v1/{}/bulk/assign", kind.plural),
            json!({"post": {"summary": format!("Hand {} to another co-worker in one step (all or nothing; undoable)", kind.plural),
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["ids", "owner"],
                    "properties": {"ids": {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": 1000},
                                   "owner": {"type": "string", "description": "Co-worker id or email"}}}}}},
                "responses": {"200": {"description": "operation, changed, skipped"}, "403": problem_ref(), "422": problem_ref()}}}),
        );
        paths.insert(
            format!("/api/v1/{}/export", kind.plural),
            json!({"get": {"summary": format!("Export {} (the list's filters, or ids=a,b,c; limit=N rows, all that match when left out; format=csv|xlsx|vcard; columns=a,b) through the export service: the file when within your limits, 202 when it waits for approval", kind.plural),
                "responses": {"200": {"description": "The file", "content": {"text/csv": {}}}, "202": {"description": "The export, waiting for approval"}, "403": problem_ref(), "422": problem_ref()}}}),
        );
        let id =
            json!([{"name": "id", "in": "path", "required": true, "schema": {"type": "string", "format": "uuid"}}]);
        paths.insert(
            format!("/api/v1/{}/{{id}}/restore", kind.plural),
            json!({"parameters": id, "post": {"summary": format!("Bring back a deleted {} (admins)", kind.name), "tags": [kind.plural],
                "responses": {"200": {"description": "The record", "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{}", kind.name)}}}},
                    "403": problem_ref(), "404": problem_ref()}}}),
        );
        paths.insert(
            format!("/api/v1/{}/{{id}}/history", kind.plural),
            json!({"parameters": id, "get": {"summary": format!("Who changed which field of a {}, when, from what to what (a recorded read)", kind.name), "tags": [kind.plural],
                "responses": {"200": {"description": "items: seq, at, coworker_id, action, changes; a bulk change, handover, undo or import (bulk.import) also has operation, and an import whose row matched the record (rather than created it) merged: true"}, "403": problem_ref(), "404": problem_ref()}}}),
        );
        schemas.insert(kind.name.into(), schema(kind));
    }
    schemas.insert(
        "Problem".into(),
        json!({"type": "object", "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
            "errors": {"type": "array", "items": {"type": "object", "properties": {"field": {"type": "string"}, "reason": {"type": "string"}}}}}}),
    );
    schemas.insert(
        "SystemEvent".into(),
        json!({"type": "object", "properties": {
            "seq": {"type": "integer"}, "id": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "coworker_id": {"type": ["string", "null"]}, "action": {"type": "string", "examples": ["record.read", "record.create", "list.read", "export.create"]},
            "object_type": {"type": ["string", "null"]}, "object_id": {"type": ["string", "null"]}, "row_count": {"type": "integer"},
            "client_addr": {"type": ["string", "null"]}, "user_agent": {"type": ["string", "null"]}, "details": {"type": "object"}, "hash": {"type": "string"}}}),
    );
    let simple = |summary: &str, method: &str| json!({method: {"summary": summary, "responses": {"200": {"description": "OK"}, "401": problem_ref(), "403": problem_ref()}}});
    paths.insert("/api/v1/search".into(), simple("Search accounts, contacts, leads and deals at once (q, limit per kind): items (each with kind, id, label and the record's fields), and the same grouped as accounts, contacts, leads, deals", "get"));
    paths.insert(
        "/api/v1/me/password".into(),
        json!({"post": {"summary": "Change one's own password (the current one is asked for); other sessions end, API tokens stay",
            "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object",
                "required": ["current_password", "new_password"],
                "properties": {"current_password": {"type": "string"}, "new_password": {"type": "string", "minLength": 10}}}}}},
            "responses": {"204": {"description": "Changed"}, "401": problem_ref(), "422": problem_ref(), "429": problem_ref()}}}),
    );
    paths.insert(
        "/api/v1/bulk-operations/{id}/undo".into(),
        simple("Undo a bulk change where nobody has changed the records since (once; its author or an admin)", "post"),
    );
    paths.insert("/api/v1/sessions".into(), json!({"post": {"summary": "Sign in with email and password (and, for co-workers with two-factor sign-in, code: an authenticator or recovery code); returns a session token", "security": [],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"email": {"type": "string"}, "password": {"type": "string"}, "code": {"type": "string"}}, "required": ["email", "password"]}}}},
        "responses": {"201": {"description": "Signed in"}, "401": problem_ref(), "403": problem_ref(), "429": problem_ref()}}}));
    paths.insert("/api/v1/me".into(), simple("The signed-in co-worker", "get"));
    let body = |required: &[&str], props: Value| json!({"required": true, "content": {"application/json": {"schema": {"type": "object", "required": required, "properties": props}}}});
    let coworker_props = json!({"email": {"type": "string"}, "name": {"type": "string"}, "role": {"enum": ["admin", "director", "manager", "rep"]},
        "status": {"enum": ["active", "departing", "suspended", "departed"]}, "seniority": {"enum": ["individual", "manager", "executive"]},
        "team": {"type": ["string", "null"]}, "manager": {"type": ["string", "null"]}, "title": {"type": ["string", "null"]},
        "password": {"type": "string", "minLength": 10},
        "confirm_owned_records": {"type": "boolean", "description": "With status departed: they leave owning records (without it that is refused, saying how many)"}});
    let mut directory = simple("The co-worker directory", "get");
    directory["post"] = json!({"summary": "Add a co-worker (admins)", "requestBody": body(&["email", "name", "role"], coworker_props.clone()),
        "responses": {"201": {"description": "The co-worker"}, "403": problem_ref(), "409": problem_ref(), "422": problem_ref()}});
    paths.insert("/api/v1/coworkers".into(), directory);
    let mut one_coworker = simple("One co-worker by id or email", "get");
    one_coworker["patch"] = json!({"summary": "Change a co-worker (admins); suspended or departed ends their sessions and tokens at once; a password set here must be replaced at their next sign-in",
        "requestBody": body(&[], coworker_props), "responses": {"200": {"description": "The co-worker"}, "403": problem_ref(), "404": problem_ref(), "422": problem_ref()}});
    paths.insert("/api/v1/coworkers/{id}".into(), one_coworker);
    paths.insert(
        "/api/v1/coworkers/{id}/tokens/{token}".into(),
        json!({"delete": {"summary": "Revoke one token or session", "responses": {"204": {"description": "Revoked"}, "403": problem_ref(), "404": problem_ref()}}}),
    );
    paths.insert(
        "/api/v1/sessions/current".into(),
        json!({"delete": {"summary": "Sign out: the session token ends at once", "responses": {"204": {"description": "Signed out"}, "401": problem_ref()}}}),
    );
    paths.insert(
        "/api/v1/openapi.json".into(),
        json!({"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}}),
    );
    let event_params: Vec<Value> = ["action", "object_type", "object_id", "since", "until", "cursor", "limit"]
        .iter()
        .map(|n| json!({"name": n, "in": "query", "schema": {"type": "string"}}))
        .collect();
    paths.insert("/api/v1/coworkers/{id}/events".into(), json!({"get": {"summary": "A co-worker's system events, newest first",
        "parameters": event_params,
        "responses": {"200": {"description": "Events", "content": {"application/json": {"schema": {"type": "object", "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/SystemEvent"}}, "next_cursor": {"type": ["string", "null"]}}}}}}, "401": problem_ref(), "403": problem_ref()}}}));
    let mut tokens = simple("A co-worker's API tokens and sessions", "get");
    tokens["post"] = json!({"summary": "Create an API token (shown once; only its hash is kept); kind scim makes a token for the identity provider that opens /scim/v2 only (admins, for an admin)",
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"},
            "kind": {"type": "string", "enum": ["api", "scim"], "default": "api"}}}}}},
        "responses": {"201": {"description": "The token, with its secret"}, "403": problem_ref()}});
    paths.insert("/api/v1/coworkers/{id}/tokens".into(), tokens);
    paths.insert("/api/v1/events".into(), simple("The whole system event log (admins)", "get"));
    let mut settings = simple(
        "Settings: read_policy (all, team, own), export_policy (everyone, managers, admins), bulk_read_limit (rows a co-worker may read in 24 hours before reads count as exports)",
        "get",
    );
    let change = json!({"summary": "Change any of the settings (admins), all or nothing; applies on the next request of every server",
        "requestBody": body(&[], json!({"read_policy": {"enum": ["all", "team", "own"]}, "export_policy": {"enum": ["everyone", "managers", "admins"]},
            "bulk_read_limit": {"type": "integer", "minimum": 50, "maximum": 10_000_000},
            "alert_webhook_url": {"type": "string", "description": "http(s) URL alerts are posted to (Standard Webhooks); empty stops them"},
            "alert_webhook_secret": {"type": "string", "description": "whsec_<base64> secret the posts are signed with"},
            "alert_smtp_url": {"type": "string", "description": "smtp:// or smtps:// URL alerts are mailed through (to admins and the co-worker's managers); empty stops them"},
            "alert_email_from": {"type": "string", "description": "From address of alert emails"},
            "introduction_template": {"type": "string", "description": "The introduction email drafted for a departure's key contacts ({contact}, {account}, {new_owner}, {leaver}); empty for the default"},
            "senior_cadence": {"type": "string", "description": "How often someone senior should be in touch, by tier: strategic=60, enterprise=90, mid_market=120, smb=180 (days, 7-365)"},
            "two_factor_for_admins": {"type": "boolean"},
            "canary_email_domain": {"type": "string", "description": "A domain the company controls; every export of contacts or leads then carries canaries on it (empty turns them off)"},
            "canary_phone_prefix": {"type": "string", "description": "The start of a phone range the company controls (+1 555 01); canaries get numbers in it"},
            "company_email_domains": {"type": "string", "description": "The company's mail domains, comma-separated (empty: the co-workers' domains); mail to any other is outside"},
            "mail_alert_threshold": {"type": "integer", "minimum": 1, "description": "Customers in one outgoing message that raise an alert (default 20)"}})),
        "responses": {"200": {"description": "The settings"}, "403": problem_ref(), "422": problem_ref()}});
    settings["put"] = change.clone();
    settings["patch"] = change;
    paths.insert("/api/v1/settings".into(), settings);
    paths.insert(
        "/api/v1/coworkers/{id}/two-factor/reset".into(),
        json!({"post": {"summary": "Reset a co-worker's two-factor sign-in (another admin; a lost device): their authenticator and recovery codes are removed and their sessions end",
            "responses": {"200": {"description": "The co-worker"}, "403": problem_ref(), "404": problem_ref(), "409": problem_ref()}}}),
    );
    paths.insert(
        "/api/v1/settings/single-sign-on".into(),
        json!({
            "put": {"summary": "Turn single sign-on with an OpenID Connect provider on or change it (admins): issuer, client_id, client_secret (kept when left out), name (the button's), passwords (false: only the break_glass admin signs in with one), break_glass (an admin's email), session_hours (1-720)",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "properties": {
                    "issuer": {"type": "string"}, "client_id": {"type": "string"}, "client_secret": {"type": "string"},
                    "name": {"type": "string"}, "passwords": {"type": "boolean"}, "break_glass": {"type": "string"},
                    "session_hours": {"type": "integer"}}}}}},
                "responses": {"200": {"description": "The configuration, without its secret"}, "403": problem_ref(), "422": problem_ref()}},
            "delete": {"summary": "Turn single sign-on off (admins); passwords work again for everyone",
                "responses": {"204": {"description": "Off"}, "403": problem_ref()}}
        }),
    );
    paths.insert("/api/v1/imports/contacts".into(), json!({"post": {"summary": "Import contacts from CSV (HubSpot, Salesforce or Holdfast columns); ?dry_run=true reports without writing",
        "requestBody": {"content": {"text/csv": {"schema": {"type": "string"}}}}, "responses": {"200": {"description": "Import report"}, "422": problem_ref()}}}));
    guard_paths(&mut paths);
    departure_paths(&mut paths);
    lead_paths(&mut paths);
    leak_paths(&mut paths);
    declare_path_parameters(&mut paths);
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Holdfast API", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Every call is recorded as a system event. Authenticate with 'Authorization: Bearer <token>'."},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use holdfast_core::record::ALL_KINDS;

    /// Every operation the router answers is in the document, and the document promises none the
    /// router does not answer: `{kind}` stands for each kind of record.
    #[test]
    fn the_document_has_every_route_and_no_other() {
        let mut served = BTreeSet::new();
        for o in crate::api_operations() {
            let path = format!("/api/v1{}", o.path);
            if path.contains("{kind}") {
                for k in ALL_KINDS {
                    served.insert((o.method.to_lowercase(), path.replace("{kind}", k.plural)));
                }
            } else {
                served.insert((o.method.to_lowercase(), path));
            }
        }
        let doc = super::document();
        let mut documented = BTreeSet::new();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for method in item.as_object().expect("path item").keys() {
                if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        let missing: Vec<_> = served.difference(&documented).collect();
        let extra: Vec<_> = documented.difference(&served).collect();
        assert!(missing.is_empty() && extra.is_empty(), "not documented: {missing:?}\nnot served: {extra:?}");
    }

    #[test]
    fn every_path_parameter_is_declared() {
        let doc = super::document();
        for (path, item) in doc["paths"].as_object().expect("paths") {
            for name in path.split('{').skip(1).filter_map(|p| p.split('}').next()) {
                let declared = item["parameters"]
                    .as_array()
                    .is_some_and(|ps| ps.iter().any(|p| p["name"] == name && p["in"] == "path"));
                assert!(declared, "{path} does not declare {{{name}}}");
            }
        }
    }
}
