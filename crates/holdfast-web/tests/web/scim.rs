//! `/scim/v2` through the real router on both backends, with the request bodies Okta and
//! Microsoft Entra ID document: the acceptance story (the identity provider creates a co-worker,
//! finds them by userName, deactivates them; their token and session fail at once and a departure
//! case holds their book), Entra's and Okta's PATCH shapes, Groups as teams, DELETE, and
//! malformed requests that get SCIM errors, never a 500.

use super::*;
use holdfast_core::scim::{ENTERPRISE_USER, ERROR_SCHEMA, GROUP_SCHEMA, PATCH_OP, USER_SCHEMA};

/// A request (method, path, token, body) and the status and `scimType` it must get.
type Case<'a> = (&'a str, String, Option<&'a str>, Option<(&'a str, Vec<u8>)>, u16, Option<&'a str>);

fn filter(f: &str) -> String {
    f.replace('%', "%25").replace(' ', "%20").replace('"', "%22").replace('@', "%40").replace('+', "%2B")
}

fn is_scim_error(body: &Value, status: u16, scim_type: Option<&str>) -> bool {
    body["schemas"] == json!([ERROR_SCHEMA])
        && body["status"] == json!(status.to_string())
        && body["scimType"].as_str() == scim_type
        && body["detail"].as_str().is_some_and(|d| !d.is_empty())
}

/// Okta's documented first request for a new user.
fn okta_user(email: &str, external: &str) -> Value {
    json!({
        "schemas": [USER_SCHEMA],
        "userName": email,
        "name": {"givenName": "Isaac", "familyName": "Brock"},
        "emails": [{"primary": true, "value": email, "type": "work"}],
        "displayName": "Isaac Brock",
        "locale": "en-US",
        "externalId": external,
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_identity_provider_creates_a_coworker_and_deactivating_them_ends_access_and_opens_the_case() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        app.add("mia@example.com", Role::Rep, None, None);

        // Created by the identity provider with the admin's API token.
        let (s, created) = app
            .call(
                "POST",
                "/scim/v2/Users",
                Some(&admin),
                Some(okta_user("Isaac.Brock@example.com", "00ujl29u0le5T6Aj10h7")),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["id"].as_str().expect("id").to_string();
        assert_eq!(created["userName"], "isaac.brock@example.com");
        assert_eq!(created["active"], true);
        assert_eq!(created["externalId"], "00ujl29u0le5T6Aj10h7");
        assert_eq!(created["name"]["formatted"], "Isaac Brock");
        assert!(created["meta"]["location"].as_str().is_some_and(|l| l.ends_with(&format!("/scim/v2/Users/{id}"))));

        // Found by userName, in any case, as Okta and Entra look before they create.
        let (s, found) = app
            .call(
                "GET",
                &format!("/scim/v2/Users?filter={}", filter(r#"userName eq "ISAAC.BROCK@example.com""#)),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{found}");
        assert_eq!(
            (found["totalResults"].as_u64(), found["Resources"][0]["id"].as_str()),
            (Some(1), Some(id.as_str()))
        );
        let (_, none) = app
            .call(
                "GET",
                &format!("/scim/v2/Users?filter={}", filter(r#"userName eq "nobody@example.com""#)),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(none["totalResults"], 0, "{none}");
        let (_, by_external) = app
            .call(
                "GET",
                &format!("/scim/v2/Users?filter={}", filter(r#"externalId eq "00ujl29u0le5T6Aj10h7""#)),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(by_external["Resources"][0]["id"].as_str(), Some(id.as_str()));

        // They work: an API token, a browser session, and an account they own.
        let (s, token) = app
            .call("POST", &format!("/api/v1/coworkers/{id}/tokens"), Some(&admin), Some(json!({"name": "laptop"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{token}");
        let token = token["token"].as_str().expect("token").to_string();
        let (s, account) = app.call("POST", "/api/v1/accounts", Some(&token), Some(json!({"name": "Globex"}))).await;
        assert_eq!(s, StatusCode::CREATED, "{account}");
        app.with(|s| {
            let changes = holdfast_core::service::CoWorkerChanges {
                password: Some(holdfast_testing::PASSWORD.into()),
                ..Default::default()
            };
            s.update_coworker(&Actor::operator(), &id, changes).expect("a password for the browser");
        });
        let cookie = app.sign_in("isaac.brock@example.com").await;
        assert_eq!(app.send("GET", "/accounts", &cookie, None).await.status, StatusCode::OK);

        // Deactivated, with the exact body the acceptance check sends.
        let deactivate =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let (s, patched) = app.call("PATCH", &format!("/scim/v2/Users/{id}"), Some(&admin), Some(deactivate)).await;
        assert_eq!(s, StatusCode::OK, "{patched}");
        assert_eq!(patched["active"], false);

        // Token and session fail on the next request.
        let (s, _) = app.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        let page = app.send("GET", "/accounts", &cookie, None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER);
        assert!(page.location.starts_with("/login"), "{}", page.location);

        // The case is there, from the identity provider, with their book.
        let (s, cases) = app.call("GET", "/api/v1/departures", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{cases}");
        let case =
            cases["items"].as_array().and_then(|c| c.iter().find(|c| c["coworker_id"] == json!(id))).expect("case");
        assert_eq!(
            (case["source"].as_str(), case["status"].as_str()),
            (Some("identity_provider"), Some("open")),
            "{case}"
        );
        assert_eq!(case["still_owned"]["accounts"], 1, "{case}");
        assert!(case["steps"]["access"].is_object(), "access ended on the case: {case}");

        // Every SCIM change is a system event, made through the token's channel.
        let events = app.with(|s| {
            s.events(&Actor::operator(), &EventFilter { limit: 1000, ..Default::default() }).expect("events")
        });
        let acted = |action: &str| {
            events.iter().any(|e| e.event.action == action && e.event.object_id.as_deref() == Some(id.as_str()))
        };
        assert!(acted("coworker.create") && acted("coworker.update"), "create and deactivation recorded");
        assert!(events.iter().any(|e| e.event.action == "departure.start"
            && e.event.details["source"] == "identity_provider"
            && e.event.details["coworker_id"] == json!(id)));

        // Reactivated (Entra's string boolean): they may sign in again, the case is called off,
        // and the old token stays dead.
        let reactivate =
            json!({"schemas": [PATCH_OP], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]});
        let (s, back) = app.call("PATCH", &format!("/scim/v2/Users/{id}"), Some(&admin), Some(reactivate)).await;
        assert_eq!((s, back["active"].as_bool()), (StatusCode::OK, Some(true)), "{back}");
        let (s, _) = app.call("GET", "/api/v1/me", Some(&token), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked token stays revoked");
        let (_, all) = app.call("GET", "/api/v1/departures?all=true", Some(&admin), None).await;
        let case =
            all["items"].as_array().and_then(|c| c.iter().find(|c| c["coworker_id"] == json!(id))).expect("case");
        assert_eq!(case["status"], "cancelled", "{case}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn entra_and_okta_updates_groups_as_teams_and_delete() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        // A dedicated SCIM token for the identity provider.
        let (_, me) = app.call("GET", "/api/v1/me", Some(&admin), None).await;
        let admin_id = id_of(&me["coworker"]);
        let (s, scim) = app
            .call("POST", &format!("/api/v1/coworkers/{admin_id}/tokens"), Some(&admin), Some(json!({"kind": "scim"})))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{scim}");
        let scim = scim["token"].as_str().expect("token").to_string();

        // Entra's documented POST, enterprise extension included.
        let (s, boss) =
            app.call("POST", "/scim/v2/Users", Some(&scim), Some(okta_user("boss@example.com", "b-1"))).await;
        assert_eq!(s, StatusCode::CREATED, "{boss}");
        let entra = json!({
            "schemas": [USER_SCHEMA, ENTERPRISE_USER],
            "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
            "userName": "Test_User_ab6490ee@testuser.com",
            "active": true,
            "emails": [{"primary": true, "type": "work", "value": "Test_User_ab6490ee@testuser.com"}],
            "meta": {"resourceType": "User"},
            "name": {"formatted": "Grace Hopper", "familyName": "Hopper", "givenName": "Grace"},
            "roles": [],
            ENTERPRISE_USER: {"department": "Sales EMEA", "manager": {"value": boss["id"]}}
        });
        let (s, user) = app.call("POST", "/scim/v2/Users", Some(&scim), Some(entra)).await;
        assert_eq!(s, StatusCode::CREATED, "{user}");
        let id = user["id"].as_str().expect("id").to_string();
        assert_eq!(user[ENTERPRISE_USER]["manager"]["value"], boss["id"]);
        assert_eq!(user[ENTERPRISE_USER]["department"], "Sales EMEA");

        // Entra's PATCH without the aadOptscim062020 flag: capitalised ops, a path-less value
        // with dotted keys, a value-path email, the manager as a bare string.
        let ops = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "grace.hopper@testuser.com"},
            {"op": "Replace", "path": "userName", "value": "grace.hopper@testuser.com"},
            {"op": "Add", "value": {"title": "Account Executive", "name.givenName": "Grace B."}},
            {"op": "Replace", "path": "name.formatted", "value": "Grace B. Hopper"},
            {"op": "Add", "path": format!("{ENTERPRISE_USER}:manager"), "value": boss["id"]},
            {"op": "Replace", "path": format!("{ENTERPRISE_USER}:department"), "value": "Sales DACH"}
        ]});
        let (s, user) = app.call("PATCH", &format!("/scim/v2/Users/{id}"), Some(&scim), Some(ops)).await;
        assert_eq!(s, StatusCode::OK, "{user}");
        assert_eq!(user["userName"], "grace.hopper@testuser.com");
        assert_eq!(
            (user["title"].as_str(), user["name"]["formatted"].as_str()),
            (Some("Account Executive"), Some("Grace B. Hopper"))
        );
        assert_eq!(user[ENTERPRISE_USER]["department"], "Sales DACH");
        let (_, co) = app.call("GET", &format!("/api/v1/coworkers/{id}"), Some(&admin), None).await;
        assert_eq!(
            (co["email"].as_str(), co["title"].as_str()),
            (Some("grace.hopper@testuser.com"), Some("Account Executive"))
        );

        // Okta's PUT of the whole user: what it leaves out is cleared.
        let mut put = okta_user("grace.hopper@testuser.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef");
        put["id"] = json!(id);
        let (s, user) = app.call("PUT", &format!("/scim/v2/Users/{id}"), Some(&scim), Some(put)).await;
        assert_eq!(s, StatusCode::OK, "{user}");
        assert_eq!(user["name"]["formatted"], "Isaac Brock", "name.formatted absent: the given and family names");
        assert!(user["title"].is_null() && user[ENTERPRISE_USER].get("manager").is_none(), "{user}");

        // What SCIM may not do: rename an admin (single sign-on matches by email), deactivate the
        // token's own admin, or switch on a co-worker an admin switched off in Holdfast.
        let rename = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "userName", "value": "someone@example.com"}]});
        let (s, p) = app.call("PATCH", &format!("/scim/v2/Users/{admin_id}"), Some(&scim), Some(rename)).await;
        assert!(s == StatusCode::BAD_REQUEST && is_scim_error(&p, 400, Some("mutability")), "{p}");
        let off = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": false}]});
        let (s, p) = app.call("PATCH", &format!("/scim/v2/Users/{admin_id}"), Some(&scim), Some(off)).await;
        assert!(s == StatusCode::BAD_REQUEST && is_scim_error(&p, 400, Some("mutability")), "{p}");
        let (s, _) = app
            .call(
                "PATCH",
                &format!("/api/v1/coworkers/{}", boss["id"].as_str().unwrap_or_default()),
                Some(&admin),
                Some(json!({"status": "suspended"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let on = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]});
        let (s, still) = app
            .call(
                "PATCH",
                &format!("/scim/v2/Users/{}", boss["id"].as_str().unwrap_or_default()),
                Some(&scim),
                Some(on),
            )
            .await;
        assert_eq!(
            (s, still["active"].as_bool()),
            (StatusCode::OK, Some(false)),
            "suspended in Holdfast stays so: {still}"
        );

        // Provisioned inactive (not started yet), switched on later by the provider.
        let mut later = okta_user("starts.monday@example.com", "x-9");
        later["active"] = json!(false);
        let (s, u) = app.call("POST", "/scim/v2/Users", Some(&scim), Some(later)).await;
        assert_eq!((s, u["active"].as_bool()), (StatusCode::CREATED, Some(false)), "{u}");
        let on = json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": true}]});
        let (s, u) = app.call("PATCH", &format!("/scim/v2/Users/{}", id_of(&u)), Some(&scim), Some(on)).await;
        assert_eq!((s, u["active"].as_bool()), (StatusCode::OK, Some(true)), "{u}");

        // Groups are teams.
        let (s, group) = app
            .call(
                "POST",
                "/scim/v2/Groups",
                Some(&scim),
                Some(json!({"schemas": [GROUP_SCHEMA], "displayName": "EMEA", "members": [{"value": id}]})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{group}");
        let gid = group["id"].as_str().expect("gid").to_string();
        let (_, co) = app.call("GET", &format!("/api/v1/coworkers/{id}"), Some(&admin), None).await;
        assert_eq!(co["team_id"].as_str(), Some(gid.as_str()));
        // Okta adds, Entra removes by value list, Okta removes by filter.
        let add = json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": "members", "value": [{"value": boss["id"]}]}]});
        let (s, g) = app.call("PATCH", &format!("/scim/v2/Groups/{gid}"), Some(&scim), Some(add)).await;
        assert_eq!((s, g["members"].as_array().map(Vec::len)), (StatusCode::OK, Some(2)), "{g}");
        let remove = json!({"schemas": [PATCH_OP], "Operations": [{"op": "Remove", "path": "members", "value": [{"value": id}]}]});
        let (_, g) = app.call("PATCH", &format!("/scim/v2/Groups/{gid}"), Some(&scim), Some(remove)).await;
        assert_eq!(g["members"].as_array().map(Vec::len), Some(1), "{g}");
        let remove = json!({"schemas": [PATCH_OP], "Operations": [
            {"op": "remove", "path": format!("members[value eq \"{}\"]", boss["id"].as_str().unwrap_or_default())},
            {"op": "replace", "path": "displayName", "value": "EMEA Sales"}]});
        let (_, g) = app.call("PATCH", &format!("/scim/v2/Groups/{gid}"), Some(&scim), Some(remove)).await;
        assert_eq!(
            (g["members"].as_array().map(Vec::len), g["displayName"].as_str()),
            (Some(0), Some("EMEA Sales")),
            "{g}"
        );
        let (_, list) = app
            .call(
                "GET",
                &format!(
                    "/scim/v2/Groups?filter={}&excludedAttributes=members",
                    filter(r#"displayName eq "emea sales""#)
                ),
                Some(&scim),
                None,
            )
            .await;
        assert_eq!(list["totalResults"], 1, "{list}");
        assert!(list["Resources"][0].get("members").is_none(), "{list}");
        let (s, _) = app.call("DELETE", &format!("/scim/v2/Groups/{gid}"), Some(&scim), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, _) = app.call("GET", &format!("/scim/v2/Groups/{gid}"), Some(&scim), None).await;
        assert_eq!(s, StatusCode::NOT_FOUND);

        // DELETE: access ends and the case opens; the resource is gone; created again, the same
        // co-worker comes back with their history.
        let (s, _) = app.call("DELETE", &format!("/scim/v2/Users/{id}"), Some(&scim), None).await;
        assert_eq!(s, StatusCode::NO_CONTENT);
        let (s, gone) = app.call("GET", &format!("/scim/v2/Users/{id}"), Some(&scim), None).await;
        assert!(s == StatusCode::NOT_FOUND && is_scim_error(&gone, 404, None), "{gone}");
        let (_, co) = app.call("GET", &format!("/api/v1/coworkers/{id}"), Some(&admin), None).await;
        assert_eq!(co["status"], "departed");
        let (s, again) = app
            .call(
                "POST",
                "/scim/v2/Users",
                Some(&scim),
                Some(okta_user("grace.hopper@testuser.com", "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef")),
            )
            .await;
        assert_eq!(
            (s, again["id"].as_str(), again["active"].as_bool()),
            (StatusCode::CREATED, Some(id.as_str()), Some(true)),
            "{again}"
        );

        // Pagination: startIndex and count, totalResults over all.
        let (_, p) = app.call("GET", "/scim/v2/Users?startIndex=2&count=1", Some(&scim), None).await;
        assert_eq!(
            (p["totalResults"].as_u64(), p["itemsPerPage"].as_u64(), p["startIndex"].as_u64()),
            (Some(4), Some(1), Some(2)),
            "{p}"
        );

        // Discovery.
        for path in [
            "/scim/v2/ServiceProviderConfig",
            "/scim/v2/ResourceTypes",
            "/scim/v2/Schemas",
            "/scim/v2/ResourceTypes/User",
        ] {
            let (s, body) = app.call("GET", path, Some(&scim), None).await;
            assert_eq!(s, StatusCode::OK, "{path}: {body}");
        }
        let (_, spc) = app.call("GET", "/scim/v2/ServiceProviderConfig", Some(&scim), None).await;
        assert_eq!(spc["patch"]["supported"], true);

        // The SCIM token opens /scim/v2 only.
        let (s, _) = app.call("GET", "/api/v1/me", Some(&scim), None).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_scim_gets_scim_errors_never_a_500() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("rep@example.com", Role::Rep, None, None);
        let (_, rep_me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        let rep_id = id_of(&rep_me["coworker"]);
        let user = |extra: Value| {
            let mut u = okta_user("new@example.com", "x-1");
            if let (Some(u), Some(e)) = (u.as_object_mut(), extra.as_object()) {
                u.extend(e.clone());
            }
            u
        };
        let cases: Vec<Case> = vec![
            ("GET", format!("/scim/v2/Users?filter={}", filter("userName eq")), Some(&admin), None, 400, Some("invalidFilter")),
            ("GET", format!("/scim/v2/Users?filter={}", filter("userName eq bob")), Some(&admin), None, 400, Some("invalidFilter")),
            ("GET", format!("/scim/v2/Users?filter={}", filter(&"(".repeat(500))), Some(&admin), None, 400, Some("invalidFilter")),
            ("GET", "/scim/v2/Users?count=lots".into(), Some(&admin), None, 400, Some("invalidValue")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", b"{not json".to_vec())), 400, Some("invalidSyntax")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", user(json!({"shoeSize": 44})).to_string().into_bytes())), 400, Some("invalidSyntax")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", user(json!({"schemas": ["urn:example:Other"]})).to_string().into_bytes())), 400, Some("invalidSyntax")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", user(json!({"userName": "not an email"})).to_string().into_bytes())), 400, Some("invalidValue")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", user(json!({"userName": "rep@example.com"})).to_string().into_bytes())), 409, Some("uniqueness")),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("application/scim+json", vec![b' '; 2 * 1024 * 1024])), 413, None),
            ("POST", "/scim/v2/Users".into(), Some(&admin), Some(("text/plain", b"hello".to_vec())), 415, None),
            ("PATCH", format!("/scim/v2/Users/{rep_id}"), Some(&admin), Some(("application/scim+json", json!({"Operations": []}).to_string().into_bytes())), 400, Some("invalidSyntax")),
            ("PATCH", format!("/scim/v2/Users/{rep_id}"), Some(&admin), Some(("application/scim+json", json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "shoeSize", "value": 44}]}).to_string().into_bytes())), 400, Some("invalidPath")),
            ("PATCH", format!("/scim/v2/Users/{rep_id}"), Some(&admin), Some(("application/scim+json", json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "active", "value": "perhaps"}]}).to_string().into_bytes())), 400, Some("invalidValue")),
            ("PATCH", format!("/scim/v2/Users/{rep_id}"), Some(&admin), Some(("application/scim+json", json!({"schemas": [PATCH_OP], "Operations": [{"op": "replace", "path": "id", "value": "x"}]}).to_string().into_bytes())), 400, Some("mutability")),
            ("PATCH", format!("/scim/v2/Users/{rep_id}"), Some(&admin), Some(("application/scim+json", json!({"schemas": [PATCH_OP], "Operations": [{"op": "add", "path": format!("{ENTERPRISE_USER}:manager"), "value": "no-such-id"}]}).to_string().into_bytes())), 400, Some("invalidValue")),
            ("GET", "/scim/v2/Users/not-a-uuid".into(), Some(&admin), None, 404, None),
            ("GET", format!("/scim/v2/Users/{}", uuid::Uuid::nil()), Some(&admin), None, 404, None),
            ("GET", "/scim/v2/Bananas".into(), Some(&admin), None, 404, None),
            ("POST", "/scim/v2/ServiceProviderConfig".into(), Some(&admin), None, 405, None),
            ("GET", "/scim/v2/Users".into(), None, None, 401, None),
            ("GET", "/scim/v2/Users".into(), Some("not-a-token"), None, 401, None),
            ("GET", "/scim/v2/Users".into(), Some(&rep), None, 403, None),
        ];
        for (method, path, token, body, status, scim_type) in cases {
            let (s, answer) = app.raw(method, &path, token, body).await;
            assert_eq!(s.as_u16(), status, "{method} {path}: {answer}");
            assert!(is_scim_error(&answer, status, scim_type), "{method} {path}: {answer}");
        }
        // Nothing was created by the refused requests, and the rep is as they were.
        let (_, all) = app.call("GET", "/scim/v2/Users", Some(&admin), None).await;
        assert_eq!(all["totalResults"], 2, "{all}");
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        assert_eq!(me["coworker"]["status"], "active");
        // An admin's bearer session works like their API token; a rep's does not; a SCIM token is
        // only an admin's.
        let (_, session) = app.api_sign_in("admin@example.com", holdfast_testing::PASSWORD).await;
        let session = session["token"].as_str().unwrap_or_default().to_string();
        let (s, body) = app.call("GET", "/scim/v2/Users", Some(&session), None).await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let (_, session) = app.api_sign_in("rep@example.com", holdfast_testing::PASSWORD).await;
        let session = session["token"].as_str().unwrap_or_default().to_string();
        let (s, body) = app.call("GET", "/scim/v2/Users", Some(&session), None).await;
        assert!(s == StatusCode::FORBIDDEN && is_scim_error(&body, 403, None), "{body}");
        let (s, body) = app
            .call("POST", &format!("/api/v1/coworkers/{rep_id}/tokens"), Some(&admin), Some(json!({"kind": "scim"})))
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_admin_makes_the_scim_token_on_the_settings_page() {
    for db in each_backend() {
        let app = App::new(db);
        app.add("admin@example.com", Role::Admin, None, None);
        app.add("rep@example.com", Role::Rep, None, None);
        let cookie = app.sign_in("admin@example.com").await;
        let page = app.send("GET", "/settings", &cookie, None).await;
        assert!(
            page.body.contains("Identity provider (SCIM)") && page.body.contains("/scim/v2</code>"),
            "{}",
            page.body
        );
        let made = app.post_form(&cookie, "/settings", "/settings/scim-tokens", "name=Okta").await;
        assert_eq!(made.status, StatusCode::OK, "{}", made.body);
        let secret = made
            .body
            .split("<code class=\"secret\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the SCIM token is shown once")
            .to_string();
        let (s, list) = app.call("GET", "/scim/v2/Users", Some(&secret), None).await;
        assert_eq!((s, list["totalResults"].as_u64()), (StatusCode::OK, Some(2)), "{list}");
        // A rep sees no such section and cannot make one.
        let rep = app.sign_in("rep@example.com").await;
        assert!(!app.send("GET", "/settings", &rep, None).await.body.contains("Identity provider (SCIM)"));
        let refused = app.post_form(&rep, "/settings", "/settings/scim-tokens", "name=Mine").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    }
}
