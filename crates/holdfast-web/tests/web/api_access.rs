//! Access through the API: deprovisioning and sign-in limits, the read policy, and bulk-read
//! metering with the export policy.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn deprovisioned_coworkers_lose_access_at_once_and_logins_are_limited() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (s, login) = app.api_sign_in("rep@example.com", "correct horse battery").await;
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
        let (s, _) = app.api_sign_in("rep@example.com", "correct horse battery").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // five wrong passwords, then the sixth try is refused outright
        for _ in 0..4 {
            let (s, _) = app.api_sign_in("admin@example.com", "wrong password!").await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
        }
        let (s, p) = app.api_sign_in("admin@example.com", "correct horse battery").await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        let (s, _) = app.api_sign_in("admin@example.com", "wrong password!").await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let (s, p) = app.api_sign_in("admin@example.com", "correct horse battery").await;
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
        assert_eq!(
            set,
            json!({"read_policy": "all", "export_policy": "everyone", "bulk_read_limit": 100,
                   "alert_webhook_url": null, "alert_webhook_secret_set": false,
                   "alert_smtp_set": false, "alert_email_from": null,
                   "introduction_template": holdfast_core::service::DEFAULT_INTRODUCTION,
                   "senior_cadence": "strategic=60, enterprise=90, mid_market=120, smb=180",
                   "single_sign_on": null, "two_factor_for_admins": false,
                   "canary_email_domain": null, "canary_phone_prefix": null, "company_email_domains": [],
                   "mail_alert_threshold": 20})
        );

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

/// Parallel guesses cannot run past the limit (each attempt reserves its place before the password
/// is checked); the real co-worker's browser, which signed in before, is not held back by them;
/// and a departed co-worker's email costs the same password check as anyone's.
#[tokio::test(flavor = "multi_thread")]
async fn password_guessing_is_limited_atomically_without_locking_out_the_real_user() {
    use holdfast_core::service::FREE_FAILURES;
    for db in each_backend() {
        let app = App::new(db);
        app.add("rep@example.com", Role::Rep, None, None);
        app.add("gone@example.com", Role::Rep, None, None);
        // The real rep signed in from this browser before: it holds a device cookie.
        let first = app.submit_sign_in("rep@example.com", "correct horse battery", "%2F", "").await;
        assert_eq!(first.status, StatusCode::SEE_OTHER);
        let set = first.cookies.iter().find(|c| c.starts_with("holdfast_device=")).expect("a device cookie");
        assert!(set.contains("HttpOnly") && set.contains("Path=/login"), "{set}");
        let device = first.cookie("holdfast_device").expect("a device cookie");

        // Thirty guesses at once: no more than the free failures reach the password check.
        let guess = || app.api_sign_in("rep@example.com", "guess guess guess");
        let answers = futures_join(30, guess).await;
        assert!(
            answers.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
            "{answers:?}"
        );
        let failed = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter { action: Some("auth.login_failed".into()), limit: 100, ..Default::default() },
            )
        })
        .expect("events");
        let checked = failed.iter().filter(|e| e.event.details["reason"] == "wrong password").count();
        let refused = failed.iter().filter(|e| e.event.details["reason"] == "throttled").count();
        assert_eq!(checked, FREE_FAILURES, "password checks on {}", app.db.backend);
        assert_eq!(checked + refused, 30, "every guess is recorded on {}", app.db.backend);

        // The guesser is held back; the real rep's browser is not.
        let (s, _) = app.api_sign_in("rep@example.com", "correct horse battery").await;
        assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "an unknown client waits on {}", app.db.backend);
        let again = app.submit_sign_in("rep@example.com", "correct horse battery", "%2F", &device).await;
        assert_eq!(
            again.status,
            StatusCode::SEE_OTHER,
            "the known browser signs in on {}: {}",
            app.db.backend,
            again.body
        );
        // A device cookie opens nothing by itself.
        let token = device.split('=').nth(1).unwrap_or("");
        assert_eq!(app.call("GET", "/api/v1/me", Some(token), None).await.0, StatusCode::UNAUTHORIZED);

        // A departed co-worker's email: the password is checked like anyone's.
        off_runtime(|| {
            let changes = holdfast_core::service::CoWorkerChanges {
                email: None,
                status: Some(holdfast_core::coworker::Status::Departed),
                ..Default::default()
            };
            app.services.update_coworker(&Actor::operator(), "gone@example.com", changes).expect("departed")
        });
        for (password, reason) in
            [("not it at all", "wrong password"), ("correct horse battery", "co-worker is not active")]
        {
            let (s, _) = app.api_sign_in("gone@example.com", password).await;
            assert_eq!(s, StatusCode::UNAUTHORIZED);
            let last = off_runtime(|| {
                app.services.events(
                    &Actor::operator(),
                    &EventFilter { action: Some("auth.login_failed".into()), limit: 1, ..Default::default() },
                )
            })
            .expect("events");
            assert_eq!(last[0].event.details["reason"], reason, "on {}", app.db.backend);
        }
    }
}

/// Runs `n` copies of a request at once and collects their statuses.
async fn futures_join<F, Fut>(n: usize, make: F) -> Vec<StatusCode>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = (StatusCode, Value)>,
{
    let mut pending: Vec<std::pin::Pin<Box<Fut>>> = (0..n).map(|_| Box::pin(make())).collect();
    let mut done = vec![None; n];
    std::future::poll_fn(|cx| {
        let mut all = true;
        for (i, f) in pending.iter_mut().enumerate() {
            if done[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready((s, _)) => done[i] = Some(s),
                    std::task::Poll::Pending => all = false,
                }
            }
        }
        if all { std::task::Poll::Ready(()) } else { std::task::Poll::Pending }
    })
    .await;
    done.into_iter().flatten().collect()
}

/// `POST /api/v1/me/password`: the current password is asked for, the other sessions end at once,
/// API tokens keep working, and the old password no longer signs in.
#[tokio::test(flavor = "multi_thread")]
async fn coworkers_change_their_own_password_and_other_sessions_end() {
    for db in each_backend() {
        let app = App::new(db);
        let token = app.add("rep@example.com", Role::Rep, None, None);
        let (s, elsewhere) = app.api_sign_in("rep@example.com", "correct horse battery").await;
        assert_eq!(s, StatusCode::CREATED);
        let elsewhere = elsewhere["token"].as_str().expect("session").to_string();
        let (s, here) = app.api_sign_in("rep@example.com", "correct horse battery").await;
        assert_eq!(s, StatusCode::CREATED);
        let here = here["token"].as_str().expect("session").to_string();
        let change = |current: &str, new: &str| json!({"current_password": current, "new_password": new});
        let (s, p) = app
            .call("POST", "/api/v1/me/password", Some(&here), Some(change("wrong guess!", "a brand new secret")))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], "current_password");
        let (s, p) =
            app.call("POST", "/api/v1/me/password", Some(&here), Some(change("correct horse battery", "short"))).await;
        assert_eq!((s, p["errors"][0]["field"].clone()), (StatusCode::UNPROCESSABLE_ENTITY, json!("new_password")));
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/me/password",
                Some(&here),
                Some(change("correct horse battery", "a brand new secret")),
            )
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT, "on {}", app.db.backend);
        assert_eq!(
            app.call("GET", "/api/v1/me", Some(&elsewhere), None).await.0,
            StatusCode::UNAUTHORIZED,
            "other sessions end"
        );
        assert_eq!(app.call("GET", "/api/v1/me", Some(&here), None).await.0, StatusCode::OK, "this one goes on");
        assert_eq!(
            app.call("GET", "/api/v1/me", Some(&token), None).await.0,
            StatusCode::OK,
            "API tokens keep working"
        );
        assert_eq!(app.api_sign_in("rep@example.com", "correct horse battery").await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(app.api_sign_in("rep@example.com", "a brand new secret").await.0, StatusCode::CREATED);

        // A password an admin sets through the API is the co-worker's to replace before anything.
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (s, _) = app
            .call(
                "PATCH",
                "/api/v1/coworkers/rep@example.com",
                Some(&admin),
                Some(json!({"password": "set by the admin"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let (s, session) = app.api_sign_in("rep@example.com", "set by the admin").await;
        assert_eq!(s, StatusCode::CREATED);
        let session = session["token"].as_str().expect("session").to_string();
        let (s, p) = app.call("GET", "/api/v1/contacts", Some(&session), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        assert!(p["detail"].as_str().unwrap_or("").contains("/api/v1/me/password"), "{p}");
        let (s, _) = app
            .call("POST", "/api/v1/me/password", Some(&session), Some(change("set by the admin", "now my very own")))
            .await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        assert_eq!(app.call("GET", "/api/v1/contacts", Some(&session), None).await.0, StatusCode::OK);
    }
}

/// A refused read or export leaves an `access.refused` event naming what was asked and why.
#[tokio::test(flavor = "multi_thread")]
async fn refused_reads_and_exports_are_recorded() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let other = app.add("other@example.com", Role::Rep, None, None);
        let (_, theirs) = app.call("POST", "/api/v1/accounts", Some(&other), Some(json!({"name": "Theirs"}))).await;
        app.call(
            "PUT",
            "/api/v1/settings",
            Some(&admin),
            Some(json!({"read_policy": "own", "export_policy": "admins"})),
        )
        .await;
        let path = format!("/api/v1/accounts/{}", id_of(&theirs));
        assert_eq!(app.call("GET", &path, Some(&rep), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.raw("GET", "/api/v1/accounts/export", Some(&rep), None).await.0, StatusCode::FORBIDDEN);
        assert_eq!(app.call("GET", "/api/v1/events", Some(&rep), None).await.0, StatusCode::FORBIDDEN);
        let refused = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter { action: Some("access.refused".into()), limit: 10, ..Default::default() },
            )
        })
        .expect("events");
        let asked: Vec<String> =
            refused.iter().rev().map(|e| e.event.details["asked"].as_str().unwrap_or("").to_string()).collect();
        assert_eq!(
            asked,
            [format!("open account {}", id_of(&theirs)), "read the whole system event log".into()],
            "on {}",
            app.db.backend
        );
        // A refused export is an export.refused event, with what was asked and why.
        let export_refused = off_runtime(|| {
            app.services.events(
                &Actor::operator(),
                &EventFilter { action: Some("export.refused".into()), limit: 10, ..Default::default() },
            )
        })
        .expect("events");
        assert_eq!(export_refused.len(), 1, "on {}", app.db.backend);
        assert_eq!(export_refused[0].event.details["asked"], "export accounts");
        assert!(export_refused[0].event.details["reason"].is_string());
        let rep_id = off_runtime(|| app.services.actor_for("rep@example.com")).expect("rep").id();
        assert!(refused.iter().all(|e| e.event.coworker_id == rep_id && e.event.details["reason"].is_string()));
    }
}

/// The 24-hour read limit holds when the same request arrives twenty times at once: a
/// co-worker's metered reads take turns, so none passes the check before the others are counted.
#[tokio::test(flavor = "multi_thread")]
async fn the_bulk_read_limit_holds_under_parallel_requests() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        off_runtime(|| {
            let rows: Vec<Value> = (0..120).map(|i| json!({"first_name": format!("Person{i:03}")})).collect();
            app.services.create_many(&Actor::operator(), &holdfast_core::record::CONTACTS, &rows).expect("contacts");
        });
        let (s, _) = app
            .call(
                "PUT",
                "/api/v1/settings",
                Some(&admin),
                Some(json!({"bulk_read_limit": 500, "export_policy": "admins"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let page = || app.call("GET", "/api/v1/contacts?limit=100", Some(&rep), None);
        let answers = futures_join(20, page).await;
        let passed = answers.iter().filter(|s| **s == StatusCode::OK).count();
        let refused = answers.iter().filter(|s| **s == StatusCode::FORBIDDEN).count();
        assert_eq!((passed, refused), (5, 15), "100-row pages against a 500-row limit on {}", app.db.backend);
    }
}
