//! Access through the API: deprovisioning and sign-in limits, the read policy, and bulk-read
//! metering with the export policy.

use super::*;

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
