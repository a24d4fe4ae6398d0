//! The guard through the API: an export within limits (201, downloaded once, its hash recorded),
//! one over them (202, approved by the manager, downloaded once), a refusal (403 problem), a rep
//! paging through 40 pages of contacts (a read-volume alert naming them), alert states, and the
//! alert reaching a real webhook receiver over HTTP, signed.

use std::sync::Mutex;

use axum::http::HeaderMap;
use holdfast_core::guard::webhook_signature;

use super::*;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Received = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver on a local port: records every post's headers and body.
async fn receiver() -> (String, Received) {
    let got: Received = Arc::default();
    let keep = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let keep = keep.clone();
            async move {
                if let Ok(mut g) = keep.lock() {
                    g.push((headers, body));
                }
                StatusCode::NO_CONTENT
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), got)
}

#[tokio::test(flavor = "multi_thread")]
async fn exports_approvals_alerts_and_signed_webhooks_through_the_api() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let manager = app.add("manager@example.com", Role::Manager, Some("East"), None);
        let rep = app.add("rep@example.com", Role::Rep, Some("East"), Some("manager@example.com"));
        let pager = app.add("pager@example.com", Role::Rep, Some("East"), Some("manager@example.com"));
        app.with(|s| {
            let inputs: Vec<Value> = (0..4_100)
                .map(|i| json!({"first_name": format!("P{i}"), "last_name": "Example", "email": format!("p{i}@c.example")}))
                .collect();
            s.create_many(&Actor::operator(), &holdfast_core::record::CONTACTS, &inputs).expect("contacts");
            s.create_record(
                &Actor::operator(),
                &holdfast_core::record::CONTACTS,
                &json!({"first_name": "=HYPERLINK(\"http://x\")", "last_name": "Zz"}),
            )
            .expect("evil contact");
        });
        let (hook, received) = receiver().await;
        let sink = holdfast_testing::smtp::SmtpSink::start();
        let settings = json!({"alert_webhook_url": hook, "alert_webhook_secret": SECRET,
                              "alert_smtp_url": sink.url, "alert_email_from": "Holdfast <crm@example.com>"});
        let (s, p) = app.call("PUT", "/api/v1/settings", Some(&admin), Some(settings)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(p["alert_webhook_secret_set"], true);
        assert!(p.get("alert_webhook_secret").is_none(), "the secret is never shown: {p}");
        let (s, p) =
            app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"alert_webhook_secret": "abc"}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        // 50 contacts: allowed, downloaded once, recorded with its row count and the file's hash.
        let ask = json!({"kind": "contacts", "q": "", "limit": 50, "format": "csv"});
        let (s, e) = app.call("POST", "/api/v1/exports", Some(&rep), Some(ask)).await;
        assert_eq!(s, StatusCode::CREATED, "{e}");
        assert_eq!(e["status"], "ready");
        let url = e["download_url"].as_str().expect("download_url").to_string();
        let (s, file) = app.call("GET", &url, Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        let text = file.as_str().expect("CSV").to_string();
        assert_eq!(text.lines().count(), 51);
        let (_, status) =
            app.call("GET", &format!("/api/v1/exports/{}", e["id"].as_str().unwrap_or("")), Some(&rep), None).await;
        assert_eq!(status["status"], "downloaded");
        assert_eq!(status["rows"], 50);
        let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes()));
        assert_eq!(status["sha256"], sha, "the recorded hash is the downloaded file's");
        let (s, _) = app.call("GET", &url, Some(&rep), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "once");

        // A formula-looking name is exported as text.
        let (_, e) = app
            .call("POST", "/api/v1/exports", Some(&rep), Some(json!({"kind": "contacts", "q": "zz", "limit": 5})))
            .await;
        let (_, file) = app.call("GET", e["download_url"].as_str().unwrap_or(""), Some(&rep), None).await;
        assert!(file.as_str().unwrap_or("").contains("'=HYPERLINK"), "{file}");

        // 2,000 contacts: more than a rep exports alone; it waits for the manager.
        let ask = json!({"kind": "contacts", "limit": 2_000, "format": "csv", "reason": "territory plan"});
        let (s, pending) = app.call("POST", "/api/v1/exports", Some(&rep), Some(ask)).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{pending}");
        assert_eq!(pending["status"], "pending");
        assert!(pending["over_limit"].as_str().unwrap_or("").contains("1000"), "it says which limit: {pending}");
        let id = pending["id"].as_str().expect("id").to_string();
        let (s, _) = app.call("GET", &format!("/api/v1/exports/{id}/file"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "a pending export hands out no row");
        let (s, p) = app.call("POST", &format!("/api/v1/exports/{id}/approve"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        let (_, queue) = app.call("GET", "/api/v1/exports?which=to_approve", Some(&manager), None).await;
        assert_eq!(queue["items"][0]["id"], id.as_str(), "{queue}");
        let (s, ok) = app
            .call("POST", &format!("/api/v1/exports/{id}/approve"), Some(&manager), Some(json!({"reason": "fine"})))
            .await;
        assert_eq!((s, ok["status"].as_str()), (StatusCode::OK, Some("ready")), "{ok}");
        let (s, file) = app.call("GET", &format!("/api/v1/exports/{id}/file"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(file.as_str().map(|t| t.lines().count()), Some(2_001));
        let (s, _) = app.call("GET", &format!("/api/v1/exports/{id}/file"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::CONFLICT);

        // A refusal is a problem that says how to ask, and an event.
        let (s, _) = app
            .call(
                "PUT",
                "/api/v1/policies/coworker/rep@example.com",
                Some(&admin),
                Some(json!({"over_limit": "refuse"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call("PUT", "/api/v1/policies/role/rep", Some(&admin), Some(json!({"export_rowz": 5}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "unknown policy fields are named");
        let (s, p) =
            app.call("POST", "/api/v1/exports", Some(&rep), Some(json!({"kind": "contacts", "limit": 3_000}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        assert!(p["detail"].as_str().unwrap_or("").contains("ask your manager"), "{p}");

        // Another rep pages through the contacts, 100 at a time, 40 pages: a read-volume alert.
        let mut cursor = String::new();
        for _ in 0..40 {
            let (s, page) = app.call("GET", &format!("/api/v1/contacts?limit=100{cursor}"), Some(&pager), None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            cursor = page["next_cursor"].as_str().map(|c| format!("&cursor={c}")).unwrap_or_default();
        }
        let (s, alerts) = app.call("GET", "/api/v1/alerts", Some(&manager), None).await;
        assert_eq!(s, StatusCode::OK, "{alerts}");
        let items = alerts["items"].as_array().cloned().unwrap_or_default();
        let volume = items.iter().find(|a| a["kind"] == "read_volume").expect("a read-volume alert");
        assert_eq!(volume["coworker_email"], "pager@example.com");
        for field in ["id", "coworker_id", "severity", "state", "created_at", "event_ids"] {
            assert!(!volume[field].is_null(), "{field} in {volume}");
        }
        assert!(items.iter().any(|a| a["kind"] == "export_approval" && a["coworker_email"] == "rep@example.com"));
        let (s, mine) = app.call("GET", "/api/v1/alerts", Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK, "{mine}");
        assert_eq!(mine["items"].as_array().map(Vec::len), Some(0), "reps see only alerts addressed to them: {mine}");
        let alert = volume["id"].as_str().unwrap_or("");
        let (s, a) = app
            .call("POST", &format!("/api/v1/alerts/{alert}/state"), Some(&manager), Some(json!({"state": "dismissed"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a dismissal needs a reason: {a}");
        let (s, a) = app
            .call(
                "POST",
                &format!("/api/v1/alerts/{alert}/state"),
                Some(&manager),
                Some(json!({"state": "acknowledged"})),
            )
            .await;
        assert_eq!((s, a["state"].as_str()), (StatusCode::OK, Some("acknowledged")), "{a}");

        // The Alerts page lists them, with the open ones counted in the navigation; reps have none.
        let cookie = app.sign_in("manager@example.com").await;
        let page = app.send("GET", "/alerts", &cookie, None).await;
        let open = items.iter().filter(|a| a["state"] == "open").count() - 1;
        assert!(page.body.contains(&format!("title=\"open alerts\">{open}</span>")), "{}", page.body);
        assert!(page.body.contains("pager@example.com"));
        let rep_page = app.send("GET", "/exports", &app.sign_in("rep@example.com").await, None).await;
        assert!(!rep_page.body.contains("href=\"/alerts\""), "reps see no Alerts link");
        assert!(rep_page.body.contains("downloaded"), "the rep sees their exports");
        assert!(rep_page.body.contains("is more than the 1000 one export may carry"), "and why one waited");

        // Every alert reaches the webhook receiver, signed (Standard Webhooks).
        let round = app.with(|s| s.deliver_due_alerts(&holdfast_web::HttpSender::default())).expect("deliveries");
        assert_eq!(round.failed, 0);
        let got = received.lock().expect("received").clone();
        assert_eq!(got.len(), items.len(), "{} alerts, {} posts on {}", items.len(), got.len(), app.db.backend);
        for (headers, body) in &got {
            let h = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let timestamp: i64 = h("webhook-timestamp").parse().expect("timestamp");
            let expected = webhook_signature(SECRET, &h("webhook-id"), timestamp, body).expect("signature");
            assert_eq!(h("webhook-signature"), expected);
            assert!(h("webhook-id").starts_with("msg_"));
        }
        let (_, log) = app.call("GET", "/api/v1/alert-deliveries", Some(&admin), None).await;
        assert!(log["items"].as_array().is_some_and(|l| l.iter().all(|d| !d["delivered_at"].is_null())), "{log}");

        // And by email to the admin and the co-worker's manager, through the SMTP server set.
        let mails = sink.messages();
        assert_eq!(mails.len(), items.len(), "one email per alert on {}", app.db.backend);
        let about_pager =
            mails.iter().find(|m| m.data.contains("About: pager@example.com")).expect("the pager's alert");
        assert!(about_pager.data.contains("Subject: [Holdfast] "), "{}", about_pager.data);
        let mut to = about_pager.to.clone();
        to.sort();
        assert_eq!(to, ["<admin@example.com>", "<manager@example.com>"]);
        assert!(about_pager.from.contains("crm@example.com"));

        // The SMTP server down: the alert stays, the delivery is retried later and the log says why.
        let (s, _) = app
            .call(
                "PUT",
                "/api/v1/settings",
                Some(&admin),
                Some(json!({"alert_smtp_url": "smtp://127.0.0.1:9", "alert_webhook_url": ""})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) =
            app.call("POST", "/api/v1/exports", Some(&pager), Some(json!({"kind": "contacts", "limit": 1_500}))).await;
        assert_eq!(s, StatusCode::ACCEPTED);
        let round = app.with(|s| s.deliver_due_alerts(&holdfast_web::HttpSender::default())).expect("deliveries");
        assert_eq!((round.delivered, round.failed), (0, 1));
        let (_, log) = app.call("GET", "/api/v1/alert-deliveries", Some(&admin), None).await;
        let failed = &log["items"][0];
        assert_eq!(failed["delivered_at"], Value::Null);
        assert!(failed["last_error"].as_str().unwrap_or("").contains("SMTP"), "{failed}");
        assert!(!failed["last_error"].as_str().unwrap_or("").contains("127.0.0.1:9"), "the URL is not echoed");
        let (_, still) = app.call("GET", "/api/v1/alerts?state=open", Some(&admin), None).await;
        assert!(still["items"].as_array().is_some_and(|a| {
            a.iter().any(|x| x["coworker_email"] == "pager@example.com" && x["kind"] == "export_approval")
        }));
    }
}

/// A webhook receiver that accepts the connection and never answers: the post gives up at its
/// timeout, the delivery is retried later with the reason in the log, and the server answers
/// other requests meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn a_webhook_that_hangs_is_retried_and_holds_nothing_up() {
    let app = App::new(off_runtime(holdfast_testing::sqlite));
    let admin = app.add("admin@example.com", Role::Admin, None, None);
    let rep = app.add("rep@example.com", Role::Rep, None, None);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let hook = format!("http://{}/hook", listener.local_addr().expect("address"));
    // Accepts, reads nothing, answers nothing; keeps the connections open.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    let (s, _) = app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"alert_webhook_url": hook}))).await;
    assert_eq!(s, StatusCode::OK);
    app.with(|s| {
        let inputs: Vec<Value> = (0..1_100).map(|i| json!({"first_name": format!("P{i}"), "last_name": "X"})).collect();
        s.create_many(&Actor::operator(), &holdfast_core::record::CONTACTS, &inputs).expect("contacts");
    });
    let (s, _) =
        app.call("POST", "/api/v1/exports", Some(&rep), Some(json!({"kind": "contacts", "limit": 1_100}))).await;
    assert_eq!(s, StatusCode::ACCEPTED);
    let services = app.services.clone();
    let delivery = tokio::task::spawn_blocking(move || {
        let started = std::time::Instant::now();
        let round =
            services.deliver_due_alerts(&holdfast_web::HttpSender::with_timeout(std::time::Duration::from_secs(2)));
        (round, started.elapsed())
    });
    // While the post hangs, the server answers.
    let (s, _) = app.call("GET", "/api/v1/contacts?limit=5", Some(&admin), None).await;
    assert_eq!(s, StatusCode::OK);
    let (round, took) = delivery.await.expect("delivery task");
    assert_eq!(round.expect("round").failed, 1);
    assert!(took < std::time::Duration::from_secs(10), "gave up at its timeout: {took:?}");
    let (_, log) = app.call("GET", "/api/v1/alert-deliveries", Some(&admin), None).await;
    let d = &log["items"][0];
    assert_eq!((d["attempts"].as_i64(), d["delivered_at"].is_null()), (Some(1), true), "{d}");
    assert!(!d["last_error"].as_str().unwrap_or("").is_empty(), "{d}");
    off_runtime(move || drop(app));
}
