//! Lead pages: the lead (its score and why, its clock, its timeline, its probable duplicates,
//! logging the first call, qualifying, converting), the speed-to-lead figures, the duplicates
//! review, the re-engagement queue, the lead forms an admin makes, and the notifications inbox.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use holdfast_core::record::{self, LEADS, Record};
use holdfast_core::service::{ConversionDeal, LeadMetrics, NewLeadForm};
use holdfast_core::time::format_timestamp;
use serde_json::json;
use uuid::Uuid;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Fact, Me, go, render, short_time, show};
use crate::extract::public_base;
use crate::state::AppState;

struct TimelineRow {
    when: String,
    what: String,
    by: String,
}

struct LeadRow {
    id: Uuid,
    name: String,
    company: String,
    status: String,
    score: String,
    owner: String,
    clock: String,
    late: bool,
}

#[derive(Template)]
#[template(path = "lead.html")]
struct LeadPage {
    me: Option<Me>,
    csrf: String,
    id: Uuid,
    name: String,
    status: String,
    score: String,
    reasons: Vec<String>,
    clock: String,
    late: bool,
    facts: Vec<Fact>,
    timeline: Vec<TimelineRow>,
    duplicates: Vec<LeadRow>,
    activities: Vec<TimelineRow>,
    contact: Option<(Uuid, String)>,
    account: Option<(Uuid, String)>,
    may_edit: bool,
    open: bool,
    converted: bool,
    error: Option<String>,
    log_action: String,
    /// The shared log form's "with whom" (a lead has no contacts to pick).
    log_with: Vec<super::view::Choice>,
    reviewer: bool,
}

fn clock_of(lead: &Record, now: i64) -> (String, bool) {
    let routed = lead.get("routed_at").as_int();
    match (lead.get("first_touch_at").as_int(), routed) {
        (Some(t), Some(r)) => (format!("First touch {} after it came in", duration((t - r).max(0) / 1_000_000)), false),
        (Some(_), None) => ("Touched".into(), false),
        (None, _) if !matches!(lead.get("status").as_text(), Some("new" | "working")) => (String::new(), false),
        (None, Some(_)) => match lead.get("sla_due_at").as_int() {
            Some(due) if due < now => (format!("Untouched, {} past due", duration((now - due) / 1_000_000)), true),
            Some(due) if due - now <= 3_600_000_000 => {
                (format!("Answer within {}", duration((due - now) / 1_000_000)), false)
            }
            Some(due) => (format!("Answer by {} (business hours)", short_time(due)), false),
            None => (String::new(), false),
        },
        (None, None) => (String::new(), false),
    }
}

/// "4 min", "2 h 5 min", "3 days".
pub(crate) fn duration(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 => format!("{} h {} min", s / 3600, (s % 3600) / 60),
        s => format!("{} days", s / 86_400),
    }
}

fn lead_row(l: &Record, owners: &HashMap<Uuid, String>, now: i64) -> LeadRow {
    let (clock, late) = clock_of(l, now);
    LeadRow {
        id: l.id,
        name: l.label(&LEADS),
        company: show(&LEADS, l, "company"),
        status: show(&LEADS, l, "status"),
        score: show(&LEADS, l, "score"),
        owner: l.owner(&LEADS).and_then(|o| owners.get(&o).cloned()).unwrap_or_else(|| "nobody".into()),
        clock,
        late,
    }
}

/// `GET /leads/{id}`.
pub async fn lead(
    State(s): State<AppState>,
    user: PageUser,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let id = user.id(&id, "lead")?;
    let (view, owners, contact, account) = user
        .call(&s, move |s, actor| {
            let view = s.lead_view(actor, id)?;
            let contact = match view.lead.get_ref("contact_id") {
                Some(c) => s.labels(actor, &record::CONTACTS, &[c])?.remove(&c).map(|n| (c, n)),
                None => None,
            };
            let account = match view.lead.get_ref("account_id") {
                Some(a) => s.labels(actor, &record::ACCOUNTS, &[a])?.remove(&a).map(|n| (a, n)),
                None => None,
            };
            Ok((view, s.coworker_names()?, contact, account))
        })
        .await?;
    let now = s.now();
    let l = &view.lead;
    let (clock, late) = clock_of(l, now);
    let mut facts: Vec<Fact> = [
        ("Company", "company"),
        ("Title", "title"),
        ("Email", "email"),
        ("Phone", "phone"),
        ("Industry", "industry"),
        ("Employees", "company_size"),
        ("Country", "country"),
        ("Source", "source"),
        ("Campaign", "utm_campaign"),
        ("Came in", "submissions"),
        ("Why disqualified", "disqualified_reason"),
    ]
    .iter()
    .map(|(label, f)| Fact { label, value: show(&LEADS, l, f) })
    .filter(|f| !f.value.is_empty())
    .collect();
    let name_of = |c: Option<Uuid>| c.and_then(|c| owners.get(&c).cloned());
    facts.insert(0, Fact { label: "Owner", value: name_of(l.owner(&LEADS)).unwrap_or_else(|| "nobody yet".into()) });
    if let Some(prev) = name_of(l.get_ref("previous_owner_id")) {
        facts.push(Fact { label: "Worked before by", value: format!("{prev} (who left)") });
    }
    let status = l.get("status").as_text().unwrap_or("new").to_string();
    let page = LeadPage {
        me: user.me(),
        csrf: user.csrf(),
        id: l.id,
        name: l.label(&LEADS),
        score: show(&LEADS, l, "score"),
        reasons: l.get("score_reasons").as_text().map(|r| r.lines().map(String::from).collect()).unwrap_or_default(),
        clock,
        late,
        facts,
        timeline: view
            .timeline
            .iter()
            .map(|t| TimelineRow {
                when: short_time(t.at),
                what: t.what.clone(),
                by: t.by.clone().unwrap_or_else(|| "Holdfast".into()),
            })
            .collect(),
        duplicates: view.duplicates.iter().map(|d| lead_row(d, &owners, now)).collect(),
        activities: view
            .activities
            .iter()
            .map(|a| TimelineRow {
                when: show(&record::ACTIVITIES, a, "occurred_at"),
                what: format!("{}: {}", show(&record::ACTIVITIES, a, "type"), show(&record::ACTIVITIES, a, "summary")),
                by: name_of(a.owner(&record::ACTIVITIES)).unwrap_or_default(),
            })
            .collect(),
        contact,
        account,
        may_edit: user.may_edit(l.owner(&LEADS), &[]),
        open: matches!(status.as_str(), "new" | "working"),
        converted: status == "converted",
        status: status.replace('_', " "),
        error: q.get("error").map(|e| match e.as_str() {
            "summary" => "Write what was said before logging it.".to_string(),
            "reason" => "Say why the lead is disqualified.".to_string(),
            _ => "That did not work; try again.".to_string(),
        }),
        log_action: format!("/leads/{}/activities", l.id),
        log_with: Vec::new(),
        reviewer: user.actor.leads(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /leads/{id}/activities`: logs a call or email (the lead's touch) from its page.
pub async fn log_touch(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let lead = form.user.id(&id, "lead")?;
    let back = format!("/leads/{lead}");
    let Some(summary) = form.get("summary").filter(|v| !v.trim().is_empty()).map(String::from) else {
        return Ok(go(&format!("{back}?error=summary")));
    };
    let mut input = json!({
        "type": form.get("type").unwrap_or("call"),
        "summary": summary,
        "occurred_at": format_timestamp(s.now()),
        "lead_id": lead.to_string(),
    });
    form.user
        .call(&s, move |s, actor| {
            let l = s.get_record(actor, &LEADS, lead)?;
            if let Some(a) = l.get_ref("account_id") {
                input["account_id"] = json!(a.to_string());
            }
            s.create_record(actor, &record::ACTIVITIES, &input)
        })
        .await?;
    Ok(go(&back))
}

/// `POST /leads/{id}/status`: working, qualified, or disqualified with a reason.
pub async fn set_status(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let lead = form.user.id(&id, "lead")?;
    let back = format!("/leads/{lead}");
    let status = form.get("status").unwrap_or("working").to_string();
    let reason = form.get("reason").map(str::trim).filter(|r| !r.is_empty()).map(String::from);
    if status == "disqualified" && reason.is_none() {
        return Ok(go(&format!("{back}?error=reason")));
    }
    let mut input = json!({"status": status});
    if let Some(r) = reason {
        input["disqualified_reason"] = json!(r);
    }
    form.user.call(&s, move |s, actor| s.update_record(actor, &LEADS, lead, &input)).await?;
    Ok(go(&back))
}

/// `POST /leads/{id}/convert`: contact (reused when it exists) + account (+ deal when ticked).
pub async fn convert(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "lead")?;
    let deal = (form.get("deal") == Some("on")).then(|| ConversionDeal {
        name: form.get("deal_name").map(String::from),
        amount: form.get("deal_amount").filter(|a| !a.trim().is_empty()).map(|a| json!(a)),
    });
    let done = form.user.call(&s, move |s, actor| s.convert_lead(actor, id, None, deal)).await?;
    Ok(go(&format!("/contacts/{}", done.contact_id)))
}

#[derive(Template)]
#[template(path = "lead_metrics.html")]
struct MetricsPage {
    me: Option<Me>,
    m: LeadMetrics,
    median: String,
    p90: String,
    within: String,
    qualified: String,
    funnel: String,
    reps: Vec<(String, usize, String, String, String)>,
    sources: Vec<(String, usize, String, String, String)>,
}

fn share(v: Option<f64>) -> String {
    v.map(|s| format!("{:.0}%", s * 100.0)).unwrap_or_else(|| "–".into())
}

fn secs(v: Option<i64>) -> String {
    v.map(duration).unwrap_or_else(|| "–".into())
}

/// The funnel as horizontal bars (leads per status).
fn funnel_chart(funnel: &[(String, usize)]) -> String {
    let max = funnel.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1) as f64;
    let row = 22.0;
    let mut svg = format!(
        "<svg class=\"pipeline\" viewBox=\"0 0 400 {}\" role=\"img\" aria-label=\"Leads by status\">",
        row * funnel.len() as f64
    );
    for (i, (status, n)) in funnel.iter().enumerate() {
        let y = i as f64 * row;
        let w = (*n as f64 / max) * 220.0;
        svg.push_str(&format!(
            "<text x=\"0\" y=\"{:.1}\">{status}</text><rect x=\"100\" y=\"{:.1}\" width=\"{w:.1}\" height=\"14\"></rect><text x=\"{:.1}\" y=\"{:.1}\">{n}</text>",
            y + 15.0,
            y + 3.0,
            106.0 + w,
            y + 15.0
        ));
    }
    svg.push_str("</svg>");
    svg
}

/// `GET /leads/metrics[?days=30]`: speed to lead.
pub async fn metrics(
    State(s): State<AppState>,
    user: PageUser,
    Query(q): Query<HashMap<String, String>>,
) -> PageResult {
    let days = q.get("days").and_then(|d| d.parse().ok()).unwrap_or(30);
    let m = user.call(&s, move |s, actor| s.lead_metrics(actor, days)).await?;
    let row = |r: &holdfast_core::service::MetricsRow| {
        (
            r.label.clone(),
            r.leads,
            secs(r.median_seconds_to_first_touch),
            share(r.within_sla_share),
            share(r.qualification_rate),
        )
    };
    let page = MetricsPage {
        me: user.me(),
        median: secs(m.median_seconds_to_first_touch),
        p90: secs(m.p90_seconds_to_first_touch),
        within: share(m.within_sla_share),
        qualified: share(m.qualification_rate),
        funnel: funnel_chart(&m.funnel),
        reps: m.by_rep.iter().map(row).collect(),
        sources: m.by_source.iter().map(row).collect(),
        m,
    };
    Ok(render(&page, StatusCode::OK))
}

#[derive(Template)]
#[template(path = "lead_queue.html")]
struct QueuePage {
    me: Option<Me>,
    csrf: String,
    heading: &'static str,
    intro: &'static str,
    rows: Vec<LeadRow>,
    pairs: Vec<(LeadRow, LeadRow)>,
}

/// `GET /leads/queue`: the re-engagement queue.
pub async fn queue(State(s): State<AppState>, user: PageUser) -> PageResult {
    let (leads, owners) =
        user.call(&s, move |s, actor| Ok((s.reengagement_queue(actor)?, s.coworker_names()?))).await?;
    let now = s.now();
    let page = QueuePage {
        me: user.me(),
        csrf: user.csrf(),
        heading: "Re-engagement queue",
        intro: "Open leads of co-workers who left, routed again with a fresh clock. The leaver knows these people: work them first.",
        rows: leads.iter().map(|l| lead_row(l, &owners, now)).collect(),
        pairs: Vec::new(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /leads/duplicates`: pairs to merge or tell apart (managers, admins).
pub async fn duplicates(State(s): State<AppState>, user: PageUser) -> PageResult {
    let (pairs, owners) = user.call(&s, move |s, actor| Ok((s.duplicate_leads(actor)?, s.coworker_names()?))).await?;
    let now = s.now();
    let page = QueuePage {
        me: user.me(),
        csrf: user.csrf(),
        heading: "Duplicate leads",
        intro: "Leads that came in with another email but are probably the same person (same phone, or a similar name at a similar company). Merge keeps every field's history in the system events.",
        rows: Vec::new(),
        pairs: pairs.iter().map(|(a, b)| (lead_row(a, &owners, now), lead_row(b, &owners, now))).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /leads/{id}/merge` (drop=ID): the other lead is merged into this one.
pub async fn merge(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let keep = form.user.id(&id, "lead")?;
    let drop = form.user.id(form.get("drop").unwrap_or_default(), "lead")?;
    form.user.call(&s, move |s, actor| s.merge_leads(actor, keep, drop)).await?;
    Ok(go(&format!("/leads/{keep}")))
}

/// `POST /leads/{id}/not-a-duplicate`.
pub async fn not_a_duplicate(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "lead")?;
    form.user.call(&s, move |s, actor| s.not_a_duplicate(actor, id)).await?;
    Ok(go("/leads/duplicates"))
}

struct FormRow {
    id: Uuid,
    name: String,
    fields: String,
    url: String,
    snippet: String,
    submissions: i64,
    last: String,
    archived: bool,
}

#[derive(Template)]
#[template(path = "lead_forms.html")]
struct FormsPage {
    me: Option<Me>,
    csrf: String,
    forms: Vec<FormRow>,
    choices: Vec<(&'static str, &'static str)>,
    error: Option<String>,
    /// The rules in words, and as the JSON document to edit.
    rules: Vec<String>,
    rules_json: String,
    rules_error: Option<String>,
}

/// The lead rules in words, for the settings page.
fn rules_in_words(r: &holdfast_core::lead::LeadRules, names: &HashMap<Uuid, String>) -> Vec<String> {
    let name = |id: &Uuid| names.get(id).cloned().unwrap_or_else(|| id.to_string());
    let h = &r.business_hours;
    let days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let mut out = vec![format!(
        "First touch due within {} business minutes ({:02}:{:02}–{:02}:{:02} {}, UTC{:+}h); re-routed after {}.",
        r.sla_minutes,
        h.start_minute / 60,
        h.start_minute % 60,
        h.end_minute / 60,
        h.end_minute % 60,
        h.days.iter().filter_map(|d| days.get(usize::from(*d).wrapping_sub(1))).copied().collect::<Vec<_>>().join(" "),
        h.utc_offset_minutes as f64 / 60.0,
        r.reroute_minutes
    )];
    out.push(format!(
        "Fit: {}",
        if r.fit.is_empty() {
            "no rules".to_string()
        } else {
            r.fit.iter().map(|f| format!("{:+} {}", f.points, f.reason)).collect::<Vec<_>>().join(", ")
        }
    ));
    if r.route_to_account_owner {
        out.push("A lead whose company is an account goes to the account's owner.".into());
    }
    for rule in &r.routing {
        let mut tests = Vec::new();
        if !rule.country.is_empty() {
            tests.push(format!("country {}", rule.country.join("/")));
        }
        if !rule.industry.is_empty() {
            tests.push(format!("industry {}", rule.industry.join("/")));
        }
        if !rule.companies.is_empty() {
            tests.push(format!("companies {}", rule.companies.join(", ")));
        }
        out.push(format!(
            "Rule \"{}\": {} → {}",
            rule.name,
            tests.join(" and "),
            rule.to.iter().map(name).collect::<Vec<_>>().join(", ")
        ));
    }
    out.push(if r.round_robin.is_empty() {
        "Everyone else's leads go round every active rep in turn.".into()
    } else {
        format!(
            "Round-robin: {}",
            r.round_robin
                .iter()
                .map(|m| format!(
                    "{} ×{}{}",
                    name(&m.coworker_id),
                    m.weight,
                    m.cap.map(|c| format!(" (at most {c} open)")).unwrap_or_default()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )
    });
    if !r.away.is_empty() {
        out.push(format!("Away: {}", r.away.iter().map(name).collect::<Vec<_>>().join(", ")));
    }
    out
}

/// `GET /settings/lead-forms` (admins): the web-to-lead forms and their snippets.
pub async fn forms(State(s): State<AppState>, user: PageUser, parts: Parts) -> PageResult {
    let base = public_base(&parts);
    forms_page(&s, &user, &base, None, None).await
}

async fn forms_page(
    s: &AppState,
    user: &PageUser,
    base: &str,
    error: Option<String>,
    rules_error: Option<(String, String)>,
) -> PageResult {
    let (forms, rules, names) =
        user.call(s, move |s, actor| Ok((s.lead_forms(actor)?, s.lead_rules()?, s.coworker_names()?))).await?;
    let (rules_error, rules_json) = match rules_error {
        Some((why, text)) => (Some(why), text),
        None => (None, serde_json::to_string_pretty(&rules).unwrap_or_default()),
    };
    let page = FormsPage {
        rules: rules_in_words(&rules, &names),
        rules_json,
        rules_error,
        me: user.me(),
        csrf: user.csrf(),
        forms: forms
            .iter()
            .rev()
            .map(|f| FormRow {
                id: f.id,
                name: f.name.clone(),
                fields: f.fields.iter().map(|x| crate::lead_api::field_label(x).0).collect::<Vec<_>>().join(", "),
                url: format!("{base}/forms/{}", f.id),
                snippet: crate::lead_api::snippet(f, base),
                submissions: f.submissions,
                last: f.last_submission_at.map(short_time).unwrap_or_else(|| "never".into()),
                archived: f.archived_at.is_some(),
            })
            .collect(),
        choices: holdfast_core::service::FORM_FIELDS
            .iter()
            .filter(|f| !matches!(**f, "first_name" | "email"))
            .map(|f| (*f, crate::lead_api::field_label(f).0))
            .collect(),
        error,
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /settings/lead-forms`: makes a form.
pub async fn create_form(State(s): State<AppState>, parts: Parts, form: SignedForm) -> PageResult {
    let new = NewLeadForm {
        name: form.get("name").unwrap_or_default().to_string(),
        fields: form.values("fields").map(String::from).collect(),
        redirect_url: form.get("redirect_url").map(String::from),
    };
    match form.user.attempt(&s, move |s, actor| s.create_lead_form(actor, new)).await {
        Ok(_) => Ok(go("/settings/lead-forms")),
        Err(e) => forms_page(&s, &form.user, &public_base(&parts), Some(e.to_string()), None).await,
    }
}

/// `POST /settings/lead-rules` (admins): the whole rule document, checked before it is saved.
pub async fn set_rules(State(s): State<AppState>, parts: Parts, form: SignedForm) -> PageResult {
    let text = form.text("rules");
    let parsed: Result<holdfast_core::lead::LeadRules, String> = serde_json::from_str(&text).map_err(|e| e.to_string());
    let outcome = match parsed {
        Ok(rules) => {
            form.user.attempt(&s, move |s, actor| s.set_lead_rules(actor, rules)).await.map_err(|e| e.to_string())
        }
        Err(why) => Err(format!("the rules are not valid JSON: {why}")),
    };
    match outcome {
        Ok(_) => Ok(go("/settings/lead-forms")),
        Err(why) => forms_page(&s, &form.user, &public_base(&parts), None, Some((why, text))).await,
    }
}

/// `POST /settings/lead-forms/{id}/archive` (archived=true|false).
pub async fn archive_form(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "lead form")?;
    let archived = form.get("archived") != Some("false");
    form.user.call(&s, move |s, actor| s.archive_lead_form(actor, id, archived)).await?;
    Ok(go("/settings/lead-forms"))
}

#[derive(Template)]
#[template(path = "notifications.html")]
struct NotificationsPage {
    me: Option<Me>,
    csrf: String,
    items: Vec<(String, String, Option<String>, bool)>,
}

/// `GET /notifications`: what the co-worker was told, newest first.
pub async fn notifications(State(s): State<AppState>, user: PageUser) -> PageResult {
    let (items, _) = user.call(&s, move |s, actor| s.notifications(actor, 100)).await?;
    let page = NotificationsPage {
        me: user.me(),
        csrf: user.csrf(),
        items: items
            .iter()
            .map(|n| {
                let link = match (n.object_type.as_deref(), n.object_id) {
                    (Some("lead"), Some(id)) => Some(format!("/leads/{id}")),
                    _ => None,
                };
                (short_time(n.created_at), n.summary.clone(), link, n.read_at.is_none())
            })
            .collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /notifications/read`.
pub async fn read_notifications(State(s): State<AppState>, form: SignedForm) -> PageResult {
    form.user.call(&s, move |s, actor| s.mark_notifications_read(actor)).await?;
    Ok(go("/notifications"))
}
