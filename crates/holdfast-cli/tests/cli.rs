//! The `holdfast` binary as an operator uses it.

use std::io::Write;
use std::process::{Command, Stdio};

fn holdfast(database: &str, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .arg("--database")
        .arg(database)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run holdfast");
    if let Some(mut input) = child.stdin.take()
        && let Some(text) = stdin
    {
        input.write_all(text.as_bytes()).expect("stdin");
    }
    let out = child.wait_with_output().expect("output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn operator_sets_up_coworkers_and_tokens_on_both_backends() {
    for db in holdfast_testing::each_backend() {
        let url = db.database_arg();
        let (code, out, err) = holdfast(
            &url,
            &["coworker", "add", "--email", "Boss@Example.com", "--name", "Boss", "--role", "admin"],
            Some("a long passphrase\n"),
        );
        assert_eq!(code, 0, "{out}{err}");
        let (code, _, err) = holdfast(
            &url,
            &["coworker", "add", "--email", "boss@example.com", "--name", "Again", "--role", "admin"],
            Some("a long passphrase"),
        );
        assert_eq!(code, 5, "duplicate email must be refused: {err}");
        assert!(err.contains("already exists"), "{err}");
        let (code, _, err) = holdfast(
            &url,
            &["coworker", "add", "--email", "x@example.com", "--name", "X", "--role", "king"],
            Some("a long passphrase"),
        );
        assert_eq!(code, 2, "{err}");
        assert!(err.contains("role"), "{err}");
        let (code, out, _) = holdfast(&url, &["coworker", "list"], None);
        assert_eq!(code, 0);
        assert_eq!(out.lines().collect::<Vec<_>>(), vec!["boss@example.com\tadmin\tactive\tBoss\t-"]);
        let (code, token, _) = holdfast(&url, &["token", "create", "--coworker", "boss@example.com"], None);
        assert_eq!(code, 0);
        assert!(token.trim().starts_with("hf_") && token.trim().len() == 67, "{token}");
        let (code, out, _) = holdfast(&url, &["events", "--action", "token.create"], None);
        assert_eq!(code, 0);
        assert_eq!(out.lines().count(), 1, "{out}");
    }
}

#[test]
fn a_second_server_on_the_same_data_directory_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let data = data.to_str().expect("path");
    let mut first = Command::new(env!("CARGO_BIN_EXE_holdfast"))
        .args(["--database", data, "serve", "--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("first server");
    // Wait until the first server holds the lock.
    let lock = std::path::Path::new(data).join("holdfast.lock");
    for _ in 0..100 {
        if std::fs::read_to_string(&lock).is_ok_and(|s| !s.trim().is_empty()) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, _, err) = holdfast(data, &["serve", "--listen", "127.0.0.1:0"], None);
    let _ = first.kill();
    let _ = first.wait();
    assert_ne!(code, 0);
    assert!(err.contains("already serving"), "{err}");
}

#[test]
fn a_handover_moves_a_reps_customers_in_one_step_and_undoes() {
    for db in holdfast_testing::each_backend() {
        let url = db.database_arg();
        for (email, role) in
            [("admin@example.com", "admin"), ("leaving@example.com", "rep"), ("heir@example.com", "rep")]
        {
            let (code, out, err) = holdfast(
                &url,
                &["coworker", "add", "--email", email, "--name", email, "--role", role],
                Some("a long passphrase"),
            );
            assert_eq!(code, 0, "{out}{err}");
        }
        let dir = tempfile::tempdir().expect("dir");
        let csv = dir.path().join("contacts.csv");
        std::fs::write(
            &csv,
            "first_name,last_name,email,company,owner\nAda,Lovelace,ada@engines.com,Engines Ltd,leaving@example.com\nCharles,Babbage,cb@engines.com,Engines Ltd,leaving@example.com\n",
        )
        .expect("csv");
        let (code, out, err) = holdfast(&url, &["import", "contacts", csv.to_str().expect("path")], None);
        assert_eq!(code, 0, "{out}{err}");

        let (code, out, _) = holdfast(
            &url,
            &["coworker", "handover", "leaving@example.com", "--to", "heir@example.com", "--dry-run"],
            None,
        );
        assert_eq!(code, 0);
        assert!(out.contains("heir@example.com\t2 contacts"), "{out}");
        let (code, out, err) =
            holdfast(&url, &["coworker", "handover", "leaving@example.com", "--to", "heir@example.com"], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("heir@example.com\t2 contacts"), "{out}");
        let operation = err.split("holdfast undo ").nth(1).map(str::trim).expect("undo hint").to_string();

        // The export shows who owns them now, and is recorded as an export.
        let (code, csv_out, err) =
            holdfast(&url, &["export", "contacts", "--owner", "heir@example.com", "--sort", "last_name"], None);
        assert_eq!(code, 0, "{err}");
        assert_eq!(csv_out.lines().count(), 3, "{csv_out}");
        assert!(csv_out.lines().nth(1).is_some_and(|l| l.contains("Babbage")), "{csv_out}");
        let (_, events, _) = holdfast(&url, &["events", "--action", "export.create"], None);
        assert_eq!(events.lines().count(), 1, "{events}");

        let (code, _, err) = holdfast(&url, &["undo", &operation], None);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("put back 2"), "{err}");
        let (code, _, err) = holdfast(&url, &["undo", &operation], None);
        assert_ne!(code, 0, "an undo happens once: {err}");
        let (_, out, _) = holdfast(&url, &["list", "contacts", "--owner", "leaving@example.com"], None);
        assert_eq!(out.lines().count(), 2, "{out}");
    }
}

#[test]
fn a_departure_is_recorded_listed_and_shown_from_the_command_line() {
    for db in holdfast_testing::each_backend() {
        let url = db.database_arg();
        for (email, role) in [("leaving@example.com", "rep"), ("heir@example.com", "rep")] {
            let (code, out, err) = holdfast(
                &url,
                &["coworker", "add", "--email", email, "--name", email, "--role", role],
                Some("a long passphrase"),
            );
            assert_eq!(code, 0, "{out}{err}");
        }
        let (code, out, err) = holdfast(
            &url,
            &["departure", "start", "leaving@example.com", "--last-day", "2099-12-31", "--reason", "resignation"],
            None,
        );
        assert_eq!(code, 0, "{}: {err}", db.backend);
        let case = out.trim().to_string();
        assert!(err.contains("is departing"), "{err}");
        let (code, out, _) = holdfast(&url, &["departure", "list"], None);
        assert_eq!(code, 0);
        assert!(out.contains(&case) && out.contains("leaving@example.com\topen\tresignation"), "{out}");
        let (code, out, _) = holdfast(&url, &["departure", "show", "leaving@example.com"], None);
        assert_eq!(code, 0);
        assert!(out.contains("[ ] Access ended"), "{out}");
        let (code, _, err) =
            holdfast(&url, &["departure", "start", "leaving@example.com", "--last-day", "2099-12-31"], None);
        assert_ne!(code, 0, "one open case at a time");
        assert!(err.contains("already has an open departure case"), "{err}");
        let (code, _, err) =
            holdfast(&url, &["departure", "start", "heir@example.com", "--last-day", "31/12/2099"], None);
        assert_ne!(code, 0);
        assert!(err.contains("last_day"), "{err}");
    }
}

/// kill -9 in the middle of a mass transfer leaves no change or the whole change.
#[test]
fn a_handover_killed_in_the_middle_changes_nothing_or_everything() {
    use holdfast_core::coworker::{Actor, Role};
    use holdfast_core::record::CONTACTS;
    use holdfast_core::storage::Database;
    const N: usize = 5_000;
    for db in holdfast_testing::each_backend() {
        let (leaver, heir) = holdfast_testing::off_runtime(|| {
            let services = db.services();
            holdfast_testing::add_coworker(&services, "leaving@example.com", Role::Rep, None, None);
            holdfast_testing::add_coworker(&services, "heir@example.com", Role::Rep, None, None);
            let leaver = services.actor_for("leaving@example.com").expect("leaver").id().expect("id");
            let heir = services.actor_for("heir@example.com").expect("heir").id().expect("id");
            let rows: Vec<_> = (0..N)
                .map(|i| serde_json::json!({"first_name": format!("P{i}"), "owner_id": leaver.to_string()}))
                .collect();
            for chunk in rows.chunks(5_000) {
                services.create_many(&Actor::operator(), &CONTACTS, chunk).expect("contacts");
            }
            (leaver, heir)
        });
        let mut outcomes = Vec::new();
        let data_dir = tempfile::tempdir().expect("data dir");
        let data_dir = data_dir.path().to_str().expect("path").to_string();
        for delay_ms in [300, 1_000, 2_000, 4_000, 8_000, 30_000] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
                .args(["--database", &db.database_arg(), "--data-dir", &data_dir])
                .args(["coworker", "handover", "leaving@example.com"])
                .args(["--to", "heir@example.com"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("handover");
            std::thread::sleep(std::time::Duration::from_millis(delay_ms));
            let _ = child.kill(); // SIGKILL: no destructor, no rollback by the program.
            let _ = child.wait();
            let (a, b) = holdfast_testing::off_runtime(|| {
                let services = db.services();
                let owned = |who: uuid::Uuid| {
                    services
                        .unaudited_database_for_benchmarks()
                        .read(|tx| Ok(tx.count_owned(&CONTACTS, who)?))
                        .expect("count")
                };
                (owned(leaver), owned(heir))
            });
            assert!(
                (a, b) == (N as i64, 0) || (a, b) == (0, N as i64),
                "{}: after kill -9 at {delay_ms} ms the leaver owns {a} and the heir {b}",
                db.backend
            );
            outcomes.push(if a == 0 { "whole" } else { "none" });
            if a == 0 {
                break;
            }
        }
        eprintln!("{}: kill -9 outcomes {outcomes:?}", db.backend);
        assert_eq!(outcomes.last(), Some(&"whole"), "{}: the handover never finished", db.backend);
        let (code, out, err) = holdfast(&db.database_arg(), &["--data-dir", &data_dir, "audit", "verify"], None);
        assert_eq!(code, 0, "{}: the event log verifies after the kill: {out}{err}", db.backend);
    }
}

#[test]
fn coverage_exposure_prints_one_coworker_a_line_riskiest_first() {
    use holdfast_core::coworker::Role;
    use holdfast_core::record::{ACCOUNTS, ACTIVITIES};
    for db in holdfast_testing::each_backend() {
        holdfast_testing::off_runtime(|| {
            let services = db.services();
            for (email, value) in [("dana@example.com", 120_000), ("eli@example.com", 500_000)] {
                holdfast_testing::add_coworker(&services, email, Role::Rep, None, None);
                let me = services.actor_for(email).expect("rep");
                let a = services
                    .create_record(
                        &me,
                        &ACCOUNTS,
                        &serde_json::json!({"name": format!("Account of {email}"), "annual_value": value}),
                    )
                    .expect("account");
                let at = holdfast_core::time::format_timestamp(services.now());
                services
                    .create_record(&me, &ACTIVITIES, &serde_json::json!({"type": "call", "summary": "Hi", "account_id": a.id.to_string(), "occurred_at": at}))
                    .expect("activity");
            }
        });
        let (code, out, err) = holdfast(&db.database_arg(), &["coverage", "exposure"], None);
        assert_eq!(code, 0, "{err}");
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines, ["eli@example.com\t1\t500000.00", "dana@example.com\t1\t120000.00"], "{}", db.backend);
        let (code, out, _) =
            holdfast(&db.database_arg(), &["coverage", "exposure", "--coworker", "dana@example.com"], None);
        assert_eq!(code, 0);
        assert!(out.contains("Account of dana@example.com\t120000.00"), "{out}");
    }
}

#[test]
fn a_server_that_brings_its_own_audit_key_to_a_signed_database_is_refused() {
    for db in holdfast_testing::each_backend() {
        let url = db.database_arg();
        let (first, second) = (tempfile::tempdir().expect("dir"), tempfile::tempdir().expect("dir"));
        let first_dir = first.path().to_str().expect("path");
        let (code, _, err) = holdfast(&url, &["--data-dir", first_dir, "audit", "checkpoint"], None);
        assert_eq!(code, 0, "{err}");
        // A second server set up with an empty data directory of its own: a new key.
        let (code, _, err) = holdfast(
            &url,
            &["--data-dir", second.path().to_str().expect("path"), "serve", "--listen", "127.0.0.1:0"],
            None,
        );
        assert_ne!(code, 0, "{}: {err}", db.backend);
        assert!(err.contains("copy audit-signing.key from the first server"), "{err}");
        // With the first server's key it starts (and is stopped here at once).
        std::fs::copy(first.path().join("audit-signing.key"), second.path().join("audit-signing.key")).expect("copy");
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(["--database", &url, "--data-dir", second.path().to_str().expect("path")])
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stderr(Stdio::piped())
            .spawn()
            .expect("serve");
        let mut said = String::new();
        let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
        while !said.contains("Holdfast is serving") {
            let mut line = String::new();
            if std::io::BufRead::read_line(&mut err, &mut line).expect("read") == 0 {
                break;
            }
            said.push_str(&line);
        }
        let _ = child.kill();
        let _ = child.wait();
        assert!(said.contains("Holdfast is serving"), "{}: {said}", db.backend);
    }
}

/// The acceptance story at the command line: a rep exports 200 contacts; the file is shuffled,
/// two columns are dropped and it is cut to 60 rows; `holdfast trace` names that export and that
/// rep first (exit 0); a file of strangers matches nothing (exit 1).
#[test]
fn trace_names_the_export_and_the_rep_a_cut_file_came_from() {
    for db in holdfast_testing::each_backend() {
        let url = db.database_arg();
        let s = db.services();
        holdfast_testing::add_coworker(&s, "rep@example.com", holdfast_core::coworker::Role::Rep, None, None);
        let inputs: Vec<serde_json::Value> = (0..250)
            .map(|i| serde_json::json!({"first_name": format!("Ana{i}"), "last_name": "Silva", "email": format!("ana{i}@client.example"), "phone": format!("+1 212 555 {:04}", 3000 + i)}))
            .collect();
        s.create_many(&holdfast_core::coworker::Actor::operator(), &holdfast_core::record::CONTACTS, &inputs)
            .expect("contacts");
        s.shutdown();
        drop(s);
        let (code, out, err) =
            holdfast(&url, &["settings", "leak-tracing", "--canary-domain", "harbor-supply.example"], None);
        assert_eq!(code, 0, "{out}{err}");
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("rep.csv");
        let path = file.to_string_lossy().to_string();
        let (code, _, err) =
            holdfast(&url, &["--as", "rep@example.com", "export", "contacts", "--max-rows", "200", "-o", &path], None);
        assert_eq!(code, 0, "{err}");
        let export_id = err.split("recorded as export ").nth(1).map(|t| t.trim().to_string()).expect("the export's id");
        let text = std::fs::read_to_string(&file).expect("file");
        let mut lines: Vec<&str> = text.lines().collect();
        let header: Vec<&str> = lines.remove(0).split(',').collect();
        let keep: Vec<usize> = (0..header.len()).filter(|i| !["id", "phone"].contains(&header[*i])).collect();
        lines.retain(|l| !l.contains("harbor-supply.example"));
        lines.sort_by_key(|l| l.len() * 31 % 17);
        lines.truncate(60);
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record(keep.iter().map(|i| header[*i])).expect("header");
        for l in &lines {
            let cells: Vec<&str> = l.split(',').collect();
            w.write_record(keep.iter().map(|i| cells[*i])).expect("row");
        }
        let found = dir.path().join("found.csv");
        std::fs::write(&found, w.into_inner().expect("csv")).expect("write");
        let (code, out, err) = holdfast(&url, &["trace", &found.to_string_lossy()], None);
        assert_eq!(code, 0, "{out}{err}");
        let first = out.lines().next().unwrap_or("");
        assert_eq!(first, format!("{export_id}\trep@example.com"), "{out}");
        assert!(out.contains("60 of the file's rows"), "{out}");
        let strangers = dir.path().join("strangers.csv");
        std::fs::write(&strangers, "name,email\nZed,zed@nowhere.example\nYan,yan@nowhere.example\n").expect("write");
        let (code, out, err) = holdfast(&url, &["trace", &strangers.to_string_lossy()], None);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("no Holdfast export matches"), "{err}");
    }
}
