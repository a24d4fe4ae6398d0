//! Leak tracing through the real router on both backends, with the names the acceptance checks
//! use: the admin turns canaries on (`canary_email_domain` in `PUT /api/v1/settings`), a rep
//! exports 200 contacts, the file is shuffled, loses two columns and is cut to 60 rows, and
//! `POST /api/v1/trace` names that export and that rep; a journaled message from the rep to a
//! free-mail address with a CSV of 100 customer contacts (`POST /api/v1/mail-journal`,
//! `message/rfc822`, 202) raises an alert whose kind contains `mail` in `GET /api/v1/alerts`;
//! the same message over the SMTP journal listener does too; a canary hit raises a critical alert.

use super::*;

const DOMAIN: &str = "partners.harbor-supply.example";

fn customers(app: &App, n: usize) {
    app.with(|s| {
        let inputs: Vec<Value> = (0..n)
            .map(|i| {
                json!({"first_name": format!("Buyer{i}"), "last_name": "Example", "email": format!("buyer{i}@client{}.example", i % 23),
                       "phone": format!("+1 415 555 {:04}", 2000 + i)})
            })
            .collect();
        s.create_many(&Actor::operator(), &holdfast_core::record::CONTACTS, &inputs).expect("contacts");
    });
}

async fn export(app: &App, token: &str, limit: usize) -> String {
    let ask = json!({"kind": "contacts", "limit": limit, "format": "csv"});
    let (s, e) = app.call("POST", "/api/v1/exports", Some(token), Some(ask)).await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let (s, file) = app.call("GET", e["download_url"].as_str().expect("url"), Some(token), None).await;
    assert_eq!(s, StatusCode::OK);
    file.as_str().expect("CSV").to_string()
}

fn mail(from: &str, to: &str, csv: &str) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
    let lines: Vec<&str> = b64.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap_or("")).collect();
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: contacts\r\nMessage-ID: <{}@example.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nfor the weekend\r\n\
         --x\r\nContent-Type: text/csv; name=\"contacts.csv\"\r\nContent-Disposition: attachment; filename=\"contacts.csv\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--x--\r\n",
        uuid::Uuid::now_v7(),
        lines.join("\r\n")
    )
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cut_export_traces_to_its_rep_and_mail_to_a_personal_address_raises_an_alert() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        customers(&app, 300);
        let (s, p) = app
            .call(
                "PUT",
                "/api/v1/settings",
                Some(&admin),
                Some(json!({"canary_email_domain": DOMAIN, "canary_phone_prefix": "+1 555 01"})),
            )
            .await;
        assert_eq!((s, p["canary_email_domain"].as_str()), (StatusCode::OK, Some(DOMAIN)), "{p}");
        let (s, p) = app
            .call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"canary_email_domain": "not a domain"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (s, _) = app.call("PUT", "/api/v1/settings", Some(&rep), Some(json!({"canary_email_domain": ""}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // The rep exports 200 contacts; the file is shuffled, loses two columns, is cut to 60 rows.
        let csv = export(&app, &rep, 200).await;
        let mut lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 1 + 200 + 3, "200 rows and three canaries");
        let header = lines.remove(0);
        lines.retain(|l| !l.contains(DOMAIN));
        lines.reverse();
        lines.truncate(60);
        let cols: Vec<&str> = header.split(',').collect();
        let keep: Vec<usize> = (0..cols.len()).filter(|i| !["id", "email"].contains(&cols[*i])).collect();
        let body = lines.join("\n");
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).from_reader(body.as_bytes()).into_records();
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(keep.iter().map(|i| cols[*i])).expect("header");
        for r in rdr.by_ref() {
            let r = r.expect("row");
            out.write_record(keep.iter().map(|i| &r[*i])).expect("row");
        }
        let found = out.into_inner().expect("csv");
        let (s, r) =
            app.raw("POST", "/api/v1/trace?name=found.csv", Some(&admin), Some(("text/csv", found.clone()))).await;
        assert_eq!(s, StatusCode::OK, "{r}");
        assert_eq!(
            (r["matched"].as_bool(), r["matches"][0]["made_by"].as_str()),
            (Some(true), Some("rep@example.com")),
            "{r}"
        );
        assert_eq!(r["matches"][0]["rows_matched"], 60);
        let (s, _) = app.raw("POST", "/api/v1/trace", Some(&rep), Some(("text/csv", found))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "only admins trace");

        // A journaled message from the rep to a free-mail address with a CSV of 100 contacts.
        let first100: String = csv.lines().filter(|l| !l.contains(DOMAIN)).take(101).collect::<Vec<_>>().join("\n");
        let msg = mail("rep@example.com", "rep.at.home@gmail.com", &first100);
        let (s, f) = app.raw("POST", "/api/v1/mail-journal", Some(&admin), Some(("message/rfc822", msg.clone()))).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{f}");
        assert_eq!((f["customers"].as_u64(), f["to_free_mail"].as_bool()), (Some(100), Some(true)), "{f}");
        let (_, alerts) = app.call("GET", "/api/v1/alerts", Some(&admin), None).await;
        let mail_alert = alerts["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|a| a["kind"].as_str().is_some_and(|k| k.contains("mail")))
            .unwrap_or_else(|| panic!("a mail alert in {alerts}"));
        assert!(mail_alert["summary"].as_str().is_some_and(|t| t.contains("rep@example.com")), "{mail_alert}");
        let (s, _) = app.raw("POST", "/api/v1/mail-journal", Some(&admin), Some(("text/plain", msg.clone()))).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let (s, _) = app.raw("POST", "/api/v1/mail-journal", Some(&rep), Some(("message/rfc822", msg))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);

        // A canary contacted: a critical alert naming the export's maker.
        let canary = csv.lines().find(|l| l.contains(DOMAIN)).expect("a canary row");
        let address = canary.split(',').find(|c| c.contains(DOMAIN)).expect("its address").to_string();
        let (s, h) = app
            .call(
                "POST",
                "/api/v1/canaries/hits",
                Some(&admin),
                Some(json!({"to": address, "from": "x@rival.example"})),
            )
            .await;
        assert_eq!(
            (s, h["canary"].as_bool(), h["made_by"].as_str()),
            (StatusCode::OK, Some(true), Some("rep@example.com")),
            "{h}"
        );
        // The same address through a public web-to-lead form: answered like any post, no lead, one
        // more canary hit on the record.
        let (s, form) = app
            .call(
                "POST",
                "/api/v1/lead-forms",
                Some(&admin),
                Some(json!({"name": "Contact us", "fields": ["last_name"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{form}");
        let post = format!("/forms/{}", form["id"].as_str().expect("id"));
        let (s, answer) = app.call("POST", &post, None, Some(json!({"first_name": "Probe", "email": address}))).await;
        assert_eq!((s, answer["received"].as_bool()), (StatusCode::CREATED, Some(true)), "{answer}");
        let (_, leads) = app.call("GET", "/api/v1/leads?q=Probe", Some(&admin), None).await;
        assert_eq!(leads["items"].as_array().map(Vec::len), Some(0), "{leads}");
        let hits = app.with(|s| {
            let filter = EventFilter { action: Some("canary.hit".into()), limit: 10, ..Default::default() };
            s.events(&Actor::operator(), &filter).expect("events")
        });
        assert_eq!(hits.len(), 2, "the gateway's report and the form post");
        assert_eq!(hits[0].event.details["via"], "web-to-lead form");

        // Canaries are in no list, search or count, through the API or the pages.
        let (_, found) = app.call("GET", &format!("/api/v1/contacts?q={address}"), Some(&admin), None).await;
        assert_eq!(found["items"].as_array().map(Vec::len), Some(0), "{found}");
        let (_, hits) = app.call("GET", &format!("/api/v1/search?q={address}"), Some(&admin), None).await;
        assert!(!hits.to_string().contains(&address), "{hits}");
        let (_, all) = app.call("GET", "/api/v1/contacts?limit=500", Some(&admin), None).await;
        assert_eq!(all["items"].as_array().map(Vec::len), Some(300));
        let admin_cookie = app.sign_in("admin@example.com").await;
        let list = app.send("GET", &format!("/contacts?q={address}"), &admin_cookie, None).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(!list.body.contains(&format!(">{address}<")), "the contacts page lists no canary");
        let real = app.send("GET", "/contacts?q=buyer7%40client7.example", &admin_cookie, None).await;
        assert!(real.body.contains(">buyer7@client7.example<"), "a real contact is listed the same way");
        let (_, h) =
            app.call("POST", "/api/v1/canaries/hits", Some(&admin), Some(json!({"address": "who@else.example"}))).await;
        assert_eq!(h["canary"], false);
        let (_, alerts) = app.call("GET", "/api/v1/alerts", Some(&admin), None).await;
        assert!(
            alerts["items"]
                .as_array()
                .expect("items")
                .iter()
                .any(|a| a["kind"] == "canary_hit" && a["severity"] == "critical"),
            "{alerts}"
        );
        // The admin's page: trace an upload in the browser's way (multipart, with the form's token).
        let cookie = app.sign_in("admin@example.com").await;
        let page = app.send("GET", "/settings/leak-tracing", &cookie, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(DOMAIN) && page.body.contains("Customer data mailed out"), "{}", page.body);
        let csrf = hidden(&page.body, "csrf_token");
        let boundary = "hfboundary42";
        let mut upload = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf_token\"\r\n\r\n{csrf}\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"found.csv\"\r\nContent-Type: text/csv\r\n\r\n"
        )
        .into_bytes();
        upload.extend(csv.as_bytes());
        upload.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
        let ctype = format!("multipart/form-data; boundary={boundary}");
        let traced = app.send_body("POST", "/settings/leak-tracing/trace", &cookie, &ctype, upload.clone()).await;
        assert_eq!(traced.status, StatusCode::OK, "{}", traced.body);
        assert!(
            traced.body.contains("Most likely export") && traced.body.contains("rep@example.com"),
            "{}",
            traced.body
        );
        let forged = String::from_utf8_lossy(&upload).replace(&csrf, "forged").into_bytes();
        let refused = app.send_body("POST", "/settings/leak-tracing/trace", &cookie, &ctype, forged).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let rep_cookie = app.sign_in("rep@example.com").await;
        assert_eq!(app.send("GET", "/settings/leak-tracing", &rep_cookie, None).await.status, StatusCode::FORBIDDEN);

        // Importing the export back refuses the canaries.
        let (s, report) = app
            .raw("POST", "/api/v1/imports/contacts", Some(&admin), Some(("text/csv", csv.clone().into_bytes())))
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!(report["rejected"].as_array().map(Vec::len), Some(3), "{report}");
        assert_eq!(report["created"], 0);
    }
}

/// An SMTP client's line; the server's answer code.
async fn smtp(stream: &mut tokio::io::BufReader<tokio::net::TcpStream>, line: &str) -> String {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    if !line.is_empty() {
        stream.get_mut().write_all(line.as_bytes()).await.expect("write");
    }
    let mut answer = String::new();
    loop {
        let mut l = String::new();
        stream.read_line(&mut l).await.expect("read");
        answer.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return answer;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_smtp_journal_and_the_canary_receiver_take_mail_like_a_mail_server_sends_it() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        customers(&app, 60);
        app.call(
            "PUT",
            "/api/v1/settings",
            Some(&admin),
            Some(json!({"canary_email_domain": DOMAIN, "mail_alert_threshold": 25})),
        )
        .await;
        let csv = export(&app, &rep, 50).await;
        let journal = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let canaries = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("port");
        let (j, c) = (journal.local_addr().expect("addr"), canaries.local_addr().expect("addr"));
        tokio::spawn(holdfast_web::receive_mail(
            Arc::clone(&app.services),
            journal,
            holdfast_web::MailReceiver::Journal { from: Vec::new() },
        ));
        tokio::spawn(holdfast_web::receive_mail(
            Arc::clone(&app.services),
            canaries,
            holdfast_web::MailReceiver::Canary,
        ));

        let mut s = tokio::io::BufReader::new(tokio::net::TcpStream::connect(j).await.expect("connect"));
        assert!(smtp(&mut s, "").await.starts_with("220"));
        assert!(smtp(&mut s, "EHLO mail.example.com\r\n").await.contains("SIZE"));
        assert!(smtp(&mut s, "DATA\r\n").await.starts_with("503"), "no recipient yet");
        assert!(smtp(&mut s, "MAIL FROM:<rep@example.com>\r\n").await.starts_with("250"));
        assert!(smtp(&mut s, "RCPT TO:<rep.at.home@gmail.com>\r\n").await.starts_with("250"));
        assert!(smtp(&mut s, "DATA\r\n").await.starts_with("354"));
        let body = String::from_utf8(mail("rep@example.com", "rep.at.home@gmail.com", &csv)).expect("text");
        let stuffed: String =
            body.lines().map(|l| if l.starts_with('.') { format!(".{l}\r\n") } else { format!("{l}\r\n") }).collect();
        let done = smtp(&mut s, &format!("{stuffed}.\r\n")).await;
        assert!(done.starts_with("250"), "{done}");
        assert!(smtp(&mut s, "QUIT\r\n").await.starts_with("221"));
        let (_, alerts) = app.call("GET", "/api/v1/alerts", Some(&admin), None).await;
        let kinds: Vec<&str> =
            alerts["items"].as_array().expect("items").iter().filter_map(|a| a["kind"].as_str()).collect();
        assert!(kinds.iter().any(|k| k.contains("mail")), "{alerts}");

        // The canary receiver refuses strangers at RCPT and reports canaries.
        let canary = csv.lines().flat_map(|l| l.split(',')).find(|c| c.contains(DOMAIN)).expect("a canary").to_string();
        let mut s = tokio::io::BufReader::new(tokio::net::TcpStream::connect(c).await.expect("connect"));
        smtp(&mut s, "").await;
        smtp(&mut s, "HELO rival.example\r\n").await;
        assert!(smtp(&mut s, "MAIL FROM:<offers@rival.example>\r\n").await.starts_with("250"));
        assert!(smtp(&mut s, "RCPT TO:<ceo@example.com>\r\n").await.starts_with("550"));
        assert!(smtp(&mut s, &format!("RCPT TO:<{canary}>\r\n")).await.starts_with("250"));
        smtp(&mut s, "DATA\r\n").await;
        let done = smtp(&mut s, "From: offers@rival.example\r\nSubject: hello\r\n\r\nWe have an offer.\r\n.\r\n").await;
        assert!(done.contains("1 canary hits"), "{done}");
        let (_, alerts) = app.call("GET", "/api/v1/alerts", Some(&admin), None).await;
        assert!(alerts["items"].as_array().expect("items").iter().any(|a| a["kind"] == "canary_hit"), "{alerts}");
    }
}
