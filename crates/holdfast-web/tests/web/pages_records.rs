//! Record pages and forms: errors beside fields, forms for every kind, history, and the team view.

use super::*;

#[tokio::test(flavor = "multi_thread")]
async fn record_forms_show_errors_beside_fields_and_save_nothing_until_valid() {
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        let rep = site.sign_in("rep@example.com").await;
        let form = site.send("GET", "/accounts/new", &rep, None).await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("name=\"domain\"") && form.body.contains("name=\"tier\""));
        let csrf = hidden(&form.body, "csrf_token");

        let bad = site
            .send("POST", "/accounts/new", &rep, Some(&format!("csrf_token={csrf}&name=&domain=not+a+domain")))
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("field-error") && bad.body.contains("is not a web domain"), "{}", bad.body);
        assert!(bad.body.contains("value=\"not a domain\""), "what was typed is kept");
        let none = off_runtime(|| services.count_records(&holdfast_core::record::ACCOUNTS)).expect("count");
        assert_eq!(none, 0, "nothing saved on {}", site.db.backend);

        let ok = site
            .send(
                "POST",
                "/accounts/new",
                &rep,
                Some(&format!("csrf_token={csrf}&name=Globex&domain=globex.com&tier=smb")),
            )
            .await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
        let path = ok.location.clone();
        let edit = site.send("GET", &format!("{path}/edit"), &rep, None).await;
        assert!(edit.body.contains("value=\"globex.com\""));
        let r = site
            .send(
                "POST",
                &format!("{path}/edit"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=Globex&domain=globex.com&tier=enterprise")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER);
        let page = site.send("GET", &path, &rep, None).await;
        assert!(page.body.contains("enterprise"));
        let history = site.send("GET", &format!("{path}/history"), &rep, None).await;
        assert_eq!(history.status, StatusCode::OK);
        assert!(history.body.contains("<td>tier</td><td>smb</td><td>enterprise</td>"), "{}", history.body);
        // A contact created from the account page belongs to that account.
        let account_id = path.rsplit('/').next().unwrap_or("").to_string();
        let r = site
            .send(
                "POST",
                &format!("/contacts/new?account_id={account_id}"),
                &rep,
                Some(&format!("csrf_token={csrf}&first_name=Hank&last_name=Scorpio")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let page = site.send("GET", &path, &rep, None).await;
        assert!(page.body.contains("Hank Scorpio"));
        // Delete from the edit page; the record leaves the list; an admin restores it.
        let r = site.send("POST", &format!("{path}/delete"), &rep, Some(&format!("csrf_token={csrf}"))).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let list = site.send("GET", &r.location, &rep, None).await;
        assert!(list.body.contains("Deleted “Globex”"), "{}", list.body);
        assert!(!list.body.contains(">Globex<"), "{}", list.body);
        assert_eq!(site.send("GET", &path, &rep, None).await.status, StatusCode::NOT_FOUND);
        let admin = site.sign_in("admin@example.com").await;
        let deleted = site.send("GET", "/accounts?deleted=true", &admin, None).await;
        assert!(deleted.body.contains(">Globex<") && deleted.body.contains("value=\"restore\""), "{}", deleted.body);
        let admin_csrf = hidden(&deleted.body, "csrf_token");
        let r = site
            .send(
                "POST",
                "/accounts/bulk",
                &admin,
                Some(&format!("csrf_token={admin_csrf}&action=restore&ids={account_id}")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(site.send("GET", &path, &rep, None).await.status, StatusCode::OK, "restored");
        assert_eq!(site.send("GET", "/accounts?deleted=true", &rep, None).await.status, StatusCode::FORBIDDEN);
        // Someone else's account: the edit is refused.
        let other = site.sign_in("other@example.com").await;
        let other_csrf = hidden(&site.send("GET", "/", &other, None).await.body, "csrf_token");
        let r = site
            .send("POST", &format!("{path}/edit"), &other, Some(&format!("csrf_token={other_csrf}&name=Mine")))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        off_runtime(move || drop(site));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn deals_tasks_and_activities_have_forms_too() {
    use holdfast_core::record::{ACCOUNTS, ACTIVITIES, TASKS};
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        let rep = site.sign_in("rep@example.com").await;
        let rep_actor = off_runtime(|| services.actor_for("rep@example.com")).expect("actor");
        let account = off_runtime(|| {
            let a = services.create_record(&rep_actor, &ACCOUNTS, &json!({"name": "Initech"})).expect("account");
            services
                .create_record(
                    &rep_actor,
                    &holdfast_core::record::CONTACTS,
                    &json!({"account_id": a.id.to_string(), "first_name": "Bill", "last_name": "Lumbergh"}),
                )
                .expect("contact");
            a.id
        });
        let csrf = hidden(&site.send("GET", "/", &rep, None).await.body, "csrf_token");

        // A deal needs an account: without one the form says where to start.
        let r = site.send("GET", "/deals/new", &rep, None).await;
        assert!(r.body.contains("Open the account first"), "{}", r.body);
        let form = site.send("GET", &format!("/deals/new?account_id={account}"), &rep, None).await;
        assert!(form.body.contains("Bill Lumbergh"), "the account's contacts are offered: {}", form.body);
        let r = site
            .send(
                "POST",
                &format!("/deals/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=TPS+reports&stage=proposal&amount=abc")),
            )
            .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("field-error"), "{}", r.body);
        let r = site
            .send(
                "POST",
                &format!("/deals/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&name=TPS+reports&stage=proposal&amount=12000")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, format!("/accounts/{account}"));

        // A task from the tasks list, with no account.
        let r = site
            .send("POST", "/tasks/new", &rep, Some(&format!("csrf_token={csrf}&title=Call+Bill&due_date=2026-02-01")))
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let task = off_runtime(|| {
            services.list_records(&rep_actor, &TASKS, &Default::default()).expect("tasks").items.remove(0)
        });
        let r = site
            .send(
                "POST",
                &format!("/tasks/{}/edit", task.id),
                &rep,
                Some(&format!("csrf_token={csrf}&title=Call+Bill&due_date=2026-02-01&status=done")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);

        // An activity's time: without script the form's value is taken as UTC.
        let r = site
            .send(
                "POST",
                &format!("/activities/new?account_id={account}"),
                &rep,
                Some(&format!("csrf_token={csrf}&type=meeting&occurred_at=2026-01-10T09%3A30&summary=Kick-off")),
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let (task, activity) = off_runtime(|| {
            let t = services.get_record(&rep_actor, &TASKS, task.id).expect("task");
            let a = services.list_records(&rep_actor, &ACTIVITIES, &Default::default()).expect("activities").items;
            (t, a)
        });
        assert_eq!(task.get("status").as_text(), Some("done"));
        assert_eq!(activity[0].to_json(&ACTIVITIES)["occurred_at"], "2026-01-10T09:30:00Z");
        let edit = site.send("GET", &format!("/activities/{}/edit", activity[0].id), &rep, None).await;
        assert!(edit.body.contains("value=\"2026-01-10T09:30\""), "{}", edit.body);
        off_runtime(move || drop(site));
    }
}

/// The history page reads the record through the services: the read policy decides whether it
/// opens, and opening it is recorded like any read of the record.
#[tokio::test(flavor = "multi_thread")]
async fn a_records_history_page_is_an_audited_read_under_the_read_policy() {
    use holdfast_core::record::ACCOUNTS;
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        let rep = site.sign_in("rep@example.com").await;
        let (mine, theirs, rep_id) = off_runtime(|| {
            let rep = services.actor_for("rep@example.com").expect("rep");
            let other = services.actor_for("other@example.com").expect("other");
            let mine = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Mine Ltd"})).expect("account");
            services.update_record(&rep, &ACCOUNTS, mine.id, &json!({"tier": "strategic"})).expect("change");
            let theirs = services.create_record(&other, &ACCOUNTS, &json!({"name": "Theirs Ltd"})).expect("account");
            let own = holdfast_core::service::SettingsChange { read_policy: Some("own".into()), ..Default::default() };
            services.change_settings(&Actor::operator(), &own).expect("policy");
            (mine.id, theirs.id, rep.id())
        });
        let reads_of = |id: uuid::Uuid| {
            off_runtime(|| {
                services.events(
                    &Actor::operator(),
                    &EventFilter {
                        action: Some("record.read".into()),
                        object_id: Some(id.to_string()),
                        limit: 10,
                        ..Default::default()
                    },
                )
            })
            .expect("events")
        };

        let page = site.send("GET", &format!("/accounts/{mine}/history"), &rep, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", site.db.backend);
        assert!(page.body.contains("History: Mine Ltd") && page.body.contains("strategic"), "{}", page.body);
        let reads = reads_of(mine);
        assert_eq!(reads.len(), 1, "opening the history is one recorded read on {}", site.db.backend);
        assert_eq!(reads[0].event.coworker_id, rep_id);

        let refused = site.send("GET", &format!("/accounts/{theirs}/history"), &rep, None).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", site.db.backend);
        assert!(!refused.body.contains("Theirs Ltd"), "a refused history shows nothing of the record");
        assert!(reads_of(theirs).is_empty());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn managers_see_their_teams_pipeline_overdue_tasks_and_forgotten_accounts() {
    use holdfast_core::record::{ACCOUNTS, ACTIVITIES, DEALS, TASKS};
    for db in each_backend() {
        let site = setup(db);
        let services = Arc::clone(&site.services);
        off_runtime(|| {
            let op = Actor::operator();
            add_named(&services, "boss@example.com", "Bo Boss", Role::Manager, None, None);
            services
                .update_coworker(
                    &op,
                    "rep@example.com",
                    holdfast_core::service::CoWorkerChanges {
                        email: None,
                        manager: Some(Some("boss@example.com".into())),
                        ..Default::default()
                    },
                )
                .expect("reports to boss");
            let rep = services.actor_for("rep@example.com").expect("rep");
            let quiet = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Quiet Corp"})).expect("account");
            let busy = services.create_record(&rep, &ACCOUNTS, &json!({"name": "Busy Corp"})).expect("account");
            services
                .create_record(
                    &rep,
                    &ACTIVITIES,
                    &json!({"type": "call", "summary": "Checked in", "account_id": busy.id.to_string()}),
                )
                .expect("call");
            services.create_record(&rep, &DEALS, &json!({"name": "Big one", "account_id": quiet.id.to_string(), "stage": "proposal", "amount": 120000})).expect("deal");
            services
                .create_record(
                    &rep,
                    &TASKS,
                    &json!({"title": "Send the quote", "due_date": "2020-01-01", "account_id": quiet.id.to_string()}),
                )
                .expect("task");
        });
        let boss = site.sign_in("boss@example.com").await;
        let home = site.send("GET", "/", &boss, None).await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        assert!(home.body.contains("Pipeline by stage (your team)"), "{}", site.db.backend);
        assert!(home.body.contains("120,000 · 1"), "{}", home.body);
        assert!(home.body.contains("Send the quote"));
        let untouched = home.body.split("Accounts nobody has talked to").nth(1).unwrap_or("");
        assert!(untouched.contains("Quiet Corp") && !untouched.contains("Busy Corp"), "{untouched}");
        let rep = site.sign_in("rep@example.com").await;
        let home = site.send("GET", "/", &rep, None).await;
        assert!(!home.body.contains("Pipeline by stage (your team)"), "a rep sees no team section");
        assert!(home.body.contains("My pipeline by stage") && home.body.contains("120,000 · 1"), "{}", home.body);
        off_runtime(move || drop(site));
    }
}
