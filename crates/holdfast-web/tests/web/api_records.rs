//! The records API: create, read, change, delete and restore; lists with filters, sort and search;
//! field history; CSV import; lead conversion; who may change what.

use super::*;

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

/// A cursor whose sort value is of another type than the sort column is refused as a cursor
/// (PostgreSQL used to answer 500 when the value reached it as a mistyped parameter).
#[tokio::test(flavor = "multi_thread")]
async fn a_crafted_cursor_is_refused_as_one_on_both_backends() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        for name in ["Acme", "Bolt", "Crane"] {
            app.call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": name, "annual_value": 1000}))).await;
        }
        let (s, page) = app.call("GET", "/api/v1/accounts?sort=annual_value&limit=1", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        let given = page["next_cursor"].as_str().expect("a next page").to_string();
        let (s, _) = app
            .call("GET", &format!("/api/v1/accounts?sort=annual_value&limit=1&cursor={given}"), Some(&admin), None)
            .await;
        assert_eq!(s, StatusCode::OK, "a cursor the server gave out works on {}", app.db.backend);
        let hex = |text: &str| text.bytes().map(|b| format!("{b:02x}")).collect::<String>();
        for forged in [
            hex(r#"["abc","00000000-0000-0000-0000-000000000000"]"#),
            hex(r#"[{"x":1},"00000000-0000-0000-0000-000000000000"]"#),
            hex("not json"),
            "zz".to_string(),
        ] {
            let (s, problem) = app
                .call("GET", &format!("/api/v1/accounts?sort=annual_value&cursor={forged}"), Some(&admin), None)
                .await;
            assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{forged} on {}: {problem}", app.db.backend);
            assert_eq!(problem["errors"][0]["field"], "cursor");
        }
        let (s, _) = app
            .call(
                "GET",
                &format!("/api/v1/accounts?sort=name&cursor={}", hex(r#"[5,"00000000-0000-0000-0000-000000000000"]"#)),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a number for a text column on {}", app.db.backend);
    }
}

/// Every answer that carries customer data writes an event by the one who asked: a change that
/// changes nothing (`PATCH {}`, or a field set to what it holds) answers with the whole record, so
/// it is recorded as a read and counts toward the bulk-read meter.
#[tokio::test(flavor = "multi_thread")]
async fn no_answer_carries_customer_data_without_its_event() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (_, account) =
            app.call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": "Acme", "tier": "smb"}))).await;
        let (_, contact) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&admin),
                Some(json!({"account_id": id_of(&account), "first_name": "Ada", "last_name": "Lovelace"})),
            )
            .await;
        let events_by_admin = || {
            off_runtime(|| {
                app.services
                    .events(&Actor::operator(), &EventFilter { limit: 10_000, ..Default::default() })
                    .expect("events")
                    .into_iter()
                    .filter(|e| e.event.coworker_id.is_some() && e.event.action != "auth.token_use")
                    .count()
            })
        };
        let a = format!("/api/v1/accounts/{}", id_of(&account));
        let c = format!("/api/v1/contacts/{}", id_of(&contact));
        let calls: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", a.clone(), None),
            ("PATCH", a.clone(), Some(json!({}))),
            ("PATCH", a.clone(), Some(json!({"tier": "smb"}))),
            ("PATCH", c.clone(), Some(json!({"first_name": "Ada"}))),
            ("GET", format!("{a}/history"), None),
            ("GET", "/api/v1/accounts?q=acme".into(), None),
            ("GET", "/api/v1/contacts".into(), None),
            ("GET", "/api/v1/search?q=ada".into(), None),
            ("GET", "/api/v1/contacts/export".into(), None),
            ("GET", "/api/v1/coworkers/admin@example.com/events".to_string(), None),
        ];
        for (method, path, body) in calls {
            let before = events_by_admin();
            let (s, answer) = app.call(method, &path, Some(&admin), body.clone()).await;
            assert!(s.is_success(), "{method} {path} on {}: {s} {answer}", app.db.backend);
            assert!(
                events_by_admin() > before,
                "{method} {path} {body:?} answered with no event on {}",
                app.db.backend
            );
        }
        let reads = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter {
                    action: Some("record.read".into()),
                    object_id: Some(id_of(&account)),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("events");
        assert_eq!(reads.iter().filter(|e| e.event.details["unchanged_update"] == true).count(), 2);
    }
}

/// An import changes only what the importer may change: a row matching another rep's contact is
/// skipped with the reason (naming nothing the importer may not open), a merge is an ordinary
/// change with its `record.update`, the import event lists the merged ids, and a dry run is
/// recorded too.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_follows_the_same_rules_as_a_change_by_hand() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let other = app.add("other@example.com", Role::Rep, None, None);
        let (_, theirs) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&other),
                Some(json!({"first_name": "Theo", "last_name": "Theirs", "email": "theo@theirs.com"})),
            )
            .await;
        let (_, mine) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&rep),
                Some(json!({"first_name": "Mia", "last_name": "Mine", "email": "mia@mine.com"})),
            )
            .await;
        let (s, _) = app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"read_policy": "own"}))).await;
        assert_eq!(s, StatusCode::OK);
        let csv = "First Name,Last Name,Email,Job Title\nTheo,Theirs,theo@theirs.com,CFO\nMia,Mine,mia@mine.com,CEO\n";
        let import = |dry: bool| {
            let path = if dry { "/api/v1/imports/contacts?dry_run=true" } else { "/api/v1/imports/contacts" };
            app.raw("POST", path, Some(&rep), Some(("text/csv", csv.as_bytes().to_vec())))
        };
        let imports_by_rep = || {
            off_runtime(|| {
                app.services.events(
                    &Actor::operator(),
                    &EventFilter { action: Some("bulk.import".into()), limit: 10, ..Default::default() },
                )
            })
            .expect("events")
        };
        let (s, dry) = import(true).await;
        assert_eq!(s, StatusCode::OK, "{dry}");
        assert_eq!((dry["merged"].as_u64(), dry["skipped"].as_array().map(Vec::len)), (Some(1), Some(1)), "{dry}");
        assert_eq!(imports_by_rep().len(), 1, "a dry run is recorded on {}", app.db.backend);
        assert_eq!(imports_by_rep()[0].event.details["dry_run"], true);

        let (s, report) = import(false).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert_eq!(report["merged"], 1, "{report}");
        let skipped = report["skipped"][0]["reason"].as_str().unwrap_or("").to_string();
        assert_eq!(report["skipped"][0]["row"], 2);
        assert!(skipped.contains("may not open") && !skipped.contains("Theo"), "names nothing unreadable: {skipped}");
        // The other rep's contact is as it was; the rep's own got its blank title, recorded.
        let (_, t) = app.call("GET", &format!("/api/v1/contacts/{}", id_of(&theirs)), Some(&admin), None).await;
        assert_eq!(t["title"], Value::Null, "{t}");
        assert_ne!(
            t["updated_by"],
            json!(off_runtime(|| app.services.actor_for("rep@example.com")).expect("rep").id())
        );
        let (_, history) =
            app.call("GET", &format!("/api/v1/contacts/{}/history", id_of(&mine)), Some(&rep), None).await;
        // Newest first: the import that matched it, then the change that filled its blank.
        assert_eq!(history["items"][0]["action"], "bulk.import", "{history}");
        assert!(history["items"][0]["changes"]["source"].is_string(), "{history}");
        assert_eq!(history["items"][0]["merged"], true, "{history}");
        assert!(history["items"][0]["operation"].is_string(), "{history}");
        assert_eq!(history["items"][1]["action"], "record.update", "{history}");
        assert_eq!(history["items"][1]["changes"]["title"]["to"], "CEO", "{history}");
        let last = &imports_by_rep()[0];
        assert_eq!(last.event.details["merged"], 1, "on {}", app.db.backend);
        assert!(last.event.details["merged_digest"].as_str().is_some_and(|d| d.starts_with("sha256:")));
        let _ = admin;
    }
}
