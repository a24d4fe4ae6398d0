//! Two-factor sign-in through the pages and the API: an admin enrols an authenticator (QR code,
//! one code, recovery codes shown once), then signs in in two steps (password, then a code); the
//! API asks for `code`; the admin setting sends an admin without one to enrol before anything
//! else; another admin resets a lost device from the co-worker's page.

use super::*;

fn between<'a>(html: &'a str, start: &str, end: &str) -> Vec<&'a str> {
    html.split(start).skip(1).filter_map(|rest| rest.split(end).next()).collect()
}

fn code_now(secret: &str) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build().expect("totp");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    totp.generate(now).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_enrols_signs_in_with_a_code_and_the_setting_and_the_reset_work() {
    for db in each_backend() {
        let app = setup(db);
        let other_admin = app.add("second@example.com", Role::Admin, None, None);
        let cookie = app.sign_in("admin@example.com").await;

        // Enrol on the page.
        let page = app.send("GET", "/two-factor", &cookie, None).await;
        assert!(page.body.contains("Set up two-factor sign-in"), "{}", page.body);
        let refused = app.post_form(&cookie, "/two-factor", "/two-factor/begin", "next=%2F&password=wrong").await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY, "the password again first");
        let begun =
            app.post_form(&cookie, "/two-factor", "/two-factor/begin", "next=%2F&password=correct+horse+battery").await;
        assert_eq!(begun.status, StatusCode::OK, "{}", begun.body);
        assert!(begun.body.contains("<svg") && begun.body.contains("QR code"), "a QR code");
        let secret = between(&begun.body, "<code class=\"secret\">", "<")[0].to_string();
        let wrong = app.post_form(&cookie, "/two-factor", "/two-factor/confirm", "code=000000&next=%2F").await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
        assert!(wrong.body.contains(&secret), "the same secret is shown again");
        let done = app
            .post_form(&cookie, "/two-factor", "/two-factor/confirm", &format!("code={}&next=%2F", code_now(&secret)))
            .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let recovery: Vec<String> =
            between(&done.body, "<li><code>", "</code>").into_iter().map(String::from).collect();
        assert_eq!(recovery.len(), 10, "{}", done.body);

        // Signing in: password, then the code on its own page.
        let first = app.submit_sign_in("admin@example.com", holdfast_testing::PASSWORD, "%2Faccounts", "").await;
        assert_eq!(first.status, StatusCode::SEE_OTHER, "{}", first.body);
        assert!(first.location.starts_with("/login/code"), "{}", first.location);
        assert!(first.cookie("holdfast_session").is_none(), "no session before the code");
        let pending = first.cookie("holdfast_pending").expect("the pending sign-in");
        let code_page = app.send("GET", &first.location, &pending, None).await;
        let login = code_page.cookie("holdfast_login").expect("the form's cookie");
        let cookies = format!("{pending}; {login}");
        let form =
            |code: &str| format!("code={code}&next=%2Faccounts&csrf_token={}", hidden(&code_page.body, "csrf_token"));
        let bad = app.send("POST", "/login/code", &cookies, Some(&form("111111"))).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{}", bad.body);
        let ok = app.send("POST", "/login/code", &cookies, Some(&form(&recovery[0]))).await;
        assert_eq!((ok.status, ok.location.as_str()), (StatusCode::SEE_OTHER, "/accounts"), "{}", ok.body);
        let page_session = ok.cookie("holdfast_session").expect("a session");
        assert_eq!(app.send("GET", "/accounts", &page_session, None).await.status, StatusCode::OK);

        // The API asks for the code.
        let (s, p) = app.api_sign_in("admin@example.com", holdfast_testing::PASSWORD).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{p}");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("\"code\"")), "{p}");
        let body = json!({"email": "admin@example.com", "password": holdfast_testing::PASSWORD, "code": recovery[1]});
        let (s, signed) = app.call("POST", "/api/v1/sessions", None, Some(body.clone())).await;
        assert_eq!(s, StatusCode::CREATED, "{signed}");
        let (s, _) = app.call("POST", "/api/v1/sessions", None, Some(body)).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a recovery code works once");

        // The setting: the other admin, who has none, enrols before anything else.
        let (s, _) =
            app.call("PUT", "/api/v1/settings", Some(&other_admin), Some(json!({"two_factor_for_admins": true}))).await;
        assert_eq!(s, StatusCode::OK);
        let second = app.sign_in("second@example.com").await;
        let home = app.send("GET", "/accounts", &second, None).await;
        assert!(home.location.starts_with("/two-factor"), "{}", home.location);
        let (s, session) = app.api_sign_in("second@example.com", holdfast_testing::PASSWORD).await;
        assert_eq!(s, StatusCode::CREATED);
        let (s, p) = app.call("GET", "/api/v1/accounts", session["token"].as_str(), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        let (s, _) = app.call("GET", "/api/v1/accounts", Some(&other_admin), None).await;
        assert_eq!(s, StatusCode::OK, "API tokens are not sign-ins");
        let reps = app.sign_in("rep@example.com").await;
        assert_eq!(app.send("GET", "/accounts", &reps, None).await.status, StatusCode::OK, "the setting is for admins");

        // A lost device: the other admin resets it from the co-worker's page; sessions end.
        let (_, me) = app.call("GET", "/api/v1/me", signed["token"].as_str(), None).await;
        let admin_id = id_of(&me["coworker"]);
        let (s, p) =
            app.call("POST", &format!("/api/v1/coworkers/{admin_id}/two-factor/reset"), Some(&other_admin), None).await;
        assert_eq!(s, StatusCode::OK, "{p}");
        assert_eq!(app.send("GET", "/accounts", &page_session, None).await.status, StatusCode::SEE_OTHER, "signed out");
    }
}
