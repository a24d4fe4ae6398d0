//! List pages: filters, sort, bulk hand-over with undo, and exports.

use super::*;

/// Names in the order the page shows them.
fn order_of<'a>(html: &str, names: &[&'a str]) -> Vec<&'a str> {
    let mut found: Vec<(usize, &str)> =
        names.iter().filter_map(|n| html.find(&format!(">{n}<")).map(|i| (i, *n))).collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

fn owner_of(services: &Holdfast<Store>, id: uuid::Uuid) -> Option<uuid::Uuid> {
    let rec = services.get_record(&Actor::operator(), &holdfast_core::record::ACCOUNTS, id).expect("account");
    rec.owner(&holdfast_core::record::ACCOUNTS)
}

#[tokio::test(flavor = "multi_thread")]
async fn lists_filter_sort_and_hand_over_in_bulk_with_undo_and_export() {
    use holdfast_core::record::{ACCOUNTS, DEALS};
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        let rep = site.sign_in("rep@example.com").await;
        let admin = site.sign_in("admin@example.com").await;
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("actor");
        let other_actor = off_runtime(|| services.actor_for("other@example.com")).expect("actor");
        let (rep_id, other_id) = (rep_actor.id().expect("id"), other_actor.id().expect("id"));
        let (alpha, bravo, charlie, theirs) = off_runtime(|| {
            let mk = |who: &Actor, name: &str, tier: &str| {
                services.create_record(who, &ACCOUNTS, &json!({"name": name, "tier": tier})).expect("account").id
            };
            let a = mk(&rep_actor, "Alpha", "smb");
            let b = mk(&rep_actor, "Bravo", "smb");
            let c = mk(&rep_actor, "Charlie", "enterprise");
            let t = mk(&other_actor, "Delta", "smb");
            for (name, close) in
                [("Soon", json!("2026-01-05")), ("Undated", json!(null)), ("Later", json!("2026-03-01"))]
            {
                services
                    .create_record(
                        &rep_actor,
                        &DEALS,
                        &json!({"name": name, "account_id": a.to_string(), "close_date": close}),
                    )
                    .expect("deal");
            }
            (a, b, c, t)
        });

        // Filters, sort (undated deals last, soonest first), and results alone for search as you type.
        let r = site.send("GET", "/accounts?tier=smb&owner=", &rep, None).await;
        assert_eq!(order_of(&r.body, &["Alpha", "Bravo", "Charlie", "Delta"]), ["Alpha", "Bravo", "Delta"]);
        let r = site.send("GET", &format!("/accounts?tier=smb&owner={rep_id}&sort=-name"), &rep, None).await;
        assert_eq!(
            order_of(&r.body, &["Alpha", "Bravo", "Charlie", "Delta"]),
            ["Bravo", "Alpha"],
            "{}",
            site.db.backend
        );
        let r = site.send("GET", "/deals?sort=close_date", &rep, None).await;
        assert_eq!(
            order_of(&r.body, &["Soon", "Undated", "Later"]),
            ["Soon", "Later", "Undated"],
            "{}",
            site.db.backend
        );
        assert!(r.body.contains(&format!("<a href=\"/accounts/{alpha}\">Alpha</a>")), "each deal names its account");
        let r = site.send("GET", "/deals?sort=-close_date", &rep, None).await;
        assert_eq!(
            order_of(&r.body, &["Soon", "Undated", "Later"]),
            ["Undated", "Later", "Soon"],
            "{}",
            site.db.backend
        );
        let r = site.send_with("GET", "/accounts?q=brav", &rep, None, &[("x-holdfast-partial", "results")]).await;
        assert_eq!(r.status, StatusCode::OK);
        assert!(r.body.contains(">Bravo<") && !r.body.contains(">Alpha<") && !r.body.contains("<html"), "{}", r.body);
        let r = site.send("GET", "/accounts?sort=city", &rep, None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "an unknown sort is explained, not ignored");

        // An admin hands two accounts to another co-worker in one step, and can undo it.
        let csrf = hidden(&site.send("GET", "/accounts", &admin, None).await.body, "csrf_token");
        let form = format!("csrf_token={csrf}&action=assign&new_owner={other_id}&ids={alpha}&ids={bravo}");
        let r = site.send("POST", "/accounts/bulk", &admin, Some(&form)).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location.starts_with("/accounts?handed="), "{}", r.location);
        off_runtime(|| {
            assert_eq!(owner_of(&services, alpha), Some(other_id));
            assert_eq!(owner_of(&services, bravo), Some(other_id));
        });
        let notice = site.send("GET", &r.location, &admin, None).await;
        assert!(notice.body.contains("Handed 2 accounts to other Person"), "{}", notice.body);
        let op = r.location.split("handed=").nth(1).and_then(|s| s.split('&').next()).expect("operation").to_string();
        let bulk_events = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter { object_id: Some(op.clone()), limit: 10, ..Default::default() },
            )
        })
        .expect("events");
        assert_eq!(bulk_events.len(), 1);
        assert_eq!(bulk_events[0].event.action, "bulk.update");
        assert_eq!(bulk_events[0].event.row_count, 5, "two accounts and the three deals under Alpha");

        let undo = format!("/bulk/{op}/undo");
        let r = site.send("POST", &undo, &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert!(r.location.contains("undone=1&n=5&skipped=0"), "{}", r.location);
        off_runtime(|| assert_eq!(owner_of(&services, alpha), Some(rep_id)));
        let again = site.send("POST", &undo, &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts"))).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "an undo happens once");

        // An undo leaves alone what someone changed since.
        let r = site.send("POST", "/accounts/bulk", &admin, Some(&form)).await;
        let op = r.location.split("handed=").nth(1).and_then(|s| s.split('&').next()).expect("operation").to_string();
        off_runtime(|| {
            services
                .update_record(&Actor::operator(), &ACCOUNTS, bravo, &json!({"owner_id": rep_id.to_string()}))
                .expect("changed since")
        });
        let r = site
            .send("POST", &format!("/bulk/{op}/undo"), &admin, Some(&format!("csrf_token={csrf}&back=%2Faccounts")))
            .await;
        assert!(r.location.contains("n=4&skipped=1"), "Alpha and its deals back, Bravo left: {}", r.location);

        // A rep's bulk change that includes one record they may not change changes nothing.
        let rep_csrf = hidden(&site.send("GET", "/accounts", &rep, None).await.body, "csrf_token");
        off_runtime(|| {
            services
                .update_record(&Actor::operator(), &ACCOUNTS, charlie, &json!({"owner_id": other_id.to_string()}))
                .expect("give charlie away")
        });
        let form = format!("csrf_token={rep_csrf}&action=assign&new_owner={rep_id}&ids={charlie}&ids={theirs}");
        let r = site.send("POST", "/accounts/bulk", &rep, Some(&form)).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
        assert!(r.body.contains("nothing was changed"), "{}", r.body);
        off_runtime(|| {
            assert_eq!(owner_of(&services, charlie), Some(other_id));
            assert_eq!(owner_of(&services, theirs), Some(other_id));
        });
        // Without the form's token, nothing happens either.
        let forged = format!("action=assign&new_owner={rep_id}&ids={alpha}");
        assert_eq!(site.send("POST", "/accounts/bulk", &rep, Some(&forged)).await.status, StatusCode::FORBIDDEN);

        // Export: the picked rows, or everything the list matches; each is an export event.
        let r = site
            .send(
                "POST",
                "/accounts/bulk",
                &rep,
                Some(&format!("csrf_token={rep_csrf}&action=export&ids={alpha}&ids={bravo}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let mut lines = r.body.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("id,name,domain,industry,tier")), "{}", r.body);
        assert_eq!(lines.count(), 2);
        let r = site.send("POST", "/accounts/export", &rep, Some(&format!("csrf_token={rep_csrf}&tier=smb"))).await;
        assert_eq!(r.body.lines().count(), 4, "header and three smb accounts: {}", r.body);
        let exports = off_runtime(|| {
            services.events(
                &Actor::operator(),
                &EventFilter {
                    action: Some("export.create".into()),
                    coworker_id: Some(rep_id),
                    limit: 10,
                    ..Default::default()
                },
            )
        })
        .expect("events");
        let rows: Vec<i64> = exports.iter().map(|e| e.event.row_count).collect();
        assert_eq!(rows, [3, 2], "newest first");
        assert_eq!(exports[0].event.details["filters"]["tier"], "smb");
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn contracts_have_a_list_with_the_next_renewal_first() {
    use holdfast_core::record::{ACCOUNTS, CONTRACTS};
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        off_runtime(|| {
            let rep = services.actor_for("rep@example.com").expect("rep");
            let a = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Acme"})).expect("account").id.to_string();
            for (name, renewal) in [("Later deal", "2027-06-01"), ("Soon deal", "2027-01-15")] {
                services
                    .create_record(&rep, &CONTRACTS, &json!({"name": name, "account_id": a, "renewal_date": renewal}))
                    .expect("contract");
            }
        });
        let rep = site.sign_in("rep@example.com").await;
        let home = site.send("GET", "/", &rep, None).await;
        assert!(home.body.contains("href=\"/renewals\""), "{}", home.body);
        let page = site.send("GET", "/contracts?status=active&sort=renewal_date", &rep, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let soon = page.body.find("Soon deal").expect("listed");
        let later = page.body.find("Later deal").expect("listed");
        assert!(soon < later, "the next renewal first on {}", site.db.backend);
        assert!(page.body.contains("Renewal decided by"));
        // The renewal calendar: the contracts in the window, soonest first, with their coverage.
        let calendar = site.send("GET", "/renewals?days=730", &rep, None).await;
        assert_eq!(calendar.status, StatusCode::OK, "{}", calendar.body);
        let (soon, later) = (calendar.body.find("Soon deal"), calendar.body.find("Later deal"));
        assert!(soon.is_some() && later.is_some() && soon < later, "{}", calendar.body);
        assert!(calendar.body.contains("Fiscal year ends") && calendar.body.contains("Coverage"));
        off_runtime(move || drop(site));
    }
}
