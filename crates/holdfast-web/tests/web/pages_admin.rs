//! Admin pages: settings and tokens, adding and editing co-workers, password resets, and the
//! departing co-worker's confidentiality notice.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn admins_set_policy_and_suspend_and_reps_manage_their_tokens() {
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
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
        assert_eq!(site.call("GET", "/api/v1/me", Some(&secret), None).await.0, StatusCode::OK);
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
        assert_eq!(site.call("GET", "/api/v1/me", Some(&secret), None).await.0, StatusCode::UNAUTHORIZED);

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
async fn admins_add_and_edit_coworkers_and_reset_a_forgotten_password() {
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
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
        let r = site.send("POST", "/login", &login_cookie, Some(&sign_in(second.clone()))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        // A password an admin set is replaced before anything else.
        let session = r.cookies.iter().find(|c| c.starts_with("holdfast_session=")).expect("session");
        let session = session.split(';').next().unwrap_or("").to_string();
        let home = site.send("GET", "/accounts", &session, None).await;
        assert_eq!((home.status, home.location.as_str()), (StatusCode::SEE_OTHER, "/password?next=/accounts"));
        let form = site.send("GET", "/password", &session, None).await;
        assert!(form.body.contains("Choose your own password"), "{}", form.body);
        let csrf_mine = hidden(&form.body, "csrf_token");
        let change = |current: &str, new: &str, again: &str| {
            format!(
                "csrf_token={csrf_mine}&next=%2Faccounts&current_password={}&new_password={}&confirm_password={}",
                current.replace('+', "%2B"),
                new.replace(' ', "+"),
                again.replace(' ', "+")
            )
        };
        let r =
            site.send("POST", "/password", &session, Some(&change(&second, "my own secret", "my own secrex"))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "two different new passwords");
        let r = site
            .send("POST", "/password", &session, Some(&change("not it at all", "my own secret", "my own secret")))
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a wrong current password");
        assert!(r.body.contains("is not your current password"), "{}", r.body);
        let r =
            site.send("POST", "/password", &session, Some(&change(&second, "my own secret", "my own secret"))).await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/accounts"), "{}", r.body);
        // Then, at their first sign-in, the confidentiality notice.
        let r = site.send("GET", "/accounts", &session, None).await;
        assert_eq!((r.status, r.location.as_str()), (StatusCode::SEE_OTHER, "/confidentiality?next=/accounts"));
        site.acknowledge_notice(&session).await;
        assert_eq!(site.send("GET", "/accounts", &session, None).await.status, StatusCode::OK);

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
        let site = setup(db);
        let services = Arc::clone(&site.services);
        let admin = site.sign_in("admin@example.com").await;
        let rep = site.sign_in("rep@example.com").await;
        let rep_id = off_runtime(|| services.actor_for("rep@example.com")).expect("rep").id().expect("id");
        // Active co-workers are never asked.
        assert_eq!(site.send("GET", "/", &rep, None).await.status, StatusCode::OK);
        let csrf = hidden(&site.send("GET", "/settings", &admin, None).await.body, "csrf_token");
        let profile = site.send("GET", &format!("/coworkers/{rep_id}/edit"), &admin, None).await;
        assert!(
            profile.body.contains("When rep Person leaves") && profile.body.contains("Record departure"),
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
        assert!(
            page.body.contains("while departing") && page.body.contains("while active"),
            "both acknowledgements listed"
        );
        let settings = site.send("GET", "/settings", &admin, None).await;
        assert!(settings.body.contains("Versions: version 1 of"), "{}", settings.body);
        assert!(page.body.contains("value=\"departed\""), "the checklist offers the last step: {}", page.body);
        let acks = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter {
                    action: Some("confidentiality.acknowledge".into()),
                    coworker_id: Some(rep_id),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("events");
        let statuses: Vec<&str> = acks.iter().filter_map(|a| a.event.details["status"].as_str()).collect();
        assert_eq!(statuses, ["departing", "active"], "at hire, then once while departing (newest first)");
        assert_eq!(acks[0].event.details["sha256"], sha.as_str());
        assert_eq!(acks[0].event.details["version"], 1, "the notice's first version");

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
