//! The demo company: a deterministic, realistic B2B sales organisation built through the
//! services (so it is validated and audited like any other data).

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::Holdfast;
use crate::coworker::{Actor, Role, Seniority};
use crate::error::CoreError;
use crate::event::{NewEvent, action};
use crate::record::{ACCOUNTS, ACTIVITIES, CONTACTS, CONTRACTS, DEALS, LEADS, TASKS};
use crate::service::NewCoWorker;
use crate::storage::Database;
use crate::time::{MICROS_PER_DAY, date_of, format_timestamp};

/// The password every demo co-worker signs in with.
pub const DEMO_PASSWORD: &str = "holdfast-demo";
/// The demo company's email domain.
pub const DEMO_DOMAIN: &str = "northwind-demo.com";

/// How big a demo company to make.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub accounts: usize,
    pub contacts_per_account: usize,
    pub leads: usize,
    pub activities: usize,
}

impl Default for DemoSize {
    fn default() -> Self {
        DemoSize { accounts: 2_000, contacts_per_account: 5, leads: 1_500, activities: 40_000 }
    }
}

/// What was made, for the operator.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub admin_email: String,
    pub director_email: String,
    pub manager_email: String,
    pub rep_email: String,
    /// The rep whose bulk reading two weeks ago the departing look-back finds.
    pub leaver_email: String,
    /// System events of the 90 days of history made up for the demo.
    pub history_events: usize,
    pub coworkers: usize,
    pub accounts: usize,
    pub contacts: usize,
    pub leads: usize,
    pub deals: usize,
    pub contracts: usize,
    pub activities: usize,
    pub tasks: usize,
}

pub(crate) const FIRST: &[&str] = &[
    "Olivia",
    "Liam",
    "Emma",
    "Noah",
    "Ava",
    "Oliver",
    "Sophia",
    "Elijah",
    "Isabella",
    "Lucas",
    "Mia",
    "Mateo",
    "Amelia",
    "Levi",
    "Harper",
    "James",
    "Evelyn",
    "Benjamin",
    "Abigail",
    "Henry",
    "Emily",
    "Sebastian",
    "Ella",
    "Jack",
    "Grace",
    "Daniel",
    "Chloe",
    "Samuel",
    "Nora",
    "David",
    "Priya",
    "Arjun",
    "Mei",
    "Hiroshi",
    "Yuki",
    "Fatima",
    "Omar",
    "Lena",
    "Jonas",
    "Sofia",
    "Marco",
    "Chiara",
    "Pierre",
    "Camille",
    "Lars",
    "Ingrid",
    "Diego",
    "Lucia",
    "Kwame",
    "Amara",
    "Tomasz",
    "Zofia",
    "Aiden",
    "Hannah",
    "Ravi",
    "Anika",
    "Connor",
    "Siobhan",
    "Mateus",
    "Beatriz",
];
pub(crate) const LAST: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Walker",
    "Hall",
    "Young",
    "King",
    "Wright",
    "Patel",
    "Nguyen",
    "Kim",
    "Chen",
    "Tanaka",
    "Sato",
    "Müller",
    "Schmidt",
    "Rossi",
    "Bianchi",
    "Dubois",
    "Laurent",
    "Johansson",
    "Nilsson",
    "Kowalski",
    "Nowak",
    "Okafor",
    "Mensah",
    "O'Brien",
    "Murphy",
    "Silva",
    "Santos",
    "Fischer",
    "Weber",
    "Novak",
    "Horvat",
    "Andersen",
    "Larsen",
];
const PREFIX: &[&str] = &[
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Hooli",
    "Vandelay",
    "Prestige",
    "Massive",
    "Nakatomi",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Pied Piper",
    "Aperture",
    "Black Mesa",
    "Blue Sun",
    "Cobalt",
    "Summit",
    "Pioneer",
    "Harbor",
    "Redwood",
    "Granite",
    "Evergreen",
    "Silverline",
    "Northstar",
    "Brightwater",
    "Ironclad",
    "Keystone",
    "Lighthouse",
    "Meridian",
    "Orchard",
    "Pinnacle",
    "Quantum",
    "Riverside",
    "Sterling",
    "Trident",
    "Unity",
    "Vertex",
    "Westfield",
    "Zenith",
    "Atlas",
    "Beacon",
    "Crescent",
    "Delta",
    "Ember",
];
const SUFFIX: &[&str] = &[
    "Logistics",
    "Manufacturing",
    "Health",
    "Analytics",
    "Foods",
    "Energy",
    "Financial",
    "Retail",
    "Software",
    "Robotics",
    "Pharma",
    "Construction",
    "Media",
    "Telecom",
    "Insurance",
    "Labs",
    "Systems",
    "Materials",
    "Aerospace",
    "Hospitality",
];
const ENTITY: &[&str] = &["Inc", "Ltd", "GmbH", "Group", "Corp", "LLC", "AG", "SA", "Co", "Holdings"];
const INDUSTRIES: &[&str] = &[
    "Logistics",
    "Manufacturing",
    "Healthcare",
    "Software",
    "Retail",
    "Energy",
    "Financial services",
    "Telecommunications",
    "Construction",
    "Media",
    "Insurance",
    "Pharmaceuticals",
    "Hospitality",
    "Aerospace",
    "Education",
];
const CITIES: &[(&str, &str)] = &[
    ("New York", "United States"),
    ("Chicago", "United States"),
    ("Austin", "United States"),
    ("Seattle", "United States"),
    ("Toronto", "Canada"),
    ("London", "United Kingdom"),
    ("Manchester", "United Kingdom"),
    ("Dublin", "Ireland"),
    ("Berlin", "Germany"),
    ("Munich", "Germany"),
    ("Paris", "France"),
    ("Lyon", "France"),
    ("Amsterdam", "Netherlands"),
    ("Stockholm", "Sweden"),
    ("Copenhagen", "Denmark"),
    ("Warsaw", "Poland"),
    ("Madrid", "Spain"),
    ("Milan", "Italy"),
    ("Sydney", "Australia"),
    ("Singapore", "Singapore"),
    ("Tokyo", "Japan"),
    ("São Paulo", "Brazil"),
];
const TITLES: &[(&str, &str)] = &[
    ("Chief Executive Officer", "decision_maker"),
    ("Chief Financial Officer", "economic_buyer"),
    ("Chief Operating Officer", "decision_maker"),
    ("VP of Operations", "decision_maker"),
    ("Head of Procurement", "economic_buyer"),
    ("IT Director", "influencer"),
    ("Operations Manager", "champion"),
    ("Procurement Specialist", "influencer"),
    ("Finance Manager", "economic_buyer"),
    ("Project Manager", "user"),
    ("Systems Administrator", "user"),
    ("Legal Counsel", "blocker"),
    ("Office Manager", "user"),
    ("Head of Logistics", "champion"),
    ("Data Analyst", "user"),
];
const CALL_NOTES: &[&str] = &[
    "Discussed renewal timeline; they want a proposal before their budget meeting",
    "Walked through the new reporting module; positive reaction from the team",
    "Follow-up on open support ticket; issue resolved, customer satisfied",
    "Intro call with new stakeholder in finance; sent pricing overview",
    "Quarterly business review: usage up 18%, asked about additional seats",
    "Negotiated payment terms; legal reviewing the updated contract",
    "Customer raised concerns about onboarding speed; agreed on a training plan",
    "Demo for the operations team; requested a pilot for two sites",
    "Checked in after go-live; champion wants a case study",
    "Procurement asked for security documentation and references",
];

/// A contact's seniority from their title.
fn seniority_of(title: &str) -> &'static str {
    if title.contains("Board") {
        "board"
    } else if title.starts_with("Chief") {
        "executive"
    } else if title.starts_with("VP")
        || title.starts_with("Head")
        || title.contains("Director")
        || title.contains("Counsel")
    {
        "vp"
    } else if title.contains("Manager") {
        "manager"
    } else {
        "staff"
    }
}

impl<D: Database> Holdfast<D> {
    /// Gives the demo's leads a past: each came in some time in the last 60 days and was first
    /// called after a realistic wait (most within minutes, some after days), with the call on its
    /// page; a dozen new ones came in over the last hour, some still inside their clock.
    fn demo_lead_history(&self, rng: &mut StdRng, actor: &Actor, now: i64, ids: &[Uuid]) -> Result<(), CoreError> {
        const MINUTE: i64 = 60_000_000;
        let rules = self.settings()?.lead_rules.clone();
        let leads = self.db.read(|tx| Ok(tx.get_records(&LEADS, ids)?))?;
        let mut calls = Vec::new();
        let mut clocks = Vec::new();
        for lead in &leads {
            let routed = now - rng.random_range(1..60) * MICROS_PER_DAY - rng.random_range(0..600) * MINUTE;
            let wait = match rng.random_range(0..10) {
                0..=3 => rng.random_range(1..5) * MINUTE,
                4..=6 => rng.random_range(5..60) * MINUTE,
                7..=8 => rng.random_range(60..480) * MINUTE,
                _ => rng.random_range(1..3) * MICROS_PER_DAY,
            };
            let touched = routed + wait;
            let owner = lead.owner(&LEADS).map(|o| o.to_string());
            calls.push(json!({
                "type": pick(rng, &["call", "call", "email"]), "occurred_at": format_timestamp(touched),
                "summary": pick(rng, &["Intro call: wants a demo next week", "Left a voicemail, sent a follow-up email", "Qualified budget and timeline", "Not a fit right now; check back next quarter"]),
                "lead_id": lead.id.to_string(), "owner_id": owner,
            }));
            clocks.push((lead.id, routed, Some(touched)));
        }
        self.create_many(actor, &ACTIVITIES, &calls)?;
        // A dozen new leads of the last hour: the clock is running on them.
        let mut fresh: Vec<Json> = (0..12)
            .map(|i| {
                let (f, l) = (*pick(rng, FIRST), *pick(rng, LAST));
                let company = format!("{} {}", pick(rng, PREFIX), pick(rng, SUFFIX));
                json!({
                    "first_name": f, "last_name": l, "company": company,
                    "email": format!("{}.{}@{}.com", slug(f), slug(l), slug(&company)),
                    "title": pick(rng, TITLES).0, "source": if i % 3 == 0 { "event" } else { "website" },
                    "company_size": pick(rng, &[25, 120, 400, 2500]), "country": "United States",
                })
            })
            .collect();
        // The same person twice, with two addresses: the duplicates review shows them.
        fresh.push(json!({"first_name": "Mateus", "last_name": "Andersen", "company": "Nordlys AS", "email": "mateus@nordlys.no",
            "phone": "+47 22 33 44 55", "title": "Head of Operations", "source": "event", "country": "Norway", "company_size": 320}));
        fresh.push(json!({"first_name": "Mateus", "last_name": "Anderson", "company": "Nordlys A/S", "email": "m.andersen@gmail.com",
            "phone": "22 33 44 55", "source": "website", "country": "Norway"}));
        let fresh_ids = self.create_many(&Actor::scheduler(), &LEADS, &fresh)?;
        self.create_lead_form(
            &Actor::operator(),
            crate::service::NewLeadForm {
                name: "Website – talk to sales".into(),
                fields: ["last_name", "company", "title", "phone", "company_size", "country"]
                    .map(String::from)
                    .to_vec(),
                redirect_url: None,
            },
        )?;
        for (i, id) in fresh_ids.iter().enumerate() {
            clocks.push((*id, now - (i as i64 * 4 + 1) * MINUTE, None));
        }
        self.db.write(|tx| {
            tx.expect_many_changes()?;
            for (id, routed, touched) in clocks {
                let Some(mut lead) = tx.get_record(&LEADS, id)? else { continue };
                let due = rules.business_hours.add(routed, rules.sla_minutes);
                let set = |lead: &mut crate::record::Record, f: &'static str, v: Option<i64>| {
                    lead.fields.insert(f, v.map(crate::record::Value::Int).unwrap_or(crate::record::Value::Null));
                };
                set(&mut lead, "routed_at", Some(routed));
                set(&mut lead, "last_submission_at", Some(routed));
                set(&mut lead, "sla_due_at", Some(due));
                set(&mut lead, "reroute_at", Some(rules.business_hours.add(routed, rules.reroute_minutes)));
                set(&mut lead, "first_touch_at", touched);
                let late = touched.unwrap_or(now) > due;
                set(&mut lead, "escalated_at", late.then_some(due));
                lead.created_at = routed;
                tx.update_record(&LEADS, &lead)?;
            }
            Ok(())
        })
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn slug(s: &str) -> String {
    s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_lowercase()
}

impl<D: Database> Holdfast<D> {
    /// Fills an empty database with the demo company. Refuses a database that has accounts.
    pub fn load_demo(&self, actor: &Actor, size: DemoSize, progress: &dyn Fn(&str)) -> Result<DemoSummary, CoreError> {
        if self.count_records(&ACCOUNTS)? > 0 {
            return Err(CoreError::Conflict(
                "this database already has accounts; load the demo company into a fresh --database".into(),
            ));
        }
        let mut rng = StdRng::seed_from_u64(20_261_122);
        let now = self.now();
        progress("co-workers");
        let email = |first: &str, last: &str| format!("{}.{}@{DEMO_DOMAIN}", slug(first), slug(last));
        let add = |name: (&str, &str),
                   role: Role,
                   seniority: Seniority,
                   team: Option<&str>,
                   manager: Option<&str>,
                   title: &str| {
            let new = NewCoWorker {
                email: email(name.0, name.1),
                name: format!("{} {}", name.0, name.1),
                role,
                seniority: Some(seniority),
                team: team.map(String::from),
                manager: manager.map(String::from),
                title: Some(title.to_string()),
                password: Some(DEMO_PASSWORD.to_string()),
                password_must_change: false,
            };
            self.add_coworker(actor, new)
        };
        let admin =
            add(("Alex", "Admin"), Role::Admin, Seniority::Individual, None, None, "Sales Operations & Security")?;
        let director = add(("Diana", "Reyes"), Role::Director, Seniority::Executive, None, None, "Sales Director")?;
        let teams = [("East", ("Marcus", "Bell")), ("West", ("Sara", "Lindqvist")), ("Enterprise", ("Tom", "Okoye"))];
        let mut reps = Vec::new();
        let mut managers = Vec::new();
        let mut used = std::collections::HashSet::new();
        for (team, mname) in teams {
            let m = add(
                mname,
                Role::Manager,
                Seniority::Manager,
                Some(team),
                Some(&director.email),
                &format!("{team} Sales Manager"),
            )?;
            self.set_team_manager(actor, team, &m.email)?;
            managers.push(m.clone());
            for i in 0..7 {
                let (f, l) = loop {
                    let pair = (*pick(&mut rng, FIRST), *pick(&mut rng, LAST));
                    if used.insert(pair) {
                        break pair;
                    }
                };
                let title = if i == 0 { "Senior Account Executive" } else { "Account Executive" };
                reps.push(add((f, l), Role::Rep, Seniority::Individual, Some(team), Some(&m.email), title)?);
            }
        }
        let owners: Vec<Uuid> = reps.iter().map(|r| r.id).collect();

        progress("accounts");
        let mut accounts = Vec::new();
        let mut tiers: Vec<&str> = Vec::new();
        let mut account_inputs = Vec::new();
        let mut names = std::collections::HashSet::new();
        while account_inputs.len() < size.accounts {
            let name = format!("{} {} {}", pick(&mut rng, PREFIX), pick(&mut rng, SUFFIX), pick(&mut rng, ENTITY));
            if !names.insert(name.clone()) {
                continue;
            }
            let domain = format!(
                "{}{}.com",
                slug(name.split(' ').next().unwrap_or("x")),
                slug(name.split(' ').nth(1).unwrap_or(""))
            );
            let owner = owners[rng.random_range(0..owners.len())];
            let tier = *pick(
                &mut rng,
                &["strategic", "enterprise", "enterprise", "mid_market", "mid_market", "smb", "smb", "smb"],
            );
            let lifecycle = *pick(
                &mut rng,
                &["customer", "customer", "customer", "prospect", "prospect", "former_customer", "partner"],
            );
            let (city, country) = *pick(&mut rng, CITIES);
            let value = match tier {
                "strategic" => rng.random_range(250_000..2_000_000),
                "enterprise" => rng.random_range(80_000..400_000),
                "mid_market" => rng.random_range(20_000..90_000),
                _ => rng.random_range(3_000..25_000),
            };
            let mut collaborators = Vec::new();
            if tier == "strategic" || rng.random_range(0..4) == 0 {
                let other = owners[rng.random_range(0..owners.len())];
                if other != owner {
                    collaborators.push(other.to_string());
                }
            }
            accounts.push((owner, domain.clone(), lifecycle == "customer", value));
            tiers.push(tier);
            account_inputs.push(json!({
                "name": name, "domain": domain, "industry": pick(&mut rng, INDUSTRIES), "tier": tier,
                "lifecycle": lifecycle, "annual_value": if lifecycle == "customer" { json!(value) } else { Json::Null },
                "fiscal_year_end_month": *pick(&mut rng, &[12, 12, 12, 3, 6, 9]),
                "phone": format!("+1 {} 555 {:04}", rng.random_range(200..990), rng.random_range(0..10_000)),
                "city": city, "country": country, "owner_id": owner.to_string(), "collaborator_ids": collaborators,
            }));
        }
        let account_ids = self.create_many(actor, &ACCOUNTS, &account_inputs)?;

        progress("contacts");
        // Each account's people in the customer's org chart: a CEO (and at strategic accounts a
        // board chair above them), others below whoever is more senior. Executives and the board
        // at strategic and enterprise accounts are escalation only; their VPs owner only.
        let mut people_of: Vec<Vec<(Json, usize, Option<usize>)>> = Vec::new();
        for (i, (owner, domain, _, _)) in accounts.iter().enumerate() {
            let n =
                rng.random_range(size.contacts_per_account.saturating_sub(3).max(1)..=size.contacts_per_account + 3);
            let mut seen = std::collections::HashSet::new();
            let mut titles: Vec<(&str, &str)> = Vec::new();
            if tiers[i] == "strategic" {
                titles.push(("Chair of the Board", "decision_maker"));
            }
            titles.push(TITLES[0]);
            let wanted = n.max(titles.len() + 1);
            while titles.len() < wanted {
                titles.push(*pick(&mut rng, &TITLES[1..]));
            }
            let guarded = matches!(tiers[i], "strategic" | "enterprise");
            let mut people: Vec<(Json, usize, Option<usize>)> = Vec::new();
            for (title, role) in titles {
                let (f, l) = (*pick(&mut rng, FIRST), *pick(&mut rng, LAST));
                if !seen.insert((f, l)) {
                    continue;
                }
                let seniority = seniority_of(title);
                let rank = crate::protocol::SENIORITIES.iter().position(|s| *s == seniority).unwrap_or(4);
                let above: Vec<usize> = (0..people.len()).filter(|j| people[*j].1 < rank).collect();
                let boss = match above.as_slice() {
                    [] => None,
                    _ => {
                        let nearest = above.iter().map(|j| people[*j].1).max().unwrap_or(0);
                        let closest: Vec<usize> = above.into_iter().filter(|j| people[*j].1 == nearest).collect();
                        Some(closest[rng.random_range(0..closest.len())])
                    }
                };
                let protocol = match (guarded, seniority) {
                    (true, "board" | "executive") => "escalation_only",
                    (true, "vp") if tiers[i] == "strategic" => "owner_only",
                    _ => "open",
                };
                people.push((
                    json!({
                        "account_id": account_ids[i].to_string(), "first_name": f, "last_name": l,
                        "email": format!("{}.{}@{domain}", slug(f), slug(l)),
                        "phone": format!("+1 {} 555 {:04}", rng.random_range(200..990), rng.random_range(0..10_000)),
                        "title": title, "buying_role": role, "owner_id": owner.to_string(),
                        "seniority": seniority, "protocol": protocol,
                    }),
                    rank,
                    boss,
                ));
            }
            people_of.push(people);
        }
        // Inserted level by level down the org chart, so each boss has an id before their people.
        let mut ids_of: Vec<Vec<Option<Uuid>>> = people_of.iter().map(|p| vec![None; p.len()]).collect();
        let mut contact_ids = Vec::new();
        let mut contacts_of: Vec<Vec<Uuid>> = vec![Vec::new(); accounts.len()];
        loop {
            let mut batch = Vec::new();
            let mut placed = Vec::new();
            for (ai, people) in people_of.iter().enumerate() {
                for (ci, (input, _, boss)) in people.iter().enumerate() {
                    if ids_of[ai][ci].is_some() {
                        continue;
                    }
                    let boss_id = match boss {
                        None => None,
                        Some(b) => match ids_of[ai][*b] {
                            Some(id) => Some(id),
                            None => continue,
                        },
                    };
                    let mut input = input.clone();
                    input["reports_to_id"] = json!(boss_id.map(|b| b.to_string()));
                    batch.push(input);
                    placed.push((ai, ci));
                }
            }
            if batch.is_empty() {
                break;
            }
            let mut created = Vec::new();
            for chunk in batch.chunks(5_000) {
                created.extend(self.create_many(actor, &CONTACTS, chunk)?);
            }
            for ((ai, ci), id) in placed.into_iter().zip(created) {
                ids_of[ai][ci] = Some(id);
            }
        }
        for (ai, ids) in ids_of.iter().enumerate() {
            for id in ids.iter().flatten() {
                contact_ids.push(*id);
                contacts_of[ai].push(*id);
            }
        }

        progress("leads");
        let lead_inputs: Vec<Json> = (0..size.leads)
            .map(|_| {
                let (f, l) = (*pick(&mut rng, FIRST), *pick(&mut rng, LAST));
                let company = format!("{} {}", pick(&mut rng, PREFIX), pick(&mut rng, SUFFIX));
                json!({
                    "first_name": f, "last_name": l, "company": company,
                    "email": format!("{}.{}@{}.io", slug(f), slug(l), slug(&company)),
                    "title": pick(&mut rng, TITLES).0,
                    "source": pick(&mut rng, &["website", "referral", "event", "outbound", "partner"]),
                    "status": pick(&mut rng, &["working", "working", "working", "qualified", "qualified", "disqualified"]),
                    "country": pick(&mut rng, &["United States", "United States", "Germany", "United Kingdom", "Norway"]),
                    "company_size": pick(&mut rng, &[12, 40, 85, 150, 240, 600, 1800]),
                    "owner_id": owners[rng.random_range(0..owners.len())].to_string(),
                })
            })
            .collect();
        let lead_ids = self.create_many(actor, &LEADS, &lead_inputs)?;
        self.demo_lead_history(&mut rng, actor, now, &lead_ids)?;

        progress("deals and contracts");
        let mut deal_inputs = Vec::new();
        let mut contract_inputs = Vec::new();
        let mut deal_account = Vec::new();
        for (i, (owner, _, customer, value)) in accounts.iter().enumerate() {
            let deals = rng.random_range(0..=3);
            for d in 0..deals {
                let stage = *pick(
                    &mut rng,
                    &["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"],
                );
                let closed = stage.starts_with("closed");
                let offset = if closed { -rng.random_range(1..300) } else { rng.random_range(5..200) };
                let name = format!(
                    "{} {}",
                    pick(&mut rng, &["Expansion", "Renewal", "New seats", "Pilot", "Platform upgrade", "Multi-year"]),
                    2026 + d as i64 % 2
                );
                deal_inputs.push(json!({
                    "name": name, "account_id": account_ids[i].to_string(), "stage": stage,
                    "amount": (value / 4).max(2_000) + rng.random_range(0..20_000),
                    "close_date": date_of(now + offset * MICROS_PER_DAY),
                    "primary_contact_id": contacts_of[i].first().map(|c| c.to_string()),
                    "owner_id": owner.to_string(),
                }));
                deal_account.push(i);
            }
            if *customer {
                let start = now - rng.random_range(30..700) * MICROS_PER_DAY;
                let end = start + 365 * MICROS_PER_DAY;
                contract_inputs.push(json!({
                    "name": format!("Master subscription {}", date_of(start).get(..4).unwrap_or("2026")),
                    "account_id": account_ids[i].to_string(), "value": value,
                    "start_date": date_of(start), "end_date": date_of(end), "renewal_date": date_of(end - 60 * MICROS_PER_DAY),
                    "status": if end < now { "expired" } else { "active" }, "owner_id": owner.to_string(),
                }));
            }
        }
        let deal_ids = self.create_many(actor, &DEALS, &deal_inputs)?;
        self.create_many(actor, &CONTRACTS, &contract_inputs)?;

        progress("a year of activities");
        // A third of the strategic accounts hang on their owner alone (one rep, one contact, no
        // manager in a year): what the exposure page is for. Elsewhere managers join some meetings,
        // more often at bigger accounts, so some are overdue for senior contact and some are not.
        let lone: Vec<bool> = (0..accounts.len()).map(|i| tiers[i] == "strategic" && i % 3 == 0).collect();
        let mut activity_inputs = Vec::with_capacity(size.activities);
        for _ in 0..size.activities {
            let i = rng.random_range(0..accounts.len());
            let (owner, _, _, _) = accounts[i];
            let kind = *pick(&mut rng, &["call", "call", "email", "email", "email", "meeting", "note"]);
            let at = now - rng.random_range(0..365 * 24 * 60) * 60 * 1_000_000;
            let mut people = Vec::new();
            if lone[i] {
                // the one contact they talk to: the most junior, last in the org chart
                if let Some(c) = contacts_of[i].last() {
                    people.push(c.to_string());
                }
            } else if let Some(c) = contacts_of[i].get(rng.random_range(0..contacts_of[i].len().max(1))) {
                people.push(c.to_string());
            }
            if kind == "meeting"
                && !lone[i]
                && let Some(c) = contacts_of[i].last()
                && !people.contains(&c.to_string())
            {
                people.push(c.to_string());
            }
            let mut colleagues = Vec::new();
            let senior_odds = if matches!(tiers[i], "strategic" | "enterprise") { 2 } else { 4 };
            if kind == "meeting" && !lone[i] && rng.random_range(0..senior_odds) == 0 {
                colleagues.push(managers[rng.random_range(0..managers.len())].id.to_string());
            }
            let summary = match kind {
                "email" => format!("Email: {}", pick(&mut rng, CALL_NOTES)),
                "note" => format!("Note: {}", pick(&mut rng, CALL_NOTES)),
                _ => pick(&mut rng, CALL_NOTES).to_string(),
            };
            activity_inputs.push(json!({
                "type": kind, "occurred_at": format_timestamp(at), "summary": summary,
                "account_id": account_ids[i].to_string(), "contact_ids": people, "coworker_ids": colleagues,
                "owner_id": owner.to_string(),
            }));
        }
        for chunk in activity_inputs.chunks(5_000) {
            self.create_many(actor, &ACTIVITIES, chunk)?;
        }

        progress("tasks");
        let task_inputs: Vec<Json> = (0..size.accounts.min(3_000))
            .map(|_| {
                let i = rng.random_range(0..accounts.len());
                let due = now + rng.random_range(-20..45) * MICROS_PER_DAY;
                json!({
                    "title": pick(&mut rng, &["Send proposal", "Schedule QBR", "Follow up on pricing", "Prepare renewal quote", "Introduce support lead", "Update champion map", "Send security questionnaire"]),
                    "due_date": date_of(due), "status": if due < now && rng.random_range(0..2) == 0 { "done" } else { "open" },
                    "account_id": account_ids[i].to_string(), "owner_id": accounts[i].0.to_string(),
                })
            })
            .collect();
        self.create_many(actor, &TASKS, &task_inputs)?;
        let _ = deal_ids;

        progress("90 days of system events");
        let leaver = &reps[3];
        let mut people: Vec<(Uuid, bool)> = reps.iter().map(|r| (r.id, false)).collect();
        people.extend(managers.iter().map(|m| (m.id, true)));
        let owned: Vec<Vec<Uuid>> = people
            .iter()
            .map(|(id, _)| {
                accounts.iter().zip(&account_ids).filter(|((owner, ..), _)| owner == id).map(|(_, a)| *a).collect()
            })
            .collect();
        let history = demo_history(&mut rng, now, &people, &owned, &contact_ids, leaver.id);
        let history_events = history.len();
        for chunk in history.chunks(5_000) {
            self.db.write(|tx| Ok(crate::service::append_events(tx, chunk.to_vec())?))?;
        }

        progress("leak tracing");
        // Canaries on (a domain kept for them), and the leaver's mail to her personal address
        // with her customers in a spreadsheet, as the mail journal saw it.
        let change = crate::service::SettingsChange {
            canary_email_domain: Some(DEMO_CANARY_DOMAIN.into()),
            canary_phone_prefix: Some("+1 555 01".into()),
            ..Default::default()
        };
        self.change_settings(actor, &change)?;
        let mut csv = String::from("First Name,Last Name,Email,Phone,Title\r\n");
        for (i, people) in people_of.iter().enumerate() {
            if accounts[i].0 != leaver.id {
                continue;
            }
            for (p, _, _) in people {
                let text = |k: &str| p[k].as_str().unwrap_or("").replace(',', " ");
                csv.push_str(&format!(
                    "{},{},{},{},{}\r\n",
                    text("first_name"),
                    text("last_name"),
                    text("email"),
                    text("phone"),
                    text("title")
                ));
            }
        }
        self.journal_mail(actor, &demo_mail(&leaver.email, &leaver.name, &csv))?;

        let summary = DemoSummary {
            leaver_email: leaver.email.clone(),
            history_events,
            admin_email: admin.email.clone(),
            director_email: director.email.clone(),
            manager_email: managers[0].email.clone(),
            rep_email: reps[0].email.clone(),
            coworkers: 2 + managers.len() + reps.len(),
            accounts: account_inputs.len(),
            contacts: contact_ids.len(),
            leads: lead_inputs.len(),
            deals: deal_inputs.len(),
            contracts: contract_inputs.len(),
            activities: activity_inputs.len(),
            tasks: task_inputs.len(),
        };
        self.db.write(|tx| {
            Ok(crate::service::append_events(
                tx,
                vec![
                    NewEvent::by(actor, self.now(), action::DEMO_LOAD)
                        .detail("accounts", json!(summary.accounts))
                        .detail("contacts", json!(summary.contacts)),
                ],
            )?)
        })?;
        Ok(summary)
    }
}

/// The demo company's canary domain (it reads like a supplier's).
pub const DEMO_CANARY_DOMAIN: &str = "harborline-supply.com";

/// The leaver's message to her personal address, as the company's mail server journals it.
fn demo_mail(from: &str, name: &str, csv: &str) -> Vec<u8> {
    use base64::Engine;
    let personal = format!("{}.home@gmail.com", from.split('@').next().unwrap_or("me"));
    let b64 = base64::engine::general_purpose::STANDARD.encode(csv.as_bytes());
    let body: Vec<&str> = b64.as_bytes().chunks(76).filter_map(|l| std::str::from_utf8(l).ok()).collect();
    format!(
        "From: {name} <{from}>\r\nTo: {personal}\r\nSubject: my accounts, for later\r\n\
         Message-ID: <demo-leak-1@northwind-demo.com>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"demo\"\r\n\r\n--demo\r\nContent-Type: text/plain\r\n\r\n\
         Keeping these.\r\n--demo\r\nContent-Type: text/csv; name=\"my-accounts.csv\"\r\n\
         Content-Disposition: attachment; filename=\"my-accounts.csv\"\r\nContent-Transfer-Encoding: base64\r\n\r\n\
         {}\r\n--demo--\r\n",
        body.join("\r\n")
    )
    .into_bytes()
}

/// A made-up address for a demo co-worker's office machine (TEST-NET-1, RFC 5737).
fn office_addr(i: usize) -> String {
    format!("192.0.2.{}", 10 + i)
}

fn demo_event(at: i64, who: Uuid, addr: &str, what: &str, object: Option<(&str, Uuid)>, rows: i64) -> NewEvent {
    NewEvent {
        at,
        coworker_id: Some(who),
        action: what.into(),
        object_type: object.map(|o| o.0.to_string()),
        object_id: object.map(|o| o.1.to_string()),
        row_count: rows,
        client_addr: Some(addr.to_string()),
        user_agent: Some("Mozilla/5.0 (demo history)".into()),
        // Marked, so nobody mistakes the demo's made-up past for real activity.
        details: json!({"via": "session", "demo_history": true}),
    }
}

/// 90 days of ordinary work for the demo's reps and managers (office hours on weekdays: signing
/// in, opening their own accounts and contacts, listing, searching, the odd small export), and
/// one rep, `leaver`, who two weeks ago read 3,000 contacts one evening and exported 800 from an
/// address never seen before. Oldest first, as the log keeps them.
fn demo_history(
    rng: &mut StdRng,
    now: i64,
    people: &[(Uuid, bool)],
    owned: &[Vec<Uuid>],
    contacts: &[Uuid],
    leaver: Uuid,
) -> Vec<NewEvent> {
    const MINUTE: i64 = 60_000_000;
    let today = now.div_euclid(MICROS_PER_DAY);
    let weekday = |day: i64| (day + 3).rem_euclid(7) < 5;
    // The evening two weeks ago (the nearest weekday).
    let mut spike_day = today - 14;
    while !weekday(spike_day) {
        spike_day -= 1;
    }
    let mut out = Vec::new();
    for day in today - 90..today {
        if !weekday(day) {
            continue;
        }
        let start = day * MICROS_PER_DAY;
        for (i, (who, manager)) in people.iter().enumerate() {
            if rng.random_range(0..20) == 0 {
                continue; // a day off
            }
            let addr = office_addr(i);
            let mut at = start + rng.random_range(8 * 60..9 * 60 + 30) * MINUTE;
            out.push(demo_event(at, *who, &addr, action::LOGIN, None, 0));
            let opened = rng.random_range(8..40);
            for _ in 0..opened {
                at += rng.random_range(3..15) * MINUTE;
                let account = owned[i].get(rng.random_range(0..owned[i].len().max(1))).copied();
                match account {
                    Some(a) if rng.random_range(0..3) > 0 => {
                        out.push(demo_event(at, *who, &addr, action::RECORD_READ, Some(("account", a)), 1));
                    }
                    _ => {
                        let c =
                            contacts[rng.random_range(0..contacts.len().max(1)).min(contacts.len().saturating_sub(1))];
                        out.push(demo_event(at, *who, &addr, action::RECORD_READ, Some(("contact", c)), 1));
                    }
                }
                if rng.random_range(0..6) == 0 {
                    let rows = rng.random_range(10..50);
                    out.push(demo_event(at + MINUTE, *who, &addr, action::LIST_READ, None, rows));
                }
                if rng.random_range(0..8) == 0 {
                    out.push(demo_event(at + 2 * MINUTE, *who, &addr, action::SEARCH, None, rng.random_range(1..20)));
                }
            }
            let exports = if *manager { 8 } else { 25 };
            if rng.random_range(0..exports) == 0 {
                at += 10 * MINUTE;
                let mut e = demo_event(at, *who, &addr, action::EXPORT_CREATE, None, rng.random_range(15..80));
                e.object_type = Some("contact".into());
                e.details["format"] = json!("csv");
                e.details["columns"] = json!(["id", "first_name", "last_name", "email", "account_id"]);
                out.push(e);
            }
        }
        if day == spike_day {
            let addr = "198.51.100.77";
            let mut at = start + 21 * 60 * MINUTE + 12 * MINUTE;
            out.push(demo_event(at, leaver, addr, action::LOGIN, None, 0));
            for _ in 0..6 {
                at += 4 * MINUTE;
                out.push(demo_event(at, leaver, addr, action::LIST_READ, None, 500));
            }
            at += 9 * MINUTE;
            let mut e = demo_event(at, leaver, addr, action::EXPORT_CREATE, None, 800);
            e.object_type = Some("contact".into());
            e.details["format"] = json!("csv");
            e.details["columns"] = json!(["id", "first_name", "last_name", "email", "phone", "title", "account_id"]);
            out.push(e);
        }
    }
    out.sort_by_key(|e| e.at);
    out
}
