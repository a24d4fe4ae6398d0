//! Tamper evidence, end to end: events are changed directly in SQLite and PostgreSQL (bypassing
//! the append-only triggers, as an attacker with database access would) and `holdfast audit
//! verify` must name the first bad event; evidence bundles must verify with standard tools.

use std::path::Path;
use std::process::{Command, Stdio};

use holdfast_testing::{TestDb, each_backend};

struct Env {
    db: TestDb,
    data: tempfile::TempDir,
}

impl Env {
    fn run(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .arg("--database")
            .arg(self.db.database_arg())
            .arg("--data-dir")
            .arg(self.data.path())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run holdfast");
        if let (Some(mut input), Some(text)) = (child.stdin.take(), stdin) {
            use std::io::Write;
            input.write_all(text.as_bytes()).expect("stdin");
        }
        let out = child.wait_with_output().expect("output");
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    /// Runs SQL as an attacker with database access: triggers off, change, triggers back on.
    fn tamper(&self, statements: &[&str]) {
        let store = self.db.store();
        let sqlite = self.db.backend == "sqlite";
        store
            .with_conn(true, |c| {
                if sqlite {
                    c.exec("DROP TRIGGER system_events_no_update", &[])?;
                    c.exec("DROP TRIGGER system_events_no_delete", &[])?;
                } else {
                    c.exec("ALTER TABLE system_events DISABLE TRIGGER USER", &[])?;
                }
                for s in statements {
                    c.exec(s, &[])?;
                }
                if sqlite {
                    c.exec("CREATE TRIGGER system_events_no_update BEFORE UPDATE ON system_events BEGIN SELECT RAISE(ABORT, 'system events are append-only'); END", &[])?;
                    c.exec("CREATE TRIGGER system_events_no_delete BEFORE DELETE ON system_events BEGIN SELECT RAISE(ABORT, 'system events are append-only'); END", &[])?;
                } else {
                    c.exec("ALTER TABLE system_events ENABLE TRIGGER USER", &[])?;
                }
                Ok(())
            })
            .unwrap_or_else(|e| panic!("tampering on {}: {e}", self.db.backend));
    }

    fn verify(&self) -> (i32, String) {
        let (code, out, err) = self.run(&["audit", "verify"], None);
        (code, format!("{out}{err}"))
    }

    fn max_seq(&self) -> i64 {
        self.db.store().with_conn(false, |c| c.rows("SELECT max(seq) FROM system_events", &[])).expect("max seq")[0][0]
            .as_int()
            .unwrap_or(0)
    }
}

fn setup(db: TestDb) -> Env {
    let env = Env { db, data: tempfile::tempdir().expect("data dir") };
    let (code, _, err) = env.run(
        &["coworker", "add", "--email", "admin@example.com", "--name", "Admin", "--role", "admin"],
        Some("a long passphrase"),
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = env.run(
        &["coworker", "add", "--email", "rep@example.com", "--name", "Rep", "--role", "rep", "--team", "East"],
        Some("a long passphrase"),
    );
    assert_eq!(code, 0, "{err}");
    for _ in 0..14 {
        let (code, _, err) = env.run(&["--as", "rep@example.com", "list", "contacts"], None);
        assert_eq!(code, 0, "{err}");
    }
    env
}

#[test]
fn verify_names_edited_reordered_and_deleted_events() {
    for db in each_backend() {
        let env = setup(db);
        let (code, out) = env.verify();
        assert_eq!(code, 0, "{}: {out}", env.db.backend);
        assert!(out.contains("ok:"), "{out}");

        // An edited event is named; putting it back makes the log whole again.
        let original = env
            .db
            .store()
            .with_conn(false, |c| c.rows("SELECT row_count FROM system_events WHERE seq = 5", &[]))
            .expect("row")[0][0]
            .as_int()
            .unwrap_or(0);
        env.tamper(&["UPDATE system_events SET row_count = 999999 WHERE seq = 5"]);
        let (code, out) = env.verify();
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("event 5") && out.contains("edited"), "{}: {out}", env.db.backend);
        env.tamper(&[&format!("UPDATE system_events SET row_count = {original} WHERE seq = 5")]);
        let (code, out) = env.verify();
        assert_eq!(code, 0, "{}: {out}", env.db.backend);

        // Two events swapped.
        env.tamper(&[
            "UPDATE system_events SET seq = -4 WHERE seq = 4",
            "UPDATE system_events SET seq = 4 WHERE seq = 6",
            "UPDATE system_events SET seq = 6 WHERE seq = -4",
        ]);
        let (code, out) = env.verify();
        assert_ne!(code, 0, "{out}");
        assert!(out.contains("event 4"), "{}: {out}", env.db.backend);
        env.tamper(&[
            "UPDATE system_events SET seq = -4 WHERE seq = 4",
            "UPDATE system_events SET seq = 4 WHERE seq = 6",
            "UPDATE system_events SET seq = 6 WHERE seq = -4",
        ]);
        assert_eq!(env.verify().0, 0);

        // One event removed from the middle.
        env.tamper(&["DELETE FROM system_events WHERE seq = 3"]);
        let (code, out) = env.verify();
        assert_ne!(code, 0);
        assert!(out.contains("event 3") && out.contains("missing"), "{}: {out}", env.db.backend);
    }
}

#[test]
fn a_deleted_tail_is_caught_by_the_external_checkpoint_file() {
    for db in each_backend() {
        let env = setup(db);
        let last = env.max_seq();
        env.tamper(&[&format!("DELETE FROM system_events WHERE seq > {}", last - 10)]);
        // The attacker also removes the checkpoints kept in the database.
        env.db
            .store()
            .with_conn(true, |c| {
                if env.db.backend == "sqlite" {
                    c.exec("DROP TRIGGER event_checkpoints_no_delete", &[])?;
                } else {
                    c.exec("ALTER TABLE event_checkpoints DISABLE TRIGGER USER", &[])?;
                }
                c.exec("DELETE FROM event_checkpoints", &[])
            })
            .expect("delete checkpoints");
        let (code, out) = env.verify();
        assert_ne!(code, 0, "{out}");
        assert!(
            out.contains("truncated") && out.contains("the last 10 events were deleted"),
            "{}: {out}",
            env.db.backend
        );
    }
}

#[test]
fn a_forged_checkpoint_is_refused() {
    for db in each_backend() {
        let env = setup(db);
        let file = env.data.path().join("checkpoints.jsonl");
        let text = std::fs::read_to_string(&file).expect("checkpoint file");
        let last = text.lines().last().expect("a checkpoint");
        let mut forged: serde_json::Value = serde_json::from_str(last).expect("json");
        forged["seq"] = serde_json::json!(forged["seq"].as_i64().unwrap_or(0) + 5);
        std::fs::write(&file, format!("{text}{forged}\n")).expect("write");
        let (code, out) = env.verify();
        assert_ne!(code, 0);
        assert!(out.contains("bad_signature") && out.contains("forged"), "{}: {out}", env.db.backend);
    }
}

fn has(tool: &str) -> bool {
    Command::new("sh").arg("-c").arg(format!("command -v {tool}")).output().is_ok_and(|o| o.status.success())
}

#[test]
fn an_evidence_bundle_verifies_with_standard_tools_and_catches_changes() {
    let env = setup(holdfast_testing::sqlite());
    let out_dir = env.data.path().join("bundle");
    let out = out_dir.to_str().expect("path");
    let (code, stdout, err) =
        env.run(&["audit", "evidence", "--coworker", "rep@example.com", "--since", "2000-01-01", "--out", out], None);
    assert_eq!(code, 0, "{stdout}{err}");
    for f in [
        "events.csv",
        "events.jsonl",
        "report.html",
        "public-key.pem",
        "README.md",
        "verify.sh",
        "SHA256SUMS",
        "chain.tsv",
    ] {
        assert!(Path::new(out).join(f).exists(), "missing {f}");
    }
    let jsonl = std::fs::read_to_string(out_dir.join("events.jsonl")).expect("jsonl");
    assert!(jsonl.lines().count() >= 4, "{jsonl}");
    let (code, stdout, err) = env.run(&["audit", "verify-bundle", out], None);
    assert_eq!(code, 0, "{stdout}{err}");
    if has("openssl") && has("sha256sum") {
        let run = Command::new("bash").arg(out_dir.join("verify.sh")).output().expect("verify.sh");
        assert!(
            run.status.success(),
            "{}{}",
            String::from_utf8_lossy(&run.stdout),
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(String::from_utf8_lossy(&run.stdout).contains("OK:"));
    }
    // Change one character of one event: both checkers refuse the bundle.
    let canonical = out_dir.join("events.canonical");
    let text = std::fs::read_to_string(&canonical).expect("canonical");
    std::fs::write(&canonical, text.replacen("list.read", "list.reaD", 1)).expect("write");
    let (code, _, _) = env.run(&["audit", "verify-bundle", out], None);
    assert_ne!(code, 0);
    if has("openssl") && has("sha256sum") {
        let run = Command::new("bash").arg(out_dir.join("verify.sh")).output().expect("verify.sh");
        assert!(!run.status.success());
    }
}

#[test]
fn report_compares_a_coworker_with_their_baseline() {
    let env = setup(holdfast_testing::sqlite());
    let (code, out, err) =
        env.run(&["audit", "report", "--coworker", "rep@example.com", "--since", "2000-01-01", "--json"], None);
    assert_eq!(code, 0, "{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(report["coworker"]["email"], "rep@example.com");
    assert!(report["totals"]["events"].as_i64().unwrap_or(0) >= 4, "{report}");
    let (code, _, err) = env.run(
        &["--as", "rep@example.com", "audit", "report", "--coworker", "admin@example.com", "--since", "2000-01-01"],
        None,
    );
    assert_ne!(code, 0, "a rep may not review an admin: {err}");
}

#[test]
fn siem_tail_resumes_from_its_cursor() {
    let env = setup(holdfast_testing::sqlite());
    let (code, first, _) = env.run(&["audit", "tail", "--cursor", "splunk"], None);
    assert_eq!(code, 0);
    let seqs: Vec<i64> = first
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("jsonl")["seq"].as_i64().unwrap_or(0))
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1) && seqs[0] == 1, "{seqs:?}");
    let (code, second, _) = env.run(&["audit", "tail", "--cursor", "splunk", "--format", "cef"], None);
    assert_eq!(code, 0);
    // Only what happened since (the first tail's own audit.export event, and what came after).
    assert!(!second.is_empty());
    assert!(second.lines().all(|l| l.starts_with("CEF:0|Holdfast|")), "{second}");
    assert!(second.lines().count() < seqs.len(), "resent everything: {second}");
    let (_, syslog, _) = env.run(&["audit", "tail", "--after", "0", "--format", "syslog"], None);
    assert!(syslog.lines().next().is_some_and(|l| l.starts_with("<110>1 ")), "{syslog}");
}

#[test]
fn a_crash_in_the_middle_of_a_write_leaves_a_valid_chain() {
    for db in each_backend() {
        let env = setup(db);
        let csv = env.data.path().join("big.csv");
        let mut text = String::from("First Name,Last Name,Email,Company Name\n");
        for i in 0..60_000 {
            text.push_str(&format!("Person{i},Test,p{i}@crash{}.com,Crash {} Inc\n", i % 500, i % 500));
        }
        std::fs::write(&csv, text).expect("csv");
        let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .arg("--database")
            .arg(env.db.database_arg())
            .arg("--data-dir")
            .arg(env.data.path())
            .args(["import", "contacts"])
            .arg(&csv)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("import");
        std::thread::sleep(std::time::Duration::from_millis(700));
        // kill -9: no destructor, no rollback, no closing checkpoint.
        let _ = child.kill();
        let _ = child.wait();
        let (code, out) = env.verify();
        assert_eq!(code, 0, "{}: {out}", env.db.backend);
        // The server goes on appending to the same chain.
        let (code, _, err) = env.run(&["--as", "rep@example.com", "list", "accounts"], None);
        assert_eq!(code, 0, "{err}");
        assert_eq!(env.verify().0, 0);
    }
}

#[test]
fn a_backup_taken_while_coworkers_work_verifies_on_its_own() {
    for db in each_backend() {
        let env = setup(db);
        let dest = env.data.path().join("backup");
        if env.db.backend == "postgres" {
            // A server database is backed up with its own tools; the answer says how.
            let (code, _, err) = env.run(&["backup", dest.to_str().expect("path")], None);
            assert_eq!(code, 5, "{err}");
            assert!(err.contains("pg_dump") && err.contains("audit-signing.key"), "{err}");
            continue;
        }
        // A checkpoint before, then reads (each closing with a checkpoint of its own) while the
        // backup runs: the copy takes the checkpoints up to its own last event, no later ones.
        assert_eq!(env.run(&["audit", "checkpoint"], None).0, 0);
        let done = std::sync::atomic::AtomicBool::new(false);
        let (code, out, err) = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let (code, _, err) = env.run(&["--as", "rep@example.com", "list", "contacts"], None);
                    assert_eq!(code, 0, "{err}");
                }
            });
            std::thread::sleep(std::time::Duration::from_millis(300));
            let answer = env.run(&["backup", dest.to_str().expect("path")], None);
            std::thread::sleep(std::time::Duration::from_millis(300));
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            answer
        });
        assert_eq!(code, 0, "{out}{err}");
        let sha = out.split("sha256 ").nth(1).and_then(|s| s.split_whitespace().next()).expect("sha256").to_string();
        // Private, like the data directory it copies.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode(&dest), 0o700);
            for f in ["holdfast.db", "audit-signing.key", "checkpoints.jsonl"] {
                assert_eq!(mode(&dest.join(f)), 0o600, "{f}");
            }
        }
        let copied = std::fs::read(dest.join("holdfast.db")).expect("copy");
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&copied)), sha);
        // The live log says who took it, with the same fingerprint.
        let (_, events, _) = env.run(&["events", "--action", "backup.create", "--json"], None);
        assert!(events.contains(&sha), "{events}");
        // The copy is a data directory of its own, and its log and checkpoints verify.
        let verify = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(["--database", dest.to_str().expect("path"), "audit", "verify"])
            .output()
            .expect("verify");
        let said = String::from_utf8_lossy(&verify.stdout).to_string() + &String::from_utf8_lossy(&verify.stderr);
        assert!(verify.status.success(), "{said}");
        assert!(said.contains("ok:") && !said.contains(" 0 checkpoints"), "{said}");
        // A directory that already holds something is not written into.
        let (code, _, err) = env.run(&["backup", dest.to_str().expect("path")], None);
        assert_ne!(code, 0);
        assert!(err.contains("not empty"), "{err}");
        // Customer data left with the backup: the copy holds every contact the original holds.
        let (_, original, _) = env.run(&["list", "contacts", "--limit", "1000"], None);
        let in_copy = Command::new(env!("CARGO_BIN_EXE_holdfast"))
            .args(["--database", dest.to_str().expect("path"), "list", "contacts", "--limit", "1000"])
            .output()
            .expect("list the copy");
        assert_eq!(String::from_utf8_lossy(&in_copy.stdout), original);
    }
}

#[test]
fn an_export_killed_while_writing_leaves_no_cut_file_and_a_valid_chain() {
    for db in each_backend() {
        let env = setup(db);
        let csv = env.data.path().join("many.csv");
        let mut text = String::from("First Name,Last Name,Email\n");
        for i in 0..20_000 {
            text.push_str(&format!("Person{i},Test,p{i}@export{}.com\n", i % 300));
        }
        std::fs::write(&csv, text).expect("csv");
        let (code, _, err) = env.run(&["import", "contacts", csv.to_str().expect("path")], None);
        assert_eq!(code, 0, "{err}");
        let out = env.data.path().join("contacts.csv");
        for wait in [100, 300, 700] {
            let _ = std::fs::remove_file(&out);
            let mut child = Command::new(env!("CARGO_BIN_EXE_holdfast"))
                .arg("--database")
                .arg(env.db.database_arg())
                .arg("--data-dir")
                .arg(env.data.path())
                .args(["export", "contacts", "-o"])
                .arg(&out)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("export");
            std::thread::sleep(std::time::Duration::from_millis(wait));
            let _ = child.kill();
            let _ = child.wait();
            // Under the name asked for: the whole file, or nothing.
            if let Ok(written) = std::fs::read_to_string(&out) {
                assert_eq!(written.lines().count(), 20_001, "{}: a cut file after {wait} ms", env.db.backend);
            }
            let (code, said) = env.verify();
            assert_eq!(code, 0, "{}: {said}", env.db.backend);
        }
    }
}
