//! Contact protocol on both backends: a rep who is neither owner nor on the account team logging
//! a call with an escalation-only executive is refused with whom to ask, and the refusal is
//! recorded; logged after the fact it is kept and the account owner and their manager (not the
//! rep's) get a protocol_breach alert; an approval of the owner lets the same call through; the
//! owner cannot approve their own request, a manager above them can; owner-only lets the owner and
//! the owner's managers through; a change that adds a guarded contact is checked too.

use std::sync::Arc;

use holdfast_core::coworker::{Actor, Role};
use holdfast_core::event::{EventFilter, action};
use holdfast_core::guard::AlertState;
use holdfast_core::record::{ACCOUNTS, ACTIVITIES, CONTACTS, TASKS};
use holdfast_core::time::ManualClock;
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{add_coworker, each_backend};
use serde_json::{Value, json};
use uuid::Uuid;

const NOW: i64 = 1_793_610_000_000_000;

fn actor(services: &Holdfast<Store>, email: &str) -> Actor {
    services.actor_for(email).expect("co-worker")
}

fn call(contact: Uuid, account: Uuid) -> Value {
    json!({"type": "call", "summary": "Talked about the renewal", "account_id": account.to_string(),
           "contact_ids": [contact.to_string()]})
}

struct World {
    services: Holdfast<Store>,
    acme: Uuid,
    ceo: Uuid,
    vp: Uuid,
    staff: Uuid,
}

fn world(db: &holdfast_testing::TestDb) -> World {
    let services = Holdfast::with_clock(db.store(), Arc::new(ManualClock::at(NOW)));
    add_coworker(&services, "admin@example.com", Role::Admin, None, None);
    add_coworker(&services, "east-boss@example.com", Role::Manager, Some("East"), None);
    add_coworker(&services, "west-boss@example.com", Role::Manager, Some("West"), None);
    add_coworker(&services, "dana@example.com", Role::Rep, Some("East"), Some("east-boss@example.com"));
    add_coworker(&services, "ravi@example.com", Role::Rep, Some("West"), Some("west-boss@example.com"));
    let op = Actor::operator();
    let dana = actor(&services, "dana@example.com").id().expect("id");
    let acme = services
        .create_record(&op, &ACCOUNTS, &json!({"name": "Acme", "tier": "strategic", "owner_id": dana.to_string()}))
        .expect("account")
        .id;
    let contact = |name: &str, seniority: &str, protocol: &str, boss: Option<Uuid>| {
        services
            .create_record(
                &op,
                &CONTACTS,
                &json!({"first_name": name, "title": name, "account_id": acme.to_string(), "seniority": seniority,
                        "protocol": protocol, "reports_to_id": boss.map(|b| b.to_string()),
                        "owner_id": dana.to_string()}),
            )
            .expect("contact")
            .id
    };
    let ceo = contact("CEO", "executive", "escalation_only", None);
    let vp = contact("VP", "vp", "owner_only", Some(ceo));
    let staff = contact("Buyer", "staff", "open", Some(vp));
    World { services, acme, ceo, vp, staff }
}

#[test]
fn a_call_over_the_owners_head_asks_for_approval_or_raises_an_alert_to_the_owner() {
    for db in each_backend() {
        let w = world(&db);
        let s = &w.services;
        let ravi = actor(s, "ravi@example.com");
        let dana = actor(s, "dana@example.com");

        // Before the fact: refused, naming the protocol and whom to ask; nothing is created.
        let before = s.count_records(&ACTIVITIES).expect("count");
        let err = s.create_record(&ravi, &ACTIVITIES, &call(w.ceo, w.acme)).expect_err("refused");
        let CoreError::Protocol(refusal) = &err else {
            panic!("{}: expected a protocol refusal, got {err}", db.backend)
        };
        assert_eq!(refusal.protocol, "escalation_only");
        assert!(refusal.approvers.iter().any(|a| a.contains("dana")), "{:?}", refusal.approvers);
        assert!(err.to_string().contains("escalation only"), "{err}");
        assert_eq!(s.count_records(&ACTIVITIES).expect("count"), before, "{}", db.backend);
        let refused = s
            .events(
                &Actor::operator(),
                &EventFilter { action: Some(action::ACCESS_REFUSED.into()), limit: 100, ..Default::default() },
            )
            .expect("events");
        assert!(
            refused.iter().any(|e| e.event.coworker_id == ravi.id()),
            "{}: the refusal is a system event",
            db.backend
        );
        // An open contact is fine for anyone.
        s.create_record(&ravi, &ACTIVITIES, &call(w.staff, w.acme)).expect("open contact");

        // After the fact: kept, and the owner and the owner's manager are told (not Ravi's own
        // manager alone).
        let mut late = call(w.ceo, w.acme);
        late["after_the_fact"] = json!(true);
        let logged = s.create_record(&ravi, &ACTIVITIES, &late).expect("logged after the fact");
        let seen_by_dana = s.alerts(&dana, Some(AlertState::Open), 50).expect("dana's alerts");
        let breach = seen_by_dana.iter().find(|(a, _)| a.kind == "protocol_breach").map(|(a, _)| a.clone());
        let breach = breach.unwrap_or_else(|| panic!("{}: the owner sees the alert", db.backend));
        assert_eq!(breach.coworker_id, ravi.id().expect("id"), "about who broke it");
        assert_eq!(breach.details["record_id"], json!(logged.id.to_string()));
        assert!(breach.summary.contains("CEO"), "{}", breach.summary);
        let east = actor(s, "east-boss@example.com");
        assert!(s.alerts(&east, None, 50).expect("alerts").iter().any(|(a, _)| a.id == breach.id), "owner's manager");
        assert!(s.open_alert_count(&dana).expect("count") >= 1, "the rep's navigation counts it");
        let eli_like = actor(s, "ravi@example.com");
        assert!(
            !s.alerts(&eli_like, None, 50).expect("alerts").iter().any(|(a, _)| a.id == breach.id),
            "the breaker is not addressed"
        );
        // The owner may acknowledge it.
        s.set_alert_state(&dana, breach.id, AlertState::Acknowledged, None).expect("owner acknowledges");

        // An approval: asked by Ravi, answered by Dana (the account owner), then the call passes.
        let asked = s.request_contact_approval(&ravi, w.ceo, "Their CEO asked for our roadmap").expect("ask");
        assert_eq!(asked.approval.status.as_str(), "pending");
        let again = s.request_contact_approval(&ravi, w.ceo, "again").expect("ask again");
        assert_eq!(again.approval.id, asked.approval.id, "asking twice keeps one request");
        let list = s.contact_approvals(&dana).expect("dana's list");
        assert!(list.to_decide.iter().any(|v| v.approval.id == asked.approval.id), "waits for the owner");
        let west = actor(s, "west-boss@example.com");
        assert!(
            matches!(s.decide_contact_approval(&west, asked.approval.id, true, None), Err(CoreError::Forbidden(_))),
            "{}: managing the asker is not managing the account owner",
            db.backend
        );
        assert!(matches!(
            s.decide_contact_approval(&ravi, asked.approval.id, true, None),
            Err(CoreError::Forbidden(_))
        ));
        s.decide_contact_approval(&dana, asked.approval.id, true, Some("go ahead")).expect("approved");
        s.create_record(&ravi, &ACTIVITIES, &call(w.ceo, w.acme)).expect("with the approval");

        // The owner herself needs a manager for the escalation-only CEO, not for her owner-only VP.
        assert!(matches!(s.create_record(&dana, &ACTIVITIES, &call(w.ceo, w.acme)), Err(CoreError::Protocol(_))));
        s.create_record(&dana, &ACTIVITIES, &call(w.vp, w.acme)).expect("owner reaches owner-only");
        let own = s.request_contact_approval(&dana, w.ceo, "QBR with the CEO").expect("ask");
        assert!(matches!(s.decide_contact_approval(&dana, own.approval.id, true, None), Err(CoreError::Forbidden(_))));
        s.decide_contact_approval(&east, own.approval.id, true, None).expect("her manager approves");
        s.create_record(&dana, &ACTIVITIES, &call(w.ceo, w.acme)).expect("approved by her manager");
        // Her manager reaches both without asking.
        s.create_record(&east, &ACTIVITIES, &call(w.ceo, w.acme)).expect("manager above the owner");

        // Owner only: Ravi is refused the VP; a task planned with her is checked as well; a
        // change that adds her to an activity is checked too.
        assert!(matches!(s.create_record(&ravi, &ACTIVITIES, &call(w.vp, w.acme)), Err(CoreError::Protocol(_))));
        assert!(matches!(
            s.create_record(
                &ravi,
                &TASKS,
                &json!({"title": "Call the VP", "contact_id": w.vp.to_string(), "account_id": w.acme.to_string()})
            ),
            Err(CoreError::Protocol(_))
        ));
        let mine = s.create_record(&ravi, &ACTIVITIES, &call(w.staff, w.acme)).expect("open");
        let added = json!({"contact_ids": [w.staff.to_string(), w.vp.to_string()]});
        assert!(
            matches!(s.update_record(&ravi, &ACTIVITIES, mine.id, &added), Err(CoreError::Protocol(_))),
            "{}: adding a guarded contact later is checked",
            db.backend
        );
        let stored = s.get_record(&ravi, &ACTIVITIES, mine.id).expect("read");
        assert_eq!(stored.links.get("contact_ids").map(Vec::len), Some(1), "nothing changed");
    }
}

#[test]
fn contacts_carry_their_org_chart_seniority_and_protocol() {
    for db in each_backend() {
        let w = world(&db);
        let s = &w.services;
        let op = Actor::operator();
        let vp = s.get_record(&op, &CONTACTS, w.vp).expect("vp");
        let j = vp.to_json(&CONTACTS);
        assert_eq!(j["reports_to_id"], json!(w.ceo.to_string()), "{}", db.backend);
        assert_eq!(j["seniority"], "vp");
        assert_eq!(j["protocol"], "owner_only");
        let plain = s.create_record(&op, &CONTACTS, &json!({"first_name": "New"})).expect("contact");
        assert_eq!(plain.to_json(&CONTACTS)["protocol"], "open", "open unless said otherwise");
        let bad = s.create_record(&op, &CONTACTS, &json!({"first_name": "X", "protocol": "secret"}));
        assert!(matches!(bad, Err(CoreError::Invalid(_))), "{}", db.backend);
        let nobody =
            s.create_record(&op, &CONTACTS, &json!({"first_name": "X", "reports_to_id": Uuid::now_v7().to_string()}));
        assert!(matches!(nobody, Err(CoreError::Invalid(_))), "reports to someone who exists");
        let odd = s.create_record(&op, &CONTACTS, &json!({"first_name": "X", "after_the_fact": true}));
        assert!(matches!(odd, Err(CoreError::Invalid(_))), "only activities and tasks take after_the_fact");
    }
}
