//! Single sign-on through an OpenID Connect provider the test kit starts itself (discovery, JWKS,
//! RS256-signed ID tokens), through the real router on both backends: a co-worker signs in with
//! it; a replayed answer, a wrong audience or issuer, an expired token, a signature by a key not in
//! the JWKS, a wrong nonce, an unverified or unknown email are all refused; passwords can be turned
//! off for everyone but a break-glass admin; and the acceptance story end to end — provisioned by
//! SCIM, signed in through the provider, deactivated by SCIM, out at the next request.

use super::*;
use holdfast_core::scim::{PATCH_OP, USER_SCHEMA};
use holdfast_testing::oidc::{TestProvider, Trick};
use holdfast_testing::web::Reply;

/// The browser's round trip: Holdfast's button, the provider, and back to Holdfast's callback.
async fn through_provider(app: &App, provider: &TestProvider) -> (Reply, String, String) {
    let start = app.send("GET", "/login/sso?next=%2Faccounts", "", None).await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.body);
    assert!(start.location.starts_with(&provider.issuer), "{}", start.location);
    assert!(start.location.contains("code_challenge_method=S256") && start.location.contains("nonce="));
    let began = start.cookie("holdfast_sso").expect("the sign-on is tied to this browser");
    let back = provider.visit(&start.location).await;
    let callback = back.strip_prefix("http://localhost").expect("the callback on this server").to_string();
    (app.send("GET", &callback, &began, None).await, callback, began)
}

fn session_of(reply: &Reply) -> Option<String> {
    reply.cookie("holdfast_session").filter(|c| !c.is_empty())
}

#[tokio::test(flavor = "multi_thread")]
async fn coworkers_sign_in_through_the_identity_provider_and_bad_answers_are_refused() {
    for db in each_backend() {
        let app = setup(db);
        let admin = app.add("boss@example.com", Role::Admin, None, None);
        let provider = TestProvider::start("holdfast-test", "s3cret-for-tests").await;
        let config = json!({"issuer": provider.issuer, "client_id": "holdfast-test",
                            "client_secret": "s3cret-for-tests", "name": "Okta"});
        let (s, sso) = app.call("PUT", "/api/v1/settings/single-sign-on", Some(&admin), Some(config)).await;
        assert_eq!(s, StatusCode::OK, "{sso}");
        assert_eq!((sso["client_secret_set"].as_bool(), sso.get("client_secret")), (Some(true), None), "{sso}");
        let login = app.send("GET", "/login", "", None).await;
        assert!(login.body.contains("Sign in with Okta"), "{}", login.body);

        // Signed in through the provider, matched by verified email.
        provider.sign_in_as("rep@example.com", true);
        let (back, callback, began) = through_provider(&app, &provider).await;
        assert_eq!((back.status, back.location.as_str()), (StatusCode::SEE_OTHER, "/accounts"), "{}", back.body);
        let cookie = session_of(&back).expect("a session");
        app.acknowledge_notice(&cookie).await;
        assert_eq!(app.send("GET", "/accounts", &cookie, None).await.status, StatusCode::OK);
        let (session_hours, logged) = app.with(|s| {
            let creds = s.list_credentials(&Actor::operator(), "rep@example.com").expect("credentials");
            let session = creds.iter().find(|c| c.kind == "session").expect("the session");
            let events = s
                .events(
                    &Actor::operator(),
                    &EventFilter { action: Some("auth.login".into()), limit: 10, ..Default::default() },
                )
                .expect("events");
            let by_provider = events.iter().any(|e| {
                e.event.details["method"] == "single_sign_on" && e.event.details["subject"] == "sub-rep@example.com"
            });
            ((session.expires_at.unwrap_or(0) - session.created_at) / 3_600_000_000, by_provider)
        });
        assert_eq!(session_hours, 12, "the configured maximum age");
        assert!(logged, "auth.login with method single_sign_on");

        // The tail of someone else's sign-on, handed to another browser (login CSRF): refused.
        provider.sign_in_as("other@example.com", true);
        let start = app.send("GET", "/login/sso?next=%2F", "", None).await;
        let back = provider.visit(&start.location).await;
        let stolen = back.strip_prefix("http://localhost").expect("callback");
        let victim = app.send("GET", stolen, "", None).await;
        assert_eq!(victim.status, StatusCode::UNAUTHORIZED, "{}", victim.body);
        assert!(
            session_of(&victim).is_none() && victim.body.contains("not started in this browser"),
            "{}",
            victim.body
        );
        provider.sign_in_as("rep@example.com", true);

        // The same answer again, from the same browser: the state was used.
        let replay = app.send("GET", &callback, &began, None).await;
        assert_eq!(replay.status, StatusCode::UNAUTHORIZED, "{}", replay.body);
        assert!(session_of(&replay).is_none() && replay.body.contains("already used"), "{}", replay.body);

        // Tokens that must not open a session.
        for (trick, says) in [
            (Trick::WrongAudience, "audience"),
            (Trick::Expired, "xpired"),
            (Trick::ForeignKey, "ignature"),
            (Trick::WrongNonce, "once"),
            (Trick::WrongIssuer, "ssuer"),
        ] {
            provider.trick(trick);
            let (back, _, _) = through_provider(&app, &provider).await;
            assert_eq!(back.status, StatusCode::UNAUTHORIZED, "{trick:?}: {}", back.body);
            assert!(session_of(&back).is_none(), "{trick:?}");
            assert!(back.body.contains("refused") && back.body.contains(says), "{trick:?}: {}", back.body);
        }
        provider.trick(Trick::Honest);
        // Another account at the provider that now carries the rep's email: the rep's Holdfast
        // account is bound to the account they first signed in with.
        provider.sign_in_as_account("someone-else", "rep@example.com", true);
        let (back, _, _) = through_provider(&app, &provider).await;
        assert!(back.status == StatusCode::UNAUTHORIZED && back.body.contains("another account"), "{}", back.body);
        provider.sign_in_as("rep@example.com", false);
        let (back, _, _) = through_provider(&app, &provider).await;
        assert!(back.status == StatusCode::UNAUTHORIZED && back.body.contains("not verified"), "{}", back.body);
        provider.sign_in_as("stranger@example.com", true);
        let (back, _, _) = through_provider(&app, &provider).await;
        assert!(back.status == StatusCode::UNAUTHORIZED && back.body.contains("no co-worker has"), "{}", back.body);
        let failed = app.with(|s| {
            s.events(
                &Actor::operator(),
                &EventFilter { action: Some("auth.login_failed".into()), limit: 50, ..Default::default() },
            )
            .expect("events")
            .iter()
            .filter(|e| e.event.details["method"] == "single_sign_on")
            .count()
        });
        assert!(failed >= 8, "every refusal is recorded: {failed}");

        // Passwords off for everyone but the break-glass admin.
        let (s, p) =
            app.call("PUT", "/api/v1/settings/single-sign-on", Some(&admin), Some(json!({"passwords": false}))).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "a break-glass admin is required: {p}");
        let off = json!({"passwords": false, "break_glass": "boss@example.com"});
        let (s, p) = app.call("PUT", "/api/v1/settings/single-sign-on", Some(&admin), Some(off)).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let refused = app.submit_sign_in("rep@example.com", holdfast_testing::PASSWORD, "%2F", "").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
        assert!(refused.body.contains("Sign in with Okta"), "{}", refused.body);
        let (s, _) = app.api_sign_in("rep@example.com", holdfast_testing::PASSWORD).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, _) = app.api_sign_in("boss@example.com", holdfast_testing::PASSWORD).await;
        assert_eq!(s, StatusCode::CREATED, "the break-glass admin keeps a password");
        let (s, _) = app.call("DELETE", "/api/v1/settings/single-sign-on", Some(&admin), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.api_sign_in("rep@example.com", holdfast_testing::PASSWORD).await;
        assert_eq!(s, StatusCode::CREATED, "passwords again for everyone");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn provisioned_by_scim_signed_in_by_the_provider_deactivated_by_scim_and_out_at_once() {
    for db in each_backend() {
        let app = setup(db);
        let admin = app.add("boss@example.com", Role::Admin, None, None);
        let provider = TestProvider::start("holdfast-test", "another-secret").await;
        // Set up by an admin on the settings page.
        let boss = app.sign_in("boss@example.com").await;
        let settings = app.send("GET", "/settings", &boss, None).await;
        assert!(settings.body.contains("http://localhost/login/sso/callback"), "the redirect URI to register");
        let form = format!(
            "issuer={}&client_id=holdfast-test&client_secret=another-secret&name=Entra+ID&passwords=on&session_hours=8",
            provider.issuer.replace(':', "%3A").replace('/', "%2F")
        );
        let saved = app.post_form(&boss, "/settings", "/settings/single-sign-on", &form).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let settings = app.send("GET", "/settings", &boss, None).await;
        assert!(
            settings.body.contains("Sign in with <b>Entra ID</b>")
                || settings.body.contains("<b>Sign in with Entra ID</b>")
        );
        assert!(!settings.body.contains("another-secret"), "the secret is never shown");

        let user = json!({"schemas": [USER_SCHEMA], "userName": "new.rep@example.com",
                          "name": {"givenName": "Nia", "familyName": "Rep"}, "active": true});
        let (s, created) = app.call("POST", "/scim/v2/Users", Some(&admin), Some(user)).await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();

        provider.sign_in_as("new.rep@example.com", true);
        let (back, _, _) = through_provider(&app, &provider).await;
        let cookie = session_of(&back).expect("signed in through the provider");
        app.acknowledge_notice(&cookie).await;
        assert_eq!(app.send("GET", "/accounts", &cookie, None).await.status, StatusCode::OK);
        let (s, token) = app
            .call("POST", &format!("/api/v1/coworkers/{id}/tokens"), Some(&admin), Some(json!({"name": "cli"})))
            .await;
        assert_eq!(s, StatusCode::CREATED);
        let token = token["token"].as_str().expect("token").to_string();

        let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let (s, _) = app.call("PATCH", &format!("/scim/v2/Users/{id}"), Some(&admin), Some(off)).await;
        assert_eq!(s, StatusCode::OK);
        let page = app.send("GET", "/accounts", &cookie, None).await;
        assert!(page.status == StatusCode::SEE_OTHER && page.location.starts_with("/login"), "{}", page.location);
        let (s, _) = app.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        // The case is open even though they owned nothing: it waits for someone to review what
        // they read and exported, and closes with that review.
        let (_, cases) = app.call("GET", "/api/v1/departures", Some(&admin), None).await;
        let case = cases["items"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["coworker_id"] == json!(id) && c["source"] == "identity_provider"))
            .cloned()
            .unwrap_or_else(|| panic!("an open case from the identity provider: {cases}"));
        let review = format!("/api/v1/departures/{}/review", id_of(&case));
        let (s, reviewed) = app.call("POST", &review, Some(&admin), Some(json!({"note": "nothing unusual"}))).await;
        assert_eq!((s, reviewed["status"].as_str()), (StatusCode::OK, Some("closed")), "{reviewed}");
        // And the provider cannot sign them back in while Holdfast has them departed.
        let (back, _, _) = through_provider(&app, &provider).await;
        assert!(back.status == StatusCode::UNAUTHORIZED && session_of(&back).is_none(), "{}", back.body);
    }
}
