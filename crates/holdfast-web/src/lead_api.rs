//! Leads over HTTP: the API's lead forms, figures, rules, duplicates and queue, and the public
//! web-to-lead form (`/forms/{id}`), which needs no sign-in and can only leave a lead.

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use holdfast_core::CoreError;
use holdfast_core::coworker::Actor;
use holdfast_core::lead::LeadRules;
use holdfast_core::record::LEADS;
use holdfast_core::service::{CAMPAIGN_FIELDS, Door, HONEYPOT_FIELD, LeadMetrics, NewLeadForm, Submission, Submitted};
use holdfast_core::storage::LeadForm;
use holdfast_core::time::format_timestamp;
use serde_json::{Value as Json, json};

use crate::api::parse_id;
use crate::extract::{Caller, JsonBody, RawBody, client_of, public_base};
use crate::problem::ApiError;
use crate::state::{AppState, blocking};

type J = axum::Json<Json>;

/// Public form posts larger than this are refused with 413.
pub const FORM_BODY_LIMIT: usize = 16 * 1024;

/// `POST /api/v1/leads`: captured like every lead; a repeat of an existing lead's email answers
/// 200 with that lead (updated) and `"repeat": true`, a new lead 201.
pub(crate) async fn create_lead(s: AppState, actor: Actor, body: Json) -> Result<Response, ApiError> {
    let captured = blocking(move || s.capture_lead(&actor, &body, Door::Api)).await?;
    let mut out = captured.lead.to_json(&LEADS);
    out["repeat"] = json!(captured.repeat);
    out["routed"] = match &captured.routed {
        Some((to, why)) => json!({"to": to, "why": why}),
        None => Json::Null,
    };
    let status = if captured.repeat { StatusCode::OK } else { StatusCode::CREATED };
    let location = format!("/api/v1/leads/{}", captured.lead.id);
    Ok((status, [(header::LOCATION, location)], axum::Json(out)).into_response())
}

pub(crate) fn form_json(form: &LeadForm, base: &str) -> Json {
    json!({
        "id": form.id,
        "name": form.name,
        "fields": form.fields,
        "redirect_url": form.redirect_url,
        "post_url": format!("{base}/forms/{}", form.id),
        "page_url": format!("{base}/forms/{}", form.id),
        "snippet": snippet(form, base),
        "archived": form.archived_at.is_some(),
        "submissions": form.submissions,
        "last_submission_at": form.last_submission_at.map(format_timestamp),
        "created_at": format_timestamp(form.created_at),
    })
}

/// The HTML a company pastes on its website: a plain form (no script) posting here, with the
/// honeypot hidden from people.
pub fn snippet(form: &LeadForm, base: &str) -> String {
    let mut html = format!("<form action=\"{base}/forms/{}\" method=\"post\">\n", form.id);
    for f in &form.fields {
        let (label, kind) = field_label(f);
        let required = if matches!(f.as_str(), "first_name" | "email") { " required" } else { "" };
        html.push_str(&format!("  <label>{label} <input name=\"{f}\" type=\"{kind}\"{required}></label>\n"));
    }
    for c in CAMPAIGN_FIELDS {
        html.push_str(&format!("  <input type=\"hidden\" name=\"{c}\" value=\"\">\n"));
    }
    html.push_str(&format!(
        "  <div style=\"position:absolute;left:-9999px\" aria-hidden=\"true\"><label>Leave this empty \
         <input name=\"{HONEYPOT_FIELD}\" tabindex=\"-1\" autocomplete=\"off\"></label></div>\n"
    ));
    html.push_str("  <button type=\"submit\">Send</button>\n</form>");
    html
}

pub fn field_label(field: &str) -> (&'static str, &'static str) {
    match field {
        "first_name" => ("First name", "text"),
        "last_name" => ("Last name", "text"),
        "email" => ("Work email", "email"),
        "phone" => ("Phone", "tel"),
        "company" => ("Company", "text"),
        "title" => ("Job title", "text"),
        "industry" => ("Industry", "text"),
        "company_size" => ("Employees", "number"),
        "country" => ("Country", "text"),
        _ => ("Other", "text"),
    }
}

/// `POST /api/v1/lead-forms {"name", "fields": [...], "redirect_url"?}` (admins): 201 with the
/// form's `id`, `post_url` and the HTML `snippet` to paste.
pub async fn create_form(
    State(s): State<AppState>,
    Caller(actor): Caller,
    parts: Parts,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, J), ApiError> {
    let name = body.get("name").and_then(Json::as_str).unwrap_or_default().to_string();
    let fields = match body.get("fields") {
        None | Some(Json::Null) => Vec::new(),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| {
                i.as_str().map(String::from).ok_or_else(|| ApiError::field("fields", "must be a list of field names"))
            })
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(ApiError::field("fields", "must be a list of field names")),
    };
    if let Some(k) =
        body.as_object().and_then(|o| o.keys().find(|k| !matches!(k.as_str(), "name" | "fields" | "redirect_url")))
    {
        return Err(ApiError::field(k, "is not a lead form setting; use name, fields, redirect_url"));
    }
    let redirect_url = body.get("redirect_url").and_then(Json::as_str).map(String::from);
    let form = blocking(move || s.create_lead_form(&actor, NewLeadForm { name, fields, redirect_url })).await?;
    Ok((StatusCode::CREATED, axum::Json(form_json(&form, &public_base(&parts)))))
}

/// `GET /api/v1/lead-forms` (admins).
pub async fn forms(State(s): State<AppState>, Caller(actor): Caller, parts: Parts) -> Result<J, ApiError> {
    let forms = blocking(move || s.lead_forms(&actor)).await?;
    let base = public_base(&parts);
    Ok(axum::Json(json!({"items": forms.iter().map(|f| form_json(f, &base)).collect::<Vec<_>>()})))
}

/// `POST /api/v1/lead-forms/{id}/archive {"archived": true|false}` (admins).
pub async fn archive_form(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    parts: Parts,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let id = parse_id("lead form", &id)?;
    let req: Json = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson(e.to_string()))?
    };
    let archived = req
        .get("archived")
        .map(|v| v.as_bool().ok_or_else(|| ApiError::field("archived", "is true or false")))
        .transpose()?
        .unwrap_or(true);
    let form = blocking(move || s.archive_lead_form(&actor, id, archived)).await?;
    Ok(axum::Json(form_json(&form, &public_base(&parts))))
}

pub(crate) fn metrics_json(m: &LeadMetrics) -> Json {
    serde_json::to_value(m).unwrap_or(Json::Null)
}

/// `GET /api/v1/leads/metrics[?days=30]`: time to first touch (`median_seconds_to_first_touch`,
/// `p90_seconds_to_first_touch`), `within_sla_share`, `qualification_rate`, by rep and source.
pub async fn metrics(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<J, ApiError> {
    let mut days = 30;
    for (k, v) in params {
        match k.as_str() {
            "days" => days = v.trim().parse().map_err(|_| ApiError::field("days", "is a whole number of days"))?,
            other => return Err(ApiError::field(other, "is not an option here; use days")),
        }
    }
    let m = blocking(move || s.lead_metrics(&actor, days)).await?;
    Ok(axum::Json(metrics_json(&m)))
}

/// `GET /api/v1/settings/leads`: scoring, routing and the clock.
pub async fn rules(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let rules = blocking(move || {
        if !actor.leads() {
            return Err(CoreError::forbidden("only managers and admins see the lead rules"));
        }
        s.lead_rules()
    })
    .await?;
    Ok(axum::Json(serde_json::to_value(rules).unwrap_or(Json::Null)))
}

/// `PUT /api/v1/settings/leads` (admins): the whole rule document; every rule checked first.
pub async fn set_rules(
    State(s): State<AppState>,
    Caller(actor): Caller,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let rules: LeadRules = serde_json::from_value(body).map_err(|e| ApiError::field("lead_rules", e.to_string()))?;
    let rules = blocking(move || s.set_lead_rules(&actor, rules)).await?;
    Ok(axum::Json(serde_json::to_value(rules).unwrap_or(Json::Null)))
}

/// `GET /api/v1/leads/duplicates` (managers, admins): pairs marked as probably the same person.
pub async fn duplicates(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let pairs = blocking(move || s.duplicate_leads(&actor)).await?;
    let items: Vec<Json> =
        pairs.iter().map(|(a, b)| json!({"lead": a.to_json(&LEADS), "duplicate_of": b.to_json(&LEADS)})).collect();
    Ok(axum::Json(json!({"items": items})))
}

/// `POST /api/v1/leads/{id}/merge {"drop": "…"}`: the other lead is merged into this one.
pub async fn merge(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
    JsonBody(body): JsonBody,
) -> Result<J, ApiError> {
    let keep = parse_id("lead", &id)?;
    let drop = parse_id(
        "lead",
        body.get("drop")
            .and_then(Json::as_str)
            .ok_or_else(|| ApiError::field("drop", "is required: the id of the lead to merge in"))?,
    )?;
    let lead = blocking(move || s.merge_leads(&actor, keep, drop)).await?;
    Ok(axum::Json(lead.to_json(&LEADS)))
}

/// `POST /api/v1/leads/{id}/not-a-duplicate`: the two are different people.
pub async fn not_a_duplicate(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Path(id): Path<String>,
) -> Result<J, ApiError> {
    let id = parse_id("lead", &id)?;
    let lead = blocking(move || s.not_a_duplicate(&actor, id)).await?;
    Ok(axum::Json(lead.to_json(&LEADS)))
}

/// `GET /api/v1/leads/reengagement`: leavers' leads, re-routed and not yet touched.
pub async fn reengagement(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let leads = blocking(move || s.reengagement_queue(&actor)).await?;
    Ok(axum::Json(json!({"items": leads.iter().map(|l| l.to_json(&LEADS)).collect::<Vec<_>>()})))
}

/// `POST /api/v1/imports/leads[?dry_run=true]` with a CSV body.
pub async fn import(
    State(s): State<AppState>,
    Caller(actor): Caller,
    Query(params): Query<Vec<(String, String)>>,
    RawBody(body): RawBody,
) -> Result<J, ApiError> {
    let options = crate::api::import_options(params)?;
    let report = blocking(move || s.import_leads(&actor, std::io::Cursor::new(body.to_vec()), &options)).await?;
    Ok(axum::Json(serde_json::to_value(report).map_err(|_| ApiError::Internal)?))
}

/// `GET /api/v1/notifications`: the caller's, newest first, with the unread count.
pub async fn notifications(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let (items, unread) = blocking(move || s.notifications(&actor, 50)).await?;
    let items: Vec<Json> = items
        .iter()
        .map(|n| {
            json!({"id": n.id, "kind": n.kind, "object_type": n.object_type, "object_id": n.object_id,
                   "summary": n.summary, "created_at": format_timestamp(n.created_at),
                   "read": n.read_at.is_some(), "email": n.email_state})
        })
        .collect();
    Ok(axum::Json(json!({"items": items, "unread": unread})))
}

/// `POST /api/v1/notifications/read`: marks them all read.
pub async fn read_notifications(State(s): State<AppState>, Caller(actor): Caller) -> Result<J, ApiError> {
    let n = blocking(move || s.mark_notifications_read(&actor)).await?;
    Ok(axum::Json(json!({"marked_read": n})))
}

/// The public form's routes: the hosted page, the post, the thank-you page.
pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/forms/{id}", get(form_page).post(submit).options(preflight))
        .route("/forms/{id}/thanks", get(thanks))
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
}

fn cors(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    resp
}

async fn preflight() -> Response {
    let mut resp = StatusCode::NO_CONTENT.into_response();
    let h = resp.headers_mut();
    h.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    h.insert("access-control-allow-methods", HeaderValue::from_static("POST"));
    h.insert("access-control-allow-headers", HeaderValue::from_static("content-type"));
    h.insert("access-control-max-age", HeaderValue::from_static("86400"));
    resp
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The public pages' policy: no script at all, our stylesheet, any site may frame the form (it
/// is meant to be embedded), and a post may go on to the company's own thank-you page.
const PUBLIC_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' https: http:; \
     base-uri 'none'; frame-ancestors *";

fn public_page(title: &str, body: &str) -> ([(header::HeaderName, HeaderValue); 1], Html<String>) {
    let page = Html(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><title>{}</title><link rel=\"stylesheet\" \
         href=\"/static/app.css\"></head><body class=\"public-form\"><main>{body}</main></body></html>",
        escape(title)
    ));
    ([(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(PUBLIC_CSP))], page)
}

/// A refusal as a person at a browser reads it (a script posting JSON gets the problem document).
fn public_refusal(e: ApiError) -> Response {
    let (status, title, text) = match &e {
        ApiError::Core(CoreError::TooManyAttempts(_)) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Please wait a minute",
            "We received several posts from your network in a short time. Please try again in a few minutes.",
        ),
        ApiError::Core(CoreError::NotFound { .. }) => (
            StatusCode::NOT_FOUND,
            "This form is not taking posts",
            "The link may be old. Please contact the company another way.",
        ),
        ApiError::TooLarge(_) => {
            (StatusCode::PAYLOAD_TOO_LARGE, "Too much text", "Please shorten what you wrote and send it again.")
        }
        _ => return cors(e.into_response()),
    };
    let body = format!("<section class=\"card narrow\"><h1>{}</h1><p>{}</p></section>", escape(title), escape(text));
    (status, public_page(title, &body)).into_response()
}

/// `GET /forms/{id}`: the form as Holdfast hosts it (a link to share, or to embed).
async fn form_page(State(s): State<AppState>, Path(id): Path<String>) -> Response {
    let form = match parse_id("lead form", &id) {
        Ok(id) => blocking(move || s.public_lead_form(id)).await,
        Err(e) => Err(e),
    };
    match form {
        Ok(form) => render_form(&form, &BTreeMap::new(), &[], StatusCode::OK),
        Err(e) => public_refusal(e),
    }
}

fn render_form(
    form: &LeadForm,
    values: &BTreeMap<String, String>,
    errors: &[(String, String)],
    status: StatusCode,
) -> Response {
    let mut body = format!("<section class=\"card narrow\"><h1>{}</h1>", escape(&form.name));
    if !errors.is_empty() {
        body.push_str("<div class=\"error\" role=\"alert\"><p>Please check:</p><ul>");
        for (field, why) in errors {
            body.push_str(&format!("<li>{}: {}</li>", escape(field_label(field).0), escape(why)));
        }
        body.push_str("</ul></div>");
    }
    body.push_str(&format!("<form method=\"post\" action=\"/forms/{}\">", form.id));
    for f in &form.fields {
        let (label, kind) = field_label(f);
        let required = if matches!(f.as_str(), "first_name" | "email") { " required" } else { "" };
        let value = values.get(f).map(|v| escape(v)).unwrap_or_default();
        body.push_str(&format!(
            "<label>{label} <input name=\"{f}\" type=\"{kind}\" value=\"{value}\" maxlength=\"500\"{required}></label>"
        ));
    }
    for c in CAMPAIGN_FIELDS {
        let value = values.get(*c).map(|v| escape(v)).unwrap_or_default();
        body.push_str(&format!("<input type=\"hidden\" name=\"{c}\" value=\"{value}\">"));
    }
    body.push_str(&format!(
        "<div class=\"honeypot\" aria-hidden=\"true\"><label>Leave this empty <input name=\"{HONEYPOT_FIELD}\" \
         tabindex=\"-1\" autocomplete=\"off\"></label></div><button type=\"submit\">Send</button></form></section>"
    ));
    (status, public_page(&form.name, &body)).into_response()
}

async fn thanks() -> impl IntoResponse {
    public_page(
        "Thank you",
        "<section class=\"card narrow\"><h1>Thank you</h1><p>We have your details and will be in touch shortly.</p></section>",
    )
}

/// `POST /forms/{id}`: form-encoded (answered 303 to the thank-you page) or JSON (answered 201),
/// no sign-in. Bad input is answered with its fields and changes nothing.
async fn submit(State(s): State<AppState>, Path(id): Path<String>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let (client_addr, user_agent) = client_of(&parts);
    let json_post = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.to_lowercase().starts_with("application/json"));
    let answer = |e: ApiError| if json_post { cors(e.into_response()) } else { public_refusal(e) };
    let Ok(form_id) = parse_id("lead form", &id) else {
        return answer(ApiError::Core(CoreError::not_found("lead form", id)));
    };
    let req = Request::from_parts(parts, body);
    let values: BTreeMap<String, String> = if json_post {
        let JsonBody(j) = match JsonBody::from_request(req, &()).await {
            Ok(j) => j,
            Err(e) => return answer(e),
        };
        let Some(obj) = j.as_object() else {
            return answer(ApiError::BadJson("send a JSON object of field values".into()));
        };
        let mut values = BTreeMap::new();
        for (k, v) in obj {
            let text = match v {
                Json::String(t) => t.clone(),
                Json::Number(n) => n.to_string(),
                Json::Null => continue,
                _ => return answer(ApiError::field(k, "must be text")),
            };
            values.insert(k.clone(), text);
        }
        values
    } else {
        match axum::extract::Form::<Vec<(String, String)>>::from_request(req, &()).await {
            Ok(axum::extract::Form(pairs)) => pairs.into_iter().collect(),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return answer(ApiError::TooLarge(FORM_BODY_LIMIT));
            }
            Err(e) => return answer(ApiError::BadRequest(e.body_text())),
        }
    };
    let post = Submission { values: values.clone(), client_addr, user_agent };
    let svc = s.clone();
    let done = blocking(move || svc.submit_lead_form(form_id, post)).await;
    match (done, json_post) {
        (Ok(Submitted::Received { .. }), true) => {
            cors((StatusCode::CREATED, axum::Json(json!({"received": true}))).into_response())
        }
        (Ok(Submitted::Received { redirect_url }), false) => {
            Redirect::to(&redirect_url.unwrap_or_else(|| format!("/forms/{form_id}/thanks"))).into_response()
        }
        (Err(ApiError::Core(CoreError::Invalid(errors))), false) => {
            let form = blocking(move || s.public_lead_form(form_id)).await;
            match form {
                Ok(form) => {
                    let errs: Vec<(String, String)> =
                        errors.iter().map(|e| (e.field.clone(), e.reason.clone())).collect();
                    render_form(&form, &values, &errs, StatusCode::UNPROCESSABLE_ENTITY)
                }
                Err(e) => public_refusal(e),
            }
        }
        (Err(e), _) => answer(e),
    }
}
