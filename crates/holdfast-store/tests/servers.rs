//! Several `holdfast serve` processes on one PostgreSQL database, as a company that outgrew one
//! machine runs them behind a load balancer: under concurrent load from both, the system event
//! log stays one unbroken chain, a co-worker suspended on one server is refused on the other at
//! the next request, and scheduled work (ending a departure at the last day, alert deliveries,
//! the weekly digest) is done once however many servers tick at the same moment. An embedded SQLite file has one
//! server; there the same steps run on it alone.

use std::sync::{Arc, Mutex};

use holdfast_core::coworker::{Actor, Role, Status};
use holdfast_core::departure::{Reason, Source};
use holdfast_core::guard::{ExportFormat, PolicyPatch};
use holdfast_core::record::{ACCOUNTS, ACTIVITIES, CONTACTS};
use holdfast_core::service::{
    AlertEmail, AlertSender, CoWorkerChanges, ExportAsk, ListRequest, NewDeparture, PolicyScope, SettingsChange,
    WebhookPost,
};
use holdfast_core::time::{MICROS_PER_DAY, ManualClock, format_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{TestDb, add_coworker, each_backend};
use serde_json::json;

/// 2026-11-02 09:00 UTC, a Monday.
const MONDAY_9AM: i64 = 1_793_610_000_000_000;
const REPS: [&str; 4] = ["ann@example.com", "ben@example.com", "cat@example.com", "dev@example.com"];

/// What the servers sent out: webhook posts (by message id) and mails (recipients, subject).
#[derive(Default)]
struct Outbox {
    posts: Mutex<Vec<String>>,
    mails: Mutex<Vec<(String, String)>>,
}

impl AlertSender for Outbox {
    fn post_webhook(&self, post: &WebhookPost) -> Result<(), String> {
        self.posts.lock().map_err(|e| e.to_string())?.push(post.id.clone());
        Ok(())
    }
    fn send_email(&self, mail: &AlertEmail) -> Result<(), String> {
        self.mails.lock().map_err(|e| e.to_string())?.push((mail.to.join(","), mail.subject.clone()));
        Ok(())
    }
}

/// Two servers on the database (one, shared, on SQLite), with the same clock.
fn servers(db: &TestDb, clock: &Arc<ManualClock>) -> (Arc<Holdfast<Store>>, Arc<Holdfast<Store>>) {
    let first = Arc::new(Holdfast::with_clock(db.store(), clock.clone()));
    let second = if db.backend == "postgres" {
        Arc::new(Holdfast::with_clock(db.store(), clock.clone()))
    } else {
        first.clone()
    };
    (first, second)
}

#[test]
fn two_servers_keep_one_chain_revoke_at_once_and_do_scheduled_work_once() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(MONDAY_9AM));
        let (a, b) = servers(&db, &clock);
        let op = Actor::operator();
        add_coworker(&a, "admin@example.com", Role::Admin, None, None);
        add_coworker(&a, "boss@example.com", Role::Manager, Some("East"), None);
        let tokens: Vec<String> =
            REPS.iter().map(|r| add_coworker(&a, r, Role::Rep, Some("East"), Some("boss@example.com"))).collect();
        add_coworker(&a, "leaver@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let webhook = SettingsChange {
            alert_webhook_url: Some("https://hooks.example/holdfast".into()),
            alert_smtp_url: Some("smtp://127.0.0.1:2525".into()),
            ..Default::default()
        };
        a.change_settings(&op, &webhook).expect("webhook");
        let tight = PolicyPatch { export_rows: Some(5), ..Default::default() };
        a.set_policy(&op, PolicyScope::Role, "rep", Some(tight)).expect("policy");

        // Load from both servers at once: every rep creates, opens, changes and lists contacts,
        // and asks for an export past their limit (each raising an alert to deliver).
        std::thread::scope(|scope| {
            for (i, rep) in REPS.iter().enumerate() {
                for half in 0..2 {
                    let server = if (i + half) % 2 == 0 { &a } else { &b };
                    scope.spawn(move || {
                        let me = server.actor_for(rep).expect("rep");
                        for n in 0..8 {
                            let body =
                                json!({"first_name": format!("C{half}-{n}"), "last_name": rep, "owner_id": me.id()});
                            let c = server.create_record(&me, &CONTACTS, &body).expect("create");
                            server.get_record(&me, &CONTACTS, c.id).expect("open");
                            server.update_record(&me, &CONTACTS, c.id, &json!({"title": "Buyer"})).expect("update");
                        }
                        server.list_records(&me, &CONTACTS, &ListRequest::default()).expect("list");
                        let ask = ExportAsk {
                            kind: &CONTACTS,
                            list: ListRequest::default(),
                            ids: None,
                            limit: Some(12),
                            format: ExportFormat::Csv,
                            columns: None,
                            reason: None,
                        };
                        server.request_export(&me, &ask).expect("asked, waiting for approval");
                    });
                }
            }
        });

        // The leaver's last day is Friday; on Saturday both servers tick at the same moment,
        // many times, and deliver alerts at the same moment, many times.
        let new = NewDeparture {
            notice_date: None,
            last_day: "2026-11-06".into(),
            reason: Reason::Resignation,
            destination: None,
            good_terms: true,
            source: Source::Manual,
        };
        let case = b.start_departure(&op, "leaver@example.com", new).expect("case");
        clock.advance_secs(5 * 86_400);
        // Something for the manager's weekly digest: a strategic account that now hangs on Ann
        // alone (Ben's call fell out of the 180-day window three days ago).
        let ann = a.actor_for(REPS[0]).expect("ann");
        let acme = json!({"name": "Acme", "annual_value": 90_000, "tier": "strategic", "owner_id": ann.id()});
        let acme = a.create_record(&op, &ACCOUNTS, &acme).expect("account").id;
        for (who, days_ago) in [(REPS[0], 10), (REPS[1], 183)] {
            let at = format_timestamp(a.now() - days_ago * MICROS_PER_DAY);
            let call = json!({"type": "call", "summary": "Catch-up", "account_id": acme, "occurred_at": at});
            a.create_record(&a.actor_for(who).expect("rep"), &ACTIVITIES, &call).expect("activity");
        }
        let out = Outbox::default();
        let (ended, delivered) = std::thread::scope(|scope| {
            let ticks: Vec<_> = [&a, &b, &a, &b]
                .into_iter()
                .map(|server| {
                    let out = &out;
                    scope.spawn(move || {
                        let mut ended = Vec::new();
                        let mut delivered = 0;
                        for _ in 0..5 {
                            ended.extend(server.end_due_departures().expect("tick").into_iter().map(|d| d.id));
                            delivered += server.deliver_due_alerts(out).expect("round").delivered;
                            server.send_due_digests(out).expect("digests");
                        }
                        (ended, delivered)
                    })
                })
                .collect();
            ticks.into_iter().map(|t| t.join().expect("tick thread")).fold((Vec::new(), 0), |mut all, (e, d)| {
                all.0.extend(e);
                (all.0, all.1 + d)
            })
        });
        assert_eq!(ended, vec![case.id], "{}: the case ended once", db.backend);
        // Whatever a round left (a lease held by the other server), the next ticks finish.
        let more =
            a.deliver_due_alerts(&out).expect("round").delivered + b.deliver_due_alerts(&out).expect("round").delivered;
        let posts = out.posts.lock().expect("posts").clone();
        let mails = out.mails.lock().expect("mails").clone();
        let (digests, alert_mails): (Vec<_>, Vec<_>) =
            mails.iter().partition(|(_, subject)| subject.starts_with("[Holdfast] This week"));
        let mut distinct = posts.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), posts.len(), "{}: an alert was posted twice: {posts:?}", db.backend);
        assert_eq!(posts.len() + alert_mails.len(), delivered + more);
        let alerts = a.alerts(&op, None, 100).expect("alerts");
        assert!(alerts.len() >= REPS.len() * 2, "{}: {} alerts", db.backend, alerts.len());
        assert_eq!(posts.len(), alerts.len(), "{}: each alert posted once", db.backend);
        let digests: Vec<&str> = digests.iter().map(|(to, _)| to.as_str()).collect();
        assert_eq!(digests, ["boss@example.com"], "{}: one digest, once", db.backend);

        // Suspended on one server: refused on the other at the next request.
        let ann = a.authenticate(&tokens[0], None, None).expect("signed in");
        assert_eq!(ann.coworker.as_ref().map(|c| c.status), Some(Status::Active));
        let suspend = CoWorkerChanges { status: Some(Status::Suspended), ..Default::default() };
        a.update_coworker(&op, REPS[0], suspend).expect("suspend");
        let refused = b.authenticate(&tokens[0], None, None).expect_err("suspended");
        assert!(matches!(refused, CoreError::Unauthenticated(_)), "{}: {refused}", db.backend);
        // The departed leaver is refused on both.
        for server in [&a, &b] {
            let refused = server.login("leaver@example.com", holdfast_testing::PASSWORD, None, None);
            assert!(matches!(refused, Err(CoreError::Unauthenticated(_))), "{}", db.backend);
        }

        // One unbroken chain, whichever server wrote each event.
        let report = b.verify_log(&op, "", &[]).expect("verify");
        assert!(report.ok(), "{}: {:?}", db.backend, report.findings);
        assert!(report.events > 200, "{}: {} events", db.backend, report.events);
    }
}
