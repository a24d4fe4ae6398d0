//! Coverage and walk-out exposure on both backends, over crafted activity histories: a
//! single-threaded account shows in its rep's exposure with its value; a manager's meeting there
//! changes the account's coverage reason at once and takes it out of the exposure; a strategic
//! account whose last senior contact is older than its cadence says so; a rep sees only their own
//! exposure; reading either is recorded.

use std::sync::Arc;

use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::{EventFilter, action};
use holdfast_core::record::{ACCOUNTS, ACTIVITIES, CONTACTS};
use holdfast_core::storage::Database;
use holdfast_core::time::{ManualClock, format_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{add_coworker, each_backend};
use serde_json::json;
use uuid::Uuid;

/// 2026-11-02 09:00 UTC.
const NOW: i64 = 1_793_610_000_000_000;
const DAY: i64 = 86_400_000_000;

fn id_of(services: &Holdfast<Store>, email: &str) -> Uuid {
    services.actor_for(email).expect("co-worker").id().expect("id")
}

fn log(services: &Holdfast<Store>, who: &str, account: Uuid, contacts: &[Uuid], days_ago: i64) {
    let actor = services.actor_for(who).expect("actor");
    let contacts: Vec<String> = contacts.iter().map(Uuid::to_string).collect();
    services
        .create_record(
            &actor,
            &ACTIVITIES,
            &json!({"type": "meeting", "summary": "Catch-up", "account_id": account.to_string(),
                    "occurred_at": format_timestamp(NOW - days_ago * DAY), "contact_ids": contacts}),
        )
        .expect("activity");
}

#[test]
fn single_threaded_accounts_make_exposure_and_a_managers_meeting_changes_coverage_at_once() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(NOW));
        let services = Holdfast::with_clock(db.store(), clock);
        add_coworker(&services, "admin@example.com", Role::Admin, None, None);
        add_coworker(&services, "boss@example.com", Role::Manager, Some("East"), None);
        add_coworker(&services, "dana@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        add_coworker(&services, "eli@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let op = Actor::operator();
        let dana = id_of(&services, "dana@example.com");
        let mk = |name: &str, value: i64, tier: &str| {
            services
                .create_record(
                    &op,
                    &ACCOUNTS,
                    &json!({"name": name, "annual_value": value, "tier": tier, "owner_id": dana.to_string()}),
                )
                .expect("account")
                .id
        };
        let (acme, globex, initech) =
            (mk("Acme", 120_000, "strategic"), mk("Globex", 40_000, "smb"), mk("Initech", 9_000, "smb"));
        let contact = |account: Uuid, name: &str| {
            services
                .create_record(&op, &CONTACTS, &json!({"first_name": name, "account_id": account.to_string()}))
                .expect("contact")
                .id
        };
        let (cfo, cto) = (contact(acme, "Carla"), contact(acme, "Tom"));
        let ops = contact(globex, "Olga");
        // Acme: only Dana, for months. Globex: Dana and Eli. Initech: nobody in 180 days.
        for days in [5, 40, 90] {
            log(&services, "dana@example.com", acme, &[cfo], days);
        }
        log(&services, "dana@example.com", globex, &[ops], 10);
        log(&services, "eli@example.com", globex, &[ops], 20);
        log(&services, "dana@example.com", initech, &[], 300);
        // A senior contact at Acme long ago (the manager, 200 days ago: outside its 60-day cadence).
        log(&services, "boss@example.com", acme, &[cfo], 200);

        let admin = services.actor_for("admin@example.com").expect("admin");
        let exposure = services.exposure(&admin).expect("exposure");
        assert_eq!(exposure.len(), 1, "{}: only Dana holds an account alone: {exposure:?}", db.backend);
        assert_eq!((exposure[0].email.as_str(), exposure[0].accounts.len()), ("dana@example.com", 1));
        assert_eq!((exposure[0].accounts[0].id, exposure[0].value_at_stake), (acme, 12_000_000), "{}", db.backend);

        // Month by month: at the end of October (Dana's calls 40 and 90 days before now) Acme
        // already hung on Dana; the months are kept once worked out.
        let trend = services.exposure_trend(&admin, 3).expect("trend");
        let months: Vec<&str> = trend.iter().map(|m| m.month.as_str()).collect();
        assert_eq!(months, ["2026-08", "2026-09", "2026-10", "2026-11"], "{}", db.backend);
        assert!(trend[3].current && !trend[2].current);
        assert_eq!((trend[2].accounts, trend[2].value_at_stake), (1, 12_000_000), "{}: {trend:?}", db.backend);
        assert_eq!(trend[3].value_at_stake, 12_000_000);
        assert_eq!(services.exposure_trend(&admin, 3).expect("again"), trend, "kept, not worked out again");

        let c = services.account_coverage(&admin, acme).expect("coverage");
        assert!(
            c.reason.starts_with("only dana has spoken to anyone at Acme in 180 days"),
            "{}: {}",
            db.backend,
            c.reason
        );
        assert!(c.reason.contains("no senior contact for 200 days (every 60 for its tier)"), "{}", c.reason);
        assert_eq!((c.coworkers.len(), c.contacts), (1, 1));
        let before = c.score;

        // The manager meets Acme's CTO and CFO today: the reason changes at once.
        log(&services, "boss@example.com", acme, &[cfo, cto], 0);
        let c = services.account_coverage(&admin, acme).expect("coverage");
        assert!(c.reason.starts_with("2 co-workers talk to Acme"), "{}: {}", db.backend, c.reason);
        assert!(c.reason.contains("senior contact 0 days ago"), "{}", c.reason);
        assert!(c.score > before, "{} > {before}", c.score);
        assert!(
            services.exposure(&admin).expect("exposure").is_empty(),
            "{}: Acme is no longer Dana's alone",
            db.backend
        );
        let after = services.exposure_trend(&admin, 3).expect("trend");
        assert_eq!(after[2], trend[2], "a past month stays as it was");
        assert_eq!(after[3].value_at_stake, 0, "the month under way follows today");

        let g = services.account_coverage(&admin, globex).expect("coverage");
        assert!(
            g.reason.contains("2 co-workers talk to 1 contacts at Globex") || g.reason.contains("only one contact"),
            "{}",
            g.reason
        );
        let i = services.account_coverage(&admin, initech).expect("coverage");
        assert!(i.reason.starts_with("nobody has spoken to anyone at Initech"), "{}", i.reason);
        assert_eq!(i.score, 0);

        // A rep sees their own exposure only; the report is recorded.
        log(&services, "eli@example.com", initech, &[], 1);
        let eli = services.actor_for("eli@example.com").expect("eli");
        let mine = services.exposure(&eli).expect("exposure");
        assert_eq!(mine.iter().map(|e| e.email.as_str()).collect::<Vec<_>>(), ["eli@example.com"], "{}", db.backend);
        let filter = EventFilter {
            coworker_id: eli.id(),
            action: Some(action::REPORT_READ.into()),
            limit: 5,
            ..Default::default()
        };
        let events = services.events(&op, &filter).expect("events");
        assert_eq!(events[0].event.details["report"], "exposure", "{}", db.backend);
        assert!(matches!(services.account_coverage(&eli, Uuid::nil()), Err(CoreError::NotFound { .. })));
    }
}

#[test]
fn the_coverage_report_renewals_and_the_admins_cadence_agree_with_the_account_page() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(NOW));
        let services = Holdfast::with_clock(db.store(), clock);
        add_coworker(&services, "admin@example.com", Role::Admin, None, None);
        add_coworker(&services, "boss@example.com", Role::Manager, Some("East"), None);
        add_coworker(&services, "dana@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        add_coworker(&services, "eli@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let op = Actor::operator();
        let dana = id_of(&services, "dana@example.com");
        let mk = |name: &str, value: i64, tier: &str| {
            services
                .create_record(
                    &op,
                    &ACCOUNTS,
                    &json!({"name": name, "annual_value": value, "tier": tier, "owner_id": dana.to_string(),
                            "fiscal_year_end_month": 3}),
                )
                .expect("account")
                .id
        };
        let (acme, globex) = (mk("Acme", 120_000, "strategic"), mk("Globex", 40_000, "enterprise"));
        let contact = |account: Uuid, name: &str| {
            services
                .create_record(&op, &CONTACTS, &json!({"first_name": name, "account_id": account.to_string()}))
                .expect("contact")
                .id
        };
        let (carla, olga, tom) = (contact(acme, "Carla"), contact(globex, "Olga"), contact(globex, "Tom"));
        log(&services, "dana@example.com", acme, &[carla], 3);
        log(&services, "dana@example.com", globex, &[olga], 5);
        log(&services, "eli@example.com", globex, &[tom], 6);
        // The manager met Globex 75 days ago: within enterprise's 90 days, outside strategic's 60.
        log(&services, "boss@example.com", globex, &[olga], 75);
        services
            .create_record(
                &op,
                &holdfast_core::record::CONTRACTS,
                &json!({"name": "Acme subscription", "account_id": acme.to_string(), "value": 120_000,
                        "renewal_date": holdfast_core::time::date_of(NOW + 20 * DAY)}),
            )
            .expect("contract");

        let admin = services.actor_for("admin@example.com").expect("admin");
        let rows = services.coverage_report(&admin).expect("report");
        assert_eq!(rows.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["Acme", "Globex"], "weakest first");
        for r in &rows {
            let page = services.account_coverage(&admin, r.coverage.account).expect("coverage");
            assert_eq!(r.coverage.score, page.score, "{}: {} scores the same in both", db.backend, r.name);
        }
        assert!(rows[0].single_threaded() && rows[0].senior_overdue(NOW));
        assert!(!rows[1].single_threaded() && !rows[1].senior_overdue(NOW), "{:?}", rows[1].coverage);
        let scores = services.coverage_scores(&[globex]).expect("scores");
        assert_eq!(scores.get(&globex).map(|c| c.score), Some(rows[1].coverage.score));

        let renewals = services.renewals(&admin, 30).expect("renewals");
        assert_eq!(renewals.len(), 1, "{}", db.backend);
        assert_eq!(renewals[0].renewal.account, acme);
        assert_eq!(renewals[0].renewal.fiscal_year_end_month, Some(3));
        assert_eq!(renewals[0].coverage.score, rows[0].coverage.score);
        assert!(services.renewals(&admin, 10).expect("renewals").is_empty(), "20 days out is past a 10-day window");

        // The admin makes enterprise accounts want a senior look every 30 days: Globex is overdue.
        let change = holdfast_core::service::SettingsChange {
            senior_cadence: Some("enterprise=30".into()),
            ..Default::default()
        };
        let bad =
            holdfast_core::service::SettingsChange { senior_cadence: Some("platinum=10".into()), ..Default::default() };
        assert!(matches!(services.change_settings(&admin, &bad), Err(CoreError::Invalid(_))));
        services.change_settings(&admin, &change).expect("cadence");
        let g = services.account_coverage(&admin, globex).expect("coverage");
        assert!(g.reason.contains("every 30 for its tier"), "{}: {}", db.backend, g.reason);
        let rows = services.coverage_report(&admin).expect("report");
        assert!(rows.iter().all(|r| r.senior_overdue(NOW)), "{}", db.backend);
        let filter = EventFilter { action: Some(action::REPORT_READ.into()), limit: 20, ..Default::default() };
        let reports: Vec<String> = services
            .events(&op, &filter)
            .expect("events")
            .iter()
            .filter_map(|e| e.event.details["report"].as_str().map(String::from))
            .collect();
        assert!(reports.contains(&"coverage".into()) && reports.contains(&"renewals".into()), "{reports:?}");
    }
}

/// Records the mails a digest sends.
#[derive(Default)]
struct Mailbox(std::sync::Mutex<Vec<holdfast_core::service::AlertEmail>>);

impl holdfast_core::service::AlertSender for Mailbox {
    fn post_webhook(&self, _: &holdfast_core::service::WebhookPost) -> Result<(), String> {
        Err("no webhooks here".into())
    }
    fn send_email(&self, email: &holdfast_core::service::AlertEmail) -> Result<(), String> {
        self.0.lock().map_err(|e| e.to_string())?.push(email.clone());
        Ok(())
    }
}

#[test]
fn the_weekly_digest_names_accounts_newly_on_one_coworker_and_goes_out_once_a_week() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(NOW));
        let services = Holdfast::with_clock(db.store(), clock.clone());
        add_coworker(&services, "admin@example.com", Role::Admin, None, None);
        add_coworker(&services, "boss@example.com", Role::Manager, Some("East"), None);
        add_coworker(&services, "west@example.com", Role::Manager, Some("West"), None);
        add_coworker(&services, "dana@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        add_coworker(&services, "eli@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let op = Actor::operator();
        let dana = id_of(&services, "dana@example.com");
        let mk = |name: &str| {
            services
                .create_record(
                    &op,
                    &ACCOUNTS,
                    &json!({"name": name, "annual_value": 50_000, "tier": "strategic", "owner_id": dana.to_string()}),
                )
                .expect("account")
                .id
        };
        let (acme, globex) = (mk("Acme"), mk("Globex"));
        // Globex hung on Dana a week ago already; Acme had Eli too until Eli's call fell out of
        // the 180-day window three days ago.
        log(&services, "dana@example.com", globex, &[], 30);
        log(&services, "dana@example.com", acme, &[], 10);
        log(&services, "eli@example.com", acme, &[], 183);

        let boss = services.actor_for("boss@example.com").expect("boss");
        let digest = services.coverage_digest(&boss).expect("digest");
        let names: Vec<&str> = digest.newly_single.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["Acme"], "{}: only Acme is new this week", db.backend);
        assert_eq!(digest.single_total, 2);
        assert_eq!(digest.senior_overdue.len(), 2, "nobody senior talked to either");
        let west = services.actor_for("west@example.com").expect("west");
        assert!(services.coverage_digest(&west).expect("digest").is_empty(), "not their people");
        let dana_actor = services.actor_for("dana@example.com").expect("dana");
        assert!(matches!(services.coverage_digest(&dana_actor), Err(CoreError::Forbidden(_))));

        // Without SMTP nothing is mailed; with it, the digest goes once this week.
        let mailbox = Mailbox::default();
        assert_eq!(services.send_due_digests(&mailbox).expect("send"), 0);
        let smtp = holdfast_core::service::SettingsChange {
            alert_smtp_url: Some("smtp://127.0.0.1:2525".into()),
            ..Default::default()
        };
        services.change_settings(&op, &smtp).expect("smtp");
        assert_eq!(services.send_due_digests(&mailbox).expect("send"), 1, "{}: the East manager", db.backend);
        assert_eq!(services.send_due_digests(&mailbox).expect("again"), 0, "once a week");
        let mails = mailbox.0.lock().expect("mails").clone();
        assert_eq!(mails[0].to, ["boss@example.com"]);
        assert!(mails[0].body.contains("- Acme"), "{}", mails[0].body);
        clock.advance_secs(7 * 86_400);
        assert_eq!(services.send_due_digests(&mailbox).expect("next week"), 1);
        let filter =
            EventFilter { action: Some(holdfast_core::service::DIGEST_SENT.into()), limit: 10, ..Default::default() };
        assert_eq!(services.events(&op, &filter).expect("events").len(), 2, "{}", db.backend);
    }
}

/// (account, co-worker, last touch).
type Pair = (Uuid, Uuid, i64);

/// The relationships the store keeps as activities are written, beside the same worked out from
/// the activities themselves, sorted.
fn kept_and_recounted(services: &Holdfast<Store>) -> (Vec<Pair>, Vec<Pair>) {
    services
        .unaudited_database_for_benchmarks()
        .read(|tx| {
            let mut kept: Vec<Pair> =
                tx.live_relationships(i64::MIN)?.into_iter().map(|r| (r.account, r.coworker, r.last_at)).collect();
            let mut recounted: Vec<Pair> = tx
                .relationship_touches(i64::MIN, None, None)?
                .into_iter()
                .map(|t| (t.account, t.coworker, t.last_at))
                .collect();
            kept.sort();
            recounted.sort();
            Ok((kept, recounted))
        })
        .expect("relationships")
}

#[test]
fn the_relationships_kept_for_exposure_follow_every_way_activities_change() {
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(NOW));
        let services = Holdfast::with_clock(db.store(), clock);
        add_coworker(&services, "admin@example.com", Role::Admin, None, None);
        for rep in ["dana", "eli", "fay"] {
            add_coworker(&services, &format!("{rep}@example.com"), Role::Rep, Some("East"), None);
        }
        let op = Actor::operator();
        let (dana, eli, fay) = (
            id_of(&services, "dana@example.com"),
            id_of(&services, "eli@example.com"),
            id_of(&services, "fay@example.com"),
        );
        let account = |name: &str| services.create_record(&op, &ACCOUNTS, &json!({"name": name})).expect("account").id;
        let (acme, globex) = (account("Acme"), account("Globex"));
        let activity = |owner: Uuid, account: Uuid, days_ago: i64, with: &[Uuid]| {
            let with: Vec<String> = with.iter().map(Uuid::to_string).collect();
            services
                .create_record(
                    &op,
                    &ACTIVITIES,
                    &json!({"type": "call", "summary": "Call", "account_id": account.to_string(), "owner_id": owner.to_string(),
                            "occurred_at": format_timestamp(NOW - days_ago * DAY), "coworker_ids": with}),
                )
                .expect("activity")
                .id
        };
        let check = |step: &str| {
            let (kept, recounted) = kept_and_recounted(&services);
            assert_eq!(kept, recounted, "{}: after {step}", db.backend);
        };
        let first = activity(dana, acme, 10, &[eli]);
        let second = activity(dana, acme, 3, &[]);
        activity(fay, globex, 50, &[dana]);
        check("creating activities with and without co-workers taking part");
        assert_eq!(kept_and_recounted(&services).0.len(), 4, "dana+eli at Acme, fay+dana at Globex");

        let change = |id: Uuid, body: serde_json::Value| {
            services.update_record(&op, &ACTIVITIES, id, &body).expect("change");
        };
        change(second, json!({"occurred_at": format_timestamp(NOW - 30 * DAY)}));
        check("moving the latest activity back in time");
        change(first, json!({"owner_id": fay.to_string()}));
        check("changing who logged it");
        change(first, json!({"account_id": globex.to_string()}));
        check("moving it to another account");
        change(first, json!({"coworker_ids": [dana.to_string(), eli.to_string()]}));
        check("adding a co-worker who took part");
        change(first, json!({"coworker_ids": []}));
        check("removing everyone who took part");
        change(first, json!({"summary": "Only the words changed"}));
        check("a change that touches no relationship");

        services.delete_record(&op, &ACTIVITIES, second).expect("delete");
        check("deleting an activity");
        services.restore_record(&op, &ACTIVITIES, second).expect("restore");
        check("restoring it");

        let handed = services.bulk_assign(&op, &ACTIVITIES, &[first, second], "eli@example.com").expect("hand over");
        check("handing activities to another co-worker");
        services.undo_bulk(&op, handed.operation).expect("undo");
        check("undoing the hand-over");
        let everything = services.bulk_assign(&op, &ACCOUNTS, &[acme, globex], "fay@example.com").expect("accounts");
        check("handing whole accounts over");
        services.undo_bulk(&op, everything.operation).expect("undo");
        check("undoing that");
        assert!(!kept_and_recounted(&services).0.is_empty());
    }
}
