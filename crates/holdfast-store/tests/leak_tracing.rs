//! Leak tracing on both backends: a rep's export traced back from a file that was shuffled, cut,
//! edited, stripped of columns and re-saved (BOM, semicolons, XLSX to CSV, vCard); two exports
//! that overlap 90% told apart by their canaries; a file that never left Holdfast matches
//! nothing; canaries never appear in lists, searches or counts and cannot be imported back;
//! a message to a canary raises a critical alert naming the export's maker; and the mail journal
//! catches customer data mailed to a personal address.

use base64::Engine;
use holdfast_core::CoreError;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::EventFilter;
use holdfast_core::guard::{AlertState, ExportFormat, Severity};
use holdfast_core::leak::read_found;
use holdfast_core::record::CONTACTS;
use holdfast_core::service::{CanaryReport, ExportAsk, ImportOptions, ListRequest, SettingsChange, TraceReport};
use holdfast_store::Store;
use holdfast_testing::{TestDb, add_coworker, each_backend};
use serde_json::json;
use uuid::Uuid;

const CANARY_DOMAIN: &str = "mail.harbor-supply.example";

struct Company {
    services: std::sync::Arc<holdfast_core::Holdfast<Store>>,
    admin: Actor,
    rep: Actor,
    other: Actor,
    ids: Vec<Uuid>,
}

/// An admin, two reps, and 300 contacts with distinct names, emails and phones; canaries on.
fn company(db: &TestDb) -> Company {
    let services = db.services();
    add_coworker(&services, "admin@northwind.example", Role::Admin, None, None);
    add_coworker(&services, "rep@northwind.example", Role::Rep, Some("East"), None);
    add_coworker(&services, "other@northwind.example", Role::Rep, Some("East"), None);
    let rep = services.actor_for("rep@northwind.example").expect("rep");
    let firsts = ["Ana", "Bruno", "Chen", "Dara", "Elif", "Femi", "Goran", "Hana", "Ivo", "Jun"];
    let inputs: Vec<_> = (0..300)
        .map(|i| {
            json!({"first_name": firsts[i % 10], "last_name": format!("Customer{i}"),
                   "email": format!("buyer{i}@client{}.example", i % 37),
                   "phone": format!("+1 415 555 {:04}", 1000 + i), "title": "Buyer", "owner_id": rep.id()})
        })
        .collect();
    let created = services.create_many(&Actor::operator(), &CONTACTS, &inputs).expect("contacts");
    let admin = services.actor_for("admin@northwind.example").expect("admin");
    let change = SettingsChange {
        canary_email_domain: Some(CANARY_DOMAIN.into()),
        canary_phone_prefix: Some("+1 555 01".into()),
        ..Default::default()
    };
    services.change_settings(&admin, &change).expect("canaries on");
    Company { other: services.actor_for("other@northwind.example").expect("other"), ids: created, services, admin, rep }
}

fn export(c: &Company, who: &Actor, ids: Option<Vec<Uuid>>, limit: i64, format: ExportFormat) -> (Uuid, Vec<u8>) {
    let ask = ExportAsk {
        kind: &CONTACTS,
        list: ListRequest { sort: Some("last_name".into()), ..Default::default() },
        ids,
        limit: Some(limit),
        format,
        columns: None,
        reason: Some("territory plan".into()),
    };
    let file = c.services.export_now(who, &ask).expect("export").expect("ready at once");
    (file.export_id, file.into_bytes().expect("bytes"))
}

/// A CSV file as rows (header first).
fn rows_of(bytes: &[u8]) -> Vec<Vec<String>> {
    let t = read_found(bytes, 1_000_000).expect("readable");
    let mut out = vec![t.headers];
    out.extend(t.rows);
    out
}

fn write_csv(rows: &[Vec<String>], sep: u8, bom: bool) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().delimiter(sep).from_writer(Vec::new());
    for r in rows {
        w.write_record(r).expect("row");
    }
    let mut out = if bom { vec![0xEF, 0xBB, 0xBF] } else { Vec::new() };
    out.extend(w.into_inner().expect("csv"));
    out
}

fn canary_free(rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    rows.into_iter().filter(|r| !r.iter().any(|c| c.contains(CANARY_DOMAIN))).collect()
}

/// A deterministic shuffle (no RNG crate in the tests).
fn shuffled(mut rows: Vec<Vec<String>>) -> Vec<Vec<String>> {
    let n = rows.len();
    for i in 0..n {
        let j = (i * 7919 + 13) % n;
        rows.swap(i, j);
    }
    rows
}

fn drop_columns(rows: Vec<Vec<String>>, names: &[&str]) -> Vec<Vec<String>> {
    let keep: Vec<usize> = (0..rows[0].len()).filter(|i| !names.contains(&rows[0][*i].as_str())).collect();
    rows.into_iter().map(|r| keep.iter().map(|i| r[*i].clone()).collect()).collect()
}

fn events(c: &Company, action: &str) -> Vec<holdfast_core::event::SystemEvent> {
    let filter = EventFilter { action: Some(action.into()), limit: 10, ..Default::default() };
    c.services.events(&c.admin, &filter).expect("events")
}

fn trace(c: &Company, bytes: &[u8]) -> TraceReport {
    c.services.trace_file(&c.admin, "found.csv", bytes).expect("trace")
}

fn best(r: &TraceReport) -> Uuid {
    r.matches.first().map(|m| m.export_id).unwrap_or_else(|| panic!("no match: {r:?}"))
}

#[test]
fn a_cut_shuffled_file_without_two_columns_names_the_reps_export() {
    for db in each_backend() {
        let c = company(&db);
        // Someone else's export of other people, before and after: the file is not theirs.
        let (_, _) = export(&c, &c.other, Some(c.ids[250..300].to_vec()), 50, ExportFormat::Csv);
        let (id, bytes) = export(&c, &c.rep, None, 200, ExportFormat::Csv);
        let (_, _) = export(&c, &c.other, Some(c.ids[200..230].to_vec()), 30, ExportFormat::Csv);
        let rows = rows_of(&bytes);
        assert_eq!(rows.len(), 1 + 200 + 3, "{}: 200 rows and three canaries", db.backend);
        let canaries: Vec<&Vec<String>> = rows.iter().filter(|r| r.iter().any(|c| c.contains(CANARY_DOMAIN))).collect();
        assert_eq!(canaries.len(), 3);
        // The acceptance file: shuffled, two columns dropped, cut to 60 rows (no canary left).
        let header = rows[0].clone();
        let mut body = shuffled(canary_free(rows[1..].to_vec()));
        body.truncate(60);
        let mut cut = vec![header];
        cut.extend(body);
        let cut = drop_columns(cut, &["id", "phone"]);
        let report = trace(&c, &write_csv(&cut, b',', false));
        assert_eq!(best(&report), id, "{}: {report:?}", db.backend);
        let m = &report.matches[0];
        assert_eq!(m.made_by.as_deref(), Some("rep@northwind.example"));
        assert_eq!((m.rows_matched, m.export_rows, m.canaries_placed), (60, 200, 3));
        assert!(m.columns_dropped.contains(&"id".to_string()) && m.columns_dropped.contains(&"phone".to_string()));
        // The trace is on the record.
        let traced = events(&c, "export.trace");
        assert_eq!(traced.len(), 1);

        // Re-saved by Excel in a semicolon locale, with a byte-order mark; 30% of rows removed.
        let rows = rows_of(&bytes);
        let kept: Vec<Vec<String>> =
            rows.iter().enumerate().filter(|(i, _)| *i == 0 || i % 10 >= 3).map(|(_, r)| r.clone()).collect();
        let r = trace(&c, &write_csv(&kept, b';', true));
        assert_eq!(best(&r), id, "{}", db.backend);
        assert_eq!(r.separator, Some(';'));
        // 10% of rows edited (a new email and phone): still the export, by name and id.
        let mut edited = rows.clone();
        for (i, row) in edited.iter_mut().enumerate().skip(1) {
            if i % 10 == 0 {
                row[4] = format!("changed{i}@elsewhere.example");
                row[5] = "+44 20 7946 0000".into();
            }
        }
        assert_eq!(best(&trace(&c, &write_csv(&edited, b',', false))), id);
        // No header row at all, columns reordered.
        let headerless: Vec<Vec<String>> =
            rows[1..].iter().map(|r| vec![r[5].clone(), r[4].clone(), r[2].clone()]).collect();
        assert_eq!(best(&trace(&c, &write_csv(&headerless, b'\t', false))), id);
    }
}

#[test]
fn xlsx_and_vcard_exports_trace_back_and_a_file_that_never_left_matches_nothing() {
    for db in each_backend() {
        let c = company(&db);
        let (xlsx_id, xlsx) = export(&c, &c.rep, None, 120, ExportFormat::Xlsx);
        let (vcf_id, vcf) = export(&c, &c.rep, Some(c.ids[100..160].to_vec()), 60, ExportFormat::Vcard);
        // The XLSX as is, and converted to CSV.
        let r = trace(&c, &xlsx);
        assert_eq!((best(&r), r.format.as_str()), (xlsx_id, "xlsx"), "{}", db.backend);
        assert_eq!(r.matches[0].canaries_found.len(), 2, "an untouched file keeps all its canaries (two in 120 rows)");
        let as_csv = write_csv(&rows_of(&xlsx), b',', false);
        assert_eq!(best(&trace(&c, &as_csv)), xlsx_id);
        let r = trace(&c, &vcf);
        assert_eq!((best(&r), r.format.as_str()), (vcf_id, "vcard"));
        // People Holdfast never had.
        let strangers: Vec<Vec<String>> =
            std::iter::once(vec!["name".to_string(), "email".into(), "phone".into()])
                .chain((0..50).map(|i| {
                    vec![format!("Stranger {i}"), format!("s{i}@elsewhere.example"), format!("+49 30 {i:07}")]
                }))
                .collect();
        let r = trace(&c, &write_csv(&strangers, b',', false));
        assert!(r.matches.is_empty(), "{}: {r:?}", db.backend);
        // Customers' names with other addresses: names alone do not make a match when the file
        // has addresses to go by.
        let namesakes: Vec<Vec<String>> =
            std::iter::once(vec!["first_name".to_string(), "last_name".into(), "email".into()])
                .chain((0..100).map(|i| {
                    vec!["Ana".to_string(), format!("Customer{}", i * 10), format!("other{i}@elsewhere.example")]
                }))
                .collect();
        let r = trace(&c, &write_csv(&namesakes, b',', false));
        assert!(r.matches.is_empty(), "{}: {r:?}", db.backend);
        // A file with names only is matched by name, and says so.
        let names_only: Vec<Vec<String>> = rows_of(&xlsx).iter().map(|r| vec![r[2].clone(), r[3].clone()]).collect();
        let r = trace(&c, &write_csv(&names_only, b',', false));
        assert!(r.by_name && best(&r) == xlsx_id, "{r:?}");
        assert!(c.services.trace_file(&c.rep, "x.csv", &xlsx).is_err(), "reps may not trace");
    }
}

#[test]
fn two_exports_overlapping_ninety_percent_are_told_apart_by_their_canaries() {
    for db in each_backend() {
        let c = company(&db);
        // The same list, 200 and 220 rows: A is all in B, B is 91% A.
        let (a, file_a) = export(&c, &c.rep, None, 200, ExportFormat::Csv);
        let (b, file_b) = export(&c, &c.rep, None, 220, ExportFormat::Csv);
        // Shuffled and with a fifth of the rows gone, but the canaries still among them.
        for (want, file) in [(a, &file_a), (b, &file_b)] {
            let rows = rows_of(file);
            let mut body = shuffled(rows[1..].to_vec());
            body.retain(|r| r.iter().any(|c| c.contains(CANARY_DOMAIN)) || r[2].len() % 5 != 0);
            let mut out = vec![rows[0].clone()];
            out.extend(body);
            let r = trace(&c, &write_csv(&out, b',', false));
            assert_eq!(best(&r), want, "{}: {r:?}", db.backend);
            assert!(!r.matches[0].canaries_found.is_empty());
            assert!(r.matches.iter().skip(1).all(|m| m.canaries_found.is_empty()));
        }
    }
}

#[test]
fn canaries_are_never_customers_and_a_message_to_one_names_the_export_and_its_maker() {
    for db in each_backend() {
        let c = company(&db);
        let (id, bytes) = export(&c, &c.rep, None, 250, ExportFormat::Csv);
        let canaries = c.services.export_canaries(&c.admin, id).expect("canaries");
        assert_eq!(canaries.len(), 3, "{}", db.backend);
        // Picked records carry none: whoever picked them knows every row.
        let (picked, _) = export(&c, &c.rep, Some(c.ids[0..60].to_vec()), 60, ExportFormat::Csv);
        assert!(c.services.export_canaries(&c.admin, picked).expect("canaries").is_empty());
        assert!(c.services.export_canaries(&c.rep, id).is_err(), "the maker may not see which rows are canaries");
        // Not in lists, counts or searches.
        let all = ListRequest { limit: Some(1_000), ..Default::default() };
        assert_eq!(c.services.list_records(&c.admin, &CONTACTS, &all).expect("list").items.len(), 300);
        let hits = c.services.search(&c.admin, &canaries[0].email, 50).expect("search");
        let email = holdfast_core::record::Value::Text(canaries[0].email.clone());
        assert!(hits.iter().flat_map(|h| &h.records).all(|r| r.get("email") != &email));
        // Not importable back, not creatable by hand.
        let err = c.services.create_record(&c.rep, &CONTACTS, &json!({"first_name": "X", "email": canaries[1].email}));
        assert!(matches!(err, Err(CoreError::Invalid(_))), "{err:?}");
        let report = c
            .services
            .import_contacts(&c.admin, &mut std::io::Cursor::new(bytes), &ImportOptions::default(), &|_, _| {})
            .expect("import");
        assert_eq!(report.created, 0, "{report:?}");
        assert_eq!(report.rejected.len(), 3, "the three canaries are refused: {report:?}");
        assert_eq!(c.services.list_records(&c.admin, &CONTACTS, &all).expect("list").items.len(), 300);

        // A reply to a canary address, reported by the mail gateway.
        let hit = CanaryReport {
            address: canaries[0].email.to_uppercase(),
            from: Some("sales@rival.example".into()),
            subject: Some("Special offer".into()),
            via: "mail gateway".into(),
        };
        let found = c.services.canary_hit(&c.admin, &hit).expect("hit").expect("a canary");
        assert_eq!((found.export_id, found.made_by.as_deref()), (id, Some("rep@northwind.example")));
        let alerts = c.services.alerts(&c.admin, Some(AlertState::Open), 50).expect("alerts");
        let a = alerts.iter().find(|(a, _)| a.kind == "canary_hit").expect("a canary alert");
        assert_eq!((a.0.severity, a.0.coworker_id), (Severity::Critical, c.rep.id().expect("id")));
        assert!(a.0.summary.contains("rep@northwind.example"), "{}", a.0.summary);
        // Its number works too; a stranger's address is no canary.
        let phone = canaries[1].phone.clone().expect("a canary phone");
        let by_phone = CanaryReport { address: phone.replace(' ', ""), via: "phone".into(), ..Default::default() };
        assert_eq!(c.services.canary_hit(&c.admin, &by_phone).expect("hit").map(|h| h.export_id), Some(id));
        let none = CanaryReport { address: "nobody@elsewhere.example".into(), via: "api".into(), ..Default::default() };
        assert!(c.services.canary_hit(&c.admin, &none).expect("checked").is_none());
        assert!(c.services.canary_hit(&c.rep, &hit).is_err(), "reps may not report hits");
    }
}

fn b64_lines(bytes: &[u8]) -> String {
    let text = base64::engine::general_purpose::STANDARD.encode(bytes);
    text.as_bytes().chunks(76).map(|l| String::from_utf8_lossy(l).into_owned()).collect::<Vec<_>>().join("\r\n")
}

/// A multipart message with a text body and attachments (name, content type, bytes).
fn message(from: &str, to: &str, body: &str, attachments: &[(&str, &str, Vec<u8>)]) -> Vec<u8> {
    let mut m = format!(
        "From: {from}\r\nTo: {to}\r\nSubject: list\r\nMessage-ID: <{}@northwind.example>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\
         Content-Transfer-Encoding: quoted-printable\r\n\r\n{body}\r\n",
        Uuid::now_v7()
    );
    for (name, ctype, bytes) in attachments {
        m.push_str(&format!(
            "--b1\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Disposition: attachment; filename=\"{name}\"\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64_lines(bytes)
        ));
    }
    m.push_str("--b1--\r\n");
    m.into_bytes()
}

#[test]
fn customer_data_mailed_to_a_personal_address_raises_an_alert_naming_the_rep() {
    for db in each_backend() {
        let c = company(&db);
        let (id, bytes) = export(&c, &c.rep, None, 100, ExportFormat::Csv);
        // The rep mails the export (its 100 contacts and its canaries) to a free-mail address.
        let raw = message(
            "Rep <rep@northwind.example>",
            "me.personal@gmail.com",
            "Caf=E9 list for the weekend",
            &[("contacts.csv", "text/csv", bytes.clone())],
        );
        let f = c.services.journal_mail(&c.admin, &raw).expect("judged");
        assert_eq!((f.customers, f.to_free_mail), (100, true), "{}: {f:?}", db.backend);
        assert_eq!(f.canary_exports, vec![id]);
        assert_eq!(f.traced_exports, vec![id]);
        let alerts = c.services.alerts(&c.admin, Some(AlertState::Open), 50).expect("alerts");
        let a = alerts.iter().find(|(a, _)| a.kind.contains("mail")).expect("a mail alert");
        assert_eq!(a.0.coworker_id, c.rep.id().expect("id"));
        assert!(a.0.summary.contains("rep@northwind.example") && a.0.summary.contains("gmail.com"), "{}", a.0.summary);
        assert_eq!(a.0.severity, Severity::Critical, "a canary in it: the export itself left");
        let events = events(&c, "mail.outbound");
        assert_eq!(events.len(), 1);
        let raw_text = serde_json::to_string(&events[0].event.details).expect("json");
        assert!(!raw_text.contains("buyer1@"), "no customer address is kept: {raw_text}");
        // The same message journaled twice raises no second alert.
        c.services.journal_mail(&c.admin, &raw).expect("again");
        let again = c.services.alerts(&c.admin, Some(AlertState::Open), 50).expect("alerts");
        assert_eq!(again.iter().filter(|(a, _)| a.kind.contains("mail")).count(), 1);

        // A few customers in a body to a partner: recorded, below the threshold, no alert.
        let few = message(
            "rep@northwind.example",
            "partner@reseller.example",
            "ask buyer1@client1.example and buyer2@client2.example",
            &[],
        );
        let f = c.services.journal_mail(&c.admin, &few).expect("judged");
        assert_eq!((f.customers, f.alert_id), (2, None));
        assert!(f.event_id.is_some());
        // Mail inside the company is not looked at.
        let inside = message(
            "rep@northwind.example",
            "other@northwind.example",
            "",
            &[("contacts.csv", "text/csv", bytes.clone())],
        );
        let f = c.services.journal_mail(&c.admin, &inside).expect("judged");
        assert!(f.external_recipients.is_empty() && f.event_id.is_none());
        // A vCard attachment inside an Exchange journal report.
        let (_, vcf) = export(&c, &c.other, Some(c.ids[0..40].to_vec()), 40, ExportFormat::Vcard);
        let inner = message("other@northwind.example", "friend@outlook.com", "", &[("people.vcf", "text/vcard", vcf)]);
        let mut report = "From: journal@northwind.example\r\nTo: holdfast@northwind.example\r\nX-MS-Journal-Report:\r\n\
             MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"j\"\r\n\r\n--j\r\nContent-Type: text/plain\r\n\r\n\
             Sender: other@northwind.example\r\n--j\r\nContent-Type: message/rfc822\r\n\r\n"
            .as_bytes()
            .to_vec();
        report.extend(inner);
        report.extend(b"\r\n--j--\r\n");
        let f = c.services.journal_mail(&c.admin, &report).expect("judged");
        assert_eq!((f.sender.as_deref(), f.customers), (Some("other@northwind.example"), 40), "{f:?}");
        // Customers on the company's own domain count too (the co-workers do not).
        let inputs: Vec<_> = (0..25)
            .map(|i| json!({"first_name": format!("Near{i}"), "email": format!("near{i}@northwind.example")}))
            .collect();
        c.services.create_many(&Actor::operator(), &CONTACTS, &inputs).expect("contacts");
        let list: String = (0..25).map(|i| format!("near{i}@northwind.example\r\n")).collect::<String>()
            + "other@northwind.example\r\nadmin@northwind.example\r\n";
        let near = message("rep@northwind.example", "me@yahoo.com", "", &[("list.csv", "text/csv", list.into_bytes())]);
        let f = c.services.journal_mail(&c.admin, &near).expect("judged");
        assert_eq!((f.customers, f.alert_id.is_some()), (25, true), "{f:?}");
        assert!(c.services.journal_mail(&c.admin, b"").is_err(), "nothing is no message");
        assert!(c.services.journal_mail(&c.rep, &raw).is_err(), "reps may not hand in journal mail");
    }
}

#[test]
fn a_fingerprint_kept_in_parts_reads_back_whole_beside_one_kept_as_one_text() {
    use holdfast_core::leak::{MARK_PART_BYTES, PackedMarks, pack_marks, unpack_marks};
    use holdfast_core::storage::{Database, Fingerprint};
    for db in each_backend() {
        let per_part = MARK_PART_BYTES / 5;
        let marks = |n: usize, seed: u64| -> Vec<u64> {
            (0..n as u64).map(|i| (i ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 24).collect()
        };
        let fingerprint = |marks: String| Fingerprint {
            export_id: Uuid::now_v7(),
            coworker_id: None,
            kind: "contacts".into(),
            format: "csv".into(),
            door: "cli".into(),
            columns: vec!["email".into()],
            rows: 1,
            canaries: 0,
            created_at: 1,
            marks,
        };
        // A million-row export's worth is ~100 parts; three parts and a bit show the joins.
        let big = marks(3 * per_part + 11, 1);
        let small = marks(40, 2);
        let (in_parts, as_text) = (fingerprint(String::new()), fingerprint(pack_marks(&small)));
        let empty = fingerprint(String::new());
        db.store()
            .write(|tx| {
                tx.insert_fingerprint(&in_parts, &PackedMarks::of(&big))?;
                tx.insert_fingerprint(&as_text, &PackedMarks::default())?;
                tx.insert_fingerprint(&empty, &PackedMarks::default())?;
                Ok(())
            })
            .expect("keep");
        let parts: i64 = db
            .store()
            .with_conn(false, |c| c.rows("SELECT count(*) FROM export_fingerprint_parts", &[]))
            .expect("count")[0][0]
            .as_int()
            .expect("a number");
        assert_eq!(parts, 4, "{}", db.backend);
        let (one, all) = db
            .store()
            .read(|tx| {
                Ok((
                    tx.get_fingerprint(in_parts.export_id)?,
                    tx.fingerprints(&[empty.export_id, as_text.export_id, in_parts.export_id])?,
                ))
            })
            .expect("read");
        assert_eq!(unpack_marks(&one.expect("found").marks).expect("marks"), big, "{}", db.backend);
        assert_eq!(all.len(), 3);
        for f in all {
            let expected = if f.export_id == in_parts.export_id {
                &big
            } else if f.export_id == as_text.export_id {
                &small
            } else {
                &Vec::new()
            };
            assert_eq!(&unpack_marks(&f.marks).expect("marks"), expected, "{}", db.backend);
        }
    }
}
