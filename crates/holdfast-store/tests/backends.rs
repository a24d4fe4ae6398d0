//! Storage behaves the same on SQLite and PostgreSQL.

use holdfast_core::coworker::{Actor, Role};
use holdfast_core::record::{ALL_KINDS, FieldType, Kind};
use holdfast_core::service::SettingsChange;
use holdfast_core::storage::Database;
use holdfast_store::{Backend, SCHEMA_VERSION};
use holdfast_testing::{add_named, each_backend};
use serde_json::{Value, json};

fn read_policy(p: &str) -> SettingsChange {
    SettingsChange { read_policy: Some(p.into()), ..Default::default() }
}

fn sample(ty: FieldType, refs: &std::collections::HashMap<Kind, String>) -> Value {
    match ty {
        FieldType::Text { .. } => json!("Some text, with ünïcode"),
        FieldType::Email => json!("someone@example.com"),
        FieldType::Phone => json!("+1 (415) 555-0100"),
        FieldType::Domain => json!("example.com"),
        FieldType::Int { max, .. } => json!(max),
        FieldType::Money => json!(12345.67),
        FieldType::Date => json!("2027-03-31"),
        FieldType::Timestamp => json!("2026-11-22T09:30:00Z"),
        FieldType::Choice(options) => json!(options[options.len() - 1]),
        FieldType::Ref(k) => json!(refs[&k]),
        FieldType::RefList(k) => json!([refs[&k]]),
        FieldType::Lines { .. } => json!(["+5 one reason", "-5 another"]),
    }
}

#[test]
fn every_field_of_every_record_kind_round_trips() {
    for db in each_backend() {
        let services = db.services();
        let op = Actor::operator();
        add_named(&services, "owner@example.com", "Owner", Role::Rep, None, None);
        let owner = services.get_coworker(&op, "owner@example.com").expect("co-worker");
        let mut refs = std::collections::HashMap::new();
        refs.insert(Kind::CoWorker, owner.id.to_string());
        // Kinds are listed so that what a record points at is created before it; a kind that
        // points at its own kind (a contact's reports-to) is made twice, the second pointing at
        // the first.
        let twice: Vec<_> = ALL_KINDS
            .iter()
            .flat_map(|k| {
                let own = k.fields.iter().any(|f| f.ty == FieldType::Ref(k.kind));
                std::iter::repeat_n(*k, if own { 2 } else { 1 })
            })
            .collect();
        for kind in twice {
            let mut input = serde_json::Map::new();
            for field in kind.fields {
                let dangling = matches!(field.ty, FieldType::Ref(k) | FieldType::RefList(k) if !refs.contains_key(&k));
                input.insert(field.name.into(), if dangling { Value::Null } else { sample(field.ty, &refs) });
            }
            let input = Value::Object(input);
            let created = services
                .create_record(&op, kind, &input)
                .unwrap_or_else(|e| panic!("{} on {}: {e}", kind.name, db.backend));
            let read = services.get_record(&op, kind, created.id).expect("read back");
            assert_eq!(read, created, "{} on {}", kind.name, db.backend);
            let json = read.to_json(kind);
            // Computed fields (a lead's score and clock) are Holdfast's: what was sent is ignored.
            for field in kind.inputs() {
                let expected = match field.ty {
                    FieldType::Phone | FieldType::Text { .. } => input[field.name].clone(),
                    FieldType::Timestamp => json!("2026-11-22T09:30:00Z"),
                    _ => input[field.name].clone(),
                };
                assert_eq!(json[field.name], expected, "{}.{} on {}", kind.name, field.name, db.backend);
            }
            refs.insert(kind.kind, created.id.to_string());
        }
    }
}

#[test]
fn both_backends_are_at_the_same_schema_version() {
    for db in each_backend() {
        let store = db.store();
        assert_eq!(store.schema_version().expect("version"), SCHEMA_VERSION, "{}", db.backend);
        // Opening again migrates nothing and changes nothing.
        drop(store);
        assert_eq!(db.store().schema_version().expect("version"), SCHEMA_VERSION);
    }
}

#[test]
fn the_event_log_refuses_update_and_delete() {
    for db in each_backend() {
        let services = db.services();
        services.change_settings(&Actor::operator(), &read_policy("all")).expect("writes an event");
        let store = db.store();
        for sql in ["UPDATE system_events SET action = 'edited'", "DELETE FROM system_events"] {
            let result = store.with_conn(true, |c| c.exec(sql, &[]));
            let err = result.expect_err("the database must refuse changing events");
            assert!(err.to_string().contains("append-only"), "{} on {}: {err}", sql, db.backend);
        }
        let backend = store.with_conn(false, |c| Ok(c.backend())).expect("backend");
        assert_eq!(backend == Backend::Sqlite, db.backend == "sqlite");
    }
}

/// Services on a manual clock, an audit key (its directory kept alive by the caller), and three
/// settings changes as the log's first events: where the retention tests start.
fn three_events_on_a_manual_clock(
    db: &holdfast_testing::TestDb,
) -> (
    holdfast_core::Holdfast<holdfast_store::Store>,
    std::sync::Arc<holdfast_core::time::ManualClock>,
    holdfast_core::audit::AuditKey,
    tempfile::TempDir,
) {
    let clock = std::sync::Arc::new(holdfast_core::time::ManualClock::at(1_800_000_000_000_000));
    let services = holdfast_core::Holdfast::with_clock(db.store(), clock.clone());
    let dir = tempfile::tempdir().expect("dir");
    let key = holdfast_core::audit::AuditKey::load_or_create(&dir.path().join("key")).expect("key");
    for p in ["team", "all", "own"] {
        services.change_settings(&Actor::operator(), &read_policy(p)).expect("event");
    }
    (services, clock, key, dir)
}

#[test]
fn retention_deletes_old_events_behind_a_signed_checkpoint() {
    use holdfast_core::time::MICROS_PER_DAY;
    for db in each_backend() {
        let (services, clock, key, _dir) = three_events_on_a_manual_clock(&db);
        let op = Actor::operator();
        let early = services.write_checkpoint(&key, "interval").expect("checkpoint");
        clock.advance_secs(100 * 86_400);
        for p in ["team", "all"] {
            services.change_settings(&op, &read_policy(p)).expect("event");
        }
        // Too recent a cut is refused.
        assert!(services.retain_events(&op, &key, services.now() - 10 * MICROS_PER_DAY).is_err());
        let rep = services.as_ref_rep_check();
        assert!(services.retain_events(&rep, &key, services.now() - 95 * MICROS_PER_DAY).is_err(), "reps may not");
        let r = services.retain_events(&op, &key, services.now() - 95 * MICROS_PER_DAY).expect("retain");
        assert_eq!((r.deleted, r.through_seq), (3, 3), "{}", db.backend);
        // The remaining log verifies against the retention checkpoint and the older one.
        let report =
            services.verify_log(&op, &key.public_hex(), &[early.clone(), r.checkpoint.clone()]).expect("verify");
        assert!(report.ok(), "{}: {:?}", db.backend, report.findings);
        // Without the retention checkpoint, the missing start is reported.
        let mut verifier = holdfast_core::audit::ChainVerifier::new([]);
        services
            .stream_events(0, None, &mut |e| {
                verifier.push(e);
                Ok(true)
            })
            .expect("stream");
        let unanchored = verifier.finish(&[], &key.public_hex());
        assert!(!unanchored.ok());
    }
}

#[test]
fn retention_of_every_event_continues_the_chain_from_its_checkpoint() {
    use holdfast_core::event::EventFilter;
    use holdfast_core::time::MICROS_PER_DAY;
    for db in each_backend() {
        let (services, clock, key, _dir) = three_events_on_a_manual_clock(&db);
        let op = Actor::operator();
        // A hundred quiet days: every event is older than the cut, the chain's head included.
        clock.advance_secs(100 * 86_400);
        let r = services.retain_events(&op, &key, services.now() - 95 * MICROS_PER_DAY).expect("retain");
        assert_eq!((r.deleted, r.through_seq), (3, 3), "{}", db.backend);
        services.change_settings(&op, &read_policy("team")).expect("event");
        let seqs: Vec<i64> = services
            .events(&op, &EventFilter { limit: 10, ..Default::default() })
            .expect("events")
            .iter()
            .map(|e| e.seq)
            .collect();
        assert_eq!(seqs, [5, 4], "{}: the retention event follows the checkpoint's seq", db.backend);
        let report = services.verify_log(&op, &key.public_hex(), std::slice::from_ref(&r.checkpoint)).expect("verify");
        assert!(report.ok(), "{}: {:?}", db.backend, report.findings);
    }
}

trait RepActor {
    fn as_ref_rep_check(&self) -> Actor;
}

impl RepActor for holdfast_core::Holdfast<holdfast_store::Store> {
    /// A rep (created on the fly) to check that retention is refused to non-admins.
    fn as_ref_rep_check(&self) -> Actor {
        let email = "retention-rep@example.com";
        if self.actor_for(email).is_err() {
            add_named(self, email, "Rep", Role::Rep, None, None);
        }
        self.actor_for(email).expect("actor")
    }
}

/// The data directory is created 0700 and the database, its WAL and the signing key 0600; a key
/// other users can read is refused with the command that fixes it.
#[cfg(unix)]
#[test]
fn the_data_directory_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let base = tempfile::tempdir().expect("dir");
    let dir = base.path().join("holdfast-data");
    let location = holdfast_store::Location::Sqlite(dir.join("holdfast.db"));
    let services = holdfast_core::Holdfast::new(holdfast_store::Store::open(&location).expect("store"));
    services.change_settings(&Actor::operator(), &read_policy("team")).expect("a write");
    let key_path = dir.join("audit-signing.key");
    holdfast_core::audit::AuditKey::load_or_create(&key_path).expect("key");
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("exists").permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for file in ["holdfast.db", "holdfast.db-wal", "audit-signing.key"] {
        assert_eq!(mode(&dir.join(file)), 0o600, "{file}");
    }
    std::fs::set_permissions(&key_path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    match holdfast_core::audit::AuditKey::load_or_create(&key_path) {
        Ok(_) => panic!("a key other users can read must be refused"),
        Err(refused) => assert!(refused.to_string().contains("chmod 600"), "{refused}"),
    }
}

/// A settings change made by one process (the CLI, or another server on the same database)
/// applies on the next request of every other: on SQLite at once, on PostgreSQL as soon as the
/// server hears the change announced (milliseconds; the test allows two seconds).
#[test]
fn a_settings_change_applies_on_the_next_request_of_every_server() {
    use holdfast_core::CoreError;
    use holdfast_core::record::ACCOUNTS;
    for db in each_backend() {
        let server = db.services();
        let cli = db.services();
        add_named(&server, "a@example.com", "A", Role::Rep, None, None);
        add_named(&server, "b@example.com", "B", Role::Rep, None, None);
        let a = server.actor_for("a@example.com").expect("a");
        let b = server.actor_for("b@example.com").expect("b");
        let theirs = server.create_record(&a, &ACCOUNTS, &json!({"name": "Theirs"})).expect("account");
        server.get_record(&b, &ACCOUNTS, theirs.id).expect("open to read by default");
        cli.change_settings(&Actor::operator(), &read_policy("own")).expect("the CLI changes the policy");
        let mut tries = 0;
        loop {
            tries += 1;
            match server.get_record(&b, &ACCOUNTS, theirs.id) {
                Err(CoreError::Forbidden(_)) => break,
                Ok(_) if tries < 100 && db.backend == "postgres" => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                other => panic!("the change did not apply on {} after {tries} requests: {other:?}", db.backend),
            }
        }
        if db.backend == "sqlite" {
            assert_eq!(tries, 1, "SQLite: the very next request");
        }
        server.shutdown();
        cli.shutdown();
    }
}

/// A flood of refusals cannot fill the log: past the limit per minute they are counted, and the
/// next refusal written says how many were left out.
#[test]
fn refusals_are_recorded_within_a_limit_per_minute() {
    use holdfast_core::event::EventFilter;
    use holdfast_core::record::ACCOUNTS;
    use holdfast_core::service::REFUSALS_PER_MINUTE;
    use holdfast_core::time::ManualClock;
    use std::sync::Arc;
    for db in each_backend() {
        let clock = Arc::new(ManualClock::at(1_800_000_000_000_000));
        let services = holdfast_core::Holdfast::with_clock(db.store(), clock.clone());
        add_named(&services, "a@example.com", "A", Role::Rep, None, None);
        add_named(&services, "b@example.com", "B", Role::Rep, None, None);
        let a = services.actor_for("a@example.com").expect("a");
        let b = services.actor_for("b@example.com").expect("b");
        let theirs = services.create_record(&a, &ACCOUNTS, &json!({"name": "Theirs"})).expect("account");
        services.change_settings(&Actor::operator(), &read_policy("own")).expect("policy");
        for _ in 0..REFUSALS_PER_MINUTE + 10 {
            assert!(services.get_record(&b, &ACCOUNTS, theirs.id).is_err());
        }
        clock.advance_secs(61);
        assert!(services.get_record(&b, &ACCOUNTS, theirs.id).is_err());
        let filter = EventFilter { action: Some("access.refused".into()), limit: 1_000, ..Default::default() };
        let refused = services.events(&Actor::operator(), &filter).expect("events");
        assert_eq!(refused.len() as u32, REFUSALS_PER_MINUTE + 1, "on {}", db.backend);
        assert_eq!(refused[0].event.details["refusals_left_out"], 10, "on {}", db.backend);
        services.shutdown();
    }
}

/// An import large enough to ask for a large page cache gives it back when it is over (SQLite
/// opens a new writer connection), and everything goes on as before: the next changes and reads
/// work, a rehearsal of the same size too, and the log is one unbroken chain.
#[test]
fn a_large_import_gives_back_its_memory_and_the_database_goes_on() {
    use holdfast_core::record::CONTACTS;
    use holdfast_core::service::ImportOptions;
    for db in each_backend() {
        let services = db.services();
        let op = Actor::operator();
        let mut csv = String::from("First Name,Last Name,Email\n");
        for i in 0..1_500 {
            csv.push_str(&format!("Ann{i},Lee,ann{i}@example.com\n"));
        }
        let rehearsal = ImportOptions { dry_run: true, ..Default::default() };
        let rehearsed = services
            .import_contacts(&op, &mut std::io::Cursor::new(csv.as_bytes()), &rehearsal, &|_, _| {})
            .expect("rehearsal");
        assert_eq!(rehearsed.created, 1_500, "{}", db.backend);
        let report = services
            .import_contacts(&op, &mut std::io::Cursor::new(csv.as_bytes()), &ImportOptions::default(), &|_, _| {})
            .expect("import");
        assert_eq!(report.created, 1_500, "{}", db.backend);
        let made = services.create_record(&op, &CONTACTS, &json!({"first_name": "After"})).expect("create");
        let changed = services.update_record(&op, &CONTACTS, made.id, &json!({"title": "Buyer"})).expect("update");
        assert_eq!(changed.id, made.id);
        assert_eq!(services.get_record(&op, &CONTACTS, made.id).expect("open").id, made.id);
        let verified = services.verify_log(&op, "", &[]).expect("verify");
        assert!(verified.ok(), "{}: {:?}", db.backend, verified.findings);
        // The rehearsal, the import, the new contact, its change and its read.
        assert_eq!(verified.events, 5, "{}", db.backend);
        services.shutdown();
    }
}

/// An import is an operation: each contact and account it created is a row its event vouches for
/// (count and digest, no list of ids in the event), a record's history shows the import that
/// created it (owner and file), `audit verify` checks the rows, and a rehearsal writes none.
#[test]
fn an_import_is_kept_as_an_operation_that_each_created_record_shows_in_its_history() {
    use holdfast_core::event::EventFilter;
    use holdfast_core::record::{ACCOUNTS, CONTACTS};
    use holdfast_core::service::ImportOptions;
    for db in each_backend() {
        let services = db.services();
        let op = Actor::operator();
        let mut csv = String::from("First Name,Last Name,Email,Company Name\n");
        for i in 0..1_200 {
            csv.push_str(&format!("Ann{i},Lee,ann{i}@acme{}.com,Acme {}\n", i % 3, i % 3));
        }
        let options = |dry_run| ImportOptions { dry_run, source: Some("acme.csv".into()) };
        services
            .import_contacts(&op, &mut std::io::Cursor::new(csv.as_bytes()), &options(true), &|_, _| {})
            .expect("rehearsal");
        let report = services
            .import_contacts(&op, &mut std::io::Cursor::new(csv.as_bytes()), &options(false), &|_, _| {})
            .expect("import");
        assert_eq!((report.created, report.accounts_created), (1_200, 3), "{}", db.backend);
        let filter = EventFilter { action: Some("bulk.import".into()), limit: 10, ..Default::default() };
        let imports = services.events(&op, &filter).expect("events");
        assert_eq!(imports.len(), 2, "{}", db.backend);
        let (done, rehearsed) = (&imports[0].event, &imports[1].event);
        assert_eq!(rehearsed.details["dry_run"], true);
        assert!(rehearsed.details.get("records_digest").is_none(), "{}: a rehearsal keeps no rows", db.backend);
        assert_eq!(done.row_count, 1_203, "{}", db.backend);
        assert_eq!(done.details["per_kind"], json!({"contact": 1_200, "account": 3}), "{}", db.backend);
        assert!(done.details["records_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
        assert!(done.details.get("created_ids").is_none(), "{}: the ids are rows, not a list", db.backend);
        let operation = done.object_id.clone().expect("the import's operation");
        assert_eq!(done.details["operation"], json!(operation));

        let hits = services.search(&op, "Ann1199", 5).expect("search");
        let contact = hits
            .iter()
            .filter(|h| h.kind.name == CONTACTS.name)
            .flat_map(|h| &h.records)
            .find(|r| r.get("email").as_text() == Some("ann1199@acme2.com"))
            .expect("the last row's contact")
            .id;
        let history = services.record_history(&op, &CONTACTS, contact).expect("history");
        let import = history.events.iter().find(|e| e.event.action == "bulk.import").expect("the import");
        assert_eq!(import.event.details["fields"]["source"], "acme.csv", "{}", db.backend);
        assert_eq!(import.event.details["operation"], json!(operation), "{}", db.backend);
        assert_eq!(import.event.row_count, 1, "{}: narrowed to the record", db.backend);
        let account = services.get_record(&op, &CONTACTS, contact).expect("open").account(&CONTACTS).expect("account");
        let history = services.record_history(&op, &ACCOUNTS, account).expect("account history");
        assert!(history.events.iter().any(|e| e.event.action == "bulk.import"), "{}: {history:?}", db.backend);

        // The emails are looked up a few thousand at a time: a second file whose known contacts
        // come after 5,000 new ones still merges into every one of them.
        // Within the file, a contact made from one row takes a later row with its email or phone.
        let mut again = String::from("First Name,Last Name,Email,Job Title,Phone Number\n");
        again.push_str("Cy,One,cy1@example.com,CTO,+1 555 010 0001\n");
        for i in 0..5_000 {
            again.push_str(&format!("Bob{i},Ray,bob{i}@example.com,CFO,\n"));
        }
        for i in 0..1_200 {
            again.push_str(&format!("Ann{i},Lee,ANN{i}@acme{}.com,Buyer,\n", i % 3));
        }
        again.push_str("Bob7,Ray,BOB7@Example.com,,+1 555 010 0007\n");
        again.push_str("Cy,One,,,1-555-010-0001\n");
        let report = services
            .import_contacts(&op, &mut std::io::Cursor::new(again.as_bytes()), &options(false), &|_, _| {})
            .expect("second import");
        assert_eq!((report.created, report.merged), (5_001, 1_202), "{}: {report:?}", db.backend);
        let filled = services.get_record(&op, &CONTACTS, contact).expect("open");
        assert_eq!(filled.get("title").as_text(), Some("Buyer"), "{}: the blank filled", db.backend);
        let imports = services.events(&op, &filter).expect("events");
        assert_eq!(imports[0].event.details["merged"], 1_202, "{}", db.backend);
        assert!(imports[0].event.details.get("merged_ids").is_none(), "{}: the matches are rows", db.backend);
        let history = services.record_history(&op, &CONTACTS, contact).expect("history");
        let actions: Vec<&str> = history.events.iter().map(|e| e.event.action.as_str()).collect();
        assert_eq!(actions, ["bulk.import", "record.update", "bulk.import"], "{}: newest first", db.backend);
        assert_eq!(history.events[0].event.details["merged"], true, "{}", db.backend);
        assert_eq!(history.events[2].event.details.get("merged"), None, "{}: the import that made it", db.backend);
        let verified = services.verify_log(&op, "", &[]).expect("verify");
        assert!(verified.ok(), "{}: {:?}", db.backend, verified.findings);

        // Imports are operations' events too, but the Bulk operations list shows only bulk
        // changes and handovers, however many imports came after them.
        holdfast_testing::add_coworker(&services, "fay@example.com", Role::Rep, None, None);
        let moved = services.bulk_assign(&op, &CONTACTS, &[contact], "fay@example.com").expect("bulk change");
        for i in 0..3 {
            let one = format!("First Name,Email\nDee{i},dee{i}@example.com\n");
            services
                .import_contacts(&op, &mut std::io::Cursor::new(one.as_bytes()), &options(false), &|_, _| {})
                .expect("a small import");
        }
        let listed = services.list_bulk_operations(&op, 1).expect("bulk operations");
        assert_eq!(listed.iter().map(|o| o.id).collect::<Vec<_>>(), vec![moved.operation], "{}", db.backend);

        let verified = services.verify_log(&op, "", &[]).expect("verify");
        assert!(verified.ok(), "{}: {:?}", db.backend, verified.findings);
        services.shutdown();
    }
}

#[test]
fn counting_a_co_workers_reads_since_a_moment_finds_every_one_whatever_order_the_clocks_wrote() {
    use holdfast_core::event::{NewEvent, action};
    use holdfast_core::service::append_events;
    use holdfast_core::time::MICROS_PER_DAY;
    const HOUR: i64 = 3_600_000_000;
    for db in each_backend() {
        let who = uuid::Uuid::now_v7();
        let someone_else = uuid::Uuid::now_v7();
        let base = 20_000 * MICROS_PER_DAY;
        let read = |coworker, day: i64, rows: i64, outside: bool| NewEvent {
            at: base + day * MICROS_PER_DAY + 9 * HOUR,
            coworker_id: Some(coworker),
            action: action::RECORD_READ.into(),
            object_type: Some("contact".into()),
            object_id: None,
            row_count: rows,
            client_addr: None,
            user_agent: None,
            details: if outside { json!({"outside_book": true}) } else { json!({}) },
        };
        // Appended in this order: days 10, 3, 12, 5 (a clock set back and forward again), each in
        // a batch of its own, and in one batch days 20 and 1.
        for batch in [
            vec![read(who, 10, 1, true)],
            vec![read(someone_else, 3, 7, true)],
            vec![read(who, 3, 2, false)],
            vec![read(who, 12, 4, true)],
            vec![read(who, 5, 8, true)],
            vec![read(who, 20, 16, false), read(who, 1, 32, true)],
        ] {
            db.store().write(|tx| Ok(append_events(tx, batch)?)).expect("append");
        }
        let since = |day: i64| base + day * MICROS_PER_DAY;
        let (rows, outside) = db
            .store()
            .read(|tx| {
                let mut rows = Vec::new();
                let mut outside = Vec::new();
                for day in [0, 1, 2, 3, 5, 6, 11, 12, 13, 20, 21] {
                    rows.push(tx.rows_read_since(who, since(day))?.iter().map(|(_, n)| n).sum::<i64>());
                    outside.push(tx.outside_book_reads_since(who, since(day))?.iter().map(|(_, n)| n).sum::<i64>());
                }
                Ok((rows, outside))
            })
            .expect("count");
        assert_eq!(rows, [63, 63, 31, 31, 29, 21, 20, 20, 16, 16, 0], "{}: rows read since each day", db.backend);
        assert_eq!(outside, [4, 4, 3, 3, 3, 2, 1, 1, 0, 0, 0], "{}: outside-book reads since each day", db.backend);
    }
}

/// A search whose words match much of the table is listed by walking the contacts in name order
/// (see `broad_search` in the store); every page, followed by cursor both ways, must list exactly
/// what the full-text index finds (a search sorted by first name, which takes the index), with
/// accented, Greek, CJK and emoji names among them.
#[test]
fn a_broad_search_walked_in_name_order_lists_what_the_index_finds() {
    use holdfast_core::record::CONTACTS;
    use holdfast_core::service::ListRequest;
    let last = ["Müller", "Smith", "Østergaard", "Ängström", "東京", "Αθηνά", "Lee", "Núñez", "O'Brien", "😀Emoji"];
    let titles = ["Account Manager", "Buyer", "", "Muse Ops"];
    let mut csv = String::from("First Name,Last Name,Email,Job Title\n");
    for i in 0..420 {
        let (l, t) = (last[i % last.len()], titles[i % titles.len()]);
        csv.push_str(&format!("Ann{},{l},p{i}@mail{}.example,{t}\n", i % 7, i % 5));
    }
    for db in each_backend() {
        let services = db.services();
        let op = Actor::operator();
        assert_eq!(import_contacts(&services, &csv), 420, "{}", db.backend);
        let all_pages = |q: &str, sort: &str| {
            let mut ids = Vec::new();
            let mut keys = Vec::new();
            let mut cursor = None;
            loop {
                let req = ListRequest {
                    q: Some(q.into()),
                    sort: Some(sort.into()),
                    limit: Some(9),
                    cursor: cursor.take(),
                    ..Default::default()
                };
                let page = services.list_records(&op, &CONTACTS, &req).expect("search");
                for r in &page.items {
                    ids.push(r.id);
                    keys.push((r.get("last_name").as_text().unwrap_or("").to_string(), r.id));
                }
                match page.next_cursor {
                    Some(c) => cursor = Some(c),
                    None => break,
                }
            }
            (ids, keys)
        };
        for q in
            ["a", "ann1", "m", "mu", "mü", "muller", "o", "ost", "ø", "ang", "東", "αθ", "emoji", "s", "zz", "acc ma"]
        {
            let (mut by_index, _) = all_pages(q, "first_name");
            by_index.sort();
            for sort in ["last_name", "-last_name"] {
                let (walked, keys) = all_pages(q, sort);
                let mut sorted = keys.clone();
                sorted.sort();
                if sort.starts_with('-') {
                    sorted.reverse();
                }
                // The database's collation orders names; only the pages' coherence is checked
                // here: no record twice, none missing, none extra.
                let mut seen = walked.clone();
                seen.sort();
                seen.dedup();
                assert_eq!(seen.len(), walked.len(), "{}: {q:?} {sort}: a record listed twice", db.backend);
                assert_eq!(seen, by_index, "{}: {q:?} {sort}: the walk and the index disagree", db.backend);
                if db.backend == "sqlite" {
                    assert_eq!(keys, sorted, "{}: {q:?} {sort}: out of name order", db.backend);
                }
            }
        }
        services.shutdown();
    }
}

/// A search with thousands of matches that sit together in name order ("smi" in last-name
/// order) is listed from the index's matches and the name index's key ranges (see
/// `broad_search`); its pages by cursor must be the pages the index's own plan lists by offset,
/// with deleted contacts left out (several inside a range's first rows) and matches outside the
/// ranges ("Smíth", an email) in place.
#[test]
fn a_search_whose_matches_sit_together_in_name_order_pages_as_the_index_does() {
    use holdfast_core::record::CONTACTS;
    use holdfast_core::service::ListRequest;
    // "Adams" comes first in name order and "zimmer" last; they match only by the email of rows
    // in the middle of the file, so a walk from either end finds nothing in its first rows.
    let last = ["Smith", "Smithson", "SMITH", "smith", "McSmith", "Adams", "Smíth", "zimmer"];
    let mut csv = String::from("First Name,Last Name,Email\n");
    for i in 0..7_000 {
        let l = last[i % last.len()];
        let email = if i % 101 == 0 && (2_000..4_000).contains(&i) {
            format!("smi{i}@example.com")
        } else {
            format!("p{i}@example.com")
        };
        csv.push_str(&format!("Ann{},{l},{email}\n", i % 13));
    }
    for db in each_backend() {
        let services = db.services();
        let op = Actor::operator();
        assert_eq!(import_contacts(&services, &csv), 7_000, "{}", db.backend);
        let page = |cursor: Option<String>, offset: Option<u64>, limit: u32| {
            let req = ListRequest { q: Some("smi".into()), limit: Some(limit), cursor, offset, ..Default::default() };
            services.list_records(&op, &CONTACTS, &req).expect("search")
        };
        // Delete the first few matches in name order, and the second to sixth "SMITH" (more than
        // the matches that come before them: a page of four reaches past them).
        for r in page(None, None, 3).items {
            services.delete_record(&op, &CONTACTS, r.id).expect("delete");
        }
        let smiths: Vec<_> =
            page(None, None, 60).items.into_iter().filter(|r| r.get("last_name").as_text() == Some("SMITH")).collect();
        for r in &smiths[1..6] {
            services.delete_record(&op, &CONTACTS, r.id).expect("delete");
        }
        // A page of four over the deleted "SMITH" rows: its rows are the index plan's.
        let four: Vec<_> = page(None, None, 4).items.iter().map(|r| r.id).collect();
        let four_by_offset: Vec<_> = page(None, Some(1), 3).items.iter().map(|r| r.id).collect();
        assert_eq!(four_by_offset[..], four[1..], "{}: a page past deleted rows differs", db.backend);
        // Pages of one first: the next match is far on, so each page starts from a cursor with no
        // match in the rows that follow it.
        let mut by_cursor = Vec::new();
        let mut cursor = None;
        for limit in [1, 1, 1, 60, 60] {
            let p = page(cursor.take(), None, limit);
            by_cursor.extend(p.items.iter().map(|r| r.id));
            cursor = p.next_cursor;
        }
        assert_eq!(by_cursor.len(), 123, "{}", db.backend);
        // By offset the index's own plan answers (the other paths page by cursor only).
        let by_offset: Vec<_> = page(None, Some(1), 122).items.iter().map(|r| r.id).collect();
        assert_eq!(by_offset[..], by_cursor[1..], "{}: the pages differ from the index's", db.backend);
        // Descending too, from the end of the order.
        let mut down = Vec::new();
        let mut cursor = None;
        for limit in [1, 1, 50] {
            let req = ListRequest {
                q: Some("smi".into()),
                sort: Some("-last_name".into()),
                limit: Some(limit),
                cursor: cursor.take(),
                ..Default::default()
            };
            let p = services.list_records(&op, &CONTACTS, &req).expect("search");
            down.extend(p.items.iter().map(|r| r.id));
            cursor = p.next_cursor;
        }
        let req = ListRequest {
            q: Some("smi".into()),
            sort: Some("-last_name".into()),
            limit: Some(51),
            offset: Some(1),
            ..Default::default()
        };
        let down_by_offset: Vec<_> =
            services.list_records(&op, &CONTACTS, &req).expect("search").items.iter().map(|r| r.id).collect();
        assert_eq!(down_by_offset[..], down[1..], "{}: descending pages differ from the index's", db.backend);
        // SQLite's index reads "smí" as "smi": the same page, whichever way it is found
        // (PostgreSQL's `simple` configuration keeps the accent).
        let accented = ListRequest { q: Some("Smí".into()), limit: Some(50), ..Default::default() };
        let accented: Vec<_> =
            services.list_records(&op, &CONTACTS, &accented).expect("search").items.iter().map(|r| r.id).collect();
        assert!(
            db.backend != "sqlite"
                || accented[..] == page(None, None, 50).items.iter().map(|r| r.id).collect::<Vec<_>>()[..],
            "{}",
            db.backend
        );
        services.shutdown();
    }
}

/// Imports a CSV of contacts as the operator: how many it created.
fn import_contacts(services: &holdfast_core::Holdfast<holdfast_store::Store>, csv: &str) -> u64 {
    let options = holdfast_core::service::ImportOptions::default();
    let report = services
        .import_contacts(&Actor::operator(), &mut std::io::Cursor::new(csv.as_bytes()), &options, &|_, _| {})
        .expect("import");
    report.created
}
