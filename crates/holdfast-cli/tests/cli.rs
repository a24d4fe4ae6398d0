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
        assert!(out.contains("contacts\t2"), "{out}");
        let (code, out, err) =
            holdfast(&url, &["coworker", "handover", "leaving@example.com", "--to", "heir@example.com"], None);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("contacts\t2"), "{out}");
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
