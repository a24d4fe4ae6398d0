//! Departures on both backends: each transition-plan rule, the rule that an account moves with
//! its records (in a departure's handover and in the list's bulk hand-over), preview that changes
//! nothing, undo that restores the exact previous owners, the scheduled last day with a manual
//! clock (and a restart in between), termination, the confirmation when setting someone departed
//! who owns records, and the director role.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use holdfast_core::coworker::{Actor, Role, Status};
use holdfast_core::departure::{CaseStatus, Reason, Source};
use holdfast_core::record::{ACCOUNTS, CONTACTS, DEALS, LEADS, RecordKind, TASKS};
use holdfast_core::service::{CoWorkerChanges, HandoverRule, ListRequest, NewDeparture, SettingsChange};
use holdfast_core::storage::Database;
use holdfast_core::time::ManualClock;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{PASSWORD, TestDb, add_coworker, each_backend};
use serde_json::json;
use uuid::Uuid;

const LEAVER: &str = "leaver@example.com";
const HANNAH: &str = "hannah@example.com";
const MIA: &str = "mia@example.com";

/// 2026-11-02 09:00 UTC.
const MONDAY_9AM: i64 = 1_793_610_000_000_000;

struct Company {
    services: Arc<Holdfast<Store>>,
    clock: Arc<ManualClock>,
    accounts: Vec<Uuid>,
}

/// An admin, a manager, the leaver and two colleagues in team East (plus one in West and a
/// suspended one); the leaver owns `accounts` accounts, each with two contacts, a deal and a
/// task, plus three leads and one contact with no account. Hannah already owns one account.
fn company(db: &TestDb, accounts: usize) -> Company {
    let clock = Arc::new(ManualClock::at(MONDAY_9AM));
    let services = Arc::new(Holdfast::with_clock(db.store(), clock.clone()));
    add_coworker(&services, "admin@example.com", Role::Admin, None, None);
    add_coworker(&services, "boss@example.com", Role::Manager, Some("East"), None);
    add_coworker(&services, LEAVER, Role::Rep, Some("East"), Some("boss@example.com"));
    add_coworker(&services, HANNAH, Role::Rep, Some("East"), Some("boss@example.com"));
    add_coworker(&services, MIA, Role::Rep, Some("East"), Some("boss@example.com"));
    add_coworker(&services, "west@example.com", Role::Rep, Some("West"), None);
    add_coworker(&services, "paused@example.com", Role::Rep, Some("East"), None);
    let op = Actor::operator();
    let ch = CoWorkerChanges { status: Some(Status::Suspended), ..Default::default() };
    services.update_coworker(&op, "paused@example.com", ch).expect("suspend");
    let leaver = id_of(&services, LEAVER);
    let hannah = id_of(&services, HANNAH);
    // New and re-engaged leads go round Hannah and Mia.
    let pool = [hannah, id_of(&services, MIA)]
        .map(|coworker_id| holdfast_core::lead::PoolMember { coworker_id, weight: 1, cap: None })
        .to_vec();
    let rules = holdfast_core::lead::LeadRules { round_robin: pool, ..Default::default() };
    services.set_lead_rules(&op, rules).expect("lead rules");
    services
        .create_record(&op, &ACCOUNTS, &json!({"name": "Hannah's own", "owner_id": hannah.to_string()}))
        .expect("hannah's account");
    let mut ids = Vec::new();
    for i in 0..accounts {
        let a = services
            .create_record(
                &op,
                &ACCOUNTS,
                &json!({"name": format!("Account {i:03}"), "annual_value": 1_000 * (i + 1), "owner_id": leaver.to_string(),
                        "country": if i % 2 == 0 { "Germany" } else { "France" }, "tier": if i == 0 { "strategic" } else { "smb" }}),
            )
            .expect("account");
        for n in 0..2 {
            services
                .create_record(
                    &op,
                    &CONTACTS,
                    &json!({"first_name": format!("C{i}-{n}"), "account_id": a.id.to_string(), "owner_id": leaver.to_string()}),
                )
                .expect("contact");
        }
        services
            .create_record(
                &op,
                &DEALS,
                &json!({"name": format!("Deal {i}"), "account_id": a.id.to_string(), "amount": 500, "owner_id": leaver.to_string()}),
            )
            .expect("deal");
        services
            .create_record(
                &op,
                &TASKS,
                &json!({"title": format!("Call {i}"), "account_id": a.id.to_string(), "owner_id": leaver.to_string()}),
            )
            .expect("task");
        ids.push(a.id);
    }
    for i in 0..3 {
        services
            .create_record(&op, &LEADS, &json!({"first_name": format!("Lead{i}"), "owner_id": leaver.to_string()}))
            .expect("lead");
    }
    services
        .create_record(&op, &CONTACTS, &json!({"first_name": "Loose", "owner_id": leaver.to_string()}))
        .expect("loose contact");
    Company { services, clock, accounts: ids }
}

fn id_of(services: &Holdfast<Store>, email: &str) -> Uuid {
    services.actor_for(email).expect("co-worker").id().expect("id")
}

fn admin(c: &Company) -> Actor {
    c.services.actor_for("admin@example.com").expect("admin")
}

/// Every live record of a kind: id, owner, account.
fn owners(c: &Company, kind: &'static RecordKind) -> Vec<(Uuid, Option<Uuid>, Option<Uuid>)> {
    let list = ListRequest { limit: Some(500), ..Default::default() };
    let page = c.services.list_records(&Actor::operator(), kind, &list).expect("list");
    page.items.iter().map(|r| (r.id, r.owner(kind), r.account(kind))).collect()
}

/// Every record under an account has the account's owner.
fn assert_accounts_whole(c: &Company, backend: &str) {
    let accounts: HashMap<Uuid, Option<Uuid>> = owners(c, &ACCOUNTS).into_iter().map(|(id, o, _)| (id, o)).collect();
    for kind in [&CONTACTS, &DEALS, &TASKS] {
        for (id, owner, account) in owners(c, kind) {
            if let Some(a) = account {
                assert_eq!(owner, accounts[&a], "{backend}: {} {id} left its account's owner", kind.name);
            }
        }
    }
}

fn snapshot(c: &Company) -> BTreeMap<Uuid, Option<Uuid>> {
    [&ACCOUNTS, &CONTACTS, &DEALS, &TASKS, &LEADS]
        .into_iter()
        .flat_map(|k| owners(c, k))
        .map(|(id, owner, _)| (id, owner))
        .collect()
}

fn departure(last_day: &str, reason: Reason) -> NewDeparture {
    NewDeparture {
        notice_date: None,
        last_day: last_day.into(),
        reason,
        destination: Some("a competitor".into()),
        good_terms: true,
        source: Source::Manual,
    }
}

#[test]
fn round_robin_to_two_reps_previews_applies_whole_accounts_undoes_exactly_and_reapplies() {
    for db in each_backend() {
        let c = company(&db, 9);
        let a = admin(&c);
        let case = c.services.start_departure(&a, LEAVER, departure("2026-11-13", Reason::Resignation)).expect("case");
        assert_eq!((case.status, case.reason), (CaseStatus::Open, Reason::Resignation));
        assert_eq!(c.services.actor_for(LEAVER).expect("leaver").coworker.expect("c").status, Status::Departing);
        let before = snapshot(&c);
        let rule = HandoverRule::RoundRobin(vec![HANNAH.into(), MIA.into()]);

        let preview = c.services.preview_handover(&a, LEAVER, &rule).expect("preview");
        assert_eq!(snapshot(&c), before, "{}: a preview changes nothing", db.backend);
        let (h, m) = (&preview.per_recipient[HANNAH], &preview.per_recipient[MIA]);
        assert_eq!(h["accounts"] + m["accounts"], 9);
        // Hannah owns one account already: Mia's smaller book fills first, then they alternate.
        assert_eq!((h["accounts"], m["accounts"]), (4, 5), "{}", db.backend);
        // The three open leads went to the re-engagement queue the moment the leaver was departing.
        assert_eq!(preview.total, 9 * 5 + 1);
        let queue = c.services.reengagement_queue(&a).expect("queue");
        assert_eq!(queue.len(), 3, "{}", db.backend);
        assert!(preview.value_per_recipient[MIA].annual_value > 0);

        let done = c.services.handover_by(&a, LEAVER, &rule).expect("handover");
        assert_eq!(done.changed, 46, "{}", db.backend);
        assert_accounts_whole(&c, db.backend);
        let leaver = id_of(&c.services, LEAVER);
        assert!(snapshot(&c).values().all(|o| *o != Some(leaver)), "{}: nothing left with the leaver", db.backend);
        let view = c.services.departure(&a, case.id).expect("view");
        assert!(view.done("plan") && view.done("transfer"), "{}: the case records plan and transfer", db.backend);

        let ops = c.services.list_bulk_operations(&a, 10).expect("operations");
        assert!(ops.iter().any(|o| o.id == done.operation && o.undoable), "{}", db.backend);
        c.services.undo_bulk(&a, done.operation).expect("undo");
        assert_eq!(snapshot(&c), before, "{}: undo restores every previous owner", db.backend);
        let ops = c.services.list_bulk_operations(&a, 10).expect("operations");
        assert!(ops.iter().any(|o| o.id == done.operation && !o.undoable && o.undone_at.is_some()));
        assert!(
            !c.services.departure(&a, case.id).expect("view").done("transfer"),
            "{}: undo clears the step",
            db.backend
        );

        let again = c.services.handover_by(&a, LEAVER, &rule).expect("re-apply");
        assert_eq!(again.changed, 46);
        assert_accounts_whole(&c, db.backend);
    }
}

#[test]
fn team_territory_and_picked_rules_and_only_active_colleagues_take_over() {
    for db in each_backend() {
        let c = company(&db, 4);
        let a = admin(&c);
        // The leaver's team: Hannah, Mia and the boss are active; the suspended rep is not eligible.
        let p = c.services.preview_handover(&a, LEAVER, &HandoverRule::Team(None)).expect("team");
        assert!(!p.per_recipient.contains_key("paused@example.com"), "{}", db.backend);
        assert!(p.per_recipient.keys().all(|e| [HANNAH, MIA, "boss@example.com"].contains(&e.as_str())));

        let by_country: BTreeMap<String, String> =
            [("germany".to_string(), HANNAH.to_string()), ("*".to_string(), MIA.to_string())].into();
        let p = c.services.preview_handover(&a, LEAVER, &HandoverRule::Territory(by_country)).expect("territory");
        assert_eq!(p.per_recipient[HANNAH]["accounts"], 2, "{}", db.backend);
        assert_eq!(p.per_recipient[MIA]["accounts"], 2);
        assert_eq!(p.per_recipient[MIA]["leads"], 3, "records with no account go to the rest");
        let only_germany: BTreeMap<String, String> = [("Germany".to_string(), HANNAH.to_string())].into();
        let e = c.services.preview_handover(&a, LEAVER, &HandoverRule::Territory(only_germany)).expect_err("france");
        assert!(e.to_string().contains("france"), "{e}");

        let picked =
            HandoverRule::Picked { accounts: [(c.accounts[0], HANNAH.to_string())].into(), rest: Some(MIA.into()) };
        let done = c.services.handover_by(&a, LEAVER, &picked).expect("picked");
        assert_eq!(done.per_recipient[HANNAH]["accounts"], 1);
        assert_eq!(done.per_recipient[HANNAH]["contacts"], 2, "{}: the picked account takes its contacts", db.backend);
        assert_accounts_whole(&c, db.backend);

        for who in ["paused@example.com", HANNAH] {
            let e = c.services.handover(&a, HANNAH, who).expect_err("not eligible");
            assert!(matches!(e, CoreError::Invalid(_)), "{}: {who}: {e}", db.backend);
        }
        c.services.start_departure(&a, MIA, departure("2026-12-01", Reason::Resignation)).expect("mia leaves too");
        let e = c.services.handover(&a, HANNAH, MIA).expect_err("departing");
        assert!(e.to_string().contains("departing"), "{e}");
    }
}

#[test]
fn the_lists_bulk_hand_over_of_accounts_moves_what_hangs_under_them() {
    for db in each_backend() {
        let c = company(&db, 5);
        let a = admin(&c);
        let picked = &c.accounts[..3];
        let done = c.services.bulk_assign(&a, &ACCOUNTS, picked, HANNAH).expect("bulk");
        assert_eq!((done.changed, done.along), (3, 3 * 4), "{}: two contacts, a deal and a task each", db.backend);
        assert_accounts_whole(&c, db.backend);
        c.services.undo_bulk(&a, done.operation).expect("undo");
        assert_accounts_whole(&c, db.backend);
        let leaver = Some(id_of(&c.services, LEAVER));
        assert!(owners(&c, &CONTACTS).iter().filter(|(_, _, acc)| acc.is_some()).all(|(_, o, _)| *o == leaver));
    }
}

#[test]
fn the_last_day_ends_access_when_it_is_over_even_after_a_restart() {
    for db in each_backend() {
        let c = company(&db, 2);
        let a = admin(&c);
        // Friday 2026-11-06 is the last day; access ends at midnight UTC after it.
        let case = c.services.start_departure(&a, LEAVER, departure("2026-11-06", Reason::Resignation)).expect("case");
        let token = holdfast_testing::add_coworker(&c.services, "later@example.com", Role::Rep, None, None);
        drop(token);
        c.services.login(LEAVER, PASSWORD, None, None).expect("still signs in while departing");
        c.clock.advance_secs(4 * 86_400 + 14 * 3_600); // Friday 23:00
        assert!(
            c.services.end_due_departures().expect("tick").is_empty(),
            "{}: not before the day is over",
            db.backend
        );
        c.clock.advance_secs(2 * 3_600); // Saturday 01:00
        // A restart: a new server on the same database, with the same clock.
        let restarted = Holdfast::with_clock(db.store(), c.clock.clone());
        let ended = restarted.end_due_departures().expect("tick");
        assert_eq!(ended.iter().map(|d| d.id).collect::<Vec<_>>(), vec![case.id], "{}", db.backend);
        assert!(restarted.end_due_departures().expect("tick").is_empty(), "ended once");
        let e = restarted.login(LEAVER, PASSWORD, None, None).expect_err("departed");
        assert!(matches!(e, CoreError::Unauthenticated(_)), "{}: {e}", db.backend);
        let view = restarted.departure(&a, case.id).expect("view");
        assert!(view.done("access"));
        assert_eq!(view.case.status, CaseStatus::Open, "{}: still owns records, so the case stays open", db.backend);
        assert!(view.owned_total() > 0);
        // Handing the rest over closes it.
        restarted.handover(&a, LEAVER, HANNAH).expect("handover");
        assert_eq!(restarted.departure(&a, case.id).expect("view").case.status, CaseStatus::Closed, "{}", db.backend);
    }
}

#[test]
fn a_termination_ends_access_at_once_and_departed_needs_confirmation_while_records_are_owned() {
    for db in each_backend() {
        let c = company(&db, 2);
        let a = admin(&c);
        let e = c
            .services
            .update_coworker(&a, LEAVER, CoWorkerChanges { status: Some(Status::Departed), ..Default::default() })
            .expect_err("owns records");
        assert!(
            e.to_string().contains("still owns 2 accounts, 5 contacts, 3 leads, 2 deals, 2 tasks"),
            "{}: {e}",
            db.backend
        );
        assert_eq!(c.services.actor_for(LEAVER).expect("leaver").coworker.expect("c").status, Status::Active);

        let case = c.services.start_departure(&a, LEAVER, departure("2026-12-31", Reason::Termination)).expect("case");
        assert!(case.step("access").is_some(), "{}", db.backend);
        let e = c.services.login(LEAVER, PASSWORD, None, None).expect_err("terminated");
        assert!(matches!(e, CoreError::Unauthenticated(_)), "{}: {e}", db.backend);
        let again = c.services.start_departure(&a, LEAVER, departure("2026-12-31", Reason::Resignation));
        assert!(again.is_err(), "one case at a time, and not for someone who left");

        // Recorded after the last day: access ends at once too, and the notice date defaults to it.
        let late = c.services.start_departure(&a, MIA, departure("2026-10-30", Reason::Resignation)).expect("late");
        assert_eq!((late.notice_date.as_str(), late.step("access").is_some()), ("2026-10-30", true), "{}", db.backend);
        assert!(c.services.login(MIA, PASSWORD, None, None).is_err(), "{}: the last day is behind us", db.backend);

        // Someone with nothing to hand over is set departed without a question.
        let ch = CoWorkerChanges { status: Some(Status::Departed), ..Default::default() };
        c.services.update_coworker(&a, "west@example.com", ch).expect("owns nothing");
        let hannahs =
            c.services.start_departure(&a, HANNAH, departure("2026-12-31", Reason::Resignation)).expect("case");
        let ch = CoWorkerChanges { status: Some(Status::Departed), confirm_owned_records: true, ..Default::default() };
        c.services.update_coworker(&a, HANNAH, ch).expect("confirmed");
        let view = c.services.departure(&a, hannahs.id).expect("case");
        assert!(view.done("access"), "{}: set departed by hand, the case records that access ended", db.backend);
        assert_eq!(view.case.status, CaseStatus::Open, "she still owns an account");
    }
}

#[test]
fn a_director_sees_every_team_and_runs_departures_but_changes_no_settings() {
    for db in each_backend() {
        let c = company(&db, 1);
        add_coworker(&c.services, "director@example.com", Role::Director, None, None);
        let d = c.services.actor_for("director@example.com").expect("director");
        assert!(d.manages.contains(&id_of(&c.services, "west@example.com")), "{}", db.backend);
        c.services
            .coworker_events(
                &d,
                "west@example.com",
                holdfast_core::event::EventFilter { limit: 10, ..Default::default() },
            )
            .expect("events of any team");
        let case = c.services.start_departure(&d, LEAVER, departure("2026-12-01", Reason::Retirement)).expect("case");
        assert_eq!(c.services.list_departures(&d, false).expect("list").len(), 1);
        c.services.mark_departure_step(&d, case.id, "review", json!({})).expect("review");
        let change = SettingsChange { read_policy: Some("own".into()), ..Default::default() };
        assert!(matches!(c.services.change_settings(&d, &change), Err(CoreError::Forbidden(_))), "{}", db.backend);
        // A rep sees no cases.
        let rep = c.services.actor_for(HANNAH).expect("rep");
        assert!(matches!(c.services.list_departures(&rep, true), Err(CoreError::Forbidden(_))));
    }
}

#[test]
fn introductions_make_tasks_for_the_new_owner_the_leaver_and_the_manager() {
    for db in each_backend() {
        let c = company(&db, 3);
        let a = admin(&c);
        let case = c.services.start_departure(&a, LEAVER, departure("2026-11-20", Reason::Resignation)).expect("case");
        assert!(c.services.make_introductions(&a, case.id).is_err(), "after the transfer only");
        c.services.handover(&a, LEAVER, HANNAH).expect("handover");
        let template = "Hello {contact}, meet {new_owner}, who looks after {account} now that {leaver} leaves.";
        let change = SettingsChange { introduction_template: Some(template.into()), ..Default::default() };
        c.services.change_settings(&a, &change).expect("template");
        let made = c.services.make_introductions(&a, case.id).expect("introductions");
        // Three accounts (all among the ten most valuable): one task each for Hannah, the leaver
        // (good terms) and Hannah's manager.
        assert_eq!((made.accounts, made.tasks), (3, 9), "{}", db.backend);
        let tasks = owners(&c, &TASKS);
        let boss = id_of(&c.services, "boss@example.com");
        assert_eq!(tasks.iter().filter(|(_, o, _)| *o == Some(boss)).count(), 3);
        let list = ListRequest { limit: Some(500), ..Default::default() };
        let notes: Vec<String> = c
            .services
            .list_records(&Actor::operator(), &TASKS, &list)
            .expect("tasks")
            .items
            .iter()
            .filter_map(|t| t.get("notes").as_text().map(String::from))
            .collect();
        assert!(
            notes
                .iter()
                // The first of Account 000's contacts (both were created at the same instant here).
                .any(|n| n.starts_with("Hello C0-")
                    && n.ends_with(", meet hannah, who looks after Account 000 now that leaver leaves.")),
            "{}: the drafted email follows the admin's template: {notes:?}",
            db.backend
        );
        assert!(c.services.make_introductions(&a, case.id).is_err(), "once");
        let view = c.services.departure(&a, case.id).expect("view");
        assert!(view.done("introductions"), "{}", db.backend);
    }
}

/// A handover is one system event whatever its size: each record's change is kept in the
/// operation's rows, which the record's history shows (and its undo), and which the event's digest
/// vouches for: a row changed behind Holdfast's back is named by `audit verify` and refused by the
/// undo, which then changes nothing.
#[test]
fn a_handover_is_one_event_its_rows_show_in_each_history_and_a_changed_row_is_caught() {
    use holdfast_core::event::EventFilter;
    for db in each_backend() {
        let c = company(&db, 3);
        let a = admin(&c);
        let (leaver, hannah) = (id_of(&c.services, LEAVER), id_of(&c.services, HANNAH));
        let events_now = || c.services.chain_head().expect("head").0;
        let before = events_now();
        let done = c.services.handover(&a, LEAVER, HANNAH).expect("handover");
        assert_eq!(done.changed, 3 * 5 + 3 + 1, "{}", db.backend);
        assert_eq!(events_now() - before, 1, "{}: one event for the whole handover", db.backend);
        let store = db.store();
        let rows = store
            .with_conn(false, |conn| conn.rows("SELECT count(*) FROM operation_records", &[]))
            .expect("rows")[0][0]
            .as_int();
        assert_eq!(rows, Some(done.changed as i64), "{}", db.backend);

        // The account's history names the handover, from the leaver to Hannah.
        let account = c.accounts[0];
        let history = c.services.record_history(&a, &ACCOUNTS, account).expect("history");
        let handed = history.events.iter().find(|e| e.event.action == "coworker.handover").expect("handover shown");
        assert_eq!(handed.event.details["changes"]["owner_id"], json!({"from": leaver, "to": hannah}));
        assert_eq!(handed.event.details["operation"], json!(done.operation));
        assert!(c.services.verify_log(&Actor::operator(), "", &[]).expect("verify").ok(), "{}", db.backend);

        // The database refuses changing the rows, as it refuses changing events.
        let refused = store
            .with_conn(true, |conn| conn.exec("UPDATE operation_records SET owner_after = NULL", &[]))
            .expect_err("append-only");
        assert!(refused.to_string().contains("append-only"), "{}: {refused}", db.backend);
        let refused =
            store.with_conn(true, |conn| conn.exec("DELETE FROM operation_records", &[])).expect_err("append-only");
        assert!(refused.to_string().contains("append-only"), "{}: {refused}", db.backend);

        // A row changed behind the triggers' back: verify names the operation, the undo refuses.
        let west = id_of(&c.services, "west@example.com");
        let tamper = |owner: Uuid| {
            past_the_triggers(
                &db,
                &format!("UPDATE operation_records SET owner_before = '{owner}' WHERE record_id = '{account}'"),
            )
        };
        tamper(west);
        let report = c.services.verify_log(&Actor::operator(), "", &[]).expect("verify");
        assert!(report.findings.iter().any(|f| f.kind == "operation_rows"), "{}: {report:?}", db.backend);
        let snapshot_before = snapshot(&c);
        let refused = c.services.undo_bulk(&a, done.operation).expect_err("undo of changed rows");
        assert!(matches!(refused, CoreError::Conflict(ref m) if m.contains("do not match")), "{refused:?}");
        assert_eq!(snapshot(&c), snapshot_before, "{}: the refused undo changed nothing", db.backend);

        // Put back, the undo goes through and shows in the history too.
        tamper(leaver);
        c.services.undo_bulk(&a, done.operation).expect("undo");
        let history = c.services.record_history(&a, &ACCOUNTS, account).expect("history");
        assert_eq!(history.events[0].event.action, "bulk.undo", "{}: newest first", db.backend);
        assert_eq!(history.events[0].event.details["changes"]["owner_id"], json!({"from": hannah, "to": leaver}));
        let filter = EventFilter { action: Some("record.update".into()), limit: 100, ..Default::default() };
        let updates = db.store().read(|tx| Ok(tx.list_events(&filter)?)).expect("events");
        assert!(updates.is_empty(), "{}: no event per record: {updates:?}", db.backend);
        assert!(c.services.verify_log(&Actor::operator(), "", &[]).expect("verify").ok(), "{}", db.backend);

        // Another spelling of the same id, and rows no event vouches for, are named too.
        let sql = |text: &str| past_the_triggers(&db, text);
        let operation_rows = || {
            let report = c.services.verify_log(&Actor::operator(), "", &[]).expect("verify");
            report.findings.into_iter().filter(|f| f.kind == "operation_rows").map(|f| f.message).collect::<Vec<_>>()
        };
        sql(&format!("UPDATE operation_records SET record_id = upper(record_id) WHERE record_id = '{account}'"));
        let found = operation_rows();
        assert!(found.iter().any(|m| m.contains("cannot be read")), "{}: {found:?}", db.backend);
        sql(&format!("UPDATE operation_records SET record_id = lower(record_id) WHERE lower(record_id) = '{account}'"));
        assert!(operation_rows().is_empty(), "{}", db.backend);
        let stray = Uuid::now_v7();
        sql(&format!(
            "INSERT INTO operation_records (operation_id, step, position, kind, record_id, owner_before, owner_after) \
             VALUES ('{stray}', 'do', 1, 'account', '{account}', '{west}', '{hannah}')"
        ));
        let found = operation_rows();
        assert!(found.iter().any(|m| m.contains(&stray.to_string()) && m.contains("no system event")), "{found:?}");
        let history = c.services.record_history(&a, &ACCOUNTS, account).expect("history");
        assert!(
            history.events.iter().all(|e| e.event.details["operation"] != json!(stray)),
            "{}: rows no event vouches for are not shown",
            db.backend
        );
    }
}

/// Runs `statement` with the append-only triggers of `operation_records` off (as someone with the
/// database's password could), then puts them back.
fn past_the_triggers(db: &TestDb, statement: &str) {
    let sqlite = db.backend == "sqlite";
    db.store()
        .with_conn(true, |conn| {
            if sqlite {
                conn.exec("DROP TRIGGER operation_records_no_update", &[])?;
                conn.exec(statement, &[])?;
                conn.exec(
                    "CREATE TRIGGER operation_records_no_update BEFORE UPDATE ON operation_records BEGIN \
                     SELECT RAISE(ABORT, 'operation records are append-only'); END",
                    &[],
                )?;
            } else {
                conn.exec("ALTER TABLE operation_records DISABLE TRIGGER USER", &[])?;
                conn.exec(statement, &[])?;
                conn.exec("ALTER TABLE operation_records ENABLE TRIGGER USER", &[])?;
            }
            Ok(())
        })
        .expect("statement past the triggers");
}

/// Retention removes an operation's rows with its events: what is older than the cut is gone from
/// the history as from the log, and the rest still verifies.
#[test]
fn retention_removes_an_operations_rows_with_its_event() {
    use holdfast_core::audit::AuditKey;
    use holdfast_core::time::MICROS_PER_DAY;
    for db in each_backend() {
        let c = company(&db, 2);
        let a = admin(&c);
        c.services.handover(&a, LEAVER, HANNAH).expect("old handover");
        c.clock.advance_secs(100 * 86_400);
        let recent = c.services.bulk_assign(&a, &ACCOUNTS, &c.accounts[..1], MIA).expect("recent change");
        let rows = || {
            db.store().with_conn(false, |conn| conn.rows("SELECT count(*) FROM operation_records", &[])).expect("rows")
                [0][0]
                .as_int()
        };
        let before = rows();
        let dir = tempfile::tempdir().expect("dir");
        let key = AuditKey::load_or_create(&dir.path().join("key")).expect("key");
        let cut =
            c.services.retain_events(&Actor::operator(), &key, c.services.now() - 95 * MICROS_PER_DAY).expect("retain");
        assert!(cut.deleted > 0, "{}", db.backend);
        let left = rows();
        assert!(left < before && left > Some(0), "{}: {before:?} -> {left:?}", db.backend);
        let history = c.services.record_history(&a, &ACCOUNTS, c.accounts[0]).expect("history");
        let shown: Vec<&str> = history.events.iter().map(|e| e.event.action.as_str()).collect();
        assert_eq!(shown, ["bulk.update"], "{}: only the operation whose event is kept", db.backend);
        assert_eq!(history.events[0].event.details["operation"], json!(recent.operation));
        let report = c
            .services
            .verify_log(&Actor::operator(), &key.public_hex(), std::slice::from_ref(&cut.checkpoint))
            .expect("verify");
        assert!(report.ok(), "{}: {:?}", db.backend, report.findings);
    }
}
