//! Departures through the API and the pages, as the acceptance checks use them: record a
//! departure (201 with the case), list cases, a round-robin handover's dry run (per recipient,
//! nothing changed), apply, the bulk operations list with `undoable`, undo, and setting someone
//! departed who owns records (409 saying how many, then confirmed).

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn a_departure_case_through_the_api_and_its_pages() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let leaver = app.add("leaver@example.com", Role::Rep, Some("East"), None);
        app.add("hannah@example.com", Role::Rep, Some("East"), None);
        app.add("mia@example.com", Role::Rep, Some("East"), None);
        for i in 0..6 {
            let (_, a) =
                app.call("POST", "/api/v1/accounts", Some(&leaver), Some(json!({"name": format!("Acct {i}")}))).await;
            let body = json!({"first_name": format!("C{i}"), "account_id": id_of(&a)});
            let (s, _) = app.call("POST", "/api/v1/contacts", Some(&leaver), Some(body)).await;
            assert_eq!(s, StatusCode::CREATED);
        }
        let (_, me) = app.call("GET", "/api/v1/me", Some(&leaver), None).await;
        let leaver_id = id_of(&me["coworker"]);

        // Setting them departed while they own records is refused, saying how many.
        let (s, p) = app
            .call("PATCH", &format!("/api/v1/coworkers/{leaver_id}"), Some(&admin), Some(json!({"status": "departed"})))
            .await;
        assert_eq!(s, StatusCode::CONFLICT, "{p}");
        assert!(p["detail"].as_str().is_some_and(|d| d.contains("6 accounts, 6 contacts")), "{p}");

        let (s, case) = app
            .call(
                "POST",
                &format!("/api/v1/coworkers/{leaver_id}/departure"),
                Some(&admin),
                Some(json!({"last_day": "2099-06-30", "reason": "resignation"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{case}");
        assert_eq!((case["coworker_id"].as_str(), case["status"].as_str()), (Some(leaver_id.as_str()), Some("open")));
        let (s, list) = app.call("GET", "/api/v1/departures", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(list["items"][0]["id"], case["id"]);
        let (s, _) = app.call("GET", "/api/v1/departures", Some(&leaver), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "a rep sees no cases");

        let plan =
            json!({"rule": "round_robin", "recipients": ["hannah@example.com", "mia@example.com"], "dry_run": true});
        let (s, dry) = app
            .call("POST", &format!("/api/v1/coworkers/{leaver_id}/handover"), Some(&admin), Some(plan.clone()))
            .await;
        assert_eq!(s, StatusCode::OK, "{dry}");
        assert_eq!(dry["per_recipient"]["hannah@example.com"]["accounts"], 3, "{dry}");
        assert_eq!(dry["per_recipient"]["mia@example.com"]["contacts"], 3, "{dry}");
        let (_, still) = app.call("GET", "/api/v1/accounts?owner=leaver@example.com", Some(&admin), None).await;
        assert_eq!(still["items"].as_array().map(Vec::len), Some(6), "a dry run changes nothing");

        let mut apply = plan;
        apply["dry_run"] = json!(false);
        let (s, done) =
            app.call("POST", &format!("/api/v1/coworkers/{leaver_id}/handover"), Some(&admin), Some(apply)).await;
        assert_eq!(s, StatusCode::OK, "{done}");
        let op = done["operation"].as_str().expect("operation").to_string();
        let (_, ops) = app.call("GET", "/api/v1/bulk-operations", Some(&admin), None).await;
        let listed = ops["items"].as_array().and_then(|i| i.iter().find(|o| o["id"] == op.as_str()).cloned());
        assert_eq!(listed.as_ref().map(|o| o["undoable"].clone()), Some(json!(true)), "{ops}");
        let (_, contacts) = app.call("GET", "/api/v1/contacts?limit=50", Some(&admin), None).await;
        let (_, accounts) = app.call("GET", "/api/v1/accounts?limit=50", Some(&admin), None).await;
        for c in contacts["items"].as_array().into_iter().flatten() {
            let account = accounts["items"].as_array().into_iter().flatten().find(|a| a["id"] == c["account_id"]);
            assert_eq!(account.map(|a| a["owner_id"].clone()), Some(c["owner_id"].clone()), "{}", app.db.backend);
        }

        // The pages: the list, the case with its steps, the bulk operations with an Undo.
        let cookie = app.sign_in("admin@example.com").await;
        let page = app.send("GET", "/departures", &cookie, None).await;
        assert!(page.body.contains("leaver Person") || page.body.contains("leaver"), "{}", page.body);
        let case_id = case["id"].as_str().expect("id");
        let page = app.send("GET", &format!("/departures/{case_id}"), &cookie, None).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Records handed over") && page.body.contains("Undo the transfer"), "{}", page.body);
        let page = app.send("GET", "/bulk-operations", &cookie, None).await;
        assert!(page.body.contains(&format!("/bulk/{op}/undo")), "{}", page.body);
        let r =
            app.post_form(&cookie, "/bulk-operations", &format!("/bulk/{op}/undo"), "back=%2Fbulk-operations").await;
        assert_eq!(
            (r.status, r.location.starts_with("/bulk-operations?undone=1&n=12")),
            (StatusCode::SEE_OTHER, true),
            "{}",
            r.location
        );
        let (_, ops) = app.call("GET", "/api/v1/bulk-operations", Some(&admin), None).await;
        assert_eq!(ops["items"][0]["undoable"], false, "{ops}");
        assert_eq!(ops["items"][0]["undone"], true);

        // Confirmed, they may leave owning records; their records then say so.
        let (s, _) = app
            .call(
                "PATCH",
                &format!("/api/v1/coworkers/{leaver_id}"),
                Some(&admin),
                Some(json!({"status": "departed", "confirm_owned_records": true})),
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        let page = app.send("GET", "/accounts", &cookie, None).await;
        assert!(page.body.contains("(left)"), "an owner who left is shown as such: {}", page.body);
        let page = app.send("GET", "/departures", &cookie, None).await;
        assert!(page.body.contains("Owned by someone who left"), "{}", page.body);
        off_runtime(move || drop(app));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_case_page_plans_by_territory_and_account_by_account() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let leaver = app.add("leaver@example.com", Role::Rep, None, None);
        app.add("hannah@example.com", Role::Rep, None, None);
        app.add("mia@example.com", Role::Rep, None, None);
        let mut ids = Vec::new();
        for (name, country) in [("Berlin GmbH", "Germany"), ("Paris SA", "France"), ("Lyon SARL", "France")] {
            let (_, a) = app
                .call("POST", "/api/v1/accounts", Some(&leaver), Some(json!({"name": name, "country": country})))
                .await;
            ids.push(id_of(&a));
        }
        let (_, case) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaver@example.com/departure",
                Some(&admin),
                Some(json!({"last_day": "2099-06-30"})),
            )
            .await;
        let case = case["id"].as_str().expect("case").to_string();
        let cookie = app.sign_in("admin@example.com").await;
        let page = app.send("GET", &format!("/departures/{case}"), &cookie, None).await;
        assert!(
            page.body.contains("By territory: 2 countries") && page.body.contains("Account by account: 3 accounts")
        );

        // By territory: Germany to Hannah, the rest (France) to Mia.
        let fields = "rule=territory&country=France&country_to=&country=Germany&country_to=hannah%40example.com&rest=mia%40example.com";
        let r =
            app.post_form(&cookie, &format!("/departures/{case}"), &format!("/departures/{case}/plan"), fields).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("Preview: 3 records"), "{}", r.body);
        // Account by account: Lyon to Hannah, the rest to Mia; applied from the preview's own form.
        let fields = format!("rule=picked&account={}&account_to=hannah%40example.com&rest=mia%40example.com", ids[2]);
        let r =
            app.post_form(&cookie, &format!("/departures/{case}"), &format!("/departures/{case}/plan"), &fields).await;
        assert!(r.body.contains("Preview: 3 records"), "{}", r.body);
        let r =
            app.post_form(&cookie, &format!("/departures/{case}"), &format!("/departures/{case}/apply"), &fields).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let owner = |i: usize| {
            let app = &app;
            let admin = admin.clone();
            let id = ids[i].clone();
            async move {
                let (_, a) = app.call("GET", &format!("/api/v1/accounts/{id}"), Some(&admin), None).await;
                let (_, c) = app
                    .call(
                        "GET",
                        &format!("/api/v1/coworkers/{}", a["owner_id"].as_str().unwrap_or("")),
                        Some(&admin),
                        None,
                    )
                    .await;
                c["email"].as_str().unwrap_or_default().to_string()
            }
        };
        assert_eq!(owner(2).await, "hannah@example.com", "{}", app.db.backend);
        assert_eq!(owner(0).await, "mia@example.com");
        assert_eq!(owner(1).await, "mia@example.com");
        let page = app.send("GET", &format!("/departures/{case}"), &cookie, None).await;
        assert!(page.body.contains("<b>Records handed over</b> ✓"), "{}", page.body);
        // The account's history names the owners, not their ids.
        let (_, hannah) = app.call("GET", "/api/v1/coworkers/hannah@example.com", Some(&admin), None).await;
        let history = app.send("GET", &format!("/accounts/{}/history", ids[2]), &cookie, None).await;
        assert!(history.body.contains("hannah") && history.body.contains("leaver"), "{}", history.body);
        assert!(history.body.contains("<td>handover</td><td>owner</td>"), "the handover, named: {}", history.body);
        assert!(!history.body.contains(&id_of(&hannah)), "no raw id: {}", history.body);
        off_runtime(move || drop(app));
    }
}
