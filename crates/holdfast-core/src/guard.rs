//! The guard: what a co-worker may export and read in bulk (policies per role, team and
//! co-worker), the exports waiting for approval, the alerts raised over the system event stream,
//! and how alerts are signed for webhooks. Plain data and arithmetic; the services apply it.
//!
//! docs/guard.md explains the defaults and the statistics.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::coworker::{CoWorker, Role, Status};
use crate::time::format_timestamp;

/// What crossing a limit does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OverLimit {
    /// Let it through and raise an alert.
    AllowAndAlert,
    /// An export waits for a manager's approval; bulk reading past a budget is refused with a
    /// message saying how to ask for an export.
    Approval,
    /// Refuse, with a message that says how to ask.
    Refuse,
}

impl OverLimit {
    pub fn as_str(self) -> &'static str {
        match self {
            OverLimit::AllowAndAlert => "allow_and_alert",
            OverLimit::Approval => "approval",
            OverLimit::Refuse => "refuse",
        }
    }
    pub fn parse(s: &str) -> Result<OverLimit, String> {
        match s.trim() {
            "allow_and_alert" => Ok(OverLimit::AllowAndAlert),
            "approval" => Ok(OverLimit::Approval),
            "refuse" => Ok(OverLimit::Refuse),
            other => Err(format!("'{other}' is not an action; use allow_and_alert, approval or refuse")),
        }
    }
    /// The stricter of two actions.
    fn stricter(self, other: OverLimit) -> OverLimit {
        let rank = |a: OverLimit| match a {
            OverLimit::AllowAndAlert => 0,
            OverLimit::Approval => 1,
            OverLimit::Refuse => 2,
        };
        if rank(other) > rank(self) { other } else { self }
    }
}

/// Limits for one co-worker, resolved from their role, team and own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Most rows one export may carry without crossing the limit.
    pub export_rows: i64,
    /// Rows listed, searched or exported per 24 hours.
    pub daily_rows: i64,
    /// Rows listed, searched or exported per rolling 7 days.
    pub weekly_rows: i64,
    /// Columns this co-worker may not export.
    pub denied_columns: Vec<String>,
    pub over_limit: OverLimit,
    /// On the departing watchlist: the limits above are already the stricter ones.
    pub watchlist: bool,
}

/// Some of the limits; what a role, a team or a co-worker sets (unset ones come from the level
/// below: co-worker over team over role).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_rows: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daily_rows: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekly_rows: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied_columns: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_limit: Option<OverLimit>,
}

impl PolicyPatch {
    fn apply(&self, l: &mut Limits) {
        if let Some(n) = self.export_rows {
            l.export_rows = n;
        }
        if let Some(n) = self.daily_rows {
            l.daily_rows = n;
        }
        if let Some(n) = self.weekly_rows {
            l.weekly_rows = n;
        }
        if let Some(c) = &self.denied_columns {
            l.denied_columns.clone_from(c);
        }
        if let Some(a) = self.over_limit {
            l.over_limit = a;
        }
    }

    /// What is wrong with these values, if anything.
    pub fn problems(&self, known_columns: &[&str]) -> Vec<String> {
        let mut out = Vec::new();
        for (name, v) in
            [("export_rows", self.export_rows), ("daily_rows", self.daily_rows), ("weekly_rows", self.weekly_rows)]
        {
            if v.is_some_and(|n| !(1..=100_000_000).contains(&n)) {
                out.push(format!("{name} must be between 1 and 100,000,000 rows"));
            }
        }
        for c in self.denied_columns.iter().flatten() {
            if !known_columns.contains(&c.as_str()) {
                out.push(format!("'{c}' is not a column any record has; use one of {}", known_columns.join(", ")));
            }
        }
        out
    }
}

/// Every policy an admin has set: per role, per team (by id) and per co-worker (by id). Stored
/// as one JSON setting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policies {
    #[serde(default)]
    pub roles: BTreeMap<String, PolicyPatch>,
    #[serde(default)]
    pub teams: BTreeMap<Uuid, PolicyPatch>,
    #[serde(default)]
    pub coworkers: BTreeMap<Uuid, PolicyPatch>,
}

/// The settings key the policies are kept under.
pub const POLICIES_SETTING: &str = "guard_policies";

/// How much stricter the departing watchlist is: every row limit divided by this.
pub const WATCHLIST_DIVISOR: i64 = 10;

/// Defaults for a 10–50 person sales team: reps export up to 1,000 rows and read up to 5,000 a
/// day before a manager approves; managers are alerted on, not stopped; admins are not limited.
pub fn role_default(role: Role) -> Limits {
    match role {
        Role::Rep => Limits {
            export_rows: 1_000,
            daily_rows: 5_000,
            weekly_rows: 15_000,
            denied_columns: Vec::new(),
            over_limit: OverLimit::Approval,
            watchlist: false,
        },
        Role::Manager | Role::Director => Limits {
            export_rows: 10_000,
            daily_rows: 25_000,
            weekly_rows: 75_000,
            denied_columns: Vec::new(),
            over_limit: OverLimit::AllowAndAlert,
            watchlist: false,
        },
        Role::Admin => Limits {
            export_rows: i64::MAX,
            daily_rows: i64::MAX,
            weekly_rows: i64::MAX,
            denied_columns: Vec::new(),
            over_limit: OverLimit::AllowAndAlert,
            watchlist: false,
        },
    }
}

impl Policies {
    /// The limits that apply to `c`: role default, then the role's, team's and own settings;
    /// stricter again while they are departing.
    pub fn limits_for(&self, c: &CoWorker) -> Limits {
        let mut l = role_default(c.role);
        if let Some(p) = self.roles.get(c.role.as_str()) {
            p.apply(&mut l);
        }
        if let Some(p) = c.team_id.and_then(|t| self.teams.get(&t)) {
            p.apply(&mut l);
        }
        if let Some(p) = self.coworkers.get(&c.id) {
            p.apply(&mut l);
        }
        if c.status == Status::Departing && c.role != Role::Admin {
            l.watchlist = true;
            l.export_rows = (l.export_rows / WATCHLIST_DIVISOR).max(1);
            l.daily_rows = (l.daily_rows / WATCHLIST_DIVISOR).max(1);
            l.weekly_rows = (l.weekly_rows / WATCHLIST_DIVISOR).max(1);
            l.over_limit = l.over_limit.stricter(OverLimit::Approval);
        }
        l
    }

    pub fn parse(text: &str) -> Result<Policies, String> {
        serde_json::from_str(text).map_err(|e| format!("not a policy document: {e}"))
    }
}

/// Where an export stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportStatus {
    /// Waiting for a manager's or an admin's approval; no row has left.
    Pending,
    /// May be downloaded, once, until it expires.
    Ready,
    Denied,
    /// Downloaded (its one download is used).
    Downloaded,
    /// Ready for 24 hours and not downloaded.
    Expired,
}

impl ExportStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportStatus::Pending => "pending",
            ExportStatus::Ready => "ready",
            ExportStatus::Denied => "denied",
            ExportStatus::Downloaded => "downloaded",
            ExportStatus::Expired => "expired",
        }
    }
    pub fn parse(s: &str) -> Option<ExportStatus> {
        Some(match s {
            "pending" => ExportStatus::Pending,
            "ready" => ExportStatus::Ready,
            "denied" => ExportStatus::Denied,
            "downloaded" => ExportStatus::Downloaded,
            "expired" => ExportStatus::Expired,
            _ => return None,
        })
    }
}

/// The file formats an export comes in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Csv,
    Xlsx,
    /// vCard 4.0 (RFC 6350), contacts only.
    Vcard,
}

impl ExportFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Vcard => "vcard",
        }
    }
    pub fn parse(s: &str) -> Result<ExportFormat, String> {
        match s.trim().to_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "xlsx" => Ok(ExportFormat::Xlsx),
            "vcard" | "vcf" => Ok(ExportFormat::Vcard),
            other => Err(format!("'{other}' is not an export format; use csv, xlsx or vcard")),
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Csv => "csv",
            ExportFormat::Xlsx => "xlsx",
            ExportFormat::Vcard => "vcf",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Csv => "text/csv; charset=utf-8",
            ExportFormat::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            ExportFormat::Vcard => "text/vcard; charset=utf-8",
        }
    }
}

/// An export someone asked for: what, in which format, and where it stands. Its rows are read
/// when it is downloaded, never before.
#[derive(Debug, Clone, PartialEq)]
pub struct ExportRequest {
    pub id: Uuid,
    pub coworker_id: Uuid,
    /// The kind's plural (`contacts`).
    pub kind: String,
    /// The list request it covers: `q`, `filters`, `owner`, `deleted`.
    pub query: Json,
    /// The most rows it may carry.
    pub row_limit: i64,
    /// Rows the query matched when asked (at most `row_limit`).
    pub matched: i64,
    pub columns: Vec<String>,
    pub format: ExportFormat,
    /// Why the requester needs it (asked when it waits for approval).
    pub reason: Option<String>,
    /// Which limit it crossed, when it did (why it waits for approval, or was let through with an
    /// alert).
    pub over_limit: Option<String>,
    pub status: ExportStatus,
    pub created_at: i64,
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<i64>,
    pub decision_reason: Option<String>,
    /// A ready export can be downloaded until then.
    pub expires_at: Option<i64>,
    pub downloaded_at: Option<i64>,
    /// Rows in the file and its SHA-256 (hex), once downloaded.
    pub rows: Option<i64>,
    pub sha256: Option<String>,
}

impl ExportRequest {
    /// The status as of `now` (a ready export past its time has expired).
    pub fn status_at(&self, now: i64) -> ExportStatus {
        match (self.status, self.expires_at) {
            (ExportStatus::Ready, Some(end)) if now > end => ExportStatus::Expired,
            (s, _) => s,
        }
    }
    pub fn download_url(&self) -> String {
        format!("/api/v1/exports/{}/file", self.id)
    }
    pub fn to_json(&self, now: i64) -> Json {
        let status = self.status_at(now);
        json!({
            "id": self.id,
            "coworker_id": self.coworker_id,
            "kind": self.kind,
            "query": self.query,
            "limit": self.row_limit,
            "matched": self.matched,
            "columns": self.columns,
            "format": self.format,
            "reason": self.reason,
            "over_limit": self.over_limit,
            "status": status,
            "created_at": format_timestamp(self.created_at),
            "decided_by": self.decided_by,
            "decided_at": self.decided_at.map(format_timestamp),
            "decision_reason": self.decision_reason,
            "expires_at": self.expires_at.map(format_timestamp),
            "downloaded_at": self.downloaded_at.map(format_timestamp),
            "rows": self.rows,
            "sha256": self.sha256,
            "download_url": (status == ExportStatus::Ready).then(|| self.download_url()),
        })
    }
}

/// How serious an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    /// Evidence that customer data left the company (a canary contacted, an export mailed out).
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

/// Where an alert stands: open → acknowledged → resolved or dismissed (with a reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertState {
    Open,
    Acknowledged,
    Resolved,
    Dismissed,
}

impl AlertState {
    pub const ALL: [AlertState; 4] =
        [AlertState::Open, AlertState::Acknowledged, AlertState::Resolved, AlertState::Dismissed];
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Open => "open",
            AlertState::Acknowledged => "acknowledged",
            AlertState::Resolved => "resolved",
            AlertState::Dismissed => "dismissed",
        }
    }
    pub fn parse(s: &str) -> Result<AlertState, String> {
        match s.trim() {
            "open" => Ok(AlertState::Open),
            "acknowledged" => Ok(AlertState::Acknowledged),
            "resolved" => Ok(AlertState::Resolved),
            "dismissed" => Ok(AlertState::Dismissed),
            other => Err(format!("'{other}' is not an alert state; use open, acknowledged, resolved or dismissed")),
        }
    }
    /// Whether an alert in this state may move to `to`.
    pub fn may_become(self, to: AlertState) -> bool {
        matches!(
            (self, to),
            (AlertState::Open, AlertState::Acknowledged | AlertState::Resolved | AlertState::Dismissed)
                | (AlertState::Acknowledged, AlertState::Resolved | AlertState::Dismissed)
                | (AlertState::Resolved | AlertState::Dismissed, AlertState::Open)
        )
    }
}

/// Something the guard found that a person should look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub id: Uuid,
    /// Who it is about.
    pub coworker_id: Uuid,
    /// `read_volume`, `off_hours_reading`, `export_over_limit`, `export_new_columns`,
    /// `export_new_client`, `departing_export`, `read_budget`, `reading_outside_book`, ….
    pub kind: String,
    pub severity: Severity,
    pub state: AlertState,
    /// One sentence for the list.
    pub summary: String,
    /// The figures behind it (counts, thresholds, baselines).
    pub details: Json,
    /// The system events behind it.
    pub event_ids: Vec<Uuid>,
    /// Who is looking at it (set when acknowledged).
    pub owner_id: Option<Uuid>,
    pub state_reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// At most one alert per key (kind, co-worker and day, say), so a detector that runs again
    /// does not raise the same thing twice.
    pub dedupe_key: String,
    /// Who else it is addressed to besides admins and the managers of whom it is about (a
    /// protocol breach: the account owner and their managers), who see it and are mailed it.
    pub recipient_ids: Vec<Uuid>,
}

impl Alert {
    pub fn to_json(&self, coworker_email: &str) -> Json {
        json!({
            "id": self.id,
            "coworker_id": self.coworker_id,
            "coworker_email": coworker_email,
            "kind": self.kind,
            "severity": self.severity,
            "state": self.state,
            "summary": self.summary,
            "details": self.details,
            "event_ids": self.event_ids,
            "owner_id": self.owner_id,
            "recipient_ids": self.recipient_ids,
            "state_reason": self.state_reason,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}

/// An alert on its way to a webhook or a mailbox.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertDelivery {
    pub id: Uuid,
    pub alert_id: Uuid,
    /// `webhook` or `email`.
    pub channel: String,
    /// The URL or the email addresses.
    pub target: String,
    /// What is sent: the JSON body, frozen when the alert was raised.
    pub payload: String,
    pub attempts: i64,
    pub next_at: i64,
    pub delivered_at: Option<i64>,
    /// Set after the last try gives up.
    pub failed_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
}

/// Tries before a delivery is given up.
pub const DELIVERY_ATTEMPTS: i64 = 10;

/// When to try again after `attempts` failed tries: 5 s, 10 s, 20 s… up to an hour.
pub fn retry_delay_micros(attempts: i64) -> i64 {
    let secs = 5_i64.saturating_mul(1_i64 << attempts.clamp(0, 20));
    secs.min(3_600) * 1_000_000
}

/// Standard Webhooks: the `webhook-signature` header value for a delivery, `v1,<base64
/// HMAC-SHA256 of "id.timestamp.body">` keyed with the secret's bytes (after `whsec_`, base64).
pub fn webhook_signature(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, String> {
    let key = webhook_key(secret)?;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(format!("v1,{}", base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())))
}

/// The key bytes of a `whsec_…` secret.
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, String> {
    let b64 = secret.strip_prefix("whsec_").ok_or("a webhook secret starts with whsec_")?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "the part after whsec_ must be base64".to_string())?;
    if !(24..=64).contains(&key.len()) {
        return Err("the secret must hold 24 to 64 bytes (base64 after whsec_)".into());
    }
    Ok(key)
}

/// Robust statistics over daily figures: the median and the median absolute deviation.
pub fn median_and_mad(values: &[i64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let mut v: Vec<f64> = values.iter().map(|&x| x as f64).collect();
    let median = median_sorted(&mut v);
    let mut dev: Vec<f64> = v.iter().map(|x| (x - median).abs()).collect();
    (median, median_sorted(&mut dev))
}

fn median_sorted(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// Fewest rows in a day that can be called unusual, however quiet someone usually is: a busy
/// rep's morning of lists and searches stays under it.
pub const VOLUME_FLOOR: i64 = 1_000;
/// Fewest rows read outside office hours in a day that count as off-hours bulk reading.
pub const OFF_HOURS_FLOOR: i64 = 300;
/// Fewest records opened outside one's own book in a day that count as reading far outside it.
pub const OUTSIDE_BOOK_FLOOR: i64 = 50;

/// The records a day opened outside one's own book (other co-workers' customers, not one's team's
/// or one's people's) above which it is unusual: over one's own baseline (median + 6 scaled MADs,
/// and at least 5 times the median) once there is one, never below [`OUTSIDE_BOOK_FLOOR`].
pub fn outside_book_threshold(own_days: &[i64]) -> i64 {
    let (median, mad) = median_and_mad(own_days);
    let basis = if own_days.len() >= MIN_BASELINE_DAYS { (median + 6.0 * 1.4826 * mad).max(5.0 * median) } else { 0.0 };
    (basis.ceil() as i64).max(OUTSIDE_BOOK_FLOOR)
}

/// Days of one's own history needed before one's own baseline is trusted.
pub const MIN_BASELINE_DAYS: usize = 10;

/// The daily rows above which a co-worker's reading is unusual: over their own baseline
/// (median + 6 scaled MADs, and at least 5 times the median) when they have one, otherwise over
/// 5 times their peers' median day; never below [`VOLUME_FLOOR`].
pub fn volume_threshold(own_days: &[i64], peer_days: &[i64]) -> VolumeThreshold {
    volume_threshold_beside(own_days, median_and_mad(peer_days).0)
}

/// [`volume_threshold`] with the peers' median day already worked out (a sweep over many
/// co-workers works it out once).
pub fn volume_threshold_beside(own_days: &[i64], peer_median: f64) -> VolumeThreshold {
    let (own_median, own_mad) = median_and_mad(own_days);
    let basis = if own_days.len() >= MIN_BASELINE_DAYS {
        (own_median + 6.0 * 1.4826 * own_mad).max(5.0 * own_median)
    } else {
        5.0 * peer_median
    };
    VolumeThreshold {
        rows: (basis.ceil() as i64).max(VOLUME_FLOOR),
        own_median,
        own_mad,
        own_days: own_days.len(),
        peer_median,
    }
}

/// A volume threshold and the figures it came from (kept with the alert).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct VolumeThreshold {
    pub rows: i64,
    pub own_median: f64,
    pub own_mad: f64,
    pub own_days: usize,
    pub peer_median: f64,
}

/// Office hours, UTC: weekdays 07:00–19:00. Reading outside them in bulk is worth a look.
pub fn is_office_hours(at: i64) -> bool {
    let secs = at.div_euclid(1_000_000);
    let day = secs.div_euclid(86_400);
    // 1970-01-01 was a Thursday: day 0 → weekday 3 (Mon = 0).
    let weekday = (day + 3).rem_euclid(7);
    let hour = secs.rem_euclid(86_400) / 3_600;
    weekday < 5 && (7..19).contains(&hour)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rep() -> CoWorker {
        CoWorker {
            id: Uuid::now_v7(),
            email: "rep@example.com".into(),
            name: "Rep".into(),
            role: Role::Rep,
            status: Status::Active,
            seniority: crate::coworker::Seniority::Individual,
            team_id: Some(Uuid::now_v7()),
            manager_id: None,
            title: None,
            password_hash: None,
            created_at: 0,
            updated_at: 0,
            password_must_change: false,
        }
    }

    #[test]
    fn reading_outside_ones_book_is_unusual_past_ones_own_habit_and_never_below_the_floor() {
        assert_eq!(outside_book_threshold(&[]), OUTSIDE_BOOK_FLOOR, "no history: the floor");
        assert_eq!(outside_book_threshold(&[3, 4, 2, 5, 3, 4, 3, 2, 4, 3]), OUTSIDE_BOOK_FLOOR);
        // Someone who covers colleagues' customers every day: their habit sets the bar.
        let helper = [40, 45, 38, 50, 42, 44, 41, 47, 39, 43, 46];
        let bar = outside_book_threshold(&helper);
        assert!(bar >= 5 * 43, "{bar}");
        assert!(outside_book_threshold(&[60; 5]) == OUTSIDE_BOOK_FLOOR, "too few days for a baseline");
    }

    #[test]
    fn median_and_mad_are_robust_to_one_spike() {
        let (m, mad) = median_and_mad(&[100, 110, 90, 105, 95, 10_000]);
        assert_eq!(m, 102.5);
        assert!(mad < 15.0, "{mad}");
    }

    #[test]
    fn a_normal_day_is_under_the_threshold_and_a_spike_is_over() {
        let month: Vec<i64> = (0..60).map(|d| 60 + (d * 37 % 90)).collect();
        let t = volume_threshold(&month, &[]);
        assert!(month.iter().all(|d| *d < t.rows), "{t:?}");
        assert!(4_000 > t.rows);
        // Nobody's history: the peers decide, with the floor.
        assert_eq!(volume_threshold(&[], &[100; 30]).rows, VOLUME_FLOOR);
        assert_eq!(volume_threshold(&[], &[400; 30]).rows, 2_000);
    }

    #[test]
    fn the_watchlist_divides_limits_and_never_relaxes_the_action() {
        let mut c = rep();
        let normal = Policies::default().limits_for(&c);
        c.status = Status::Departing;
        let strict = Policies::default().limits_for(&c);
        assert_eq!(strict.export_rows, normal.export_rows / WATCHLIST_DIVISOR);
        assert!(strict.watchlist);
        c.role = Role::Manager;
        assert_eq!(Policies::default().limits_for(&c).over_limit, OverLimit::Approval);
    }

    #[test]
    fn co_worker_settings_beat_team_settings_beat_role_settings() {
        let c = rep();
        let team = c.team_id.unwrap_or_default();
        let mut p = Policies::default();
        p.roles.insert("rep".into(), PolicyPatch { export_rows: Some(10), daily_rows: Some(20), ..Default::default() });
        p.teams.insert(team, PolicyPatch { export_rows: Some(30), ..Default::default() });
        p.coworkers.insert(c.id, PolicyPatch { over_limit: Some(OverLimit::Refuse), ..Default::default() });
        let l = p.limits_for(&c);
        assert_eq!((l.export_rows, l.daily_rows, l.over_limit), (30, 20, OverLimit::Refuse));
        let parsed = Policies::parse(&serde_json::to_string(&p).unwrap_or_default());
        assert_eq!(parsed, Ok(p));
        assert!(Policies::parse(r#"{"roles": {"rep": {"export_rowz": 5}}}"#).is_err());
    }

    #[test]
    fn webhook_signatures_follow_the_standard_webhooks_example() {
        // The example from the Standard Webhooks specification.
        let sig = webhook_signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(sig.as_deref(), Ok("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert!(webhook_signature("nope", "a", 1, "b").is_err());
    }

    #[test]
    fn office_hours_are_weekdays_seven_to_seven_utc() {
        // 2026-11-30 was a Monday.
        let monday = crate::time::parse_timestamp("2026-11-30T10:00:00Z").unwrap_or_default();
        assert!(is_office_hours(monday));
        assert!(!is_office_hours(monday + 12 * 3_600 * 1_000_000));
        assert!(!is_office_hours(monday - 2 * 86_400 * 1_000_000));
    }
}
