//! The web pages through the real router: sign-in with CSRF and session cookies, list and record
//! pages, logging a call, the System events tab, and escaping of customer-entered text.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use holdfast_core::Holdfast;
use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::EventFilter;
use holdfast_core::service::NewCoWorker;
use holdfast_store::Store;
use holdfast_testing::{each_backend, off_runtime};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

struct Site {
    router: axum::Router,
}

struct Reply {
    status: StatusCode,
    location: String,
    csp: String,
    cookies: Vec<String>,
    body: String,
}

impl Site {
    async fn send(&self, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
        self.send_with(method, path, cookie, form, &[]).await
    }

    async fn send_with(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        let req = match form {
            Some(f) => {
                req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(f.to_string()))
            }
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let location = resp.headers().get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let csp = resp.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let cookies = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect();
        let body = String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes()).into_owned();
        Reply { status, location, csp, cookies, body }
    }

    /// Signs in through the form; returns the session cookie header value.
    async fn sign_in(&self, email: &str) -> String {
        let page = self.send("GET", "/login", "", None).await;
        let csrf = hidden(&page.body, "csrf_token");
        let login_cookie = page.cookies.iter().find(|c| c.starts_with("holdfast_login=")).expect("login cookie");
        let login_cookie = login_cookie.split(';').next().unwrap_or("");
        let form = format!(
            "email={}&password=correct+horse+battery&csrf_token={csrf}&next=%2Faccounts",
            email.replace('@', "%40")
        );
        let r = self.send("POST", "/login", login_cookie, Some(&form)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, "/accounts");
        let session = r.cookies.iter().find(|c| c.starts_with("holdfast_session=")).expect("session cookie").clone();
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
        session.split(';').next().unwrap_or("").to_string()
    }
}

/// Whether `text` appears in the page as text (HTML-escaped), and never as markup.
fn escaped(html: &str, text: &str) -> bool {
    let as_named = text.replace('<', "&lt;").replace('>', "&gt;");
    let as_numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    (html.contains(&as_named) || html.contains(&as_numeric)) && !html.contains(text)
}

fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).unwrap_or_else(|| panic!("no {name} in {html}"));
    html[start..].split('"').next().unwrap_or("").to_string()
}

fn setup(services: Arc<Holdfast<Store>>) -> Site {
    off_runtime(|| {
        for (email, role) in
            [("admin@example.com", Role::Admin), ("rep@example.com", Role::Rep), ("other@example.com", Role::Rep)]
        {
            services
                .add_coworker(
                    &Actor::operator(),
                    NewCoWorker {
                        email: email.into(),
                        name: format!("{} Person", email.split('@').next().unwrap_or("x")),
                        role,
                        seniority: None,
                        team: None,
                        manager: None,
                        title: None,
                        password: Some("correct horse battery".into()),
                    },
                )
                .expect("co-worker");
        }
    });
    Site { router: holdfast_web::router(services) }
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_browse_log_a_call_and_review_events() {
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));

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
            assert_eq!(r.status, StatusCode::OK, "{path} on {}", db.backend);
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
        assert!(page.body.contains("Agreed on a pilot"), "{}", db.backend);
        assert!(page.body.contains("Single-threaded: in the last year only rep Person talked"), "{}", page.body);
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
        let services = off_runtime(|| db.services());
        let site = Site { router: holdfast_web::router(services) };
        let page = site.send("GET", "/login", "", None).await;
        assert!(page.body.contains("action=\"/setup\""), "{}", page.body);
        let csrf = hidden(&page.body, "csrf_token");
        let cookie = page
            .cookies
            .iter()
            .find(|c| c.starts_with("holdfast_login="))
            .expect("cookie")
            .split(';')
            .next()
            .unwrap_or("")
            .to_string();
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
        assert!(home.body.contains("Ada Admin"));
        // Once anyone exists, the setup form is gone and a second setup is refused.
        let page = site.send("GET", "/login", "", None).await;
        assert!(!page.body.contains("action=\"/setup\""));
        let again = site.send("POST", "/setup", &cookie, Some(&form.replace("ada%40", "eve%40"))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", db.backend);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_set_policy_and_suspend_and_reps_manage_their_tokens() {
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let admin = site.sign_in("admin@example.com").await;
        let rep = site.sign_in("rep@example.com").await;

        // Read policy from the settings page.
        let page = site.send("GET", "/settings", &admin, None).await;
        let csrf = hidden(&page.body, "csrf_token");
        let r = site.send("POST", "/settings", &admin, Some(&format!("read_policy=team&csrf_token={csrf}"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(off_runtime(|| services.settings()).expect("policy").read_policy.as_str(), "team");
        // A rep sees no policy form and cannot post one.
        let rep_page = site.send("GET", "/settings", &rep, None).await;
        assert!(!rep_page.body.contains("name=\"read_policy\""));
        let rep_csrf = hidden(&rep_page.body, "csrf_token");
        let r = site.send("POST", "/settings", &rep, Some(&format!("read_policy=all&csrf_token={rep_csrf}"))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        // A token made on the page works on the API until it is revoked.
        let r = site.send("POST", "/settings/tokens", &rep, Some(&format!("name=laptop&csrf_token={rep_csrf}"))).await;
        assert_eq!(r.status, StatusCode::OK);
        let secret = r
            .body
            .split("<code class=\"secret\">")
            .nth(1)
            .and_then(|t| t.split('<').next())
            .expect("the token is shown once")
            .to_string();
        let api = |token: String| {
            let router = site.router.clone();
            async move {
                let req = Request::builder()
                    .uri("/api/v1/me")
                    .header("authorization", format!("Bearer {token}"))
                    .body(Body::empty())
                    .expect("req");
                router.oneshot(req).await.expect("resp").status()
            }
        };
        assert_eq!(api(secret.clone()).await, StatusCode::OK);
        let page = site.send("GET", "/settings", &rep, None).await;
        assert!(!page.body.contains(&secret), "a token must never be shown twice");
        let revoke = page
            .body
            .split("action=\"/settings/tokens/")
            .nth(1)
            .and_then(|t| t.split('"').next())
            .expect("revoke form")
            .to_string();
        let r = site
            .send("POST", &format!("/settings/tokens/{revoke}"), &rep, Some(&format!("csrf_token={rep_csrf}")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(api(secret).await, StatusCode::UNAUTHORIZED);

        // Suspending the rep ends their open session at once.
        let rep_id = off_runtime(|| services.actor_for("rep@example.com")).expect("rep").id().expect("id");
        let r = site
            .send(
                "POST",
                &format!("/coworkers/{rep_id}/status"),
                &admin,
                Some(&format!("status=suspended&csrf_token={csrf}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let r = site.send("GET", "/", &rep, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert!(r.location.starts_with("/login"));
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn managers_see_their_teams_pipeline_overdue_tasks_and_forgotten_accounts() {
    use holdfast_core::record::{ACCOUNTS, ACTIVITIES, DEALS, TASKS};
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        off_runtime(|| {
            let op = Actor::operator();
            services
                .add_coworker(
                    &op,
                    NewCoWorker {
                        email: "boss@example.com".into(),
                        name: "Bo Boss".into(),
                        role: Role::Manager,
                        seniority: None,
                        team: None,
                        manager: None,
                        title: None,
                        password: Some("correct horse battery".into()),
                    },
                )
                .expect("manager");
            services
                .update_coworker(
                    &op,
                    "rep@example.com",
                    holdfast_core::service::CoWorkerChanges {
                        manager: Some(Some("boss@example.com".into())),
                        ..Default::default()
                    },
                )
                .expect("reports to boss");
            let rep = services.actor_for("rep@example.com").expect("rep");
            let quiet = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Quiet Corp"})).expect("account");
            let busy = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Busy Corp"})).expect("account");
            services
                .create_record(
                    &rep,
                    &ACTIVITIES,
                    &json!({"type": "call", "summary": "Checked in", "account_id": busy.id.to_string()}),
                )
                .expect("call");
            services.create_record(&rep, &DEALS, &json!({"name": "Big one", "account_id": quiet.id.to_string(), "stage": "proposal", "amount": 120000})).expect("deal");
            services
                .create_record(
                    &rep,
                    &TASKS,
                    &json!({"title": "Send the quote", "due_date": "2020-01-01", "account_id": quiet.id.to_string()}),
                )
                .expect("task");
        });
        let boss = site.sign_in("boss@example.com").await;
        let home = site.send("GET", "/", &boss, None).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        assert!(home.body.contains("Pipeline by stage (your team)"), "{}", db.backend);
        assert!(home.body.contains("120,000 · 1"), "{}", home.body);
        assert!(home.body.contains("Send the quote"));
        let untouched = home.body.split("Accounts nobody has talked to").nth(1).unwrap_or("");
        assert!(untouched.contains("Quiet Corp") && !untouched.contains("Busy Corp"), "{untouched}");
        let rep = site.sign_in("rep@example.com").await;
        let home = site.send("GET", "/", &rep, None).await;
        assert!(!home.body.contains("Pipeline by stage (your team)"), "a rep sees no team section");
        assert!(home.body.contains("My pipeline by stage") && home.body.contains("120,000 · 1"), "{}", home.body);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn record_forms_show_errors_beside_fields_and_save_nothing_until_valid() {
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let rep = site.sign_in("rep@example.com").await;
        let form = site.send("GET", "/accounts/new", &rep, None).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("name=\"domain\"") && form.body.contains("name=\"tier\""));
        let csrf = hidden(&form.body, "csrf_token");

        let bad = site
            .send("POST", "/accounts/new", &rep, Some(&format!("csrf_token={csrf}&name=&domain=not+a+domain")))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("field-error") && bad.body.contains("is not a web domain"), "{}", bad.body);
        assert!(bad.body.contains("value=\"not a domain\""), "what was typed is kept");
        let none = off_runtime(|| services.count_records(&holdfast_core::record::ACCOUNTS)).expect("count");
        assert_eq!(none, 0, "nothing saved on {}", db.backend);

        let ok = site
            .send(
                "POST",
                "/accounts/new",
                &rep,
                Some(&format!("csrf_token={csrf}&name=Globex&domain=globex.com&tier=smb")),
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let path = ok.location.clone();
        let edit = site.send("GET", &format!("{path}/edit"), &rep, None).await;
        assert!(edit.body.contains("value=\"globex.com\""));
        let r = site
            .send(
                "POST",
                &format!("{path}/edit"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=Globex&domain=globex.com&tier=enterprise")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = site.send("GET", &path, &rep, None).await;
        assert!(page.body.contains("enterprise"));
        let history = site.send("GET", &format!("{path}/history"), &rep, None).await;
        assert_eq!(history.status, StatusCode::OK);
        assert!(history.body.contains("<td>tier</td><td>smb</td><td>enterprise</td>"), "{}", history.body);
        // A contact created from the account page belongs to that account.
        let account_id = path.rsplit('/').next().unwrap_or("").to_string();
        let r = site
            .send(
                "POST",
                &format!("/contacts/new?account_id={account_id}"),
                &rep,
                Some(&format!("csrf_token={csrf}&first_name=Hank&last_name=Scorpio")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &path, &rep, None).await;
        assert!(page.body.contains("Hank Scorpio"));
        // Delete from the edit page; the record leaves the list; an admin restores it.
        let r = site.send("POST", &format!("{path}/delete"), &rep, Some(&format!("csrf_token={csrf}"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let list = site.send("GET", &r.location, &rep, None).await;
        assert!(list.body.contains("Deleted “Globex”"), "{}", list.body);
        assert!(!list.body.contains(">Globex<"), "{}", list.body);
        assert_eq!(site.send("GET", &path, &rep, None).await.status, StatusCode::NOT_FOUND);
        let admin = site.sign_in("admin@example.com").await;
        let deleted = site.send("GET", "/accounts?deleted=true", &admin, None).await;
        assert!(deleted.body.contains(">Globex<") && deleted.body.contains("value=\"restore\""), "{}", deleted.body);
        let admin_csrf = hidden(&deleted.body, "csrf_token");
        let r = site
            .send(
                "POST",
                "/accounts/bulk",
                &admin,
                Some(&format!("csrf_token={admin_csrf}&action=restore&ids={account_id}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(site.send("GET", &path, &rep, None).await.status, StatusCode::OK, "restored");
        assert_eq!(site.send("GET", "/accounts?deleted=true", &rep, None).await.status, StatusCode::FORBIDDEN);
        // Someone else's account: the edit is refused.
        let other = site.sign_in("other@example.com").await;
        let other_csrf = hidden(&site.send("GET", "/", &other, None).await.body, "csrf_token");
        let r = site
            .send("POST", &format!("{path}/edit"), &other, Some(&format!("csrf_token={other_csrf}&name=Mine")))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        off_runtime(move || drop(site));
    }
}

/// Names in the order the page shows them.
fn order_of<'a>(html: &str, names: &[&'a str]) -> Vec<&'a str> {
    let mut found: Vec<(usize, &str)> =
        names.iter().filter_map(|n| html.find(&format!(">{n}<")).map(|i| (i, *n))).collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

fn owner_of(services: &Holdfast<Store>, id: uuid::Uuid) -> Option<uuid::Uuid> {
    let rec = services.get_record(&Actor::operator(), &holdfast_core::record::ACCOUNTS, id).expect("account");
    rec.owner(&holdfast_core::record::ACCOUNTS)
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_sort_and_hand_over_in_bulk_with_undo_and_export() {
    use holdfast_core::record::{ACCOUNTS, DEALS};
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let rep = site.sign_in("rep@example.com").await;
        let admin = site.sign_in("admin@example.com").await;
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("actor");
        let other_actor = off_runtime(|| services.actor_for("other@example.com")).expect("actor");
        let (rep_id, other_id) = (rep_actor.id().expect("id"), other_actor.id().expect("id"));
        let (alpha, bravo, charlie, theirs) = off_runtime(|| {
            let mk = |who: &Actor, name: &str, tier: &str| {
                services.create_record(who, &ACCOUNTS, &json!({"name": name, "tier": tier})).expect("account").id
            };
            let a = mk(&rep_actor, "Alpha", "smb");
            let b = mk(&rep_actor, "Bravo", "smb");
            let c = mk(&rep_actor, "Charlie", "enterprise");
            let t = mk(&other_actor, "Delta", "smb");
            for (name, close) in
                [("Soon", json!("2026-01-05")), ("Undated", json!(null)), ("Later", json!("2026-03-01"))]
            {
                services
                    .create_record(
                        &rep_actor,
                        &DEALS,
                        &json!({"name": name, "account_id": a.to_string(), "close_date": close}),
                    )
                    .expect("deal");
            }
            (a, b, c, t)
        });

        // Filters, sort (undated deals last, soonest first), and results alone for search as you type.
        let r = site.send("GET", "/accounts?tier=smb&owner=", &rep, None).await;
        assert_eq!(order_of(&r.body, &["Alpha", "Bravo", "Charlie", "Delta"]), ["Alpha", "Bravo", "Delta"]);
        let r = site.send("GET", &format!("/accounts?tier=smb&owner={rep_id}&sort=-name"), &rep, None).await;
        assert_eq!(order_of(&r.body, &["Alpha", "Bravo", "Charlie", "Delta"]), ["Bravo", "Alpha"], "{}", db.backend);
        let r = site.send("GET", "/deals?sort=close_date", &rep, None).await;
        assert_eq!(order_of(&r.body, &["Soon", "Undated", "Later"]), ["Soon", "Later", "Undated"], "{}", db.backend);
        assert!(r.body.contains(&format!("<a href=\"/accounts/{alpha}\">Alpha</a>")), "each deal names its account");
        let r = site.send("GET", "/deals?sort=-close_date", &rep, None).await;
        assert_eq!(order_of(&r.body, &["Soon", "Undated", "Later"]), ["Undated", "Later", "Soon"], "{}", db.backend);
        let r = site.send_with("GET", "/accounts?q=brav", &rep, None, &[("x-holdfast-partial", "results")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(">Bravo<") && !r.body.contains(">Alpha<") && !r.body.contains("<html"), "{}", r.body);
        let r = site.send("GET", "/accounts?sort=city", &rep, None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown sort is explained, not ignored");

        // An admin hands two accounts to another co-worker in one step, and can undo it.
        let csrf = hidden(&site.send("GET", "/accounts", &admin, None).await.body, "csrf_token");
        let form = format!("csrf_token={csrf}&action=assign&new_owner={other_id}&ids={alpha}&ids={bravo}");
        let r = site.send("POST", "/accounts/bulk", &admin, Some(&form)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location.starts_with("/accounts?handed="), "{}", r.location);
        off_runtime(|| {
            assert_eq!(owner_of(&services, alpha), Some(other_id));
            assert_eq!(owner_of(&services, bravo), Some(other_id));
        });
        let notice = site.send("GET", &r.location, &admin, None).await;
        assert!(notice.body.contains("Handed 2 accounts to other Person."), "{}", notice.body);
        let op = r.location.split("handed=").nth(1).and_then(|s| s.split('&').next()).expect("operation").to_string();
        let bulk_events = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter { object_id: Some(op.clone()), limit: 10, ..Default::default() },
            )
        })
        .expect("events");
        assert_eq!(bulk_events.len(), 1);
        assert_eq!(bulk_events[0].event.action, "bulk.update");
        assert_eq!(bulk_events[0].event.row_count, 2);

        let undo = format!("/bulk/{op}/undo");
        let r = site.send("POST", &undo, &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location.contains("undone=1&n=2&skipped=0"), "{}", r.location);
        off_runtime(|| assert_eq!(owner_of(&services, alpha), Some(rep_id)));
        let again = site.send("POST", &undo, &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts"))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "an undo happens once");

        // An undo leaves alone what someone changed since.
        let r = site.send("POST", "/accounts/bulk", &admin, Some(&form)).await;
        let op = r.location.split("handed=").nth(1).and_then(|s| s.split('&').next()).expect("operation").to_string();
        off_runtime(|| {
            services
                .update_record(&Actor::operator(), &ACCOUNTS, bravo, &json!({"owner_id": rep_id.to_string()}))
                .expect("changed since")
        });
        let r = site
            .send("POST", &format!("/bulk/{op}/undo"), &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts")))
            .await;
        assert!(r.location.contains("n=1&skipped=1"), "{}", r.location);

        // A rep's bulk change that includes one record they may not change changes nothing.
        let rep_csrf = hidden(&site.send("GET", "/accounts", &rep, None).await.body, "csrf_token");
        off_runtime(|| {
            services
                .update_record(&Actor::operator(), &ACCOUNTS, charlie, &json!({"owner_id": other_id.to_string()}))
                .expect("give charlie away")
        });
        let form = format!("csrf_token={rep_csrf}&action=assign&new_owner={rep_id}&ids={charlie}&ids={theirs}");
        let r = site.send("POST", "/accounts/bulk", &rep, Some(&form)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("nothing was changed"), "{}", r.body);
        off_runtime(|| {
            assert_eq!(owner_of(&services, charlie), Some(other_id));
            assert_eq!(owner_of(&services, theirs), Some(other_id));
        });
        // Without the form's token, nothing happens either.
        let forged = format!("action=assign&new_owner={rep_id}&ids={alpha}");
        assert_eq!(site.send("POST", "/accounts/bulk", &rep, Some(&forged)).await.status, StatusCode::FORBIDDEN);

        // Export: the picked rows, or everything the list matches; each is an export event.
        let r = site
            .send(
                "POST",
                "/accounts/bulk",
                &rep,
                Some(&format!("csrf_token={rep_csrf}&action=export&ids={alpha}&ids={bravo}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let mut lines = r.body.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("id,name,domain,industry,tier")), "{}", r.body);
        assert_eq!(lines.count(), 2);
        let r = site.send("POST", "/accounts/export", &rep, Some(&format!("csrf_token={rep_csrf}&tier=smb"))).await;
        assert_eq!(r.body.lines().count(), 4, "header and three smb accounts: {}", r.body);
        let exports = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter {
                    action: Some("export.create".into()),
                    coworker_id: Some(rep_id),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("events");
        let rows: Vec<i64> = exports.iter().map(|e| e.event.row_count).collect();
        assert_eq!(rows, [3, 2], "newest first");
        assert_eq!(exports[0].event.details["filters"]["tier"], "smb");
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deals_tasks_and_activities_have_forms_too() {
    use holdfast_core::record::{ACCOUNTS, ACTIVITIES, TASKS};
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let rep = site.sign_in("rep@example.com").await;
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("actor");
        let account = off_runtime(|| {
            let a = services.create_record(&rep_actor, &ACCOUNTS, &json!({"name": "Initech"})).expect("account");
            services
                .create_record(
                    &rep_actor,
                    &holdfast_core::record::CONTACTS,
                    &json!({"account_id": a.id.to_string(), "first_name": "Bill", "last_name": "Lumbergh"}),
                )
                .expect("contact");
            a.id
        });
        let csrf = hidden(&site.send("GET", "/", &rep, None).await.body, "csrf_token");

        // A deal needs an account: without one the form says where to start.
        let r = site.send("GET", "/deals/new", &rep, None).await;
        assert!(r.body.contains("Open the account first"), "{}", r.body);
        let form = site.send("GET", &format!("/deals/new?account_id={account}"), &rep, None).await;
        assert!(form.body.contains("Bill Lumbergh"), "the account's contacts are offered: {}", form.body);
        let r = site
            .send(
                "POST",
                &format!("/deals/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=TPS+reports&stage=proposal&amount=abc")),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("field-error"), "{}", r.body);
        let r = site
            .send(
                "POST",
                &format!("/deals/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=TPS+reports&stage=proposal&amount=12000")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, format!("/accounts/{account}"));

        // A task from the tasks list, with no account.
        let r = site
            .send("POST", "/tasks/new", &rep, Some(&format!("csrf_token={csrf}&title=Call+Bill&due_date=2026-02-01")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let task = off_runtime(|| {
            services.list_records(&rep_actor, &TASKS, &Default::default()).expect("tasks").items.remove(0)
        });
        let r = site
            .send(
                "POST",
                &format!("/tasks/{}/edit", task.id),
                &rep,
                Some(&format!("csrf_token={csrf}&title=Call+Bill&due_date=2026-02-01&status=done")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        // An activity's time: without script the form's value is taken as UTC.
        let r = site
            .send(
                "POST",
                &format!("/activities/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&type=meeting&occurred_at=2026-01-10T09%3A30&summary=Kick-off")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let (task, activity) = off_runtime(|| {
            let t = services.get_record(&rep_actor, &TASKS, task.id).expect("task");
            let a = services.list_records(&rep_actor, &ACTIVITIES, &Default::default()).expect("activities").items;
            (t, a)
        });
        assert_eq!(task.get("status").as_text(), Some("done"));
        assert_eq!(activity[0].to_json(&ACTIVITIES)["occurred_at"], "2026-01-10T09:30:00Z");
        let edit = site.send("GET", &format!("/activities/{}/edit", activity[0].id), &rep, None).await;
        assert!(edit.body.contains("value=\"2026-01-10T09:30\""), "{}", edit.body);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_add_and_edit_coworkers_and_reset_a_forgotten_password() {
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let admin = site.sign_in("admin@example.com").await;
        let rep = site.sign_in("rep@example.com").await;
        let rep_csrf = hidden(&site.send("GET", "/", &rep, None).await.body, "csrf_token");
        // Reps may not add co-workers.
        assert_eq!(site.send("GET", "/coworkers/new", &rep, None).await.status, StatusCode::FORBIDDEN);
        let r = site
            .send(
                "POST",
                "/coworkers/new",
                &rep,
                Some(&format!("csrf_token={rep_csrf}&email=x%40example.com&name=X&role=admin")),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);

        let form = site.send("GET", "/coworkers/new", &admin, None).await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = hidden(&form.body, "csrf_token");
        let bad = site
            .send("POST", "/coworkers/new", &admin, Some(&format!("csrf_token={csrf}&email=nope&name=&role=boss")))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("is not a role"), "{}", bad.body);
        let added = site
            .send(
                "POST",
                "/coworkers/new",
                &admin,
                Some(&format!(
                    "csrf_token={csrf}&email=new.rep%40example.com&name=New+Rep&role=rep&team=East&manager=admin%40example.com&title=AE"
                )),
            )
            .await;
        assert_eq!(added.status, StatusCode::OK, "{}", added.body);
        let first_password = added
            .body
            .split("<code class=\"secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("password")
            .to_string();
        let new_rep = off_runtime(|| services.actor_for("new.rep@example.com")).expect("added");
        let c = new_rep.coworker.clone().expect("co-worker");
        assert!(c.team_id.is_some() && c.manager_id.is_some() && c.title.as_deref() == Some("AE"));
        let list = site.send("GET", "/coworkers", &admin, None).await;
        assert!(list.body.contains("New Rep") && list.body.contains("East"), "{}", list.body);

        // The new co-worker signs in with the first password.
        let login = site.send("GET", "/login", "", None).await;
        let login_csrf = hidden(&login.body, "csrf_token");
        let login_cookie = login.cookies[0].split(';').next().unwrap_or("").to_string();
        let sign_in = |password: String| {
            format!("email=new.rep%40example.com&password={}&csrf_token={login_csrf}", password.replace('+', "%2B"))
        };
        let r = site.send("POST", "/login", &login_cookie, Some(&sign_in(first_password.clone()))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let session = r.cookies.iter().find(|c| c.starts_with("holdfast_session=")).expect("session");
        let session = session.split(';').next().unwrap_or("").to_string();

        // Promote to manager; then reset the password: the old session ends at once.
        let id = c.id;
        let r = site
            .send(
                "POST",
                &format!("/coworkers/{id}/edit"),
                &admin,
                Some(&format!(
                    "csrf_token={csrf}&name=New+Rep&role=manager&seniority=manager&team=West&manager=&title=Lead"
                )),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let c = off_runtime(|| services.actor_for("new.rep@example.com")).expect("actor").coworker.expect("c");
        assert_eq!(c.role.as_str(), "manager");
        assert!(c.manager_id.is_none());
        let r =
            site.send("POST", &format!("/coworkers/{id}/password"), &admin, Some(&format!("csrf_token={csrf}"))).await;
        assert_eq!(r.status, StatusCode::OK);
        let second = r
            .body
            .split("<code class=\"secret\">")
            .nth(1)
            .and_then(|s| s.split('<').next())
            .expect("password")
            .to_string();
        assert_ne!(first_password, second);
        assert_eq!(site.send("GET", "/", &session, None).await.status, StatusCode::SEE_OTHER, "old session ended");
        let r = site.send("POST", "/login", &login_cookie, Some(&sign_in(first_password))).await;
        assert_ne!(r.status, StatusCode::SEE_OTHER, "the old password no longer works");
        let r = site.send("POST", "/login", &login_cookie, Some(&sign_in(second))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        // Hand the rep's customers to the new co-worker from the rep's page, then undo it.
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("rep");
        let rep_id = rep_actor.id().expect("id");
        off_runtime(|| {
            for name in ["Stark", "Wayne"] {
                services
                    .create_record(&rep_actor, &holdfast_core::record::ACCOUNTS, &json!({"name": name}))
                    .expect("account");
            }
        });
        let page = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(page.body.contains("owns 2 accounts."), "{}", page.body);
        let r = site
            .send(
                "POST",
                &format!("/coworkers/{rep_id}/handover"),
                &admin,
                Some(&format!("csrf_token={csrf}&to=new.rep%40example.com")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.body.contains("rep Person&#39;s customers are now New Rep&#39;s")
                || r.body.contains("customers are now New Rep"),
            "{}",
            r.body
        );
        assert!(r.body.contains("2 accounts"), "{}", r.body);
        let page = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(page.body.contains("owns no customer records"), "{}", page.body);
        let undo =
            r.body.split("action=\"/bulk/").nth(1).and_then(|s| s.split('"').next()).expect("undo form").to_string();
        let r = site
            .send("POST", &format!("/bulk/{undo}"), &admin, Some(&format!("csrf_token={csrf}&back=%2Fcoworkers")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(page.body.contains("owns 2 accounts."), "{}", page.body);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departing_coworker_reaffirms_confidentiality_once_per_notice() {
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let admin = site.sign_in("admin@example.com").await;
        let rep = site.sign_in("rep@example.com").await;
        let rep_id = off_runtime(|| services.actor_for("rep@example.com")).expect("rep").id().expect("id");
        // Active co-workers are never asked.
        assert_eq!(site.send("GET", "/", &rep, None).await.status, StatusCode::OK);
        let csrf = hidden(&site.send("GET", "/settings", &admin, None).await.body, "csrf_token");
        let profile = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(
            profile.body.contains("When rep Person leaves") && profile.body.contains("Mark departing"),
            "{}",
            profile.body
        );
        let back = format!("%2Fcoworkers%2F{rep_id}%2Fedit%23leaving");
        let r = site
            .send(
                "POST",
                &format!("/coworkers/{rep_id}/status"),
                &admin,
                Some(&format!("csrf_token={csrf}&status=departing&back={back}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, format!("/coworkers/{rep_id}/edit#leaving"));

        // Departing: every page leads to the notice first; they can still sign out.
        let r = site.send("GET", "/accounts?q=x", &rep, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        assert_eq!(r.location, "/confidentiality?next=/accounts%3Fq%3Dx");
        let notice = site.send("GET", "/confidentiality", &rep, None).await;
        assert!(notice.body.contains("belong to the company"), "{}", notice.body);
        let rep_csrf = hidden(&notice.body, "csrf_token");
        let sha = hidden(&notice.body, "sha256");
        let r = site
            .send(
                "POST",
                "/confidentiality",
                &rep,
                Some(&format!("csrf_token={rep_csrf}&sha256={sha}&next=%2Faccounts")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, "/accounts");
        assert_eq!(site.send("GET", "/", &rep, None).await.status, StatusCode::OK, "asked once");
        let page = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(page.body.contains("Reaffirmed the confidentiality notice on"), "{}", page.body);
        assert!(page.body.contains("value=\"departed\""), "the checklist offers the last step: {}", page.body);
        let acks = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter { action: Some("confidentiality.acknowledge".into()), limit: 10, ..Default::default() },
            )
        })
        .expect("events");
        assert_eq!(acks.len(), 1);
        assert_eq!(acks[0].event.details["sha256"], sha.as_str());

        // A new notice is asked for again; a reps may not change it.
        let r = site
            .send("POST", "/settings/confidentiality", &rep, Some(&format!("csrf_token={rep_csrf}&notice=Mine")))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        let r = site
            .send(
                "POST",
                "/settings/confidentiality",
                &admin,
                Some(&format!("csrf_token={csrf}&notice=Our+customers+stay+ours.")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let r = site.send("GET", "/", &rep, None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let notice = site.send("GET", "/confidentiality", &rep, None).await;
        assert!(notice.body.contains("Our customers stay ours."), "{}", notice.body);
        // Acknowledging an outdated text is refused.
        let r = site
            .send("POST", "/confidentiality", &rep, Some(&format!("csrf_token={rep_csrf}&sha256={sha}&next=%2F")))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        off_runtime(move || drop(site));
    }
}

/// The history page reads the record through the services: the read policy decides whether it
/// opens, and opening it is recorded like any read of the record.
#[tokio::test(flavor = "multi_thread")]
async fn a_records_history_page_is_an_audited_read_under_the_read_policy() {
    use holdfast_core::record::ACCOUNTS;
    for db in each_backend() {
        let services = off_runtime(|| db.services());
        let site = setup(Arc::clone(&services));
        let rep = site.sign_in("rep@example.com").await;
        let (mine, theirs, rep_id) = off_runtime(|| {
            let rep = services.actor_for("rep@example.com").expect("rep");
            let other = services.actor_for("other@example.com").expect("other");
            let mine = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Mine Ltd"})).expect("account");
            services.update_record(&rep, &ACCOUNTS, mine.id, &json!({"tier": "strategic"})).expect("change");
            let theirs = services.create_record(&other, &ACCOUNTS, &json!({"name": "Theirs Ltd"})).expect("account");
            let own = holdfast_core::service::SettingsChange { read_policy: Some("own".into()), ..Default::default() };
            services.change_settings(&Actor::operator(), &own).expect("policy");
            (mine.id, theirs.id, rep.id())
        });
        let reads_of = |id: uuid::Uuid| {
            off_runtime(|| {
                services.events(
                    &Actor::operator(),
                    &EventFilter {
                        action: Some("record.read".into()),
                        object_id: Some(id.to_string()),
                        limit: 10,
                        ..Default::default()
                    },
                )
            })
            .expect("events")
        };

        let page = site.send("GET", &format!("/accounts/{mine}/history"), &rep, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", db.backend);
        assert!(page.body.contains("History: Mine Ltd") && page.body.contains("strategic"), "{}", page.body);
        let reads = reads_of(mine);
        assert_eq!(reads.len(), 1, "opening the history is one recorded read on {}", db.backend);
        assert_eq!(reads[0].event.coworker_id, rep_id);

        let refused = site.send("GET", &format!("/accounts/{theirs}/history"), &rep, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", db.backend);
        assert!(!refused.body.contains("Theirs Ltd"), "a refused history shows nothing of the record");
        assert!(reads_of(theirs).is_empty());
    }
}
