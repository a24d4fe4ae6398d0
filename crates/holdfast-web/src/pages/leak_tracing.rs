//! `/settings/leak-tracing` (admins): canaries and mail-journal settings, tracing a file found in
//! the wild to the export it came from, and the latest evidence (traces, canary hits, customer
//! data mailed out).

use askama::Template;
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use holdfast_core::CoreError;
use holdfast_core::event::EventFilter;
use holdfast_core::service::{CANARY_HIT, EXPORT_TRACE, MAIL_OUTBOUND, SettingsChange, TraceReport};

use super::error::{PageError, PageResult};
use super::session::{PageUser, SignedForm, same};
use super::view::{Me, go, render, short_time};
use crate::state::AppState;

/// One match of a trace, in words.
struct MatchRow {
    export_id: String,
    made_by: String,
    made: String,
    rows: String,
    canaries: String,
    columns: String,
}

struct EvidenceRow {
    when: String,
    what: &'static str,
    summary: String,
}

#[derive(Template)]
#[template(path = "leak_tracing.html")]
struct LeakPage {
    me: Option<Me>,
    csrf: String,
    saved: bool,
    canary_domain: String,
    canary_phone: String,
    company_domains: String,
    company_domains_derived: bool,
    threshold: i64,
    fingerprints: i64,
    error: Option<String>,
    /// The file just traced, and what it matched.
    traced: Option<String>,
    verdict: Option<String>,
    matches: Vec<MatchRow>,
    evidence: Vec<EvidenceRow>,
}

fn percent(x: f64) -> String {
    format!("{:.0}%", x * 100.0)
}

fn rows_of(report: &TraceReport) -> Vec<MatchRow> {
    report
        .matches
        .iter()
        .map(|m| MatchRow {
            export_id: m.export_id.to_string(),
            made_by: m.made_by.clone().unwrap_or_else(|| "the operator (command line)".into()),
            made: format!(
                "{} through {} ({} {}, {} rows)",
                short_time(m.made_at),
                holdfast_core::service::door_in_words(&m.door),
                m.kind,
                m.format,
                m.export_rows
            ),
            rows: format!(
                "{} of the file's rows ({} of the file, {} of the export)",
                m.rows_matched,
                percent(m.share_of_file),
                percent(m.share_of_export)
            ),
            canaries: if m.canaries_found.is_empty() {
                format!("none of its {} found", m.canaries_placed)
            } else {
                format!("{} of {} found: {}", m.canaries_found.len(), m.canaries_placed, m.canaries_found.join(", "))
            },
            columns: if m.columns_dropped.is_empty() {
                "all of the export's columns".into()
            } else {
                format!("dropped {}", m.columns_dropped.join(", "))
            },
        })
        .collect()
}

fn evidence_row(e: &holdfast_core::event::SystemEvent) -> EvidenceRow {
    let d = &e.event.details;
    let text = |k: &str| d[k].as_str().unwrap_or("").to_string();
    let (what, summary) = match e.event.action.as_str() {
        EXPORT_TRACE => {
            let n = d["matches"].as_array().map(Vec::len).unwrap_or(0);
            let best = d["matches"][0]["export_id"]
                .as_str()
                .map(|id| format!(": most likely export {id}"))
                .unwrap_or_default();
            ("File traced", format!("{} ({} rows), {} exports matched{best}", text("file_name"), d["rows"], n))
        }
        CANARY_HIT => (
            "Canary contacted",
            format!(
                "{} via {}{}",
                text("canary"),
                text("via"),
                d["from"].as_str().map(|f| format!(", from {f}")).unwrap_or_default()
            ),
        ),
        _ => (
            "Customer data mailed out",
            format!(
                "{} sent {} customers to {}",
                text("from"),
                d["customers"],
                d["to"]
                    .as_array()
                    .map(|t| t.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(", "))
                    .unwrap_or_default()
            ),
        ),
    };
    EvidenceRow { when: short_time(e.event.at), what, summary }
}

async fn leak_page(
    s: &AppState,
    user: &PageUser,
    saved: bool,
    error: Option<String>,
    traced: Option<(String, TraceReport)>,
) -> PageResult {
    let (settings, fingerprints, evidence) = user
        .call(s, |s, actor| {
            let count = s.fingerprint_count(actor)?;
            let mut evidence = Vec::new();
            for action in [EXPORT_TRACE, CANARY_HIT, MAIL_OUTBOUND] {
                let filter = EventFilter { action: Some(action.into()), limit: 20, ..Default::default() };
                evidence.extend(s.events(actor, &filter)?);
            }
            evidence.sort_by_key(|e| std::cmp::Reverse(e.seq));
            evidence.truncate(20);
            Ok((s.settings()?, count, evidence))
        })
        .await?;
    let lt = &settings.leak_tracing;
    let (traced, verdict, matches) = match traced {
        Some((name, report)) => {
            let verdict = match report.matches.first() {
                Some(m) => format!(
                    "Most likely export {} by {}: {} of the file's {} rows are its rows{}.",
                    m.export_id,
                    m.made_by.clone().unwrap_or_else(|| "the operator".into()),
                    m.rows_matched,
                    report.rows,
                    if m.canaries_found.is_empty() {
                        String::new()
                    } else {
                        format!(", and {} of its canaries", m.canaries_found.len())
                    }
                ),
                None => format!(
                    "No Holdfast export matches this file ({} rows; {} exports compared).",
                    report.rows, report.exports_compared
                ),
            };
            (Some(name), Some(verdict), rows_of(&report))
        }
        None => (None, None, Vec::new()),
    };
    let page = LeakPage {
        me: user.me(),
        csrf: user.csrf(),
        saved,
        canary_domain: lt.canary_email_domain.clone().unwrap_or_default(),
        canary_phone: lt.canary_phone_prefix.clone().unwrap_or_default(),
        company_domains: lt.company_email_domains.join(", "),
        company_domains_derived: lt.company_email_domains.is_empty(),
        threshold: lt.mail_alert_threshold,
        fingerprints,
        error,
        traced,
        verdict,
        matches,
        evidence: evidence.iter().map(evidence_row).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `GET /settings/leak-tracing`.
pub async fn show(
    State(s): State<AppState>,
    user: PageUser,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> PageResult {
    leak_page(&s, &user, q.contains_key("saved"), None, None).await
}

/// `POST /settings/leak-tracing`: the canary domain and range, the company's mail domains and
/// the mail alert threshold, all or nothing.
pub async fn save(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let threshold = match form.get("mail_alert_threshold").map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => Some(t.replace(',', "").parse::<i64>().map_err(|_| {
            form.user.fail(CoreError::invalid("mail_alert_threshold", "must be a whole number of customers"))
        })?),
        None => None,
    };
    let change = SettingsChange {
        canary_email_domain: Some(form.text("canary_email_domain")),
        canary_phone_prefix: Some(form.text("canary_phone_prefix")),
        company_email_domains: Some(form.text("company_email_domains")),
        mail_alert_threshold: threshold,
        ..Default::default()
    };
    if let Err(e) = form.user.attempt(&s, move |s, actor| s.change_settings(actor, &change)).await {
        let why = PageError::from(e).detail().to_string();
        return leak_page(&s, &form.user, false, Some(why), None).await;
    }
    Ok(go("/settings/leak-tracing?saved=1"))
}

/// `POST /settings/leak-tracing/trace` (a file upload): traces the file and shows what it matched.
pub async fn trace(State(s): State<AppState>, user: PageUser, mut upload: Multipart) -> PageResult {
    let mut csrf = String::new();
    let mut file: Option<(String, Vec<u8>)> = None;
    loop {
        let field = match upload.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return leak_page(&s, &user, false, Some(format!("The upload did not arrive whole: {e}")), None).await;
            }
        };
        match field.name().unwrap_or("") {
            "csrf_token" => csrf = field.text().await.unwrap_or_default(),
            "file" => {
                let name = field.file_name().unwrap_or("uploaded file").to_string();
                match field.bytes().await {
                    Ok(b) => file = Some((name, b.to_vec())),
                    Err(e) => {
                        return leak_page(&s, &user, false, Some(format!("The file did not arrive whole: {e}")), None)
                            .await;
                    }
                }
            }
            _ => {}
        }
    }
    if !same(&csrf, &user.csrf()) {
        return Err(user.fail(PageError::new(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "Reload the page and try again.",
        )));
    }
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return leak_page(&s, &user, false, Some("Choose the file to trace.".into()), None).await;
    };
    let shown = name.clone();
    match user.attempt(&s, move |s, actor| s.trace_file(actor, &name, &bytes)).await {
        Ok(report) => leak_page(&s, &user, false, None, Some((shown, report))).await,
        Err(crate::problem::ApiError::Core(CoreError::BadFile(why))) => {
            leak_page(&s, &user, false, Some(format!("{shown}: {why}")), None).await
        }
        Err(e) => Err(user.fail(e)),
    }
}
