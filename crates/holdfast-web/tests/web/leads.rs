//! Leads through the real router on both backends, with the names the acceptance checks use: an
//! admin makes a web-to-lead form, anyone posts to its `post_url` without signing in (form-encoded
//! or JSON), a repeat updates the same lead, bad input and robots leave nothing, the lead carries
//! its owner, score, reasons and clock, the figures answer, conversion reuses the contact, and the
//! lead page shows it all.

use super::*;

fn path_of(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.find('/').map(|i| rest[i..].to_string()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_public_form_brings_a_routed_scored_lead_and_a_repeat_updates_it() {
    for db in each_backend() {
        let app = setup(db);
        let admin = app.add("boss@example.com", Role::Admin, None, None);
        let rep = app.add("dana@example.com", Role::Rep, None, None);
        let (s, denied) = app
            .call("POST", "/api/v1/lead-forms", Some(&rep), Some(json!({"name": "Sales", "fields": ["company"]})))
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{denied}");
        let (s, bad) = app
            .call("POST", "/api/v1/lead-forms", Some(&admin), Some(json!({"name": "Sales", "fields": ["salary"]})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let (s, form) = app
            .call(
                "POST",
                "/api/v1/lead-forms",
                Some(&admin),
                Some(json!({"name": "Contact sales", "fields": ["first_name", "last_name", "email", "company", "title", "phone"]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{form}");
        assert!(
            form["id"].is_string() && form["snippet"].as_str().is_some_and(|h| h.contains("name=\"hf_leave_empty\"")),
            "{form}"
        );
        let post = path_of(form["post_url"].as_str().expect("post_url"));
        assert!(post.starts_with("/forms/"), "{post}");

        // The hosted page, no sign-in.
        let page = app.send("GET", &post, "", None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Contact sales") && page.body.contains("name=\"company\""), "{}", page.body);

        // A browser post: 303 to the thank-you page; the lead is routed to an active rep and scored.
        let sent = app
            .send("POST", &post, "", Some("first_name=Jana&last_name=Novak&email=jana%40acmeparts.com&company=Acme+Parts&title=VP+Procurement&utm_source=google"))
            .await;
        assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
        assert!(sent.location.ends_with("/thanks"), "{}", sent.location);
        let (_, list) = app.call("GET", "/api/v1/leads?q=novak", Some(&admin), None).await;
        let lead = &list["items"][0];
        for field in ["owner_id", "score", "score_reasons", "status", "duplicate_of", "first_touch_at"] {
            assert!(lead.get(field).is_some(), "{field} in {lead}");
        }
        assert!(lead["owner_id"].is_string(), "routed: {lead}");
        assert_eq!(lead["score"], 25, "{lead}");
        assert_eq!(lead["score_reasons"][0], "+20 VP title", "{lead}");
        assert_eq!((lead["status"].as_str(), lead["utm_source"].as_str()), (Some("new"), Some("google")));
        assert!(lead["sla_due_at"].is_string() && lead["first_touch_at"].is_null(), "{lead}");
        let id = id_of(lead);

        // The same person again, as JSON: 201, and the same lead counts two submissions.
        let (s, again) = app
            .raw(
                "POST",
                &post,
                None,
                Some((
                    "application/json",
                    br#"{"first_name":"Jana","email":"JANA@acmeparts.com","phone":"+1 415 555 0100"}"#.to_vec(),
                )),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{again}");
        assert_eq!(again, json!({"received": true}), "the public answer shows nothing else");
        let (_, l) = app.call("GET", &format!("/api/v1/leads/{id}"), Some(&admin), None).await;
        assert_eq!((l["submissions"].as_i64(), l["phone"].as_str()), (Some(2), Some("+1 415 555 0100")), "{l}");
        let (_, list) = app.call("GET", "/api/v1/leads?q=jana", Some(&admin), None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

        // The API's own create answers a repeat with the lead it updated.
        let (s, repeat) = app
            .call(
                "POST",
                "/api/v1/leads",
                Some(&admin),
                Some(json!({"first_name": "Jana", "email": "jana@acmeparts.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{repeat}");
        assert_eq!((repeat["id"].as_str(), repeat["repeat"].as_bool()), (Some(id.as_str()), Some(true)));

        // Robots and bad input leave nothing.
        let trap = app
            .send("POST", &post, "", Some("first_name=Bot&email=bot%40spam.example&hf_leave_empty=http%3A%2F%2Fspam"))
            .await;
        assert_eq!(trap.status, StatusCode::SEE_OTHER, "a robot is answered as if it worked");
        let long = "x".repeat(600);
        let bad = app.send("POST", &post, "", Some(&format!("first_name={long}&email=a%40b.example"))).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            bad.body.contains("too long") && bad.body.contains("<form"),
            "the form again, with the problem: {}",
            bad.body
        );
        let (s, script) = app
            .raw(
                "POST",
                &post,
                None,
                Some((
                    "application/json",
                    br#"{"first_name":"<script>alert(1)</script>","email":"x@y.example"}"#.to_vec(),
                )),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{script}");
        let (_, list) = app.call("GET", "/api/v1/leads", Some(&admin), None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "no junk: {list}");
        let huge = format!("first_name=A&email=a%40b.example&company={}", "y".repeat(20_000));
        assert_eq!(app.send("POST", &post, "", Some(&huge)).await.status, StatusCode::PAYLOAD_TOO_LARGE);
        // Six posts a minute from one address is a flood.
        let flood = app.send("POST", &post, "", Some("first_name=F&email=f%40flood.example")).await;
        assert_eq!(flood.status, StatusCode::TOO_MANY_REQUESTS, "{}", flood.body);
        // An unknown or archived form is gone.
        let (s, _) = app
            .raw("POST", &format!("/forms/{}", uuid::Uuid::now_v7()), None, Some(("application/json", b"{}".to_vec())))
            .await;
        assert_eq!(s, StatusCode::NOT_FOUND);
        let form_id = id_of(&form);
        let (s, _) = app.call("POST", &format!("/api/v1/lead-forms/{form_id}/archive"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(app.send("GET", &post, "", None).await.status, StatusCode::NOT_FOUND);

        // The figures, and the owner's page.
        let (s, m) = app.call("GET", "/api/v1/leads/metrics", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{m}");
        assert!(m.get("median_seconds_to_first_touch").is_some() && m.get("within_sla_share").is_some(), "{m}");
        assert_eq!(m["leads"], 1);
        let events = app.with(|s| {
            s.events(&Actor::operator(), &EventFilter { object_id: Some(id.clone()), limit: 50, ..Default::default() })
                .expect("events")
        });
        assert!(
            events.iter().any(|e| e.event.action == "record.create" && e.event.details["door"] == "form"),
            "{events:?}"
        );
        assert!(events.iter().any(|e| e.event.action == "lead.capture"));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lead_with_a_customers_email_converts_without_a_second_contact_and_its_page_explains_it() {
    for db in each_backend() {
        let app = setup(db);
        let admin = app.add("boss@example.com", Role::Admin, None, None);
        let rep = app.add("dana@example.com", Role::Rep, None, None);
        let (_, acme) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Acme"}))).await;
        let (_, carla) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&rep),
                Some(json!({"first_name": "Carla", "email": "carla@acme.com", "account_id": id_of(&acme)})),
            )
            .await;
        let (s, lead) = app
            .call(
                "POST",
                "/api/v1/leads",
                Some(&admin),
                Some(json!({"first_name": "Carla", "email": "Carla@Acme.com", "title": "Chief Financial Officer"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{lead}");
        assert_eq!(lead["contact_id"], carla["id"], "{lead}");
        assert_eq!(
            lead["owner_id"],
            app.with(|s| s.get_coworker(&Actor::operator(), "dana@example.com").expect("dana").id.to_string())
        );
        let id = id_of(&lead);

        let cookie = app.sign_in("dana@example.com").await;
        let page = app.send("GET", &format!("/leads/{id}"), &cookie, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("+25 C-level title") && page.body.contains("Contact: Carla"), "{}", page.body);
        assert!(page.body.contains("Carla is already a contact"), "{}", page.body);
        // The first call from the page stops the clock.
        let logged = app
            .post_form(
                &cookie,
                &format!("/leads/{id}"),
                &format!("/leads/{id}/activities"),
                "type=call&summary=Intro+call",
            )
            .await;
        assert_eq!(logged.status, StatusCode::SEE_OTHER, "{}", logged.body);
        let (_, l) = app.call("GET", &format!("/api/v1/leads/{id}"), Some(&rep), None).await;
        assert!(l["first_touch_at"].is_string(), "{l}");
        assert_eq!(l["status"], "working");

        let (s, done) = app
            .call(
                "POST",
                &format!("/api/v1/leads/{id}/convert"),
                Some(&rep),
                Some(json!({"deal": {"name": "Acme renewal", "amount": 12000}})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{done}");
        assert_eq!((done["contact_id"].as_str(), done["new_contact"].as_bool()), (carla["id"].as_str(), Some(false)));
        assert_eq!(done["account_id"], acme["id"]);
        assert!(done["deal_id"].is_string());
        let (_, contacts) = app.call("GET", "/api/v1/contacts?q=carla", Some(&admin), None).await;
        assert_eq!(contacts["items"].as_array().map(Vec::len), Some(1), "{contacts}");

        // The speed-to-lead page and the lead forms page render for their people.
        let metrics = app.send("GET", "/leads/metrics", &cookie, None).await;
        assert!(
            metrics.status == StatusCode::OK && metrics.body.contains("Median time to first touch"),
            "{}",
            metrics.body
        );
        let admin_cookie = app.sign_in("boss@example.com").await;
        let made = app
            .post_form(
                &admin_cookie,
                "/settings/lead-forms",
                "/settings/lead-forms",
                "name=Website&fields=company&fields=title",
            )
            .await;
        assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.body);
        let forms = app.send("GET", "/settings/lead-forms", &admin_cookie, None).await;
        assert!(forms.body.contains("Website") && forms.body.contains("/forms/"), "{}", forms.body);
        assert_eq!(app.send("GET", "/settings/lead-forms", &cookie, None).await.status, StatusCode::FORBIDDEN);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_posts_at_once_from_one_address_take_five() {
    for db in each_backend() {
        let app = setup(db);
        let admin = app.add("boss@example.com", Role::Admin, None, None);
        let (_, form) = app.call("POST", "/api/v1/lead-forms", Some(&admin), Some(json!({"name": "Flood"}))).await;
        let post = path_of(form["post_url"].as_str().expect("post_url"));
        let sends = (0..20).map(|i| {
            let body = format!(r#"{{"first_name":"P{i}","email":"p{i}@flood.example"}}"#).into_bytes();
            app.raw("POST", &post, None, Some(("application/json", body)))
        });
        let answers = futures_util::future::join_all(sends).await;
        let taken = answers.iter().filter(|(s, _)| *s == StatusCode::CREATED).count();
        let refused = answers.iter().filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS).count();
        assert_eq!((taken, refused), (5, 15), "{}", app.db.backend);
        let (_, list) = app.call("GET", "/api/v1/leads", Some(&admin), None).await;
        assert_eq!(list["items"].as_array().map(Vec::len), Some(5), "exactly the posts taken became leads");
    }
}
