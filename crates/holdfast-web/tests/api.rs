//! The JSON API through the real router, on SQLite and on PostgreSQL.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::{EventFilter, GENESIS_HASH};
use holdfast_core::service::NewCoWorker;
use holdfast_store::Store;
use holdfast_testing::{TestDb, each_backend, off_runtime};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

struct App {
    db: TestDb,
    services: Arc<Holdfast<Store>>,
    router: Option<axum::Router>,
}

impl Drop for App {
    /// The PostgreSQL client must be dropped off the runtime too.
    fn drop(&mut self) {
        let router = self.router.take();
        let services = Arc::clone(&self.services);
        off_runtime(move || {
            drop(router);
            services.shutdown();
        });
    }
}

impl App {
    fn new(db: TestDb) -> App {
        let services = off_runtime(|| db.services());
        let router = holdfast_web::router(Arc::clone(&services));
        App { db, services, router: Some(router) }
    }

    fn add(&self, email: &str, role: Role, team: Option<&str>, manager: Option<&str>) -> String {
        off_runtime(|| self.add_now(email, role, team, manager))
    }

    fn add_now(&self, email: &str, role: Role, team: Option<&str>, manager: Option<&str>) -> String {
        self.services
            .add_coworker(
                &Actor::operator(),
                NewCoWorker {
                    email: email.into(),
                    name: email.split('@').next().unwrap_or("x").into(),
                    role,
                    seniority: None,
                    team: team.map(String::from),
                    manager: manager.map(String::from),
                    title: None,
                    password: Some("correct horse battery".into()),
                },
            )
            .expect("add co-worker");
        self.services.create_token(&Actor::operator(), email, "test").expect("token").secret
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        self.raw(method, path, token, body.map(|b| ("application/json", b.to_string().into_bytes()))).await
    }

    async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some((ct, bytes)) => req.header("content-type", ct).body(Body::from(bytes)),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().expect("router").oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn create_read_and_see_it_in_the_coworkers_events() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (s, account) = app
            .call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": "Acme Corp", "domain": "acme.com"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{} {account}", app.db.backend);
        let (s, contact) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&admin),
                Some(json!({"account_id": id_of(&account), "first_name": "Ada", "last_name": "Lovelace", "email": "ada@acme.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{contact}");
        let (s, read) = app.call("GET", &format!("/api/v1/contacts/{}", id_of(&contact)), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(read["email"], "ada@acme.com");
        assert_eq!(read["account_id"], account["id"]);

        let (_, me) = app.call("GET", "/api/v1/me", Some(&admin), None).await;
        let me_id = me["coworker"]["id"].as_str().expect("id").to_string();
        let (s, events) = app.call("GET", &format!("/api/v1/coworkers/{me_id}/events"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        let actions: Vec<(&str, &str)> = events["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| (e["action"].as_str().unwrap_or(""), e["object_id"].as_str().unwrap_or("")))
            .collect();
        let cid = id_of(&contact);
        assert!(actions.contains(&("record.create", cid.as_str())), "{actions:?}");
        assert!(actions.contains(&("record.read", cid.as_str())), "{actions:?}");
        assert!(actions.contains(&("record.create", id_of(&account).as_str())), "{actions:?}");
        // newest first
        let seqs: Vec<i64> =
            events["items"].as_array().expect("items").iter().map(|e| e["seq"].as_i64().unwrap_or(0)).collect();
        assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_problem_and_changes_nothing() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep1 = app.add("rep1@example.com", Role::Rep, Some("East"), None);
        let rep2 = app.add("rep2@example.com", Role::Rep, Some("East"), None);
        let (_, account) = app.call("POST", "/api/v1/accounts", Some(&rep1), Some(json!({"name": "Rep One's"}))).await;
        let path = format!("/api/v1/accounts/{}", id_of(&account));

        let (s, p) = app.call("GET", "/api/v1/accounts", Some("hf_nonsense"), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
        assert_eq!(p["status"], 401);
        let (s, _) = app.call("GET", "/api/v1/accounts", None, None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);

        let (s, p) = app.call("PATCH", &path, Some(&rep2), Some(json!({"name": "Mine now"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        // rep2 may still read it: open collaboration
        let (s, read) = app.call("GET", &path, Some(&rep2), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(read["name"], "Rep One's");
        // the owner may change it
        let (s, _) = app.call("PATCH", &path, Some(&rep1), Some(json!({"industry": "Retail"}))).await;
        assert_eq!(s, StatusCode::OK);

        let (s, p) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&admin),
                Some(json!({"first_name": 42, "email": "not-an-email", "shoe": 1})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let fields: Vec<&str> =
            p["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
        assert!(fields.contains(&"first_name") && fields.contains(&"email") && fields.contains(&"shoe"), "{fields:?}");

        let (s, p) = app
            .raw("POST", "/api/v1/contacts", Some(&admin), Some(("application/json", b"{\"first_name\":".to_vec())))
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{p}");
        let (s, _) = app.raw("POST", "/api/v1/contacts", Some(&admin), Some(("text/plain", b"{}".to_vec()))).await;
        assert_eq!(s, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let big = format!("{{\"first_name\": \"{}\"}}", "x".repeat(2 * 1024 * 1024));
        let (s, _) =
            app.raw("POST", "/api/v1/contacts", Some(&admin), Some(("application/json", big.into_bytes()))).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&admin),
                Some(json!({"first_name": "X", "account_id": "0193a000-0000-7000-8000-000000000000"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], "account_id");
        let (s, _) = app.call("GET", "/api/v1/contacts/0193a000-0000-7000-8000-000000000000", Some(&admin), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app.call("GET", "/api/v1/widgets", Some(&admin), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, p) = app.call("GET", "/api/v1/contacts?limit=lots", Some(&admin), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["errors"][0]["field"], "limit");

        // none of that created a contact
        let (_, list) = app.call("GET", "/api/v1/contacts", Some(&admin), None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(0), "{}", app.db.backend);
        // and the server still serves
        let (s, _) = app.call("GET", "/healthz", None, None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_page_filter_sort_and_search() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (_, acc) = app
            .call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": "Globex", "domain": "globex.com"})))
            .await;
        for i in 0..25 {
            let owner_token = if i % 5 == 0 { &rep } else { &admin };
            let (s, c) = app
                .call(
                    "POST",
                    "/api/v1/contacts",
                    Some(owner_token),
                    Some(json!({"first_name": format!("Person{i:02}"), "last_name": format!("Zeta{i:02}"),
                        "email": format!("p{i}@globex.com"), "phone": format!("+44 20 7946 {:04}", i),
                        "account_id": id_of(&acc), "buying_role": if i == 3 { "champion" } else { "user" }})),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{c}");
        }
        // cursor paging visits every row once, in order
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/contacts?limit=10&sort=last_name&cursor={c}"),
                None => "/api/v1/contacts?limit=10&sort=last_name".into(),
            };
            let (s, page) = app.call("GET", &path, Some(&admin), None).await;
            assert_eq!(s, StatusCode::OK, "{page}");
            for item in page["items"].as_array().expect("items") {
                seen.push(item["last_name"].as_str().expect("name").to_string());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        let expected: Vec<String> = (0..25).map(|i| format!("Zeta{i:02}")).collect();
        assert_eq!(seen, expected, "{}", app.db.backend);
        let (_, desc) = app.call("GET", "/api/v1/contacts?sort=-last_name&limit=1&offset=2", Some(&admin), None).await;
        assert_eq!(desc["items"][0]["last_name"], "Zeta22");
        let (_, owned) = app.call("GET", "/api/v1/contacts?owner=rep@example.com", Some(&admin), None).await;
        assert_eq!(owned["items"].as_array().map(Vec::len), Some(5));
        let (_, champions) = app.call("GET", "/api/v1/contacts?buying_role=champion", Some(&admin), None).await;
        assert_eq!(champions["items"][0]["first_name"], "Person03");
        let (s, p) = app.call("GET", "/api/v1/contacts?sort=shoe_size", Some(&admin), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        // search by name prefix, email, phone digits and domain
        for (q, n) in
            [("person07", 1), ("zeta0", 10), ("p12@globex.com", 1), ("9460019", 1), ("2079460020", 1), ("nobody", 0)]
        {
            let (s, r) = app.call("GET", &format!("/api/v1/contacts?q={q}"), Some(&admin), None).await;
            assert_eq!(s, StatusCode::OK);
            assert_eq!(r["items"].as_array().map(Vec::len), Some(n), "q={q} on {}: {r}", app.db.backend);
        }
        let (_, r) = app.call("GET", "/api/v1/search?q=globex", Some(&admin), None).await;
        assert_eq!(r["accounts"].as_array().map(Vec::len), Some(1), "{r}");
        assert_eq!(r["contacts"].as_array().map(Vec::len), Some(10));

        // every list page and search was recorded with its row count
        let events = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter { action: Some("search".into()), limit: 100, ..Default::default() },
            )
        })
        .expect("events");
        assert!(
            events.iter().any(|e| e.event.row_count == 10 && e.event.details["q"] == "zeta0"),
            "{}",
            app.db.backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deleted_records_are_recoverable_by_an_admin() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Initech"}))).await;
        let path = format!("/api/v1/accounts/{}", id_of(&acc));
        let (s, _) = app.call("DELETE", &path, Some(&rep), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.call("GET", &path, Some(&rep), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let (s, _) = app.call("POST", &format!("{path}/restore"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, deleted) = app.call("GET", "/api/v1/accounts?deleted=true", Some(&admin), None).await;
        assert_eq!(deleted["items"].as_array().map(Vec::len), Some(1));
        let (s, restored) = app.call("POST", &format!("{path}/restore"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{restored}");
        assert_eq!(restored["deleted_at"], Value::Null);
        let (s, _) = app.call("GET", &path, Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deprovisioned_coworkers_lose_access_at_once_and_logins_are_limited() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (s, login) = app
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "rep@example.com", "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{login}");
        let session = login["token"].as_str().expect("token").to_string();
        let (s, _) = app.call("GET", "/api/v1/accounts", Some(&session), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app
            .call("PATCH", "/api/v1/coworkers/rep@example.com", Some(&admin), Some(json!({"status": "departed"})))
            .await;
        assert_eq!(s, StatusCode::OK);
        for t in [&rep, &session] {
            let (s, _) = app.call("GET", "/api/v1/accounts", Some(t), None).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "rep@example.com", "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // five wrong passwords, then the sixth try is refused outright
        for _ in 0..4 {
            let (s, _) = app
                .call(
                    "POST",
                    "/api/v1/sessions",
                    None,
                    Some(json!({"email": "admin@example.com", "password": "wrong password!"})),
                )
                .await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "admin@example.com", "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "admin@example.com", "password": "wrong password!"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/sessions",
                None,
                Some(json!({"email": "admin@example.com", "password": "correct horse battery"})),
            )
            .await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{p}");
        let failed = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter { action: Some("auth.login_failed".into()), limit: 100, ..Default::default() },
            )
        })
        .expect("events");
        assert!(failed.len() >= 6, "{}", failed.len());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn read_policy_narrows_who_may_open_what() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep1 = app.add("rep1@example.com", Role::Rep, Some("East"), None);
        let rep2 = app.add("rep2@example.com", Role::Rep, Some("West"), None);
        let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep1), Some(json!({"name": "Umbrella"}))).await;
        let path = format!("/api/v1/accounts/{}", id_of(&acc));
        let (s, _) = app.call("PUT", "/api/v1/settings", Some(&rep1), Some(json!({"read_policy": "own"}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"read_policy": "team"}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call("GET", &path, Some(&rep2), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (_, list) = app.call("GET", "/api/v1/accounts", Some(&rep2), None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
        let (s, _) = app.call("GET", &path, Some(&rep1), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call("GET", &path, Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn csv_import_deduplicates_and_rehearses() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        app.add("owner@example.com", Role::Rep, None, None);
        let hubspot = "\u{feff}First Name,Last Name,Email,Phone Number,Company Name,Contact owner,Job Title\n\
            Ada,Lovelace,ADA@analytical.com,+44 20 7946 0000,Analytical Engines,owner@example.com,CTO\n\
            Charles,Babbage,charles@analytical.com,,Analytical Engines,Nobody Known,\n\
            Ada,Lovelace,ada@analytical.com,,,,\n\
            Bad,Email,not-an-email,,,,\n";
        let (s, dry) = app
            .raw(
                "POST",
                "/api/v1/imports/contacts?dry_run=true",
                Some(&admin),
                Some(("text/csv", hubspot.as_bytes().to_vec())),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{dry}");
        assert_eq!(
            (dry["created"].as_u64(), dry["merged"].as_u64(), dry["accounts_created"].as_u64()),
            (Some(2), Some(1), Some(1)),
            "{dry}"
        );
        assert_eq!(dry["rejected"][0]["row"], 5);
        let (_, none) = app.call("GET", "/api/v1/contacts", Some(&admin), None).await;
        assert_eq!(none["items"].as_array().map(Vec::len), Some(0), "a dry run wrote rows");

        let (s, report) = app
            .raw("POST", "/api/v1/imports/contacts", Some(&admin), Some(("text/csv", hubspot.as_bytes().to_vec())))
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!(report["created"], 2);
        assert_eq!(report["warnings"].as_array().map(Vec::len), Some(1));
        // A Salesforce export with one of the same people merges into them.
        let salesforce = "FirstName;LastName;Email;Phone;Account.Name;Owner.Email\n\
            Ada;Lovelace;ada@analytical.com;;Analytical Engines;owner@example.com\n\
            Grace;Hopper;grace@navy.mil;+1 555 0100 200;US Navy;owner@example.com\n";
        let (s, report) = app
            .raw("POST", "/api/v1/imports/contacts", Some(&admin), Some(("text/csv", salesforce.as_bytes().to_vec())))
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!((report["created"].as_u64(), report["merged"].as_u64()), (Some(1), Some(1)), "{report}");
        let (_, all) = app.call("GET", "/api/v1/contacts?sort=first_name", Some(&admin), None).await;
        let names: Vec<&str> =
            all["items"].as_array().expect("items").iter().filter_map(|c| c["first_name"].as_str()).collect();
        assert_eq!(names, vec!["Ada", "Charles", "Grace"]);
        let (_, accounts) = app.call("GET", "/api/v1/accounts?sort=name", Some(&admin), None).await;
        assert_eq!(accounts["items"].as_array().map(Vec::len), Some(2), "{accounts}");

        // A malformed file names the line and column and imports nothing.
        let broken = "First Name,Email\nZed,zed@x.com\n\"Unclosed,zz@x.com\nYan,yan@x.com,extra\n";
        let (s, p) = app
            .raw("POST", "/api/v1/imports/contacts", Some(&admin), Some(("text/csv", broken.as_bytes().to_vec())))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert!(p["detail"].as_str().unwrap_or("").contains("line"), "{p}");
        let (_, after) = app.call("GET", "/api/v1/contacts?q=zed", Some(&admin), None).await;
        assert_eq!(after["items"].as_array().map(Vec::len), Some(0));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_keep_one_unbroken_event_chain() {
    for db in each_backend() {
        let app = Arc::new(App::new(db));
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": "Wayne"}))).await;
        let path = format!("/api/v1/accounts/{}", id_of(&acc));
        let mut tasks = Vec::new();
        for i in 0..40 {
            let (app, admin, path) = (Arc::clone(&app), admin.clone(), path.clone());
            tasks.push(tokio::spawn(async move {
                if i % 4 == 0 {
                    app.call("PATCH", &path, Some(&admin), Some(json!({"notes": format!("note {i}")}))).await.0
                } else {
                    app.call("GET", &path, Some(&admin), None).await.0
                }
            }));
        }
        for t in tasks {
            assert_eq!(t.await.expect("task"), StatusCode::OK);
        }
        let mut events = off_runtime(|| {
            app.services.events(&Actor::operator(), &EventFilter { limit: 10_000, ..Default::default() })
        })
        .expect("events");
        events.reverse();
        assert!(events.len() > 40);
        let mut prev = GENESIS_HASH.to_string();
        for (i, e) in events.iter().enumerate() {
            assert_eq!(e.seq, i as i64 + 1, "gap in the chain on {}", app.db.backend);
            assert!(e.verify(&prev), "event {} does not chain on {}", e.seq, app.db.backend);
            prev.clone_from(&e.hash);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_and_health_describe_the_server() {
    for db in each_backend() {
        let app = App::new(db);
        let (s, doc) = app.call("GET", "/api/v1/openapi.json", None, None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"]["/api/v1/contacts"]["get"].is_object());
        assert!(doc["components"]["schemas"]["contact"]["properties"]["email"].is_object());
        let (_, health) = app.call("GET", "/healthz", None, None).await;
        assert_eq!(health["backend"], app.db.backend);
        assert_eq!(health["schema_version"], holdfast_store::SCHEMA_VERSION);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_record_shows_who_changed_what_from_what_to_what() {
    for db in each_backend() {
        let app = App::new(db);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (_, acc) =
            app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Hooli", "tier": "smb"}))).await;
        let path = format!("/api/v1/accounts/{}", id_of(&acc));
        app.call("PATCH", &path, Some(&rep), Some(json!({"tier": "enterprise", "annual_value": 90000}))).await;
        let (s, h) = app.call("GET", &format!("{path}/history"), Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK, "{h}");
        let items = h["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{h}");
        assert_eq!(items[0]["action"], "record.update");
        assert_eq!(items[0]["changes"]["tier"], json!({"from": "smb", "to": "enterprise"}), "{}", app.db.backend);
        assert_eq!(items[0]["changes"]["annual_value"], json!({"from": null, "to": 90000.0}));
        assert_eq!(items[1]["action"], "record.create");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn managers_may_change_their_reports_records_but_not_others() {
    for db in each_backend() {
        let app = App::new(db);
        app.add("boss@example.com", Role::Manager, Some("East"), None);
        let boss = off_runtime(|| {
            app.services.set_team_manager(&Actor::operator(), "East", "boss@example.com").expect("team manager");
            app.services.create_token(&Actor::operator(), "boss@example.com", "t").expect("token").secret
        });
        let east = app.add("east@example.com", Role::Rep, Some("East"), None);
        let west = app.add("west@example.com", Role::Rep, Some("West"), None);
        let (_, a) = app.call("POST", "/api/v1/accounts", Some(&east), Some(json!({"name": "East Co"}))).await;
        let (_, b) = app.call("POST", "/api/v1/accounts", Some(&west), Some(json!({"name": "West Co"}))).await;
        let (s, _) = app
            .call("PATCH", &format!("/api/v1/accounts/{}", id_of(&a)), Some(&boss), Some(json!({"tier": "smb"})))
            .await;
        assert_eq!(s, StatusCode::OK, "{}", app.db.backend);
        let (s, _) = app
            .call("PATCH", &format!("/api/v1/accounts/{}", id_of(&b)), Some(&boss), Some(json!({"tier": "smb"})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // The manager may see their report's events, not the other team's.
        let (s, _) = app.call("GET", "/api/v1/coworkers/east@example.com/events", Some(&boss), None).await;
        assert_eq!(s, StatusCode::OK);
        let (s, _) = app.call("GET", "/api/v1/coworkers/west@example.com/events", Some(&boss), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.call("GET", "/api/v1/coworkers/east@example.com/events", Some(&west), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bulk_hand_over_undo_and_export_through_the_api() {
    for db in each_backend() {
        let app = App::new(db);
        let boss = app.add("boss@example.com", Role::Manager, Some("East"), None);
        let rep = app.add("rep@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        app.add("mate@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let outsider = app.add("outsider@example.com", Role::Rep, None, None);
        let mut ids = Vec::new();
        for name in ["One", "Two", "Three"] {
            let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": name}))).await;
            ids.push(id_of(&acc));
        }
        // The manager hands the rep's accounts to a team mate: one step.
        let (s, done) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": ids, "owner": "mate@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(done["changed"], 3);
        let (_, mine) = app.call("GET", "/api/v1/accounts?owner=mate@example.com", Some(&boss), None).await;
        assert_eq!(mine["items"].as_array().map(Vec::len), Some(3), "{}", app.db.backend);
        // Someone outside the team may not; nothing changes.
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&outsider),
                Some(json!({"ids": ids, "owner": "outsider@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        // Bad input: a clear problem naming the field.
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": ["x"], "owner": "rep@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["errors"][0]["field"], "ids", "{p}");
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": [], "owner": "rep@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        // Only the author (or an admin) may undo; then the accounts are the rep's again.
        let undo = format!("/api/v1/bulk-operations/{}/undo", done["operation"].as_str().expect("operation"));
        let (s, _) = app.call("POST", &undo, Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, undone) = app.call("POST", &undo, Some(&boss), None).await;
        assert_eq!(s, StatusCode::OK, "{undone}");
        assert_eq!(undone["changed"], 3);
        let (s, _) = app.call("POST", &undo, Some(&boss), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (_, back) = app.call("GET", "/api/v1/accounts?owner=rep@example.com", Some(&boss), None).await;
        assert_eq!(back["items"].as_array().map(Vec::len), Some(3));

        // Export: CSV of the filtered list or of picked ids; each is an export.create event.
        let (s, csv) =
            app.call("GET", "/api/v1/accounts/export?owner=rep@example.com&sort=name", Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        let csv = csv.as_str().expect("csv text").to_string();
        let names: Vec<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
        assert_eq!(names, ["One", "Three", "Two"], "{csv}");
        let (s, csv) = app.call("GET", &format!("/api/v1/accounts/export?ids={}", ids[0]), Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(csv.as_str().map(|c| c.lines().count()), Some(2));
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        let (_, events) = app
            .call(
                "GET",
                &format!("/api/v1/coworkers/{}/events?action=export.create", id_of(&me["coworker"])),
                Some(&rep),
                None,
            )
            .await;
        let rows: Vec<i64> =
            events["items"].as_array().expect("items").iter().filter_map(|e| e["row_count"].as_i64()).collect();
        assert_eq!(rows, [1, 3], "{events}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departing_reps_customers_go_to_a_new_owner_in_one_step() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("leaving@example.com", Role::Rep, Some("East"), None);
        app.add("heir@example.com", Role::Rep, Some("East"), None);
        let outsider = app.add("outsider@example.com", Role::Rep, None, None);
        let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Umbrella"}))).await;
        let account = id_of(&acc);
        for body in [json!({"name": "Wayne Corp"})] {
            app.call("POST", "/api/v1/accounts", Some(&rep), Some(body)).await;
        }
        app.call("POST", "/api/v1/contacts", Some(&rep), Some(json!({"first_name": "Alice", "account_id": account})))
            .await;
        app.call("POST", "/api/v1/deals", Some(&rep), Some(json!({"name": "Vaccine", "account_id": account}))).await;
        app.call("POST", "/api/v1/tasks", Some(&rep), Some(json!({"title": "Call Alice", "account_id": account})))
            .await;
        let (s, act) = app
            .call(
                "POST",
                "/api/v1/activities",
                Some(&rep),
                Some(json!({"type": "call", "occurred_at": "2026-01-05T10:00:00Z", "summary": "Intro", "account_id": account})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{act}");

        // Not theirs to give: a rep outside the team is refused and nothing moves.
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&outsider),
                Some(json!({"to": "outsider@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&admin),
                Some(json!({"to": "leaving@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        let (s, h) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&admin),
                Some(json!({"to": "heir@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        assert_eq!(h["per_kind"], json!({"accounts": 2, "contacts": 1, "deals": 1, "tasks": 1}), "{}", app.db.backend);
        assert_eq!(h["changed"], 5);
        for kind in ["accounts", "contacts", "deals", "tasks"] {
            let (_, left) =
                app.call("GET", &format!("/api/v1/{kind}?owner=leaving@example.com"), Some(&admin), None).await;
            assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{kind} left behind");
        }
        // The call stays with whoever made it.
        let (_, act) = app.call("GET", &format!("/api/v1/activities/{}", id_of(&act)), Some(&admin), None).await;
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        assert_eq!(act["owner_id"], me["coworker"]["id"]);
        // One event names the whole handover.
        let (_, events) = app.call("GET", "/api/v1/events?action=coworker.handover", Some(&admin), None).await;
        let items = events["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{events}");
        assert_eq!(items[0]["row_count"], 5);

        // Undo puts everything back.
        let op = h["operation"].as_str().expect("operation");
        let (s, undone) = app.call("POST", &format!("/api/v1/bulk-operations/{op}/undo"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{undone}");
        assert_eq!(undone["changed"], 5);
        let (_, back) = app.call("GET", "/api/v1/accounts?owner=leaving@example.com", Some(&admin), None).await;
        assert_eq!(back["items"].as_array().map(Vec::len), Some(2));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reading_in_bulk_counts_as_an_export_and_the_policy_can_stop_it() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let manager = app.add("boss@example.com", Role::Manager, None, None);
        off_runtime(|| {
            let op = Actor::operator();
            let rows: Vec<Value> = (0..120).map(|i| json!({"first_name": format!("Person{i:03}")})).collect();
            app.services.create_many(&op, &holdfast_core::record::CONTACTS, &rows).expect("contacts");
        });
        // Settings: admins only, with clear errors.
        let (s, _) = app.call("PUT", "/api/v1/settings", Some(&rep), Some(json!({"bulk_read_limit": 100}))).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, p) = app
            .call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"read_policy": "own", "bulk_read_limit": 5})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        let (_, now) = app.call("GET", "/api/v1/settings", Some(&admin), None).await;
        assert_eq!(now["read_policy"], "all", "one bad value changes nothing");
        let (s, set) = app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"bulk_read_limit": 100}))).await;
        assert_eq!(s, StatusCode::OK, "{set}");
        assert_eq!(set, json!({"read_policy": "all", "export_policy": "everyone", "bulk_read_limit": 100}));

        // Under the limit: ordinary list reads. Past it: the next page is recorded as an export.
        let (_, page) = app.call("GET", "/api/v1/contacts?limit=60", Some(&rep), None).await;
        assert_eq!(page["counted_as_export"], false);
        let (_, page) = app.call("GET", "/api/v1/contacts?limit=60", Some(&rep), None).await;
        assert_eq!(page["counted_as_export"], false, "60 read so far, under 100");
        let (_, page) = app.call("GET", "/api/v1/contacts?limit=60", Some(&rep), None).await;
        assert_eq!(page["counted_as_export"], true, "120 read: this one is an export");
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        let rep_id = id_of(&me["coworker"]);
        let (_, events) = app
            .call("GET", &format!("/api/v1/coworkers/{rep_id}/events?action=export.create"), Some(&admin), None)
            .await;
        let items = events["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{events}");
        assert_eq!(items[0]["details"]["bulk_read"], true);
        assert_eq!(items[0]["details"]["read"], "list.read");
        assert_eq!(items[0]["row_count"], 60);

        // Exports only for managers and admins: the rep is stopped, with words that say why.
        let (s, _) =
            app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"export_policy": "managers"}))).await;
        assert_eq!(s, StatusCode::OK);
        let (s, p) = app.call("GET", "/api/v1/contacts?limit=10", Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("counts as an export")), "{p}");
        let (s, _) = app.call("GET", "/api/v1/contacts/export", Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        // A manager may, and admins are never metered.
        let (s, _) = app.call("GET", "/api/v1/contacts/export", Some(&manager), None).await;
        assert_eq!(s, StatusCode::OK);
        for _ in 0..3 {
            let (s, page) = app.call("GET", "/api/v1/contacts?limit=100", Some(&admin), None).await;
            assert_eq!((s, page["counted_as_export"].clone()), (StatusCode::OK, json!(false)));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_converts_into_a_contact_at_an_account_once() {
    for db in each_backend() {
        let app = App::new(db);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let other = app.add("other@example.com", Role::Rep, None, None);
        let (_, existing) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Initech"}))).await;
        let (_, lead) = app
            .call(
                "POST",
                "/api/v1/leads",
                Some(&rep),
                Some(json!({"first_name": "Peter", "last_name": "Gibbons", "email": "peter@initech.com", "company": "initech", "title": "Engineer"})),
            )
            .await;
        let path = format!("/api/v1/leads/{}/convert", id_of(&lead));
        let (s, _) = app.call("POST", &path, Some(&other), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "not their lead");
        let lead_id = uuid::Uuid::parse_str(&id_of(&lead)).expect("id");
        let _ = lead_id;
        let (s, done) = app.call("POST", &path, Some(&rep), None).await;
        assert_eq!(s, StatusCode::CREATED, "{done}");
        assert_eq!(done["account_id"], existing["id"], "found by name, ignoring case");
        assert_eq!(done["new_account"], false);
        let (_, contact) = app
            .call("GET", &format!("/api/v1/contacts/{}", done["contact_id"].as_str().unwrap_or("")), Some(&rep), None)
            .await;
        assert_eq!(contact["email"], "peter@initech.com");
        assert_eq!(contact["title"], "Engineer");
        assert_eq!(contact["account_id"], existing["id"]);
        let (_, lead) = app.call("GET", &format!("/api/v1/leads/{}", id_of(&lead)), Some(&rep), None).await;
        assert_eq!(lead["status"], "converted");
        let (s, _) = app.call("POST", &path, Some(&rep), None).await;
        assert_eq!(s, StatusCode::CONFLICT, "once");

        // A field stored as never empty: null takes the default when creating, and is refused
        // when changing (a clear problem, not a storage failure).
        let (s, c) = app
            .call("POST", "/api/v1/contacts", Some(&rep), Some(json!({"first_name": "Joanna", "last_name": null})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let (_, deal) = app
            .call("POST", "/api/v1/deals", Some(&rep), Some(json!({"name": "Flair", "account_id": existing["id"]})))
            .await;
        let (s, p) = app
            .call("PATCH", &format!("/api/v1/deals/{}", id_of(&deal)), Some(&rep), Some(json!({"stage": null})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], "stage");

        // No account of that name: one is created.
        let (_, lead) = app
            .call("POST", "/api/v1/leads", Some(&rep), Some(json!({"first_name": "Milton", "company": "Chotchkie's"})))
            .await;
        let (s, done) = app.call("POST", &format!("/api/v1/leads/{}/convert", id_of(&lead)), Some(&rep), None).await;
        assert_eq!(s, StatusCode::CREATED, "{done}");
        assert_eq!(done["new_account"], true);
        let (_, acc) = app
            .call("GET", &format!("/api/v1/accounts/{}", done["account_id"].as_str().unwrap_or("")), Some(&rep), None)
            .await;
        assert_eq!(acc["name"], "Chotchkie's", "{}", app.db.backend);
    }
}
