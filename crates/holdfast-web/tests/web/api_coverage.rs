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
        assert!(
            page.body.contains("Month by month") && page.body.contains("<svg class=\"weeks trend\""),
            "{}",
            page.body
        );
        let digest = app.send("GET", "/coverage/digest", &cookie, None).await;
        assert_eq!(digest.status, StatusCode::OK, "{}", digest.body);
        assert!(digest.body.contains("Senior contact overdue"), "{}", digest.body);
        off_runtime(move || drop(app));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_that_breaks_a_contacts_protocol_answers_409_and_after_the_fact_alerts_the_owner() {
    for db in each_backend() {
        let app = App::new(db);
        app.add("admin@example.com", Role::Admin, None, None);
        let dana = app.add("dana@example.com", Role::Rep, Some("East"), None);
        let ravi = app.add("ravi@example.com", Role::Rep, Some("West"), None);
        let (_, acme) =
            app.call("POST", "/api/v1/accounts", Some(&dana), Some(json!({"name": "Acme", "tier": "strategic"}))).await;
        let acme = id_of(&acme);
        let (s, ceo) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&dana),
                Some(json!({"first_name": "Linda", "last_name": "Chen", "title": "COO", "account_id": acme,
                            "seniority": "executive", "protocol": "escalation_only"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{ceo}");
        assert_eq!((ceo["seniority"].as_str(), ceo["protocol"].as_str()), (Some("executive"), Some("escalation_only")));
        let (_, buyer) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&dana),
                Some(json!({"first_name": "Bo", "account_id": acme, "reports_to_id": id_of(&ceo)})),
            )
            .await;
        assert_eq!(buyer["reports_to_id"], ceo["id"]);
        let call = json!({"type": "call", "summary": "Pricing", "account_id": acme, "contact_ids": [id_of(&ceo)]});

        let (s, problem) = app.call("POST", "/api/v1/activities", Some(&ravi), Some(call.clone())).await;
        assert_eq!(s, StatusCode::CONFLICT, "{problem}");
        assert_eq!(problem["type"], "https://holdfast.dev/problems/contact-protocol");
        assert_eq!(problem["protocol"], "escalation_only");
        assert!(problem["detail"].as_str().is_some_and(|d| d.contains("escalation only")), "{problem}");

        // Ask, approve as the owner, then the same call is created with the approval.
        let (s, asked) = app
            .call(
                "POST",
                "/api/v1/contact-approvals",
                Some(&ravi),
                Some(json!({"contact_id": id_of(&ceo), "reason": "She asked for a quote"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{asked}");
        let (_, waiting) = app.call("GET", "/api/v1/contact-approvals", Some(&dana), None).await;
        assert_eq!(waiting["to_decide"][0]["id"], asked["id"], "{waiting}");
        let (s, decided) =
            app.call("POST", &format!("/api/v1/contact-approvals/{}/approve", id_of(&asked)), Some(&dana), None).await;
        assert_eq!((s, decided["status"].as_str()), (StatusCode::OK, Some("approved")), "{decided}");
        let mut approved = call.clone();
        approved["approval_id"] = asked["id"].clone();
        let (s, a) = app.call("POST", "/api/v1/activities", Some(&ravi), Some(approved)).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");

        // After the fact, by someone without an approval: kept, and Dana is alerted.
        let eli = app.add("eli@example.com", Role::Rep, Some("West"), None);
        let mut late = call.clone();
        late["after_the_fact"] = json!(true);
        let (s, a) = app.call("POST", "/api/v1/activities", Some(&eli), Some(late)).await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        let (s, alerts) = app.call("GET", "/api/v1/alerts", Some(&dana), None).await;
        assert_eq!(s, StatusCode::OK, "{alerts}");
        let breach = alerts["items"].as_array().and_then(|items| items.iter().find(|i| i["kind"] == "protocol_breach"));
        let breach = breach.unwrap_or_else(|| panic!("the owner sees it: {alerts}"));
        assert_eq!(breach["coworker_email"], "eli@example.com");

        // The page: a log with the guarded contact shows the warning and the two ways on.
        let cookie = app.sign_in("eli@example.com").await;
        let page = app.send("GET", &format!("/accounts/{acme}"), &cookie, None).await;
        assert!(page.body.contains("Linda Chen (escalation only)"), "the form says so before it is sent");
        assert!(!page.body.contains(&format!("/accounts/{acme}/edit")), "Edit only for who may edit");
        let form = format!("type=call&summary=Lunch&contact_ids={}", id_of(&ceo));
        let reply =
            app.post_form(&cookie, &format!("/accounts/{acme}"), &format!("/accounts/{acme}/activities"), &form).await;
        assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
        assert!(
            reply.body.contains("Ask for approval") && reply.body.contains("Log it and tell the owner"),
            "{}",
            reply.body
        );
        let owner_cookie = app.sign_in("dana@example.com").await;
        let page = app.send("GET", &format!("/accounts/{acme}"), &owner_cookie, None).await;
        assert!(page.body.contains(&format!("/accounts/{acme}/edit")), "the owner may edit");
        let alerts_page = app.send("GET", "/alerts", &owner_cookie, None).await;
        assert_eq!(alerts_page.status, StatusCode::OK);
        assert!(alerts_page.body.contains("without approval"), "{}", alerts_page.body);
        off_runtime(move || drop(app));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn search_finds_every_kind_grouped_with_kind_and_id() {
    for db in each_backend() {
        let app = App::new(db);
        let dana = app.add("dana@example.com", Role::Rep, None, None);
        let (_, acme) = app.call("POST", "/api/v1/accounts", Some(&dana), Some(json!({"name": "Zephyr Works"}))).await;
        app.call(
            "POST",
            "/api/v1/contacts",
            Some(&dana),
            Some(json!({"first_name": "Zelda", "account_id": id_of(&acme)})),
        )
        .await;
        app.call("POST", "/api/v1/leads", Some(&dana), Some(json!({"first_name": "Ann", "company": "Zephyr Labs"})))
            .await;
        let (s, deal) = app
            .call(
                "POST",
                "/api/v1/deals",
                Some(&dana),
                Some(json!({"name": "Zephyr expansion", "account_id": id_of(&acme)})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{deal}");
        let (s, found) = app.call("GET", "/api/v1/search?q=zep", Some(&dana), None).await;
        assert_eq!(s, StatusCode::OK, "{found}");
        let kinds: Vec<&str> = found["items"]
            .as_array()
            .map(|i| i.iter().filter_map(|x| x["kind"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(kinds, ["account", "lead", "deal"], "{}: {found}", app.db.backend);
        assert!(found["items"].as_array().is_some_and(|i| i.iter().all(|x| x["id"].is_string())));
        assert_eq!(found["deals"][0]["id"], deal["id"]);
        let cookie = app.sign_in("dana@example.com").await;
        let page = app.send("GET", "/search?q=zephyr", &cookie, None).await;
        assert_eq!(page.status, StatusCode::OK);
        for group in ["Accounts", "Leads", "Deals"] {
            assert!(page.body.contains(&format!("<h3>{group}</h3>")), "{group}: {}", page.body);
        }
        let (_, events) = app
            .call(
                "GET",
                "/api/v1/events?action=search",
                Some(&app.add("admin@example.com", Role::Admin, None, None)),
                None,
            )
            .await;
        assert!(events["items"].as_array().is_some_and(|e| e.len() >= 2), "every search is recorded: {events}");
        off_runtime(move || drop(app));
    }
}
