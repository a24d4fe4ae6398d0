//! Signing in and the first run: CSRF and session cookies, browsing, logging a call, reviewing
//! events, and escaping of customer-entered text.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_browse_log_a_call_and_review_events() {
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);

        // Signed out: pages send you to sign in, and the form has what browsers need.
        let r = site.send("GET", "/accounts", "", None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location, "/login?next=/accounts");
        let login = site.send("GET", "/login", "", None).await;
        assert!(
            login.csp.contains("frame-ancestors 'none'") && login.csp.contains("script-src 'self'"),
            "{}",
            login.csp
        );
        for field in ["name=\"email\"", "name=\"password\"", "name=\"csrf_token\""] {
            assert!(login.body.contains(field), "{field}");
        }
        // A forged sign-in (no matching CSRF cookie) is refused and gets no session.
        let r = site
            .send("POST", "/login", "", Some("email=rep%40example.com&password=correct+horse+battery&csrf_token=x"))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert!(!r.cookies.iter().any(|c| c.starts_with("holdfast_session=")));

        let rep = site.sign_in("rep@example.com").await;
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("actor");
        let (account, contact) = off_runtime(|| {
            let a = services
                .create_record(&rep_actor, &holdfast_core::record::ACCOUNTS, &json!({"name": "Acme <b>Corp</b>"}))
                .expect("account");
            let c = services
                .create_record(
                    &rep_actor,
                    &holdfast_core::record::CONTACTS,
                    &json!({"account_id": a.id.to_string(), "first_name": "<script>alert(1)</script>", "last_name": "Lovelace", "email": "ada@acme.com"}),
                )
                .expect("contact");
            (a, c)
        });

        let list = site.send("GET", "/accounts?q=acme", &rep, None).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(escaped(&list.body, "Acme <b>Corp</b>"), "{}", list.body);
        let page = site.send("GET", &format!("/accounts/{}", account.id), &rep, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(escaped(&page.body, "<script>alert(1)</script> Lovelace"), "{}", page.body);
        assert!(!page.body.contains("<script>alert(1)"), "customer text must never run as script");

        for path in ["/leads", "/deals", "/tasks", "/contacts", "/"] {
            let r = site.send("GET", path, &rep, None).await;
            assert_eq!(r.status, StatusCode::OK, "{path} on {}", site.db.backend);
        }

        // Opening a contact page writes the same event as the API.
        let r = site.send("GET", &format!("/contacts/{}", contact.id), &rep, None).await;
        assert_eq!(r.status, StatusCode::OK);
        let reads = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter {
                    action: Some("record.read".into()),
                    object_id: Some(contact.id.to_string()),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("events");
        assert_eq!(reads.len(), 1);
        assert_eq!(reads[0].event.coworker_id, rep_actor.id());
        assert_eq!(reads[0].event.details["via"], "session");

        // Log a call in one form post; without the CSRF token it is refused.
        let csrf = hidden(&page.body, "csrf_token");
        let path = format!("/accounts/{}/activities", account.id);
        let r = site.send("POST", &path, &rep, Some("type=call&summary=Agreed+on+a+pilot")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = site
            .send("POST", &path, &rep, Some(&format!("type=call&summary=Agreed+on+a+pilot&csrf_token={csrf}")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &format!("/accounts/{}", account.id), &rep, None).await;
        assert!(page.body.contains("Agreed on a pilot"), "{}", site.db.backend);
        assert!(page.body.contains("Only rep Person has spoken to anyone at"), "{}", page.body);
        assert!(page.body.contains("If rep Person leaves, the relationship goes too"), "{}", page.body);
        // From the contact's page, a call is logged with them, on their account.
        let path = format!("/contacts/{}/activities", contact.id);
        let r = site
            .send("POST", &path, &rep, Some(&format!("type=meeting&summary=Demo+for+the+team&csrf_token={csrf}")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &format!("/contacts/{}", contact.id), &rep, None).await;
        assert!(page.body.contains("Demo for the team") && !page.body.contains("Agreed on a pilot"), "{}", page.body);
        let account_page = site.send("GET", &format!("/accounts/{}", account.id), &rep, None).await;
        assert!(account_page.body.contains("Demo for the team"), "it is on the account's timeline too");
        // Logged from the account page with the contact ticked, it is on the contact's timeline.
        let r = site
            .send(
                "POST",
                &format!("/accounts/{}/activities", account.id),
                &rep,
                Some(&format!("type=email&summary=Sent+the+quote&contact_ids={}&csrf_token={csrf}", contact.id)),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &format!("/contacts/{}", contact.id), &rep, None).await;
        assert!(page.body.contains("Sent the quote"), "{}", page.body);
        assert!(page.body.contains("rep Person"));

        // The admin's System events tab shows the rep's reads, with a chart; a rep may not look.
        let admin = site.sign_in("admin@example.com").await;
        let rep_id = rep_actor.id().expect("id");
        let tab = site.send("GET", &format!("/coworkers/{rep_id}/events"), &admin, None).await;
        assert_eq!(tab.status, StatusCode::OK, "{}", tab.body);
        assert!(tab.body.contains("<svg class=\"chart\"") && tab.body.contains("record.read"), "{}", tab.body);
        // Filter by dates: a day long ago has nothing; a bad date is explained.
        let old =
            site.send("GET", &format!("/coworkers/{rep_id}/events?from=2000-01-01&to=2000-01-02"), &admin, None).await;
        assert!(old.body.contains("No events match."), "{}", old.body);
        let today = holdfast_core::time::date_of(off_runtime(|| services.now()));
        let now = site
            .send(
                "GET",
                &format!("/coworkers/{rep_id}/events?action=record.read&from={today}&to={today}"),
                &admin,
                None,
            )
            .await;
        assert!(now.body.contains("record.read") && !now.body.contains("<td>list.read</td>"), "{}", now.body);
        let bad = site.send("GET", &format!("/coworkers/{rep_id}/events?from=yesterday"), &admin, None).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("is not a time"), "{}", bad.body);
        let r = site
            .send("GET", &format!("/coworkers/{}/events", rep_id), &site.sign_in("other@example.com").await, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // Signing out ends the session at once.
        let home = site.send("GET", "/", &rep, None).await;
        let csrf = hidden(&home.body, "csrf_token");
        let r = site.send("POST", "/logout", &rep, Some(&format!("csrf_token={csrf}"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let r = site.send("GET", "/accounts", &rep, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn first_run_creates_the_first_admin_once() {
    for db in each_backend() {
        let site = TestApp::new(db);
        let page = site.send("GET", "/login", "", None).await;
        assert!(page.body.contains("action=\"/setup\""), "{}", page.body);
        let csrf = hidden(&page.body, "csrf_token");
        let cookie = page.cookie("holdfast_login").expect("cookie");
        let bad = site
            .send("POST", "/setup", &cookie, Some(&format!("name=A&email=nope&password=short&csrf_token={csrf}")))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        let form = format!("name=Ada+Admin&email=ada%40example.com&password=correct+horse+battery&csrf_token={csrf}");
        let r = site.send("POST", "/setup", &cookie, Some(&form)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let session = r
            .cookies
            .iter()
            .find(|c| c.starts_with("holdfast_session="))
            .expect("signed in")
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
        let home = site.send("GET", "/", &session, None).await;
        assert_eq!(home.location, "/confidentiality?next=/", "the notice comes first, even for the first admin");
        site.acknowledge_notice(&session).await;
        let home = site.send("GET", "/", &session, None).await;
        assert!(home.body.contains("Ada Admin"));
        // Once anyone exists, the setup form is gone and a second setup is refused.
        let page = site.send("GET", "/login", "", None).await;
        assert!(!page.body.contains("action=\"/setup\""));
        let again = site.send("POST", "/setup", &cookie, Some(&form.replace("ada%40", "eve%40"))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", site.db.backend);
        off_runtime(move || drop(site));
    }
}

/// After sign-in only same-site paths are followed (browsers drop tabs and newlines from a URL,
/// so `/<TAB>/evil.example/` would leave the site), and no answer that carries customer data or a
/// password may be kept in a cache.
#[tokio::test(flavor = "multi_thread")]
async fn sign_in_stays_on_site_and_nothing_personal_is_cached() {
    for db in each_backend() {
        let site = setup(db);
        for (next, expected) in [
            ("%2F%09%2Fevil.example%2F", "/"),
            ("%2F%0A%2Fevil.example%2F", "/"),
            ("%2F%5Cevil.example", "/"),
            ("%2F%2Fevil.example", "/"),
            ("%2Fcontacts%3Fq%3Dada", "/contacts?q=ada"),
        ] {
            let r = site.submit_sign_in("rep@example.com", "correct horse battery", next, "").await;
            assert_eq!(r.status, StatusCode::SEE_OTHER, "{next} on {}: {}", site.db.backend, r.body);
            assert_eq!(r.location, expected, "{next}");
        }
        let admin = site.sign_in("admin@example.com").await;
        for path in ["/", "/accounts", "/settings", "/coworkers", "/login"] {
            let r = site.send("GET", path, &admin, None).await;
            assert_eq!(r.cache_control, "no-store", "{path}");
        }
        let admin_token =
            site.with(|s| s.create_token(&Actor::operator(), "admin@example.com", "t").expect("token").secret);
        let api = site
            .send_with("GET", "/api/v1/accounts", "", None, &[("authorization", &format!("Bearer {admin_token}"))])
            .await;
        assert_eq!(api.cache_control, "no-store");
        let css = site.send("GET", "/static/app.css", "", None).await;
        assert!(css.cache_control.contains("max-age"), "{}", css.cache_control);
    }
}
