//! Coverage and exposure through the API and the page, with the names the acceptance checks use.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn exposure_and_account_coverage_through_the_api_and_the_page() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let dana = app.add("dana@example.com", Role::Rep, None, None);
        let boss = app.add("boss@example.com", Role::Manager, None, None);
        let (_, acme) = app
            .call("POST", "/api/v1/accounts", Some(&dana), Some(json!({"name": "Acme", "annual_value": 50000})))
            .await;
        let acme = id_of(&acme);
        let (_, cfo) = app
            .call("POST", "/api/v1/contacts", Some(&dana), Some(json!({"first_name": "Carla", "account_id": acme})))
            .await;
        let call = |who: String, contact: String| {
            let app = &app;
            let acme = acme.clone();
            async move {
                let body = json!({"type": "call", "summary": "Budget", "account_id": acme,
                                  "occurred_at": holdfast_core::time::format_timestamp(app.with(|s| s.now())),
                                  "contact_ids": [contact]});
                let (s, a) = app.call("POST", "/api/v1/activities", Some(&who), Some(body)).await;
                assert_eq!(s, StatusCode::CREATED, "{a}");
            }
        };
        call(dana.clone(), id_of(&cfo)).await;

        let (s, exposure) = app.call("GET", "/api/v1/coverage/exposure", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{exposure}");
        let first = &exposure["items"][0];
        assert_eq!((first["coworker_email"].as_str(), first["accounts"].as_i64()), (Some("dana@example.com"), Some(1)));
        assert_eq!(first["value_at_stake"], 5_000_000, "{}", app.db.backend);
        let (_, one) = app.call("GET", "/api/v1/coverage/exposure?coworker=dana@example.com", Some(&admin), None).await;
        assert_eq!(one["items"][0]["exposed_accounts"][0]["name"], "Acme");

        let (s, c) = app.call("GET", &format!("/api/v1/accounts/{acme}/coverage"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{c}");
        for field in ["score", "reason", "coworkers", "contacts", "last_senior_contact"] {
            assert!(c.get(field).is_some(), "{field} in {c}");
        }
        assert!(c["reason"].as_str().is_some_and(|r| r.starts_with("only dana has spoken to anyone at Acme")), "{c}");
        // A manager's call changes the reason at once.
        call(boss.clone(), id_of(&cfo)).await;
        let (_, c) = app.call("GET", &format!("/api/v1/accounts/{acme}/coverage"), Some(&admin), None).await;
        assert!(c["reason"].as_str().is_some_and(|r| r.starts_with("2 co-workers talk to 1 contact at Acme")), "{c}");
        assert!(c["last_senior_contact"].is_string(), "{c}");
        let (_, exposure) = app.call("GET", "/api/v1/coverage/exposure", Some(&admin), None).await;
        assert_eq!(exposure["items"].as_array().map(Vec::len), Some(0), "{exposure}");

        let cookie = app.sign_in("admin@example.com").await;
        let page = app.send("GET", &format!("/accounts/{acme}"), &cookie, None).await;
        assert!(page.body.contains("Coverage ") && page.body.contains("/100."), "{}", page.body);
        let home = app.send("GET", "/", &cookie, None).await;
        assert!(
            home.body.contains("If they left today"),
            "the home of someone who leads shows exposure: {}",
            home.body
        );
        let page = app.send("GET", "/coverage", &cookie, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("No account hangs on one co-worker."), "{}", page.body);
        off_runtime(move || drop(app));
    }
}
