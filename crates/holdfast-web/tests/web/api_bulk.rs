//! Bulk changes through the API: hand picked records over, undo, export, and the one-step handover
//! of a departing rep's customers.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn bulk_hand_over_undo_and_export_through_the_api() {
    for db in each_backend() {
        let app = App::new(db);
        let boss = app.add("boss@example.com", Role::Manager, Some("East"), None);
        let rep = app.add("rep@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        app.add("mate@example.com", Role::Rep, Some("East"), Some("boss@example.com"));
        let outsider = app.add("outsider@example.com", Role::Rep, None, None);
        let mut ids = Vec::new();
        for name in ["One", "Two", "Three"] {
            let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": name}))).await;
            ids.push(id_of(&acc));
        }
        // The manager hands the rep's accounts to a team mate: one step.
        let (s, done) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": ids, "owner": "mate@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{done}");
        assert_eq!(done["changed"], 3);
        let (_, mine) = app.call("GET", "/api/v1/accounts?owner=mate@example.com", Some(&boss), None).await;
        assert_eq!(mine["items"].as_array().map(Vec::len), Some(3), "{}", app.db.backend);
        // Someone outside the team may not; nothing changes.
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&outsider),
                Some(json!({"ids": ids, "owner": "outsider@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{p}");
        // Bad input: a clear problem naming the field.
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": ["x"], "owner": "rep@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p["errors"][0]["field"], "ids", "{p}");
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/accounts/bulk/assign",
                Some(&boss),
                Some(json!({"ids": [], "owner": "rep@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        // Only the author (or an admin) may undo; then the accounts are the rep's again.
        let undo = format!("/api/v1/bulk-operations/{}/undo", done["operation"].as_str().expect("operation"));
        let (s, _) = app.call("POST", &undo, Some(&rep), None).await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, undone) = app.call("POST", &undo, Some(&boss), None).await;
        assert_eq!(s, StatusCode::OK, "{undone}");
        assert_eq!(undone["changed"], 3);
        let (s, _) = app.call("POST", &undo, Some(&boss), None).await;
        assert_eq!(s, StatusCode::CONFLICT);
        let (_, back) = app.call("GET", "/api/v1/accounts?owner=rep@example.com", Some(&boss), None).await;
        assert_eq!(back["items"].as_array().map(Vec::len), Some(3));

        // Export: CSV of the filtered list or of picked ids; each is an export.create event.
        let (s, csv) =
            app.call("GET", "/api/v1/accounts/export?owner=rep@example.com&sort=name", Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        let csv = csv.as_str().expect("csv text").to_string();
        let names: Vec<&str> = csv.lines().skip(1).filter_map(|l| l.split(',').nth(1)).collect();
        assert_eq!(names, ["One", "Three", "Two"], "{csv}");
        let (s, csv) = app.call("GET", &format!("/api/v1/accounts/export?ids={}", ids[0]), Some(&rep), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(csv.as_str().map(|c| c.lines().count()), Some(2));
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        let (_, events) = app
            .call(
                "GET",
                &format!("/api/v1/coworkers/{}/events?action=export.create", id_of(&me["coworker"])),
                Some(&rep),
                None,
            )
            .await;
        let rows: Vec<i64> =
            events["items"].as_array().expect("items").iter().filter_map(|e| e["row_count"].as_i64()).collect();
        assert_eq!(rows, [1, 3], "{events}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departing_reps_customers_go_to_a_new_owner_in_one_step() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let rep = app.add("leaving@example.com", Role::Rep, Some("East"), None);
        app.add("heir@example.com", Role::Rep, Some("East"), None);
        let outsider = app.add("outsider@example.com", Role::Rep, None, None);
        let (_, acc) = app.call("POST", "/api/v1/accounts", Some(&rep), Some(json!({"name": "Umbrella"}))).await;
        let account = id_of(&acc);
        for body in [json!({"name": "Wayne Corp"})] {
            app.call("POST", "/api/v1/accounts", Some(&rep), Some(body)).await;
        }
        app.call("POST", "/api/v1/contacts", Some(&rep), Some(json!({"first_name": "Alice", "account_id": account})))
            .await;
        app.call("POST", "/api/v1/deals", Some(&rep), Some(json!({"name": "Vaccine", "account_id": account}))).await;
        app.call("POST", "/api/v1/tasks", Some(&rep), Some(json!({"title": "Call Alice", "account_id": account})))
            .await;
        let (s, act) = app
            .call(
                "POST",
                "/api/v1/activities",
                Some(&rep),
                Some(json!({"type": "call", "occurred_at": "2026-01-05T10:00:00Z", "summary": "Intro", "account_id": account})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{act}");

        // Not theirs to give: a rep outside the team is refused and nothing moves.
        let (s, _) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&outsider),
                Some(json!({"to": "outsider@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::FORBIDDEN);
        let (s, p) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&admin),
                Some(json!({"to": "leaving@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");

        let (s, h) = app
            .call(
                "POST",
                "/api/v1/coworkers/leaving@example.com/handover",
                Some(&admin),
                Some(json!({"to": "heir@example.com"})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{h}");
        assert_eq!(h["per_kind"], json!({"accounts": 2, "contacts": 1, "deals": 1, "tasks": 1}), "{}", app.db.backend);
        assert_eq!(h["changed"], 5);
        for kind in ["accounts", "contacts", "deals", "tasks"] {
            let (_, left) =
                app.call("GET", &format!("/api/v1/{kind}?owner=leaving@example.com"), Some(&admin), None).await;
            assert_eq!(left["items"].as_array().map(Vec::len), Some(0), "{kind} left behind");
        }
        // The call stays with whoever made it.
        let (_, act) = app.call("GET", &format!("/api/v1/activities/{}", id_of(&act)), Some(&admin), None).await;
        let (_, me) = app.call("GET", "/api/v1/me", Some(&rep), None).await;
        assert_eq!(act["owner_id"], me["coworker"]["id"]);
        // One event names the whole handover.
        let (_, events) = app.call("GET", "/api/v1/events?action=coworker.handover", Some(&admin), None).await;
        let items = events["items"].as_array().expect("items");
        assert_eq!(items.len(), 1, "{events}");
        assert_eq!(items[0]["row_count"], 5);

        // Undo puts everything back.
        let op = h["operation"].as_str().expect("operation");
        let (s, undone) = app.call("POST", &format!("/api/v1/bulk-operations/{op}/undo"), Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK, "{undone}");
        assert_eq!(undone["changed"], 5);
        let (_, back) = app.call("GET", "/api/v1/accounts?owner=leaving@example.com", Some(&admin), None).await;
        assert_eq!(back["items"].as_array().map(Vec::len), Some(2));
    }
}

/// Exported cells a spreadsheet would run as a formula are neutralized (a leading `'`), and the
/// import reads them back as they were.
#[tokio::test(flavor = "multi_thread")]
async fn exports_cannot_carry_a_formula_into_a_spreadsheet() {
    for db in each_backend() {
        let app = App::new(db);
        let admin = app.add("admin@example.com", Role::Admin, None, None);
        let evil = "=HYPERLINK(\"http://evil.example\",\"x\")";
        let (s, c) = app
            .call(
                "POST",
                "/api/v1/contacts",
                Some(&admin),
                Some(json!({"first_name": evil, "last_name": "@SUM(A1)", "phone": "+44 20 7946 0000"})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{c}");
        let (s, csv) = app.raw("GET", "/api/v1/contacts/export", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        let csv = csv.as_str().expect("CSV text").to_string();
        let row = csv.lines().nth(1).expect("a row");
        assert!(row.contains("\"'=HYPERLINK(") && row.contains(",'@SUM(A1),"), "{row}");
        assert!(!row.contains(",=") && !row.contains(",@") && !row.contains(",+"), "{row}");
        // `limit` caps the rows; a limit that is not a positive number is refused.
        let (_, second) =
            app.call("POST", "/api/v1/contacts", Some(&admin), Some(json!({"first_name": "Second"}))).await;
        let (s, one) = app.raw("GET", "/api/v1/contacts/export?limit=1", Some(&admin), None).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(one.as_str().expect("CSV text").lines().count(), 2, "a header and one row: {one}");
        let (s, problem) = app.call("GET", "/api/v1/contacts/export?limit=0", Some(&admin), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], "limit");
        app.call("DELETE", &format!("/api/v1/contacts/{}", id_of(&second)), Some(&admin), None).await;
        // Deleted, then imported back from the export: the same values.
        app.call("DELETE", &format!("/api/v1/contacts/{}", id_of(&c)), Some(&admin), None).await;
        let (s, report) =
            app.raw("POST", "/api/v1/imports/contacts", Some(&admin), Some(("text/csv", csv.into_bytes()))).await;
        assert_eq!(s, StatusCode::OK, "{report}");
        let (_, list) = app.call("GET", "/api/v1/contacts", Some(&admin), None).await;
        assert_eq!(list["items"][0]["first_name"], evil, "on {}: {list}", app.db.backend);
        assert_eq!(list["items"][0]["last_name"], "@SUM(A1)");
    }
}
