//! Snapshots of what API clients parse: every kind of problem+json body and a few representative
//! answers, with ids, times and hashes redacted. The same snapshot must hold on both backends.

use super::*;

/// Keys whose values differ from run to run.
fn volatile(key: &str) -> bool {
    ["id", "seq", "hash", "prev_hash", "token", "next_cursor", "operation", "at"].contains(&key)
        || key.ends_with("_id")
        || key.ends_with("_ids")
        || key.ends_with("_at")
        || key.ends_with("_by")
}

fn redacted(v: Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = if volatile(&k) && !v.is_null() { Value::String(format!("[{k}]")) } else { redacted(v) };
                    (k, v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(redacted).collect()),
        other => other,
    }
}

/// Asserts an answer's status and its redacted body against a snapshot.
macro_rules! answer {
    ($name:literal, $answer:expr, $status:expr, $backend:expr) => {{
        let (status, body) = $answer;
        assert_eq!(status, $status, "{} on {}: {body}", $name, $backend);
        insta::assert_json_snapshot!($name, redacted(body));
    }};
}

#[tokio::test(flavor = "multi_thread")]
async fn problems_name_what_was_wrong_the_same_way_on_both_backends() {
    for db in each_backend() {
        let app = App::new(db);
        let backend = app.db.backend;
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (_, account) = app.call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"name": "Acme Corp"}))).await;
        let nobody = "/api/v1/accounts/00000000-0000-0000-0000-000000000000";
        answer!(
            "problem_validation",
            app.call("POST", "/api/v1/accounts", Some(&admin), Some(json!({"tier": "gold", "annual_value": "lots"})))
                .await,
            StatusCode::UNPROCESSABLE_ENTITY,
            backend
        );
        answer!("problem_not_found", app.call("GET", nobody, Some(&admin), None).await, StatusCode::NOT_FOUND, backend);
        answer!(
            "problem_unknown_collection",
            app.call("GET", "/api/v1/widgets", Some(&admin), None).await,
            StatusCode::NOT_FOUND,
            backend
        );
        answer!(
            "problem_unauthenticated",
            app.call("GET", "/api/v1/accounts", None, None).await,
            StatusCode::UNAUTHORIZED,
            backend
        );
        answer!(
            "problem_forbidden",
            app.call(
                "PATCH",
                &format!("/api/v1/accounts/{}", id_of(&account)),
                Some(&rep),
                Some(json!({"name": "Mine now"}))
            )
            .await,
            StatusCode::FORBIDDEN,
            backend
        );
        answer!(
            "problem_malformed_json",
            app.raw("POST", "/api/v1/accounts", Some(&admin), Some(("application/json", b"{\"name\": ".to_vec())))
                .await,
            StatusCode::BAD_REQUEST,
            backend
        );
        answer!(
            "problem_media_type",
            app.raw("POST", "/api/v1/accounts", Some(&admin), Some(("text/plain", b"name=Acme".to_vec()))).await,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            backend
        );
        answer!(
            "problem_unknown_setting",
            app.call("PUT", "/api/v1/settings", Some(&admin), Some(json!({"colour": "blue"}))).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            backend
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn representative_answers_keep_their_shape() {
    for db in each_backend() {
        let app = App::new(db);
        let backend = app.db.backend;
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let (status, account) = app
            .call(
                "POST",
                "/api/v1/accounts",
                Some(&admin),
                Some(
                    json!({"name": "Acme Corp", "domain": "acme.com", "tier": "enterprise", "annual_value": "125000"}),
                ),
            )
            .await;
        answer!("account_created", (status, account.clone()), StatusCode::CREATED, backend);
        let path = format!("/api/v1/accounts/{}", id_of(&account));
        app.call("PATCH", &path, Some(&admin), Some(json!({"tier": "strategic"}))).await;
        answer!(
            "account_history",
            app.call("GET", &format!("{path}/history"), Some(&admin), None).await,
            StatusCode::OK,
            backend
        );
        answer!(
            "account_list",
            app.call("GET", "/api/v1/accounts?q=acme&limit=5", Some(&admin), None).await,
            StatusCode::OK,
            backend
        );
        answer!("me", app.call("GET", "/api/v1/me", Some(&admin), None).await, StatusCode::OK, backend);
        answer!("settings", app.call("GET", "/api/v1/settings", Some(&admin), None).await, StatusCode::OK, backend);
    }
}
