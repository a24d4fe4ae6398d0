//! Contact protocol on pages: the warning shown when a logged call reaches a contact whose
//! protocol asks for an approval (ask for one, or log it as after the fact and the owner is
//! told), and the Approvals page where requests are asked, answered and followed.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use holdfast_core::ProtocolRefusal;
use holdfast_core::service::ApprovalView;
use holdfast_core::time::format_timestamp;

use super::error::PageResult;
use super::session::{PageUser, SignedForm};
use super::view::{Choice, Me, go, render};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "protocol.html")]
struct ProtocolPage {
    me: Option<Me>,
    csrf: String,
    message: String,
    contact: String,
    contact_id: String,
    protocol: String,
    /// The form that was refused, to post again as after the fact.
    action: String,
    fields: Vec<Choice>,
    back: String,
}

/// The page a refused log shows: why, whom to ask, and the two ways on.
pub(crate) fn protocol_warning(form: &SignedForm, refusal: &ProtocolRefusal, action: &str, back: &str) -> Response {
    let fields = form
        .pairs()
        .iter()
        .filter(|(k, _)| k != "csrf_token" && k != "after_the_fact")
        .map(|(k, v)| Choice::new(k.clone(), v.clone()))
        .collect();
    let page = ProtocolPage {
        me: form.user.me(),
        csrf: form.user.csrf(),
        message: refusal.describe(),
        contact: refusal.contact.clone(),
        contact_id: refusal.contact_id.clone(),
        protocol: refusal.protocol.replace('_', " "),
        action: action.to_string(),
        fields,
        back: back.to_string(),
    };
    render(&page, StatusCode::CONFLICT)
}

struct ApprovalRow {
    id: String,
    contact: String,
    contact_id: String,
    account: String,
    who: String,
    reason: String,
    status: &'static str,
    when: String,
    decided: String,
}

fn row(v: &ApprovalView) -> ApprovalRow {
    let a = &v.approval;
    let decided = match (&v.decided_by, a.expires_at) {
        (Some(by), Some(until)) => format!("{by}, until {}", &format_timestamp(until)[..10]),
        (Some(by), None) => format!("{by}{}", a.decision_reason.as_ref().map(|r| format!(": {r}")).unwrap_or_default()),
        _ => String::new(),
    };
    ApprovalRow {
        id: a.id.to_string(),
        contact: v.contact.clone(),
        contact_id: a.contact_id.to_string(),
        account: v.account.clone().unwrap_or_default(),
        who: v.requested_by.clone(),
        reason: a.reason.clone(),
        status: a.status.as_str(),
        when: format_timestamp(a.created_at)[..16].replace('T', " "),
        decided,
    }
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct ApprovalsPage {
    me: Option<Me>,
    csrf: String,
    to_decide: Vec<ApprovalRow>,
    mine: Vec<ApprovalRow>,
}

/// `GET /approvals`: requests waiting for the co-worker's answer, and their own.
pub async fn approvals(State(s): State<AppState>, user: PageUser) -> PageResult {
    let list = user.call(&s, |s, actor| s.contact_approvals(actor)).await?;
    let page = ApprovalsPage {
        me: user.me(),
        csrf: user.csrf(),
        to_decide: list.to_decide.iter().map(row).collect(),
        mine: list.mine.iter().map(row).collect(),
    };
    Ok(render(&page, StatusCode::OK))
}

/// `POST /approvals`: asks to reach a contact (from the protocol warning).
pub async fn ask(State(s): State<AppState>, form: SignedForm) -> PageResult {
    let contact = form.user.id(&form.text("contact_id"), "contact")?;
    let reason = form.text("reason");
    form.user.call(&s, move |s, actor| s.request_contact_approval(actor, contact, &reason)).await?;
    Ok(go("/approvals"))
}

/// `POST /approvals/{id}/decide`: approves or denies (a denial says why).
pub async fn decide(State(s): State<AppState>, Path(id): Path<String>, form: SignedForm) -> PageResult {
    let id = form.user.id(&id, "approval")?;
    let approve = form.get("decision") == Some("approve");
    let reason = form.text("reason");
    form.user.call(&s, move |s, actor| s.decide_contact_approval(actor, id, approve, Some(&reason))).await?;
    Ok(go("/approvals"))
}
