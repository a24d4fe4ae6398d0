//! The server as a whole: one unbroken event chain under concurrency, the OpenAPI document and
//! health check.

use super::*;

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
