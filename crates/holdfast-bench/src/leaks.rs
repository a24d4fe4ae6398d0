//! Leak tracing's figures, each beside its baseline in the same run: the export of N contacts
//! with its fingerprint and canaries, beside the fingerprint's own work on the same rows (marking,
//! sorting, packing, storing) and `sqlite3 -csv` of the same columns; a trace of a found file of
//! R rows (shuffled, a column dropped, re-saved with a byte-order mark and semicolons) against E
//! stored exports' fingerprints, beside a bare parse of the same file; and a journaled message
//! with a CSV attachment of M rows, beside a bare MIME parse and CSV read of the same message.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::guard::ExportFormat;
use holdfast_core::leak::{Identity, MarkKey, PackedMarks, read_found, row_marks};
use holdfast_core::record::CONTACTS;
use holdfast_core::service::{ExportAsk, ListRequest, SettingsChange};
use holdfast_core::storage::{Database, Fingerprint};
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::shared::{add_rep, import_all, make_csv, row};

const COLUMNS: [&str; 9] =
    ["id", "first_name", "last_name", "email", "phone", "title", "account_id", "created_at", "updated_at"];

fn secs(d: std::time::Duration) -> f64 {
    d.as_secs_f64()
}

pub fn leaks(contacts: usize, exports: usize, trace_rows: usize, mail_rows: usize) -> Result<()> {
    if trace_rows > contacts || mail_rows > contacts {
        bail!("--trace-rows and --mail-rows must not be more than --contacts");
    }
    let dir = std::env::temp_dir().join(format!("holdfast-bench-leaks-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("holdfast.db");
    println!(
        "holdfast-bench leaks: {contacts} contacts, {exports} stored exports, a {trace_rows}-row found file, a {mail_rows}-row mailed attachment; SQLite; {}",
        dir.display()
    );
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&Location::Sqlite(db.clone()))?));
    let operator = Actor::operator();
    eprintln!("importing {contacts} contacts…");
    import_all(&services, &make_csv(contacts), contacts)?;
    let change = SettingsChange {
        canary_email_domain: Some("harbor-supply.example".into()),
        canary_phone_prefix: Some("+1 555 01".into()),
        ..Default::default()
    };
    services.change_settings(&operator, &change)?;
    let key = MarkKey::from_secret(&services.settings()?.leak_tracing.fingerprint_key);

    println!();
    println!("| figure | Holdfast | baseline | ratio |");
    println!("|---|---|---|---|");

    // 1. The whole export, fingerprinted, with its canaries.
    let ask = ExportAsk {
        kind: &CONTACTS,
        list: ListRequest::default(),
        ids: None,
        limit: Some(i64::try_from(contacts).unwrap_or(i64::MAX)),
        format: ExportFormat::Csv,
        columns: Some(COLUMNS.iter().map(|c| c.to_string()).collect()),
        reason: None,
    };
    // Each timed write starts on a checkpointed log, so none pays for the import's pages.
    let checkpoint = || -> Result<()> {
        rusqlite::Connection::open(&db)?.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
        Ok(())
    };
    checkpoint()?;
    let started = Instant::now();
    let file = match services.export_now(&operator, &ask)? {
        Ok(f) => f,
        Err(_) => bail!("the operator's export waited for approval"),
    };
    let export_took = started.elapsed();
    let bytes = file.into_bytes()?;
    let table = read_found(&bytes, contacts + 100).map_err(anyhow::Error::msg)?;
    let select = format!(
        "SELECT id, first_name, last_name, email, phone, title, account_id, created_at, updated_at \
         FROM contacts WHERE deleted_at IS NULL ORDER BY last_name, id LIMIT {contacts};"
    );
    let started = Instant::now();
    let status = std::process::Command::new("sqlite3")
        .args(["-csv", "-header"])
        .arg(&db)
        .arg(&select)
        .stdout(std::fs::File::create(dir.join("baseline.csv"))?)
        .status()
        .context("running sqlite3 (apt-get install sqlite3)")?;
    let sqlite_took = started.elapsed();
    if !status.success() {
        bail!("sqlite3 failed");
    }
    // The fingerprint's work on the same rows. On the export's own thread: copying each row's
    // identifying cells into batches for the marking thread (as `RowMarker` does), then packing
    // and storing the marks. On the other core, while the file is written: hashing them.
    let ident = Identity::of_headers(&table.headers);
    let columns: Vec<usize> =
        [ident.id, ident.email, ident.phone, ident.first, ident.last, ident.name].into_iter().flatten().collect();
    let started = Instant::now();
    let mut batch: Vec<u8> = Vec::with_capacity(300_000);
    let mut copied = 0usize;
    for r in &table.rows {
        for c in &columns {
            let text = r.get(*c).map(String::as_str).unwrap_or("");
            batch.extend_from_slice(&u32::try_from(text.len()).unwrap_or(0).to_le_bytes());
            batch.extend_from_slice(text.as_bytes());
        }
        if batch.len() >= 256 * 1024 {
            copied += batch.len();
            batch.clear();
        }
    }
    copied += batch.len();
    let copy_took = started.elapsed();
    let started = Instant::now();
    let mut marks = Vec::with_capacity(table.rows.len() * 4);
    for r in &table.rows {
        row_marks(&key, &ident, r, false, &mut marks);
    }
    let hash_took = started.elapsed();
    checkpoint()?;
    let started = Instant::now();
    let packed = PackedMarks::of(&marks);
    let store = services.unaudited_database_for_benchmarks();
    store.write(|tx| {
        tx.insert_fingerprint(&bench_fingerprint(None, contacts), &packed)?;
        Ok(())
    })?;
    let store_took = started.elapsed();
    let on_thread = copy_took + store_took;
    row(
        &format!(
            "export {contacts} contacts to CSV with canaries and fingerprint ({} MB; fingerprint {} MB stored)",
            bytes.len() / 1_000_000,
            packed.parts_as_text().map(|t| t.len()).sum::<usize>() / 1_000_000
        ),
        format!("{:.2} s", secs(export_took)),
        format!("`sqlite3 -csv` {:.2} s", secs(sqlite_took)),
        format!("{:.2}x", secs(export_took) / secs(sqlite_took)),
    );
    row(
        &format!(
            "of which the fingerprint on the export's thread: copying {} MB of identifying cells ({:.2} s), packing and storing the marks ({:.2} s); hashing them ({:.2} s) runs on the other core while the file is written",
            copied / 1_000_000,
            secs(copy_took),
            secs(store_took),
            secs(hash_took)
        ),
        format!("{:.2} s", secs(on_thread)),
        format!("the rest of the export {:.2} s", secs(export_took.saturating_sub(on_thread))),
        format!(
            "+{:.1}% (goal: at most +10%)",
            100.0 * secs(on_thread) / secs(export_took.saturating_sub(on_thread)).max(1e-9)
        ),
    );

    // 2. E stored exports of realistic sizes (most small, a few large), each a run of contacts
    // in some list order, fingerprinted as the export does.
    eprintln!("storing {exports} exports' fingerprints…");
    // One in a hundred is the rep's who mails the attachment below (a journaled attachment is
    // traced among its sender's exports).
    let rep = add_rep(&services, "bench.rep@company.example")?;
    let per_row: Vec<Vec<u64>> = table
        .rows
        .iter()
        .map(|r| {
            let mut m = Vec::with_capacity(4);
            row_marks(&key, &ident, r, false, &mut m);
            m
        })
        .collect();
    let mut rng = StdRng::seed_from_u64(11);
    let mut stored_rows = 0usize;
    for chunk in 0..exports.div_ceil(200) {
        let mut batch = Vec::new();
        for n in 0..200.min(exports - chunk * 200) {
            let size = match rng.random_range(0..100) {
                0..80 => rng.random_range(20..300),
                80..98 => rng.random_range(300..3_000),
                _ => rng.random_range(3_000..20_000),
            }
            .min(per_row.len());
            let start = rng.random_range(0..=per_row.len() - size);
            let m: Vec<u64> = per_row[start..start + size].iter().flatten().copied().collect();
            stored_rows += size;
            batch.push((bench_fingerprint((n % 100 == 0).then_some(rep), size), PackedMarks::of(&m)));
        }
        store.write(|tx| {
            for (f, marks) in &batch {
                tx.insert_fingerprint(f, marks)?;
            }
            Ok(())
        })?;
    }
    // The found file: R rows of the export, shuffled, without the phone column, saved by a
    // spreadsheet in a semicolon locale with a byte-order mark.
    let phone = table.headers.iter().position(|h| h == "phone").unwrap_or(usize::MAX);
    let offset = rng.random_range(0..=table.rows.len() - trace_rows);
    let mut found_rows: Vec<&Vec<String>> = table.rows[offset..offset + trace_rows].iter().collect();
    for i in (1..found_rows.len()).rev() {
        found_rows.swap(i, rng.random_range(0..=i));
    }
    let mut w = csv::WriterBuilder::new().delimiter(b';').from_writer(vec![0xEF, 0xBB, 0xBF]);
    let keep =
        |r: &Vec<String>| r.iter().enumerate().filter(|(i, _)| *i != phone).map(|(_, c)| c.clone()).collect::<Vec<_>>();
    w.write_record(keep(&table.headers))?;
    for r in &found_rows {
        w.write_record(keep(r))?;
    }
    let found = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let started = Instant::now();
    let parsed = read_found(&found, trace_rows + 10).map_err(anyhow::Error::msg)?;
    let parse_took = started.elapsed();
    let started = Instant::now();
    let report = services.trace_file(&operator, "found.csv", &found)?;
    let trace_took = started.elapsed();
    if parsed.rows.len() != trace_rows || report.matches.is_empty() {
        bail!("the trace found nothing: {} rows read", parsed.rows.len());
    }
    row(
        &format!(
            "trace a {trace_rows}-row found file ({} MB) against {} stored exports ({} rows in all); best match {} of {} rows",
            found.len() / 1_000_000,
            report.exports_compared,
            stored_rows + contacts,
            report.matches[0].rows_matched,
            report.rows
        ),
        format!("{:.2} s (goal: under 5 s)", secs(trace_took)),
        format!("parse of the file alone {:.2} s", secs(parse_took)),
        format!("{:.1}x", secs(trace_took) / secs(parse_took).max(1e-9)),
    );

    // 3. A journaled message: a rep mails a CSV of M customers to a personal address.
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(&table.headers)?;
    // Real customers only: the export's canaries are not customers.
    for r in table.rows.iter().filter(|r| !r.iter().any(|c| c.contains("harbor-supply.example"))).take(mail_rows) {
        w.write_record(r)?;
    }
    let attachment = w.into_inner().map_err(|e| anyhow::anyhow!("{e}"))?;
    let message = mime_message("bench.rep@company.example", "someone@gmail.com", &attachment);
    let started = Instant::now();
    let bare = mail_parser::MessageParser::default().parse(&message).context("the message parses")?;
    let part = bare.attachments().next().context("an attachment")?;
    let bare_table = read_found(part.contents(), mail_rows + 10).map_err(anyhow::Error::msg)?;
    let bare_took = started.elapsed();
    let started = Instant::now();
    let finding = services.journal_mail(&operator, &message)?;
    let journal_took = started.elapsed();
    if finding.customers < mail_rows || finding.alert_id.is_none() || bare_table.rows.len() != mail_rows {
        bail!("the journal found {} customers of {mail_rows}", finding.customers);
    }
    row(
        &format!(
            "journal a message ({} MB) with a {} MB CSV of {mail_rows} customers to a free-mail address: customers matched, attachment traced against the stored exports, alert raised",
            message.len() / 1_000_000,
            attachment.len() / 1_000_000
        ),
        format!("{:.2} s (goal: under 1 s)", secs(journal_took)),
        format!("bare MIME parse and CSV read {:.2} s", secs(bare_took)),
        format!("{:.1}x", secs(journal_took) / secs(bare_took).max(1e-9)),
    );
    drop(services);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn mime_message(from: &str, to: &str, csv: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(csv);
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: list\r\nMessage-ID: <bench@company.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhere\r\n--b\r\n\
         Content-Type: text/csv; name=\"customers.csv\"\r\nContent-Disposition: attachment; filename=\"customers.csv\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    for line in b64.as_bytes().chunks(76) {
        m.extend_from_slice(line);
        m.extend_from_slice(b"\r\n");
    }
    m.extend_from_slice(b"--b--\r\n");
    m
}

/// A stored export's fingerprint as the bench keeps it (its marks go beside it, in parts).
fn bench_fingerprint(coworker_id: Option<uuid::Uuid>, rows: usize) -> Fingerprint {
    Fingerprint {
        export_id: uuid::Uuid::now_v7(),
        coworker_id,
        kind: "contacts".into(),
        format: "csv".into(),
        door: "bench".into(),
        columns: COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows: i64::try_from(rows).unwrap_or(0),
        canaries: 0,
        created_at: 0,
        marks: String::new(),
    }
}
