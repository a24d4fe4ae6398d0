//! The guard on both backends: export policies (allowed, approval, refusal, columns), one
//! download per export with its hash recorded, detectors over scripted event histories (a normal
//! month, then a spike; false-positive checks), the departing look-back and watchlist, and
//! signed webhook deliveries with retries.

use std::io::Read;
use std::sync::Mutex;

use holdfast_core::CoreError;
use holdfast_core::coworker::{Actor, Role, Status};
use holdfast_core::event::{EventFilter, NewEvent, action};
use holdfast_core::guard::{AlertState, ExportFormat, ExportStatus, OverLimit, PolicyPatch, webhook_signature};
use holdfast_core::record::{ACCOUNTS, CONTACTS, DEALS};
use holdfast_core::service::{
    AlertSender, CoWorkerChanges, ExportAsk, ListRequest, PolicyScope, SettingsChange, WebhookPost, append_events,
};
use holdfast_core::storage::Database;
use holdfast_core::time::MICROS_PER_DAY;
use holdfast_store::Store;
use holdfast_testing::{TestDb, add_coworker, each_backend};
use serde_json::json;
use sha2::{Digest, Sha256};
use uuid::Uuid;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

struct Company {
    services: std::sync::Arc<holdfast_core::Holdfast<Store>>,
    rep: Actor,
    other_rep: Actor,
    manager: Actor,
}

/// A manager with two reps in a team, and `contacts` contacts owned by the first rep.
fn company(db: &TestDb, contacts: usize) -> Company {
    let services = db.services();
    add_coworker(&services, "manager@example.com", Role::Manager, Some("East"), None);
    add_coworker(&services, "rep@example.com", Role::Rep, Some("East"), Some("manager@example.com"));
    add_coworker(&services, "other@example.com", Role::Rep, Some("East"), Some("manager@example.com"));
    let rep = services.actor_for("rep@example.com").expect("rep");
    let inputs: Vec<_> = (0..contacts)
        .map(|i| {
            json!({"first_name": format!("Person{i}"), "last_name": "Example", "email": format!("p{i}@customer.example"),
                   "phone": "+1 415 555 0100", "owner_id": rep.id()})
        })
        .collect();
    services.create_many(&Actor::operator(), &CONTACTS, &inputs).expect("contacts");
    Company {
        rep,
        other_rep: services.actor_for("other@example.com").expect("other rep"),
        manager: services.actor_for("manager@example.com").expect("manager"),
        services,
    }
}

fn ask(limit: i64, format: ExportFormat) -> ExportAsk {
    ExportAsk {
        kind: &CONTACTS,
        list: ListRequest::default(),
        ids: None,
        limit: Some(limit),
        format,
        columns: None,
        reason: Some("quarterly review".into()),
    }
}

fn events(services: &holdfast_core::Holdfast<Store>, who: Uuid, what: &str) -> Vec<holdfast_core::event::SystemEvent> {
    let filter = EventFilter { coworker_id: Some(who), action: Some(what.into()), limit: 1_000, ..Default::default() };
    services.unaudited_database_for_benchmarks().read(|tx| Ok(tx.list_events(&filter)?)).expect("events")
}

#[test]
fn an_export_within_limits_downloads_once_with_its_row_count_and_hash_recorded() {
    for db in each_backend() {
        let c = company(&db, 80);
        let e = c.services.request_export(&c.rep, &ask(50, ExportFormat::Csv)).expect("export");
        assert_eq!((e.status, e.matched), (ExportStatus::Ready, 50), "{}", db.backend);
        let file = c.services.download_export(&c.rep, e.id).expect("download");
        let (rows, sha) = (file.rows, file.sha256.clone());
        let bytes = file.into_bytes().expect("bytes");
        assert_eq!(rows, 50);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha, "the recorded hash is the file's");
        assert_eq!(String::from_utf8_lossy(&bytes).lines().count(), 51, "a header and 50 rows");
        let recorded = events(&c.services, c.rep.id().expect("id"), action::EXPORT_CREATE);
        assert_eq!(recorded.len(), 1);
        assert_eq!(recorded[0].event.row_count, 50);
        assert_eq!(recorded[0].event.details["sha256"], sha);
        assert_eq!(recorded[0].event.details["export_id"], json!(e.id));
        let again = c.services.download_export(&c.rep, e.id).expect_err("an export downloads once");
        assert!(matches!(again, CoreError::Conflict(_)), "{again}");
        // Nobody else may download it, not even a manager.
        let e2 = c.services.request_export(&c.rep, &ask(5, ExportFormat::Csv)).expect("export");
        assert!(c.services.download_export(&c.manager, e2.id).is_err());
        assert_eq!(c.services.export_request(&c.rep, e.id).expect("status").sha256.as_deref(), Some(sha.as_str()));
    }
}

#[test]
fn an_export_over_the_limit_waits_for_the_managers_approval_and_raises_an_alert() {
    for db in each_backend() {
        let c = company(&db, 60);
        let op = Actor::operator();
        let tight = PolicyPatch { export_rows: Some(20), ..Default::default() };
        c.services.set_policy(&op, PolicyScope::Role, "rep", Some(tight)).expect("policy");
        let e = c.services.request_export(&c.rep, &ask(50, ExportFormat::Csv)).expect("asked");
        assert_eq!(e.status, ExportStatus::Pending, "{}", db.backend);
        assert!(c.services.download_export(&c.rep, e.id).is_err(), "a pending export hands out no row");
        assert!(events(&c.services, c.rep.id().expect("id"), action::EXPORT_CREATE).is_empty());
        let alerts = c.services.alerts(&c.manager, Some(AlertState::Open), 10).expect("alerts");
        assert!(
            alerts.iter().any(|(a, email)| a.kind == "export_approval" && email == "rep@example.com"),
            "{alerts:?}"
        );
        // Reps see only alerts addressed to them (none here); nobody approves their own export;
        // another team's rep cannot.
        assert!(c.services.alerts(&c.other_rep, None, 10).expect("alerts").is_empty());
        assert!(matches!(c.services.approve_export(&c.rep, e.id, None), Err(CoreError::Forbidden(_))));
        assert!(matches!(c.services.approve_export(&c.other_rep, e.id, None), Err(CoreError::Forbidden(_))));
        let queue = c.services.exports(&c.manager, holdfast_core::service::ExportList::ToApprove, 10).expect("queue");
        assert_eq!(queue.iter().map(|q| q.id).collect::<Vec<_>>(), vec![e.id]);
        let approved = c.services.approve_export(&c.manager, e.id, Some("ok for the QBR")).expect("approve");
        assert_eq!(approved.status, ExportStatus::Ready);
        let file = c.services.download_export(&c.rep, e.id).expect("download");
        assert_eq!(file.rows, 50);
        assert!(c.services.download_export(&c.rep, e.id).is_err(), "once");
        let created = events(&c.services, c.rep.id().expect("id"), action::EXPORT_CREATE);
        assert_eq!(created[0].event.details["approved_by"], json!(c.manager.id()));
        // A denied export says why and never downloads.
        let d = c.services.request_export(&c.rep, &ask(40, ExportFormat::Csv)).expect("asked");
        assert!(c.services.deny_export(&c.manager, d.id, " ").is_err(), "a denial needs a reason");
        let denied = c.services.deny_export(&c.manager, d.id, "use the shared report").expect("deny");
        assert_eq!(denied.status, ExportStatus::Denied);
        assert!(c.services.download_export(&c.rep, d.id).is_err());
    }
}

#[test]
fn refusals_and_denied_columns_are_recorded_and_say_how_to_ask() {
    for db in each_backend() {
        let c = company(&db, 30);
        let op = Actor::operator();
        let strict = PolicyPatch {
            export_rows: Some(10),
            denied_columns: Some(vec!["phone".into()]),
            over_limit: Some(OverLimit::Refuse),
            ..Default::default()
        };
        c.services.set_policy(&op, PolicyScope::CoWorker, "rep@example.com", Some(strict)).expect("policy");
        let e = c.services.request_export(&c.rep, &ask(25, ExportFormat::Csv)).expect_err("refused");
        assert!(matches!(&e, CoreError::Forbidden(why) if why.contains("ask your manager")), "{e}");
        let mut phones = ask(5, ExportFormat::Csv);
        phones.columns = Some(vec!["first_name".into(), "phone".into()]);
        let e = c.services.request_export(&c.rep, &phones).expect_err("phone refused");
        assert!(e.to_string().contains("phone"), "{e}");
        assert_eq!(events(&c.services, c.rep.id().expect("id"), "export.refused").len(), 2, "{}", db.backend);
        // Without the column asked for, the columns allowed are exported, phone left out.
        let ok = c.services.request_export(&c.rep, &ask(5, ExportFormat::Csv)).expect("allowed");
        assert!(!ok.columns.contains(&"phone".to_string()));
        let mut unknown = ask(5, ExportFormat::Csv);
        unknown.columns = Some(vec!["salary".into()]);
        assert!(matches!(c.services.request_export(&c.rep, &unknown), Err(CoreError::Invalid(_))));
        // The other rep is not affected by this co-worker's policy.
        assert!(c.services.request_export(&c.other_rep, &ask(25, ExportFormat::Csv)).is_ok());
    }
}

#[test]
fn formula_cells_are_text_in_csv_and_xlsx_and_vcards_are_well_formed() {
    for db in each_backend() {
        let c = company(&db, 3);
        let op = Actor::operator();
        let evil = json!({"first_name": "=HYPERLINK(\"http://x\")", "last_name": "Doe, Jr.", "owner_id": c.rep.id()});
        c.services.create_record(&op, &CONTACTS, &evil).expect("contact");
        let mut csv = Vec::new();
        c.services
            .export_now(&c.rep, &ask(10, ExportFormat::Csv))
            .expect("export")
            .expect("ready")
            .file
            .read_to_end(&mut csv)
            .expect("read");
        let text = String::from_utf8(csv).expect("utf-8");
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(!text.contains(",=HYPERLINK"), "{text}");
        let xlsx = c.services.export_now(&c.rep, &ask(10, ExportFormat::Xlsx)).expect("export").expect("ready");
        assert_eq!(xlsx.rows, 4);
        let bytes = xlsx.into_bytes().expect("bytes");
        assert_eq!(&bytes[..2], b"PK", "an XLSX file is a zip");
        let vcf = c.services.export_now(&c.rep, &ask(10, ExportFormat::Vcard)).expect("export").expect("ready");
        let cards = String::from_utf8(vcf.into_bytes().expect("bytes")).expect("utf-8");
        assert_eq!(cards.matches("BEGIN:VCARD\r\nVERSION:4.0\r\n").count(), 4, "{}", db.backend);
        assert!(cards.contains("N:Doe\\, Jr.;=HYPERLINK(\"http://x\");;;"), "{cards}");
        let mut accounts = ask(10, ExportFormat::Vcard);
        accounts.kind = &holdfast_core::record::ACCOUNTS;
        assert!(matches!(c.services.request_export(&c.rep, &accounts), Err(CoreError::Invalid(_))));
    }
}

/// Writes a scripted history: `rows(d)` listed `d` days ago at `hour` UTC for the `days` days
/// before today (weekdays only when the hour is in office hours), as if `who` had worked through
/// the app.
fn history(db: &TestDb, who: Uuid, days: i64, rows: impl Fn(i64) -> i64, hour: i64) {
    let now = holdfast_core::time::Clock::now(&holdfast_core::time::SystemClock);
    let today = now.div_euclid(MICROS_PER_DAY);
    let mut batch = Vec::new();
    for d in (1..=days).rev() {
        let day = today - d;
        if (7..19).contains(&hour) && (day + 3).rem_euclid(7) >= 5 {
            continue;
        }
        let n = rows(d);
        if n == 0 {
            continue;
        }
        batch.push(NewEvent {
            at: day * MICROS_PER_DAY + hour * 3_600_000_000,
            coworker_id: Some(who),
            action: action::LIST_READ.into(),
            object_type: Some("contact".into()),
            object_id: None,
            row_count: n,
            client_addr: Some("192.0.2.10".into()),
            user_agent: None,
            details: json!({"via": "session", "scripted": true}),
        });
    }
    db.store().write(|tx| Ok(append_events(tx, batch)?)).expect("history");
}

fn read_pages(services: &holdfast_core::Holdfast<Store>, who: &Actor, pages: usize) {
    let mut cursor = None;
    for _ in 0..pages {
        let req = ListRequest { limit: Some(100), cursor: cursor.clone(), ..Default::default() };
        let page = services.list_records(who, &CONTACTS, &req).expect("page");
        cursor = page.next_cursor;
    }
}

#[test]
fn reading_far_past_ones_own_baseline_raises_an_alert_and_a_normal_day_does_not() {
    for db in each_backend() {
        let c = company(&db, 4_100);
        let (rep, other) = (c.rep.id().expect("id"), c.other_rep.id().expect("id"));
        // A normal month (and more) for both: 40 to 120 rows a day.
        history(&db, rep, 60, |d| 40 + (d * 37) % 80, 10);
        history(&db, other, 60, |d| 50 + (d * 23) % 70, 10);
        let services = db.services();
        read_pages(&services, &c.other_rep, 1);
        assert!(services.alerts(&c.manager, None, 50).expect("alerts").is_empty(), "a normal day raises nothing");
        read_pages(&services, &c.rep, 40);
        let alerts = services.alerts(&c.manager, None, 50).expect("alerts");
        let volume: Vec<_> = alerts.iter().filter(|(a, _)| a.kind == "read_volume").collect();
        assert_eq!(volume.len(), 1, "{} {alerts:?}", db.backend);
        let (a, email) = volume[0];
        assert_eq!(email, "rep@example.com");
        assert!(!a.event_ids.is_empty(), "the evidence is linked");
        assert!(a.details["threshold"]["own_days"].as_u64().unwrap_or(0) >= 10, "{}", a.details);
        // The alert moves on, and each move is an event.
        let acked = services.set_alert_state(&c.manager, a.id, AlertState::Acknowledged, None).expect("ack");
        assert_eq!(acked.owner_id, c.manager.id());
        assert!(services.set_alert_state(&c.manager, a.id, AlertState::Dismissed, None).is_err(), "a reason");
        services
            .set_alert_state(&c.manager, a.id, AlertState::Resolved, Some("asked: territory planning"))
            .expect("resolve");
        assert_eq!(events(&services, c.manager.id().expect("id"), "alert.state").len(), 2);
    }
}

#[test]
fn marking_a_co_worker_departing_looks_back_and_puts_them_on_the_watchlist() {
    for db in each_backend() {
        let c = company(&db, 50);
        let (rep, other) = (c.rep.id().expect("id"), c.other_rep.id().expect("id"));
        // The leaver: a normal quarter, then 3,000 rows one night two weeks ago.
        history(&db, rep, 90, |d| 60 + (d * 37) % 60, 10);
        history(&db, rep, 14, |d| if d == 14 { 3_000 } else { 0 }, 22);
        history(&db, other, 90, |d| 60 + (d * 29) % 60, 10);
        let services = db.services();
        let op = Actor::operator();
        let departing = CoWorkerChanges { status: Some(Status::Departing), ..Default::default() };
        services.update_coworker(&op, "other@example.com", departing.clone()).expect("other departing");
        assert!(services.alerts(&op, None, 50).expect("alerts").is_empty(), "a normal quarter raises nothing");
        services.update_coworker(&op, "rep@example.com", departing).expect("rep departing");
        let kinds: Vec<String> =
            services.alerts(&op, None, 50).expect("alerts").into_iter().map(|(a, _)| a.kind).collect();
        assert!(kinds.contains(&"read_volume".to_string()), "{} {kinds:?}", db.backend);
        assert!(kinds.contains(&"off_hours_reading".to_string()), "{kinds:?}");
        // Until the notice is acknowledged, no bulk reading on any channel; one record still opens.
        let rep_now = services.actor_for("rep@example.com").expect("actor");
        let refused = services.list_records(&rep_now, &CONTACTS, &ListRequest::default()).expect_err("refused");
        assert!(refused.to_string().contains("confidentiality"), "{refused}");
        assert!(services.request_export(&rep_now, &ask(5, ExportFormat::Csv)).is_err());
        let any = services.list_records(&op, &CONTACTS, &ListRequest::default()).expect("list").items[0].id;
        services.get_record(&rep_now, &CONTACTS, any).expect("one record opens");
        let notice = services.pending_confidentiality(&rep_now).expect("notice").expect("pending");
        services.acknowledge_confidentiality(&rep_now, &notice.sha256).expect("acknowledge");
        services.list_records(&rep_now, &CONTACTS, &ListRequest::default()).expect("lists again");
        // On the watchlist the limits are a tenth: 100 rows of export, then approval.
        let limits = services.limits_of(&op, "rep@example.com").expect("limits");
        assert!(limits.watchlist && limits.export_rows == 100);
        let e = services.request_export(&rep_now, &ask(50, ExportFormat::Csv)).expect("small export");
        assert_eq!(e.status, ExportStatus::Ready);
        services.download_export(&rep_now, e.id).expect("download");
        let kinds: Vec<String> =
            services.alerts(&op, None, 50).expect("alerts").into_iter().map(|(a, _)| a.kind).collect();
        assert!(kinds.contains(&"departing_export".to_string()), "{kinds:?}");
    }
}

/// Records webhook posts, failing the first `fail` of them.
struct Receiver {
    posts: Mutex<Vec<WebhookPost>>,
    fail: Mutex<usize>,
}

impl AlertSender for Receiver {
    fn post_webhook(&self, post: &WebhookPost) -> Result<(), String> {
        let mut fail = self.fail.lock().map_err(|e| e.to_string())?;
        if *fail > 0 {
            *fail -= 1;
            return Err("connection refused".into());
        }
        self.posts.lock().map_err(|e| e.to_string())?.push(post.clone());
        Ok(())
    }

    fn send_email(&self, _: &holdfast_core::service::AlertEmail) -> Result<(), String> {
        Err("no SMTP server in this test".into())
    }
}

#[test]
fn alerts_go_to_the_webhook_signed_and_are_retried_when_it_fails() {
    for db in each_backend() {
        let c = company(&db, 40);
        let op = Actor::operator();
        let change = SettingsChange {
            alert_webhook_url: Some("https://hooks.example/holdfast".into()),
            alert_webhook_secret: Some(SECRET.into()),
            ..Default::default()
        };
        c.services.change_settings(&op, &change).expect("webhook");
        let bad = SettingsChange { alert_webhook_secret: Some("not-a-secret".into()), ..Default::default() };
        assert!(matches!(c.services.change_settings(&op, &bad), Err(CoreError::Invalid(_))));
        let tight = PolicyPatch { export_rows: Some(10), ..Default::default() };
        c.services.set_policy(&op, PolicyScope::Role, "rep", Some(tight)).expect("policy");
        c.services.request_export(&c.rep, &ask(30, ExportFormat::Csv)).expect("pending");
        let receiver = Receiver { posts: Mutex::new(Vec::new()), fail: Mutex::new(1) };
        let round = c.services.deliver_due_alerts(&receiver).expect("round");
        assert_eq!((round.delivered, round.failed), (0, 1), "{}", db.backend);
        let log = c.services.alert_deliveries(&op, 10).expect("log");
        assert_eq!(log[0].attempts, 1);
        assert_eq!(log[0].last_error.as_deref(), Some("connection refused"));
        assert!(log[0].next_at > c.services.now(), "retried later, not at once");
        // Not due yet: nothing is sent.
        assert_eq!(c.services.deliver_due_alerts(&receiver).expect("round").delivered, 0);
        let store = db.store();
        store
            .write(|tx| {
                let mut d = tx.list_deliveries(1)?.remove(0);
                d.next_at = 0;
                Ok(tx.update_delivery(&d)?)
            })
            .expect("make it due");
        assert_eq!(c.services.deliver_due_alerts(&receiver).expect("round").delivered, 1);
        let posts = receiver.posts.lock().expect("posts");
        let post = &posts[0];
        let expected = webhook_signature(SECRET, &post.id, post.timestamp, &post.body).expect("signature");
        assert_eq!(post.signature.as_deref(), Some(expected.as_str()));
        let body: serde_json::Value = serde_json::from_str(&post.body).expect("JSON");
        assert_eq!(body["type"], "alert.raised");
        assert_eq!(body["data"]["coworker_email"], "rep@example.com");
        assert_eq!(body["data"]["kind"], "export_approval");
        assert!(c.services.alert_deliveries(&op, 10).expect("log")[0].delivered_at.is_some());
    }
}

#[test]
fn exports_asked_for_together_cannot_pass_the_budget_and_a_file_downloads_once_under_load() {
    for db in each_backend() {
        let c = company(&db, 1_000);
        // 20 requests of 900 rows at once against a 5,000-row day: 5 fit (4,500), the rest wait.
        let asked: Vec<_> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|_| scope.spawn(|| c.services.request_export(&c.rep, &ask(900, ExportFormat::Csv))))
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread").expect("asked")).collect()
        });
        let ready: Vec<_> = asked.iter().filter(|e| e.status == ExportStatus::Ready).collect();
        assert_eq!(ready.len(), 5, "{}: {:?}", db.backend, asked.iter().map(|e| e.status).collect::<Vec<_>>());
        assert!(asked.iter().filter(|e| e.status != ExportStatus::Ready).all(|e| e.status == ExportStatus::Pending));
        // One ready export fetched 20 times at once: one file goes out.
        let id = ready[0].id;
        let got: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> =
                (0..20).map(|_| scope.spawn(|| c.services.download_export(&c.rep, id).is_ok())).collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(got.iter().filter(|ok| **ok).count(), 1, "{}", db.backend);
        let created = events(&c.services, c.rep.id().expect("id"), action::EXPORT_CREATE);
        assert_eq!(created.len(), 1);
    }
}

#[test]
fn past_an_alert_only_budget_reading_goes_on_and_raises_one_alert() {
    for db in each_backend() {
        let c = company(&db, 1_000);
        let op = Actor::operator();
        let budget =
            PolicyPatch { daily_rows: Some(150), over_limit: Some(OverLimit::AllowAndAlert), ..Default::default() };
        c.services.set_policy(&op, PolicyScope::Role, "manager", Some(budget)).expect("policy");
        for _ in 0..5 {
            let req = ListRequest { limit: Some(100), ..Default::default() };
            c.services.list_records(&c.manager, &CONTACTS, &req).expect("allowed, with an alert");
        }
        let alerts = c.services.alerts(&op, None, 50).expect("alerts");
        let budget: Vec<_> = alerts.iter().filter(|(a, _)| a.kind == "read_budget").collect();
        assert_eq!(budget.len(), 1, "{}: {alerts:?}", db.backend);
        assert_eq!(budget[0].1, "manager@example.com");
        // A rep under the default policy (approval) is refused instead, with how to ask.
        let rep_budget = PolicyPatch { daily_rows: Some(150), ..Default::default() };
        c.services.set_policy(&op, PolicyScope::Role, "rep", Some(rep_budget)).expect("policy");
        let req = ListRequest { limit: Some(100), ..Default::default() };
        c.services.list_records(&c.rep, &CONTACTS, &req).expect("first page");
        c.services.list_records(&c.rep, &CONTACTS, &req).expect("second page");
        let refused = c.services.list_records(&c.rep, &CONTACTS, &req).expect_err("past the budget");
        assert!(refused.to_string().contains("ask for an export"), "{refused}");
        let any = c.services.list_records(&op, &CONTACTS, &ListRequest::default()).expect("list").items[0].id;
        c.services.get_record(&c.rep, &CONTACTS, any).expect("one record still opens");
    }
}

#[test]
fn a_budget_holds_across_several_servers_sharing_one_postgresql() {
    for db in each_backend() {
        // Several servers share a PostgreSQL database; an embedded SQLite file has one server,
        // where the same requests take turns in memory (this test then runs them on one).
        let c = company(&db, 1_000);
        let second = if db.backend == "postgres" { db.services() } else { c.services.clone() };
        let op = Actor::operator();
        let budget = PolicyPatch { daily_rows: Some(500), over_limit: Some(OverLimit::Refuse), ..Default::default() };
        c.services.set_policy(&op, PolicyScope::Role, "rep", Some(budget)).expect("policy");
        // 20 pages of 100 rows at once, half to each server, against 500 rows a day: 5 pass.
        let passed: Vec<bool> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..20)
                .map(|i| {
                    let server = if i % 2 == 0 { &c.services } else { &second };
                    let rep = &c.rep;
                    scope.spawn(move || {
                        let req = ListRequest { limit: Some(100), ..Default::default() };
                        server.list_records(rep, &CONTACTS, &req).is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(passed.iter().filter(|ok| **ok).count(), 5, "{}: {passed:?}", db.backend);
        // Opening one record is never refused by a budget, on either server.
        let one = c.services.list_records(&op, &CONTACTS, &ListRequest { limit: Some(1), ..Default::default() });
        let id = one.expect("list").items[0].id;
        second.get_record(&c.rep, &CONTACTS, id).expect("one record opens");
    }
}

#[test]
fn opening_many_colleagues_customers_raises_an_alert_and_ones_own_book_does_not() {
    for db in each_backend() {
        let c = company(&db, 200);
        let op = Actor::operator();
        let ids: Vec<Uuid> = c
            .services
            .list_records(&op, &CONTACTS, &ListRequest { limit: Some(100), ..Default::default() })
            .expect("list")
            .items
            .iter()
            .map(|r| r.id)
            .collect();
        // The rep covers colleagues' customers every day: 70 a day for the four weeks before today
        // (history, written before today's reading starts).
        let rep = c.rep.id().expect("id");
        let today = holdfast_core::time::Clock::now(&holdfast_core::time::SystemClock).div_euclid(MICROS_PER_DAY);
        let habit: Vec<NewEvent> = (1..=28)
            .flat_map(|d| {
                (0..70).map(move |i| NewEvent {
                    at: (today - d) * MICROS_PER_DAY + 10 * 3_600_000_000 + i,
                    coworker_id: Some(rep),
                    action: action::RECORD_READ.into(),
                    object_type: Some("contact".into()),
                    object_id: None,
                    row_count: 1,
                    client_addr: None,
                    user_agent: None,
                    details: json!({"outside_book": true, "scripted": true}),
                })
            })
            .collect();
        db.store().write(|tx| Ok(append_events(tx, habit)?)).expect("habit");
        let outside = |alerts: &[(holdfast_core::guard::Alert, String)]| {
            alerts.iter().filter(|(a, _)| a.kind == "reading_outside_book").count()
        };
        // The rep's own customers, and the manager's people's: their own book, however many.
        for id in &ids {
            c.services.get_record(&c.rep, &CONTACTS, *id).expect("own");
            c.services.get_record(&c.manager, &CONTACTS, *id).expect("their people's");
        }
        assert_eq!(outside(&c.services.alerts(&op, None, 100).expect("alerts")), 0, "{}", db.backend);
        // A colleague opening 49 of them: still within what anyone might do covering a call.
        for id in &ids[..49] {
            c.services.get_record(&c.other_rep, &CONTACTS, *id).expect("colleague's");
        }
        assert_eq!(outside(&c.services.alerts(&op, None, 100).expect("alerts")), 0, "{}: below the floor", db.backend);
        for id in &ids[49..] {
            c.services.get_record(&c.other_rep, &CONTACTS, *id).expect("colleague's");
        }
        let alerts = c.services.alerts(&op, None, 100).expect("alerts");
        assert_eq!(outside(&alerts), 1, "{}: once a day: {alerts:?}", db.backend);
        let (alert, _) = alerts.iter().find(|(a, _)| a.kind == "reading_outside_book").expect("alert");
        assert_eq!(alert.coworker_id, c.other_rep.id().expect("id"));
        assert!(alert.summary.contains("other@example.com opened 50 records"), "{}", alert.summary);
        assert!(alert.event_ids.len() >= 50, "the reads are the evidence");
        let marked = events(&c.services, c.other_rep.id().expect("id"), action::RECORD_READ);
        assert!(marked.iter().all(|e| e.event.details["outside_book"] == json!(true)), "each read says so");
        let own = events(&c.services, c.rep.id().expect("id"), action::RECORD_READ);
        let today_own: Vec<_> = own.iter().filter(|e| e.event.details.get("scripted").is_none()).collect();
        assert!(!today_own.is_empty() && today_own.iter().all(|e| e.event.details.get("outside_book").is_none()));

        // The helper covering colleagues' customers, as they do every day, opens 60 today: their
        // normal day, nothing is raised.
        let theirs: Vec<_> =
            (0..60).map(|i| json!({"first_name": format!("Covered{i}"), "owner_id": c.other_rep.id()})).collect();
        for id in c.services.create_many(&op, &CONTACTS, &theirs).expect("colleague's customers") {
            c.services.get_record(&c.rep, &CONTACTS, id).expect("covering a call");
        }
        let alerts = c.services.alerts(&op, None, 100).expect("alerts");
        assert_eq!(outside(&alerts), 1, "{}: the helper's usual day raises nothing: {alerts:?}", db.backend);
    }
}

#[test]
fn a_csv_export_says_what_the_records_say_cell_for_cell() {
    for db in each_backend() {
        let c = company(&db, 0);
        let op = Actor::operator();
        let acme = c.services.create_record(&op, &ACCOUNTS, &json!({"name": "Acme"})).expect("account");
        let deals = [
            json!({"name": "Renewal", "account_id": acme.id, "amount": 125000, "stage": "negotiation", "close_date": "2026-12-31"}),
            json!({"name": "Upsell, \"phase 2\"", "account_id": acme.id, "amount": 12500.5}),
            json!({"name": "+1 seats", "account_id": acme.id, "amount": "0.07", "owner_id": c.rep.id()}),
        ];
        for d in &deals {
            c.services.create_record(&op, &DEALS, d).expect("deal");
        }
        let mut everything = ask(10, ExportFormat::Csv);
        everything.kind = &DEALS;
        let file = c.services.export_now(&op, &everything).expect("export").expect("ready");
        let bytes = file.into_bytes().expect("bytes");
        let mut reader = csv::Reader::from_reader(bytes.as_slice());
        let header: Vec<String> = reader.headers().expect("header").iter().map(str::to_string).collect();
        let listed =
            c.services.list_records(&op, &DEALS, &ListRequest { limit: Some(10), ..Default::default() }).expect("list");
        let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("row")).collect();
        assert_eq!(rows.len(), 3, "{}", db.backend);
        for (row, record) in rows.iter().zip(&listed.items) {
            let shown = record.to_json(&DEALS);
            for (column, cell) in header.iter().zip(row.iter()) {
                let expected = match &shown[column.as_str()] {
                    serde_json::Value::Null => String::new(),
                    serde_json::Value::String(s) if s.starts_with(['=', '+', '-', '@']) => format!("'{s}"),
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                assert_eq!(cell, expected, "{}: {column} of {}", db.backend, record.id);
            }
        }
    }
}

#[test]
fn the_daily_sweep_finds_a_night_of_bulk_reading_by_someone_who_is_not_leaving() {
    for db in each_backend() {
        let c = company(&db, 10);
        let (rep, other) = (c.rep.id().expect("id"), c.other_rep.id().expect("id"));
        // A normal month for both in office hours; then, yesterday at 02:00, 3,000 rows for the rep.
        for who in [rep, other] {
            history(&db, who, 30, |d| 40 + (d * 7) % 80, 10);
        }
        let op = Actor::operator();
        let kinds = |services: &holdfast_core::Holdfast<Store>| -> Vec<(String, Uuid)> {
            services.alerts(&op, None, 100).expect("alerts").into_iter().map(|(a, _)| (a.kind, a.coworker_id)).collect()
        };
        assert_eq!(c.services.sweep_detectors().expect("sweep"), 0, "{}: a normal month raises nothing", db.backend);
        history(&db, rep, 1, |_| 3_000, 2);
        let raised = c.services.sweep_detectors().expect("sweep");
        let found = kinds(&c.services);
        assert!(found.contains(&("off_hours_reading".to_string(), rep)), "{}: {found:?}", db.backend);
        assert!(found.contains(&("read_volume".to_string(), rep)), "{found:?}");
        assert!(found.iter().all(|(_, who)| *who == rep), "nothing about the other rep: {found:?}");
        assert_eq!(raised, found.len());
        assert_eq!(c.services.sweep_detectors().expect("again"), 0, "a day is raised once");
    }
}
