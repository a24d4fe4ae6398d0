//! Leads on both backends, with a manual clock: de-duplication at the door (a repeat updates the
//! lead; a customer contact's email links it; a phone or a similar name marks a duplicate),
//! conversion without a second contact, each routing rule, who is never eligible, weighted
//! round-robin with caps (also under concurrency), the speed-to-lead clock (escalation to the
//! manager, re-routing, a call stops it), a leaver's leads to the re-engagement queue, the
//! figures, and the CSV import.

use std::sync::Arc;

use holdfast_core::coworker::{Actor, Role, Status};
use holdfast_core::lead::{BusinessHours, LeadRules, PoolMember, RouteRule};
use holdfast_core::record::{ACCOUNTS, ACTIVITIES, CONTACTS, LEADS, Record};
use holdfast_core::service::{CoWorkerChanges, Door, ImportOptions, ListRequest};
use holdfast_core::time::{Clock, ManualClock, format_timestamp};
use holdfast_core::{CoreError, Holdfast};
use holdfast_store::Store;
use holdfast_testing::{TestDb, add_named, each_backend};
use serde_json::json;
use uuid::Uuid;

/// Monday 2026-11-30 10:00 UTC.
const T: i64 = 1_796_032_800_000_000;

struct Company {
    s: Arc<Holdfast<Store>>,
    clock: Arc<ManualClock>,
    admin: Actor,
    boss: Uuid,
    ann: Uuid,
    bob: Uuid,
    cat: Uuid,
}

fn actor(s: &Holdfast<Store>, id: Uuid) -> Actor {
    let c = s.get_coworker(&Actor::operator(), &id.to_string()).expect("co-worker");
    Actor { coworker: Some(c), ..Actor::operator() }
}

/// An admin, a manager and three reps reporting to the manager; the clock runs around the clock
/// (business hours every day, all day) unless a test says otherwise.
fn company(db: &TestDb) -> Company {
    let clock = Arc::new(ManualClock::at(T));
    let s = Arc::new(Holdfast::with_clock(db.store(), clock.clone()));
    let id = |email: &str| s.get_coworker(&Actor::operator(), email).expect("co-worker").id;
    add_named(&s, "admin@example.com", "Ada Admin", Role::Admin, None, None);
    add_named(&s, "boss@example.com", "Bea Boss", Role::Manager, None, None);
    let (admin_id, boss) = (id("admin@example.com"), id("boss@example.com"));
    let rep = |email: &str, name: &str| {
        add_named(&s, email, name, Role::Rep, None, Some("boss@example.com"));
        id(email)
    };
    let (ann, bob, cat) = (rep("ann@example.com", "Ann"), rep("bob@example.com", "Bob"), rep("cat@example.com", "Cat"));
    let admin = actor(&s, admin_id);
    let rules = LeadRules {
        business_hours: BusinessHours {
            start_minute: 0,
            end_minute: 1440,
            days: vec![1, 2, 3, 4, 5, 6, 7],
            utc_offset_minutes: 0,
        },
        ..LeadRules::default()
    };
    s.set_lead_rules(&admin, rules).expect("rules");
    Company { s, clock, admin, boss, ann, bob, cat }
}

/// A lead as a form or an import brings it in: nobody named, so it is routed.
fn form_lead(c: &Company, fields: serde_json::Value) -> Record {
    c.s.capture_lead(&Actor::operator(), &fields, Door::Api).expect("captured").lead
}

fn lead(c: &Company, id: Uuid) -> Record {
    c.s.get_record(&c.admin, &LEADS, id).expect("lead")
}

fn count(c: &Company, kind: &'static holdfast_core::record::RecordKind) -> usize {
    let req = ListRequest { limit: Some(500), ..Default::default() };
    c.s.list_records(&c.admin, kind, &req).expect("list").items.len()
}

#[test]
fn the_same_person_is_one_lead_and_a_customer_stays_one_contact() {
    for db in each_backend() {
        let c = company(&db);
        let first = form_lead(
            &c,
            json!({"first_name": "Mateus", "last_name": "Andersen", "email": "Mateus@Nordlys.no", "company": "Nordlys"}),
        );
        let again = c
            .s
            .capture_lead(&Actor::operator(), &json!({"first_name": "Mateus", "email": "mateus@nordlys.no", "title": "VP Sales", "phone": "+47 22 33 44 55"}), Door::Api)
            .expect("again");
        assert!(again.repeat, "{}", db.backend);
        assert_eq!(again.lead.id, first.id);
        let l = lead(&c, first.id);
        assert_eq!(l.get("submissions").as_int(), Some(2));
        assert_eq!(l.get("title").as_text(), Some("VP Sales"), "an empty field is filled");
        assert_eq!(l.get("last_name").as_text(), Some("Andersen"), "a field left out is kept");
        assert!(
            l.get("score_reasons")
                .as_text()
                .is_some_and(|r| r.contains("+20 VP title") && r.contains("came in 2 times")),
            "{:?}",
            l.get("score_reasons")
        );
        assert_eq!(count(&c, &LEADS), 1);

        // Another address, the same phone: a second lead, marked for review.
        let other = form_lead(
            &c,
            json!({"first_name": "M.", "last_name": "Andersen", "email": "m@gmail.com", "phone": "22 33 44 55"}),
        );
        assert_eq!(other.get_ref("duplicate_of"), Some(first.id), "{}", db.backend);
        // A similar name at a similar company, no phone: also marked.
        let similar = form_lead(
            &c,
            json!({"first_name": "Mateus", "last_name": "Anderson", "email": "mateus.a@web.de", "company": "Nordlys AS"}),
        );
        assert!(similar.get_ref("duplicate_of").is_some(), "{}", db.backend);
        // Someone else at the same company is not.
        let colleague = form_lead(
            &c,
            json!({"first_name": "Ingrid", "last_name": "Berg", "email": "ingrid@nordlys.no", "company": "Nordlys"}),
        );
        assert_eq!(colleague.get("duplicate_of").as_text(), None);
        // Merging keeps the first and folds the touch in.
        let boss = actor(&c.s, c.boss);
        let kept = c.s.merge_leads(&boss, first.id, other.id).expect("merge");
        assert_eq!(kept.get("submissions").as_int(), Some(3));
        assert!(matches!(c.s.get_record(&c.admin, &LEADS, other.id), Err(CoreError::NotFound { .. })));

        // A customer contact's email: the lead is linked, and converting it reuses the contact.
        let ann = actor(&c.s, c.ann);
        let acme = c.s.create_record(&ann, &ACCOUNTS, &json!({"name": "Acme", "domain": "acme.com"})).expect("account");
        let carla =
            c.s.create_record(
                &ann,
                &CONTACTS,
                &json!({"first_name": "Carla", "email": "carla@acme.com", "account_id": acme.id.to_string()}),
            )
            .expect("contact");
        let known = form_lead(&c, json!({"first_name": "Carla", "email": "CARLA@acme.com", "company": "ACME Inc"}));
        assert_eq!(known.get_ref("contact_id"), Some(carla.id));
        assert_eq!(known.get_ref("account_id"), Some(acme.id));
        assert_eq!(known.owner(&LEADS), Some(c.ann), "the account's owner gets it ({})", db.backend);
        let contacts_before = count(&c, &CONTACTS);
        let done =
            c.s.convert_lead(
                &ann,
                known.id,
                None,
                Some(holdfast_core::service::ConversionDeal {
                    name: Some("Acme expansion".into()),
                    amount: Some(json!(25000)),
                }),
            )
            .expect("convert");
        assert_eq!(
            (done.contact_id, done.account_id, done.new_contact, done.new_account),
            (carla.id, acme.id, false, false)
        );
        assert_eq!(count(&c, &CONTACTS), contacts_before, "no second contact ({})", db.backend);
        assert!(done.deal_id.is_some());
        // A lead from a company domain that is an account is matched by the domain.
        let by_domain = form_lead(&c, json!({"first_name": "Dev", "email": "dev@acme.com"}));
        assert_eq!(by_domain.get_ref("account_id"), Some(acme.id));
    }
}

#[test]
fn routing_follows_the_rules_and_only_ever_picks_active_people() {
    for db in each_backend() {
        let c = company(&db);
        let mut rules = c.s.lead_rules().expect("rules");
        rules.routing = vec![RouteRule {
            name: "Nordics".into(),
            country: vec!["Norway".into(), "NO".into()],
            industry: Vec::new(),
            companies: Vec::new(),
            to: vec![c.cat],
        }];
        rules.round_robin = vec![
            PoolMember { coworker_id: c.ann, weight: 2, cap: None },
            PoolMember { coworker_id: c.bob, weight: 1, cap: None },
        ];
        c.s.set_lead_rules(&c.admin, rules.clone()).expect("rules");
        let n = |i: usize| json!({"first_name": format!("P{i}"), "email": format!("p{i}@example.org")});
        let nordic = form_lead(&c, json!({"first_name": "Ola", "email": "ola@firma.no", "country": "norway"}));
        assert_eq!(nordic.owner(&LEADS), Some(c.cat), "{}", db.backend);
        let owners: Vec<Option<Uuid>> = (0..30).map(|i| form_lead(&c, n(i)).owner(&LEADS)).collect();
        let ann = owners.iter().filter(|o| **o == Some(c.ann)).count();
        let bob = owners.iter().filter(|o| **o == Some(c.bob)).count();
        assert_eq!((ann, bob), (20, 10), "weights 2:1 ({})", db.backend);

        // Away, suspended, departing: never eligible; with nobody left the lead waits unowned.
        rules.away = vec![c.ann];
        c.s.set_lead_rules(&c.admin, rules.clone()).expect("rules");
        for i in 30..34 {
            assert_eq!(form_lead(&c, n(i)).owner(&LEADS), Some(c.bob));
        }
        let suspend = CoWorkerChanges { status: Some(Status::Suspended), ..Default::default() };
        c.s.update_coworker(&c.admin, "bob@example.com", suspend.clone()).expect("suspend");
        assert_eq!(form_lead(&c, n(40)).owner(&LEADS), None, "nobody is eligible ({})", db.backend);
        // The rule's own co-worker leaving sends rule leads to the round-robin instead.
        let back = CoWorkerChanges { status: Some(Status::Active), ..Default::default() };
        c.s.update_coworker(&c.admin, "bob@example.com", back.clone()).expect("back");
        let leaving = CoWorkerChanges { status: Some(Status::Departing), ..Default::default() };
        c.s.update_coworker(&c.admin, "cat@example.com", leaving.clone()).expect("departing");
        let nordic2 = form_lead(&c, json!({"first_name": "Kari", "email": "kari@firma.no", "country": "NO"}));
        assert_eq!(nordic2.owner(&LEADS), Some(c.bob), "{}", db.backend);

        // A cap on open leads is kept: Bob holds many already.
        rules.away = Vec::new();
        rules.round_robin = vec![
            PoolMember { coworker_id: c.ann, weight: 1, cap: None },
            PoolMember { coworker_id: c.bob, weight: 1, cap: Some(1) },
        ];
        c.s.set_lead_rules(&c.admin, rules).expect("rules");
        for i in 50..54 {
            assert_eq!(form_lead(&c, n(i)).owner(&LEADS), Some(c.ann), "Bob is over his cap ({})", db.backend);
        }
        // A rule naming nobody who exists is refused, and nothing changes.
        let mut bad = c.s.lead_rules().expect("rules");
        bad.away = vec![Uuid::now_v7()];
        bad.sla_minutes = 0;
        let err = c.s.set_lead_rules(&c.admin, bad).expect_err("refused");
        assert!(matches!(err, CoreError::Invalid(_)), "{err}");
        let rep = actor(&c.s, c.ann);
        assert!(matches!(c.s.set_lead_rules(&rep, LeadRules::default()), Err(CoreError::Forbidden(_))));
    }
}

#[test]
fn caps_hold_when_leads_arrive_at_once() {
    for db in each_backend() {
        let c = company(&db);
        let mut rules = c.s.lead_rules().expect("rules");
        rules.round_robin = vec![
            PoolMember { coworker_id: c.ann, weight: 1, cap: Some(5) },
            PoolMember { coworker_id: c.bob, weight: 1, cap: Some(5) },
        ];
        c.s.set_lead_rules(&c.admin, rules).expect("rules");
        std::thread::scope(|scope| {
            for t in 0..4 {
                let c = &c;
                scope.spawn(move || {
                    for i in 0..5 {
                        let fields = json!({"first_name": format!("T{t}"), "email": format!("t{t}-{i}@example.org")});
                        c.s.capture_lead(&Actor::operator(), &fields, Door::Api).expect("captured");
                    }
                });
            }
        });
        let all =
            c.s.list_records(&c.admin, &LEADS, &ListRequest { limit: Some(500), ..Default::default() })
                .expect("list")
                .items;
        assert_eq!(all.len(), 20);
        let held = |who: Uuid| all.iter().filter(|l| l.owner(&LEADS) == Some(who)).count();
        assert_eq!((held(c.ann), held(c.bob)), (5, 5), "caps of 5 each ({})", db.backend);
        assert_eq!(all.iter().filter(|l| l.owner(&LEADS).is_none()).count(), 10);
    }
}

#[test]
fn the_clock_escalates_then_reroutes_and_a_call_stops_it() {
    for db in each_backend() {
        let c = company(&db);
        let mut rules = c.s.lead_rules().expect("rules");
        rules.round_robin = vec![
            PoolMember { coworker_id: c.ann, weight: 1, cap: None },
            PoolMember { coworker_id: c.bob, weight: 1, cap: None },
        ];
        c.s.set_lead_rules(&c.admin, rules).expect("rules");
        let slow = form_lead(&c, json!({"first_name": "Slow", "email": "slow@example.org"}));
        let quick = form_lead(&c, json!({"first_name": "Quick", "email": "quick@example.org"}));
        assert_eq!(slow.owner(&LEADS), Some(c.ann));
        assert_eq!(quick.owner(&LEADS), Some(c.bob));
        let (notes, _) = c.s.notifications(&actor(&c.s, c.ann), 10).expect("notes");
        assert!(notes.iter().any(|n| n.kind == "lead.assigned" && n.object_id == Some(slow.id)), "Ann is told at once");

        // Bob calls within two minutes: his lead's clock stops and it is working.
        c.clock.advance_secs(120);
        let bob = actor(&c.s, c.bob);
        let call = json!({"type": "call", "summary": "Intro", "occurred_at": format_timestamp(c.clock.now()), "lead_id": quick.id.to_string()});
        c.s.create_record(&bob, &ACTIVITIES, &call).expect("call");
        let q = lead(&c, quick.id);
        assert_eq!(q.get("first_touch_at").as_int(), Some(T + 120_000_000), "{}", db.backend);
        assert_eq!(q.get("status").as_text(), Some("working"));
        assert!(q.get("score_reasons").as_text().is_some_and(|r| r.contains("1 call or email logged")));

        // Past five minutes: Ann's lead escalates to her manager, once.
        c.clock.advance_secs(200);
        assert_eq!(c.s.run_lead_clock().expect("clock"), (1, 0), "{}", db.backend);
        assert_eq!(c.s.run_lead_clock().expect("clock"), (0, 0), "escalated once");
        let (notes, unread) = c.s.notifications(&actor(&c.s, c.boss), 10).expect("notes");
        assert!(notes.iter().any(|n| n.kind == "lead.escalated" && n.object_id == Some(slow.id)), "{notes:?}");
        assert_eq!(unread, 1);
        // Past an hour: it goes to Bob with a fresh clock.
        c.clock.advance_secs(3600);
        assert_eq!(c.s.run_lead_clock().expect("clock"), (0, 1), "{}", db.backend);
        let l = lead(&c, slow.id);
        assert_eq!(l.owner(&LEADS), Some(c.bob));
        assert_eq!(l.get("escalated_at").as_int(), None);
        assert_eq!(l.get("routed_at").as_int(), Some(c.clock.now()));

        let m = c.s.lead_metrics(&c.admin, 30).expect("metrics");
        assert_eq!((m.leads, m.touched, m.median_seconds_to_first_touch), (2, 1, Some(120)), "{}", db.backend);
        assert_eq!(m.within_sla_share, Some(1.0), "the untouched one's fresh clock has not run out");
    }
}

#[test]
fn a_leavers_open_leads_go_to_the_reengagement_queue() {
    for db in each_backend() {
        let c = company(&db);
        let ann = actor(&c.s, c.ann);
        let open =
            c.s.create_record(&ann, &LEADS, &json!({"first_name": "Open", "email": "open@example.org"})).expect("lead");
        let working =
            c.s.create_record(
                &ann,
                &LEADS,
                &json!({"first_name": "Busy", "email": "busy@example.org", "status": "working"}),
            )
            .expect("lead");
        let won =
            c.s.create_record(
                &ann,
                &LEADS,
                &json!({"first_name": "Won", "email": "won@example.org", "status": "qualified"}),
            )
            .expect("lead");
        assert_eq!(open.owner(&LEADS), Some(c.ann), "a rep keeps what they type in");
        let leaving = CoWorkerChanges { status: Some(Status::Departing), ..Default::default() };
        c.s.update_coworker(&c.admin, "ann@example.com", leaving.clone()).expect("departing");
        for id in [open.id, working.id] {
            let l = lead(&c, id);
            assert!(matches!(l.owner(&LEADS), Some(o) if o == c.bob || o == c.cat), "{}", db.backend);
            assert_eq!(l.get_ref("previous_owner_id"), Some(c.ann));
            assert_eq!(l.get("routed_at").as_int(), Some(T));
        }
        assert_eq!(lead(&c, won.id).owner(&LEADS), Some(c.ann), "decided leads stay");
        let queue = c.s.reengagement_queue(&actor(&c.s, c.boss)).expect("queue");
        assert_eq!(queue.len(), 2, "{}", db.backend);
    }
}

#[test]
fn leads_import_from_a_hubspot_export() {
    for db in each_backend() {
        let c = company(&db);
        form_lead(&c, json!({"first_name": "Known", "email": "known@example.org"}));
        let csv = "First Name,Last Name,Email,Company Name,Job Title,Lead Status,Original Source,Number of Employees,Contact owner\n\
                   Lee,Park,lee@parkco.com,ParkCo,CFO,Open,Organic Search,\"1,200\",\n\
                   Known,Again,KNOWN@example.org,,,,,,\n\
                   Bad,Row,not-an-email,,,,,,\n\
                   Owned,Lead,owned@example.org,,,In Progress,,,bob@example.com\n";
        let dry = ImportOptions { dry_run: true, source: Some("hubspot.csv".into()) };
        let report = c.s.import_leads(&c.admin, csv.as_bytes(), &dry).expect("dry run");
        assert_eq!((report.rows, report.created, report.updated, report.rejected.len()), (4, 2, 1, 1), "{report:?}");
        assert_eq!(count(&c, &LEADS), 1, "a dry run writes nothing ({})", db.backend);
        let report = c.s.import_leads(&c.admin, csv.as_bytes(), &ImportOptions::default()).expect("import");
        assert_eq!((report.created, report.updated), (2, 1));
        assert_eq!(report.rejected[0].row, 4);
        let leads =
            c.s.list_records(&c.admin, &LEADS, &ListRequest { q: Some("park".into()), ..Default::default() })
                .expect("list")
                .items;
        let lee = &leads[0];
        assert_eq!(lee.get("company_size").as_int(), Some(1200));
        assert_eq!(lee.get("source").as_text(), Some("website"));
        assert!(lee.owner(&LEADS).is_some(), "routed");
        assert!(lee.get("score_reasons").as_text().is_some_and(|r| r.contains("C-level")));
        let owned =
            c.s.list_records(&c.admin, &LEADS, &ListRequest { q: Some("owned".into()), ..Default::default() })
                .expect("list")
                .items;
        assert_eq!((owned[0].owner(&LEADS), owned[0].get("status").as_text()), (Some(c.bob), Some("working")));
        assert!(owned[0].get("sla_due_at").is_null(), "a lead already worked starts no clock");
        let (notes, _) = c.s.notifications(&actor(&c.s, c.bob), 10).expect("notes");
        assert_eq!(notes.iter().filter(|n| n.kind == "lead.imported").count(), 1, "one notice per owner per import");
        let missing = c.s.import_leads(&c.admin, "Name,Phone\nx,1\n".as_bytes(), &ImportOptions::default());
        assert!(matches!(missing, Err(CoreError::Invalid(_))));
    }
}
