//! The page kit: rendering a template, the values every page shows (money, times, names), and
//! the small named rows templates share.

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use holdfast_core::record::{FieldType, Record, RecordKind, Value};
use holdfast_core::time::format_timestamp;

/// The signed-in co-worker, as the header of every page shows them.
pub struct Me {
    pub(crate) name: String,
    pub(crate) admin: bool,
    /// A manager or an admin: sees alerts and approves exports.
    pub(crate) reviewer: bool,
    /// Open alerts they may see, shown beside Alerts.
    pub(crate) open_alerts: u32,
    /// Unread notifications, shown beside Leads.
    pub(crate) unread: u32,
    pub(crate) csrf: String,
}

/// A value and its label: a select's option, a radio choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub value: String,
    pub label: String,
}

impl Choice {
    pub fn new(value: impl Into<String>, label: impl Into<String>) -> Choice {
        Choice { value: value.into(), label: label.into() }
    }

    /// A choice field's options as words ("closed_won" reads "closed won").
    pub fn of_words(options: &[&str]) -> Vec<Choice> {
        options.iter().map(|o| Choice::new(*o, o.replace('_', " "))).collect()
    }
}

/// A link to a record page: the record's id and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordLink {
    pub id: String,
    pub name: String,
}

/// A labelled fact on a record page.
pub struct Fact {
    pub label: &'static str,
    pub value: String,
}

/// Renders a page, or a plain apology when the template fails.
pub(crate) fn render(t: &impl Template, status: StatusCode) -> Response {
    match t.render() {
        Ok(html) => (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "The page could not be shown.").into_response()
        }
    }
}

/// "See other" to a page (after a form post).
pub(crate) fn go(to: &str) -> Response {
    Redirect::to(to).into_response()
}

/// Display text of a field.
pub(crate) fn show(kind: &RecordKind, rec: &Record, field: &str) -> String {
    match (kind.field(field).map(|f| f.ty), rec.get(field)) {
        (_, Value::Null) => String::new(),
        (Some(FieldType::Money), Value::Int(c)) => money(*c),
        (Some(FieldType::Timestamp), Value::Int(t)) => short_time(*t),
        (_, Value::Int(i)) => i.to_string(),
        (_, Value::Text(s)) => s.replace('_', " "),
    }
}

/// Whole currency units with thousands separators.
pub(crate) fn money(cents: i64) -> String {
    let whole = (cents / 100).to_string();
    let mut out = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `YYYY-MM-DD HH:MM` (UTC).
pub(crate) fn short_time(micros: i64) -> String {
    let t = format_timestamp(micros);
    t.get(..16).map(|s| s.replace('T', " ")).unwrap_or(t)
}

/// Percent-encodes a query value.
pub(crate) fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Only same-site relative paths may be redirected to (after sign-in, after a form). Browsers
/// drop tabs and newlines from a URL and read `\\` as `/`, so `/<TAB>/evil.example` is refused.
pub(crate) fn safe_next(next: &str) -> &str {
    let clean = !next.chars().any(|c| c.is_control() || c == '\\');
    if clean && next.starts_with('/') && !next.starts_with("//") { next } else { "/" }
}

/// A JSON value as plain text (strings without quotes, null as nothing).
pub(crate) fn plain(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// "1 record", "3 records".
pub(crate) fn count(n: i64, word: &str) -> String {
    if n == 1 { format!("1 {word}") } else { format!("{n} {word}s") }
}

/// "stage" reads "Stage".
pub(crate) fn title_case(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_groups_thousands_and_next_stays_on_site() {
        assert_eq!(money(123_456_789), "1,234,567");
        assert_eq!(money(99), "0");
        assert_eq!(safe_next("/accounts?x=1"), "/accounts?x=1");
        assert_eq!(safe_next("//evil.example"), "/");
        assert_eq!(safe_next("https://evil.example"), "/");
        assert_eq!(safe_next("/\t/evil.example/"), "/");
        assert_eq!(safe_next("/\n/evil.example/"), "/");
        assert_eq!(safe_next("/\\evil.example/"), "/");
        assert_eq!(encode("a b&c"), "a%20b%26c");
        assert_eq!(count(1, "row"), "1 row");
        assert_eq!(count(2, "row"), "2 rows");
    }
}
