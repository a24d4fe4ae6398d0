//! Customer records (accounts, contacts, leads, deals, contracts, activities, tasks).
//!
//! Every kind of customer record is described once, here, by a [`RecordKind`]: its fields, their
//! types and rules. Validation, JSON input/output, change tracking (before/after values in system
//! events), CSV import, list filters, the OpenAPI document and the SQL in the store are all derived
//! from these descriptions, so a field added here is validated, stored, audited and documented
//! everywhere at once.
//!
//! The file is long on purpose: it is the one table of every kind and field, with the value
//! parsing those fields share, and it reads best as one piece.

use std::collections::BTreeMap;

use serde_json::{Map, Value as Json};
use uuid::Uuid;

use crate::error::{CoreError, FieldError};
use crate::time::{format_timestamp, parse_date, parse_timestamp};

/// The kinds of thing a field may point at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Account,
    Contact,
    Lead,
    Deal,
    Contract,
    Activity,
    Task,
    CoWorker,
}

impl Kind {
    /// The word used in URLs, events and JSON (`account`, `co-worker` → `coworker`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Account => "account",
            Kind::Contact => "contact",
            Kind::Lead => "lead",
            Kind::Deal => "deal",
            Kind::Contract => "contract",
            Kind::Activity => "activity",
            Kind::Task => "task",
            Kind::CoWorker => "coworker",
        }
    }
}

/// What a field holds and how it is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// Free text up to `max` characters (trimmed; empty means null).
    Text {
        max: usize,
    },
    Email,
    Phone,
    /// A company's web domain (`acme.com`); a pasted URL is reduced to its host.
    Domain,
    Int {
        min: i64,
        max: i64,
    },
    /// An amount of money in the account's currency, stored in cents.
    Money,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A moment in time, RFC 3339.
    Timestamp,
    /// One of a fixed list of words.
    Choice(&'static [&'static str]),
    /// The id of another record or co-worker.
    Ref(Kind),
    /// A list of ids of other records or co-workers (stored in a link table).
    RefList(Kind),
    /// Lines of text (stored joined by newlines, shown in JSON as a list of strings).
    Lines {
        max: usize,
    },
}

/// One field of a record kind.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub ty: FieldType,
    pub required: bool,
    /// Included in full-text search.
    pub search: bool,
    /// Usable as `sort=` in list requests (fields that are never null, and dates and amounts,
    /// whose empty values sort as [`Field::null_sorts_as`] says).
    pub sortable: bool,
    /// Value given when a create leaves the field out.
    pub default: Option<&'static str>,
    /// Worked out by Holdfast (a lead's score, its clock): shown, never taken from input.
    pub computed: bool,
    /// A short human description (OpenAPI, CSV templates).
    pub doc: &'static str,
}

impl Field {
    /// What an empty value sorts as, for a sortable field that may be empty: undated records
    /// after every date (soonest first puts them last), records without an amount below every
    /// amount (largest first puts them last). `None` when the field is never empty.
    pub fn null_sorts_as(&self) -> Option<Value> {
        if self.required || self.default.is_some() {
            return None;
        }
        match self.ty {
            FieldType::Date => Some(Value::Text("9999-12-31".into())),
            FieldType::Money => Some(Value::Int(-1)),
            _ => None,
        }
    }
}

const fn f(name: &'static str, ty: FieldType, doc: &'static str) -> Field {
    Field { name, ty, required: false, search: false, sortable: false, default: None, computed: false, doc }
}
const fn computed(mut field: Field) -> Field {
    field.computed = true;
    field
}
const fn req(mut field: Field) -> Field {
    field.required = true;
    field
}
const fn search(mut field: Field) -> Field {
    field.search = true;
    field
}
const fn sortable(mut field: Field) -> Field {
    field.sortable = true;
    field
}
const fn default(mut field: Field, value: &'static str) -> Field {
    field.default = Some(value);
    field
}

const NAME: FieldType = FieldType::Text { max: 200 };
const SHORT: FieldType = FieldType::Text { max: 100 };
const LONG: FieldType = FieldType::Text { max: 20_000 };

pub const BUYING_ROLES: &[&str] =
    &["decision_maker", "economic_buyer", "champion", "influencer", "user", "blocker", "other"];
pub const DEAL_STAGES: &[&str] =
    &["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"];
pub const ACTIVITY_TYPES: &[&str] = &["call", "email", "meeting", "note"];
pub const LEAD_SOURCES: &[&str] = &["website", "referral", "event", "outbound", "partner", "import", "other"];
pub const LEAD_STATUSES: &[&str] = &["new", "working", "qualified", "disqualified", "converted"];

/// The description of one kind of customer record.
#[derive(Debug)]
pub struct RecordKind {
    pub kind: Kind,
    /// Singular word, as in events (`account`).
    pub name: &'static str,
    /// Plural word, as in URLs (`/api/v1/accounts`) and table names.
    pub plural: &'static str,
    pub fields: &'static [Field],
    /// The field naming the co-worker responsible for the record.
    pub owner_field: &'static str,
    /// The field naming the account the record belongs to, if any.
    pub account_field: Option<&'static str>,
    /// Fields joined to make a record's display label.
    pub label_fields: &'static [&'static str],
    /// Sort used when a list request names none.
    pub default_sort: &'static str,
}

impl RecordKind {
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }
    pub fn searchable(&self) -> bool {
        self.fields.iter().any(|f| f.search)
    }
    /// Fields stored as columns of the record's own table (not link lists).
    pub fn columns(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| !matches!(f.ty, FieldType::RefList(_)))
    }
    /// Fields a person or a client may set (not the ones Holdfast works out).
    pub fn inputs(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| !f.computed)
    }
    pub fn link_fields(&self) -> impl Iterator<Item = &'static Field> {
        self.fields.iter().filter(|f| matches!(f.ty, FieldType::RefList(_)))
    }
    pub fn by_plural(plural: &str) -> Option<&'static RecordKind> {
        ALL_KINDS.iter().copied().find(|k| k.plural == plural)
    }
    pub fn by_kind(kind: Kind) -> Option<&'static RecordKind> {
        ALL_KINDS.iter().copied().find(|k| k.kind == kind)
    }
}

pub static ACCOUNTS: RecordKind = RecordKind {
    kind: Kind::Account,
    name: "account",
    plural: "accounts",
    fields: &[
        sortable(search(req(f("name", NAME, "Company name")))),
        search(f("domain", FieldType::Domain, "Web domain, e.g. acme.com")),
        f("industry", SHORT, "Industry"),
        f("tier", FieldType::Choice(&["strategic", "enterprise", "mid_market", "smb"]), "Account tier"),
        sortable(default(
            f(
                "lifecycle",
                FieldType::Choice(&["prospect", "customer", "former_customer", "partner"]),
                "Lifecycle stage",
            ),
            "prospect",
        )),
        sortable(f("annual_value", FieldType::Money, "Annual contract value")),
        f("fiscal_year_end_month", FieldType::Int { min: 1, max: 12 }, "Month (1-12) the customer's fiscal year ends"),
        search(f("phone", FieldType::Phone, "Main phone number")),
        f("city", SHORT, "City"),
        f("country", SHORT, "Country"),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who owns the account"),
        f("collaborator_ids", FieldType::RefList(Kind::CoWorker), "Co-workers on the account team besides the owner"),
        f("notes", LONG, "Notes"),
    ],
    owner_field: "owner_id",
    account_field: None,
    label_fields: &["name"],
    default_sort: "name",
};

pub static CONTACTS: RecordKind = RecordKind {
    kind: Kind::Contact,
    name: "contact",
    plural: "contacts",
    fields: &[
        f("account_id", FieldType::Ref(Kind::Account), "Account the contact works for"),
        sortable(search(req(f("first_name", SHORT, "First name")))),
        sortable(search(default(f("last_name", SHORT, "Last name"), ""))),
        search(f("email", FieldType::Email, "Email address")),
        search(f("phone", FieldType::Phone, "Phone number")),
        search(f("title", SHORT, "Job title")),
        f("buying_role", FieldType::Choice(BUYING_ROLES), "Role in the customer's buying decision"),
        f(
            "reports_to_id",
            FieldType::Ref(Kind::Contact),
            "The contact's manager at the customer (draws the org chart)",
        ),
        f(
            "seniority",
            FieldType::Choice(crate::protocol::SENIORITIES),
            "Seniority at the customer: board, executive, vp, manager or staff",
        ),
        default(
            f(
                "protocol",
                FieldType::Choice(crate::protocol::PROTOCOLS),
                "Who may reach the contact: open, owner_only, or escalation_only (approval first)",
            ),
            "open",
        ),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who owns the contact"),
        f("notes", LONG, "Notes"),
    ],
    owner_field: "owner_id",
    account_field: Some("account_id"),
    label_fields: &["first_name", "last_name"],
    default_sort: "last_name",
};

pub static LEADS: RecordKind = RecordKind {
    kind: Kind::Lead,
    name: "lead",
    plural: "leads",
    fields: &[
        sortable(search(req(f("first_name", SHORT, "First name")))),
        sortable(search(default(f("last_name", SHORT, "Last name"), ""))),
        search(f("email", FieldType::Email, "Email address")),
        search(f("phone", FieldType::Phone, "Phone number")),
        search(f("company", NAME, "Company the lead works for")),
        f("title", SHORT, "Job title"),
        f("source", FieldType::Choice(LEAD_SOURCES), "Where the lead came from"),
        sortable(default(f("status", FieldType::Choice(LEAD_STATUSES), "Lead status"), "new")),
        f("disqualified_reason", SHORT, "Why the lead was disqualified"),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who owns the lead"),
        f("industry", SHORT, "Industry of the lead's company"),
        f("company_size", FieldType::Int { min: 1, max: 10_000_000 }, "Employees at the lead's company"),
        f("country", SHORT, "Country (name or ISO code)"),
        f("utm_source", SHORT, "Campaign source (utm_source)"),
        f("utm_medium", SHORT, "Campaign medium (utm_medium)"),
        f("utm_campaign", SHORT, "Campaign name (utm_campaign)"),
        sortable(computed(f("score", FieldType::Int { min: -1000, max: 1000 }, "Fit plus engagement score"))),
        computed(f("score_reasons", FieldType::Lines { max: 4000 }, "Why the score is what it is")),
        computed(f("duplicate_of", FieldType::Ref(Kind::Lead), "The lead this one probably duplicates")),
        computed(f("contact_id", FieldType::Ref(Kind::Contact), "The customer contact with the lead's email")),
        computed(f("account_id", FieldType::Ref(Kind::Account), "The account the lead's company matches")),
        computed(f("submissions", FieldType::Int { min: 0, max: i64::MAX }, "Times the lead came in")),
        computed(f("last_submission_at", FieldType::Timestamp, "When the lead last came in")),
        sortable(computed(f("routed_at", FieldType::Timestamp, "When the lead was given its owner; its clock starts"))),
        computed(f("sla_due_at", FieldType::Timestamp, "When the first touch is due")),
        sortable(computed(f("first_touch_at", FieldType::Timestamp, "The owner's first call or email since routing"))),
        computed(f("escalated_at", FieldType::Timestamp, "When the lead was escalated to the owner's manager")),
        computed(f("reroute_at", FieldType::Timestamp, "When an untouched lead goes to someone else")),
        computed(f("previous_owner_id", FieldType::Ref(Kind::CoWorker), "Who had the lead before they left")),
    ],
    owner_field: "owner_id",
    account_field: None,
    label_fields: &["first_name", "last_name"],
    default_sort: "last_name",
};

pub static DEALS: RecordKind = RecordKind {
    kind: Kind::Deal,
    name: "deal",
    plural: "deals",
    fields: &[
        sortable(search(req(f("name", NAME, "Deal name")))),
        req(f("account_id", FieldType::Ref(Kind::Account), "Account the deal is with")),
        sortable(default(f("stage", FieldType::Choice(DEAL_STAGES), "Pipeline stage"), "prospecting")),
        sortable(f("amount", FieldType::Money, "Expected amount")),
        sortable(f("close_date", FieldType::Date, "Expected or actual close date")),
        f("primary_contact_id", FieldType::Ref(Kind::Contact), "Main contact on the customer's side"),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who owns the deal"),
    ],
    owner_field: "owner_id",
    account_field: Some("account_id"),
    label_fields: &["name"],
    default_sort: "name",
};

pub static CONTRACTS: RecordKind = RecordKind {
    kind: Kind::Contract,
    name: "contract",
    plural: "contracts",
    fields: &[
        sortable(req(f("name", NAME, "Contract name"))),
        req(f("account_id", FieldType::Ref(Kind::Account), "Account the contract is with")),
        sortable(f("value", FieldType::Money, "Contract value")),
        f("start_date", FieldType::Date, "Start date"),
        sortable(f("end_date", FieldType::Date, "End date")),
        sortable(f("renewal_date", FieldType::Date, "Date the renewal must be decided")),
        sortable(default(
            f("status", FieldType::Choice(&["draft", "active", "expired", "cancelled"]), "Contract status"),
            "active",
        )),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who owns the contract"),
    ],
    owner_field: "owner_id",
    account_field: Some("account_id"),
    label_fields: &["name"],
    default_sort: "name",
};

pub static ACTIVITIES: RecordKind = RecordKind {
    kind: Kind::Activity,
    name: "activity",
    plural: "activities",
    fields: &[
        sortable(req(f("type", FieldType::Choice(ACTIVITY_TYPES), "Call, email, meeting or note"))),
        sortable(req(f("occurred_at", FieldType::Timestamp, "When it happened"))),
        req(f("summary", LONG, "What was said or done")),
        f("account_id", FieldType::Ref(Kind::Account), "Account it concerns"),
        f("deal_id", FieldType::Ref(Kind::Deal), "Deal it concerns"),
        f("lead_id", FieldType::Ref(Kind::Lead), "Lead it concerns (a call or email starts the lead's first touch)"),
        f("contact_ids", FieldType::RefList(Kind::Contact), "Customer contacts who took part"),
        f("coworker_ids", FieldType::RefList(Kind::CoWorker), "Co-workers who took part besides the owner"),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker who logged it"),
    ],
    owner_field: "owner_id",
    account_field: Some("account_id"),
    label_fields: &["type", "summary"],
    default_sort: "-occurred_at",
};

pub static TASKS: RecordKind = RecordKind {
    kind: Kind::Task,
    name: "task",
    plural: "tasks",
    fields: &[
        sortable(req(f("title", NAME, "What needs doing"))),
        sortable(f("due_date", FieldType::Date, "Due date")),
        sortable(default(f("status", FieldType::Choice(&["open", "done", "cancelled"]), "Task status"), "open")),
        f("account_id", FieldType::Ref(Kind::Account), "Related account"),
        f("contact_id", FieldType::Ref(Kind::Contact), "Related contact"),
        f("deal_id", FieldType::Ref(Kind::Deal), "Related deal"),
        f("owner_id", FieldType::Ref(Kind::CoWorker), "Co-worker the task is assigned to"),
        f("notes", LONG, "Notes, e.g. a drafted email"),
    ],
    owner_field: "owner_id",
    account_field: Some("account_id"),
    label_fields: &["title"],
    default_sort: "-created_at",
};

/// Every kind of customer record, in the order the UI and documents list them.
pub static ALL_KINDS: &[&RecordKind] = &[&ACCOUNTS, &CONTACTS, &LEADS, &DEALS, &CONTRACTS, &ACTIVITIES, &TASKS];

/// A stored value, in the shape both databases hold it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Value {
    Null,
    Int(i64),
    Text(String),
}

impl Value {
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// One customer record as stored: its system columns and its fields by name.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Record {
    pub id: Uuid,
    pub created_at: i64,
    pub updated_at: i64,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub deleted_at: Option<i64>,
    /// Column fields; link-list fields hold `Value::Text` ids joined by commas.
    pub fields: BTreeMap<&'static str, Value>,
    /// Link-list fields (`collaborator_ids`, `contact_ids`…).
    pub links: BTreeMap<&'static str, Vec<Uuid>>,
}

impl Record {
    pub fn get(&self, field: &str) -> &Value {
        self.fields.get(field).unwrap_or(&Value::Null)
    }
    pub fn get_ref(&self, field: &str) -> Option<Uuid> {
        self.get(field).as_text().and_then(|s| Uuid::parse_str(s).ok())
    }
    pub fn owner(&self, kind: &RecordKind) -> Option<Uuid> {
        self.get_ref(kind.owner_field)
    }
    pub fn account(&self, kind: &RecordKind) -> Option<Uuid> {
        if kind.kind == Kind::Account {
            return Some(self.id);
        }
        kind.account_field.and_then(|f| self.get_ref(f))
    }
    /// A short human label, e.g. "Ada Lovelace" or "Acme Corp".
    pub fn label(&self, kind: &RecordKind) -> String {
        let parts: Vec<&str> =
            kind.label_fields.iter().filter_map(|f| self.get(f).as_text()).filter(|s| !s.is_empty()).collect();
        let mut label = parts.join(" ");
        if label.chars().count() > 80 {
            label = label.chars().take(77).collect::<String>() + "...";
        }
        label
    }

    /// One field's value as the API shows it.
    pub fn value_json(&self, field: &Field) -> Json {
        match field.ty {
            FieldType::RefList(_) => Json::Array(
                self.links
                    .get(field.name)
                    .map(|ids| ids.iter().map(|id| Json::String(id.to_string())).collect())
                    .unwrap_or_default(),
            ),
            _ => value_to_json(field, self.get(field.name)),
        }
    }

    /// The record as the API shows it.
    pub fn to_json(&self, kind: &RecordKind) -> Json {
        let mut out = Map::new();
        out.insert("id".into(), Json::String(self.id.to_string()));
        for field in kind.fields {
            out.insert(field.name.into(), self.value_json(field));
        }
        out.insert("created_at".into(), Json::String(format_timestamp(self.created_at)));
        out.insert("updated_at".into(), Json::String(format_timestamp(self.updated_at)));
        out.insert("created_by".into(), opt_uuid(self.created_by));
        out.insert("updated_by".into(), opt_uuid(self.updated_by));
        out.insert(
            "deleted_at".into(),
            self.deleted_at.map(|t| Json::String(format_timestamp(t))).unwrap_or(Json::Null),
        );
        Json::Object(out)
    }

    /// The text indexed for search: searchable fields, lower-cased, split into words; phone
    /// numbers also as bare digits and emails also whole local part and domain.
    pub fn search_text(&self, kind: &RecordKind) -> String {
        // Written into one string (every record written computes it: a million on an import).
        let mut out = String::new();
        let push = |out: &mut String, word: &str| {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(word);
        };
        for field in kind.fields.iter().filter(|f| f.search) {
            if let Some(text) = self.get(field.name).as_text() {
                push_search_words(text, &mut out);
                if field.ty == FieldType::Phone {
                    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
                    if digits.len() > 3 {
                        push(&mut out, &digits);
                        if digits.len() > 7 {
                            // national number without a country code
                            push(&mut out, &digits[digits.len() - 7..]);
                            if digits.len() > 10 {
                                push(&mut out, &digits[digits.len() - 10..]);
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

fn opt_uuid(id: Option<Uuid>) -> Json {
    id.map(|i| Json::String(i.to_string())).unwrap_or(Json::Null)
}

/// [`search_words`] appended to `out`, each after a space (none before the first of `out`).
fn push_search_words(text: &str, out: &mut String) {
    for piece in text.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()) {
        let before = out.len();
        if before > 0 {
            out.push(' ');
        }
        let start = out.len();
        if piece.is_ascii() {
            out.extend(piece.bytes().map(|b| char::from(b.to_ascii_lowercase())));
        } else {
            out.extend(piece.to_lowercase().chars().filter(|c| c.is_alphanumeric()));
        }
        if out.len() == start {
            out.truncate(before);
        }
    }
}

/// Splits text into the lower-case alphanumeric words search indexes and matches on.
///
/// Lower-casing can add marks that are not alphanumeric ("İ" becomes "i" and a combining dot,
/// found by a long property-test run), so the lower-cased word is filtered again.
pub fn search_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .map(|w| w.to_lowercase().chars().filter(|c| c.is_alphanumeric()).collect::<String>())
        .filter(|w| !w.is_empty())
        .collect()
}

/// A stored value as the API shows it (amounts in currency units, times as RFC 3339).
pub fn value_to_json(field: &Field, value: &Value) -> Json {
    match (field.ty, value) {
        (_, Value::Null) => Json::Null,
        (FieldType::Money, Value::Int(cents)) => {
            if cents % 100 == 0 {
                Json::from(cents / 100)
            } else {
                serde_json::Number::from_f64(*cents as f64 / 100.0).map(Json::Number).unwrap_or(Json::Null)
            }
        }
        (FieldType::Timestamp, Value::Int(t)) => Json::String(format_timestamp(*t)),
        (FieldType::Lines { .. }, Value::Text(s)) => Json::Array(s.lines().map(|l| Json::String(l.into())).collect()),
        (_, Value::Int(i)) => Json::from(*i),
        (_, Value::Text(s)) => Json::String(s.clone()),
    }
}

/// Fields given in a create or update, checked and converted to stored values.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Changes {
    pub fields: BTreeMap<&'static str, Value>,
    pub links: BTreeMap<&'static str, Vec<Uuid>>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.links.is_empty()
    }
}

/// Parses a JSON object of field values for `kind`, collecting every problem with its field name.
///
/// `creating` applies defaults and required-field checks. System fields (`id`, `created_at`…) are
/// accepted and ignored when they equal what is stored, so a client may send back what it read.
pub fn parse_changes(kind: &RecordKind, input: &Json, creating: bool) -> Result<Changes, CoreError> {
    let Json::Object(map) = input else {
        return Err(CoreError::invalid("", "the body must be a JSON object of field values"));
    };
    let mut errors = Vec::new();
    let mut changes = Changes::default();
    for (name, value) in map {
        if matches!(name.as_str(), "id" | "created_at" | "updated_at" | "created_by" | "updated_by" | "deleted_at") {
            continue;
        }
        let Some(field) = kind.field(name) else {
            errors.push(FieldError::new(name, format!("{} has no field '{name}'", kind.plural)));
            continue;
        };
        if field.computed {
            // Worked out by Holdfast, like the system fields: a client may send back what it read.
            continue;
        }
        match field.ty {
            FieldType::RefList(_) => match parse_id_list(value) {
                Ok(ids) => {
                    changes.links.insert(field.name, ids);
                }
                Err(reason) => errors.push(FieldError::new(name, reason)),
            },
            _ => match parse_value(field, value) {
                Ok(Value::Null) if field.required => {
                    errors.push(FieldError::new(name, "is required and cannot be empty"))
                }
                // Stored as never empty: a new record takes the default; a change may empty a
                // text whose default is empty, and nothing else.
                Ok(Value::Null) if field.default.is_some() => match field.default {
                    Some(d) if creating || d.is_empty() => {
                        changes.fields.insert(field.name, Value::Text(d.to_string()));
                    }
                    _ => errors.push(FieldError::new(name, "cannot be empty; leave it out to keep its value")),
                },
                Ok(v) => {
                    changes.fields.insert(field.name, v);
                }
                Err(reason) => errors.push(FieldError::new(name, reason)),
            },
        }
    }
    if creating {
        for field in kind.columns().filter(|f| !f.computed) {
            if changes.fields.contains_key(field.name) || map.contains_key(field.name) {
                continue;
            }
            if let Some(d) = field.default {
                changes.fields.insert(field.name, Value::Text(d.to_string()));
            } else if field.required && field.ty != FieldType::Timestamp {
                errors.push(FieldError::new(field.name, "is required"));
            }
        }
    }
    if errors.is_empty() { Ok(changes) } else { Err(CoreError::Invalid(errors)) }
}

fn parse_id_list(value: &Json) -> Result<Vec<Uuid>, String> {
    match value {
        Json::Null => Ok(Vec::new()),
        Json::Array(items) => {
            let mut ids = Vec::with_capacity(items.len());
            for item in items {
                let id = item
                    .as_str()
                    .and_then(|s| Uuid::parse_str(s).ok())
                    .ok_or_else(|| format!("must be a list of ids; {item} is not an id"))?;
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            Ok(ids)
        }
        other => Err(format!("must be a list of ids, not {}", json_type(other))),
    }
}

fn json_type(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "true/false",
        Json::Number(_) => "a number",
        Json::String(_) => "text",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

/// Checks and converts one field value (JSON from the API, or text from a CSV cell).
pub fn parse_value(field: &Field, value: &Json) -> Result<Value, String> {
    let text = match value {
        Json::Null => return Ok(Value::Null),
        Json::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return Ok(Value::Null);
            }
            Some(t)
        }
        _ => None,
    };
    match field.ty {
        FieldType::Text { max } => {
            let t = text.ok_or_else(|| format!("must be text, not {}", json_type(value)))?;
            let n = t.chars().count();
            if n > max {
                return Err(format!("is {n} characters long; the most allowed is {max}"));
            }
            if t.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
                return Err("contains control characters".into());
            }
            Ok(Value::Text(t.to_string()))
        }
        FieldType::Email => {
            let t = text.ok_or_else(|| format!("must be an email address as text, not {}", json_type(value)))?;
            normalize_email(t).map(Value::Text)
        }
        FieldType::Phone => {
            let t = text.ok_or_else(|| format!("must be a phone number as text, not {}", json_type(value)))?;
            normalize_phone(t).map(Value::Text)
        }
        FieldType::Domain => {
            let t = text.ok_or_else(|| format!("must be a domain as text, not {}", json_type(value)))?;
            normalize_domain(t).map(Value::Text)
        }
        FieldType::Int { min, max } => {
            let n = match value {
                Json::Number(n) => n.as_i64().ok_or("must be a whole number")?,
                Json::String(_) => text.unwrap_or_default().parse::<i64>().map_err(|_| "must be a whole number")?,
                other => return Err(format!("must be a whole number, not {}", json_type(other))),
            };
            if n < min || n > max {
                return Err(format!("must be between {min} and {max}"));
            }
            Ok(Value::Int(n))
        }
        FieldType::Money => {
            let amount = match value {
                Json::Number(n) => n.as_f64().ok_or("must be an amount")?,
                Json::String(_) => {
                    let cleaned: String = text
                        .unwrap_or_default()
                        .chars()
                        .filter(|c| !matches!(c, ',' | '$' | '€' | '£' | ' '))
                        .collect();
                    cleaned.parse::<f64>().map_err(|_| "must be an amount such as 12500 or 12500.50")?
                }
                other => return Err(format!("must be an amount, not {}", json_type(other))),
            };
            if !amount.is_finite() || !(0.0..=1e13).contains(&amount) {
                return Err("must be an amount between 0 and 10,000,000,000,000".into());
            }
            let cents = (amount * 100.0).round();
            if (amount * 100.0 - cents).abs() > 1e-6 {
                return Err("can have at most two decimal places".into());
            }
            Ok(Value::Int(cents as i64))
        }
        FieldType::Date => {
            let t = text.ok_or_else(|| format!("must be a date as text (YYYY-MM-DD), not {}", json_type(value)))?;
            parse_date(t).map(Value::Text)
        }
        FieldType::Timestamp => {
            let t = text.ok_or_else(|| format!("must be a time as text (RFC 3339), not {}", json_type(value)))?;
            parse_timestamp(t).map(Value::Int)
        }
        FieldType::Choice(options) => {
            let t = text.ok_or_else(|| format!("must be one of: {}", options.join(", ")))?;
            let normalized = t.to_lowercase().replace([' ', '-'], "_");
            options
                .iter()
                .find(|o| **o == normalized)
                .map(|o| Value::Text((*o).to_string()))
                .ok_or_else(|| format!("'{t}' is not one of: {}", options.join(", ")))
        }
        FieldType::Ref(kind) => {
            let t = text.ok_or_else(|| format!("must be the id of a {} as text", kind.name()))?;
            Uuid::parse_str(t)
                .map(|id| Value::Text(id.to_string()))
                .map_err(|_| format!("'{t}' is not a {} id", kind.name()))
        }
        FieldType::RefList(_) => Err("must be a list of ids".into()),
        FieldType::Lines { max } => {
            let lines: Vec<String> = match value {
                Json::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(|s| s.trim().to_string()).ok_or("must be a list of text lines"))
                    .collect::<Result<_, _>>()?,
                _ => text.ok_or("must be text lines")?.lines().map(|l| l.trim().to_string()).collect(),
            };
            let joined = lines.into_iter().filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
            if joined.chars().count() > max {
                return Err(format!("is longer than {max} characters"));
            }
            if joined.chars().any(|c| c.is_control() && c != '\n') {
                return Err("contains control characters".into());
            }
            Ok(if joined.is_empty() { Value::Null } else { Value::Text(joined) })
        }
    }
}

/// Lower-cases and checks an email address.
pub fn normalize_email(raw: &str) -> Result<String, String> {
    let email = raw.trim().to_lowercase();
    let bad = || format!("'{raw}' is not a valid email address");
    if email.len() > 254 || email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    if local.is_empty()
        || local.len() > 64
        || domain.contains('@')
        || !domain.contains('.')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
        || domain.chars().any(|c| !(c.is_alphanumeric() || c == '.' || c == '-'))
    {
        return Err(bad());
    }
    Ok(email)
}

/// Keeps a phone number as the person wrote it, but checks it has enough digits to dial.
pub fn normalize_phone(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || " +-().x/".contains(c) || c.is_ascii_alphabetic();
    if !(5..=20).contains(&digits) || t.len() > 40 || !t.chars().all(allowed) {
        return Err(format!("'{raw}' is not a phone number (5 to 20 digits, with + - ( ) . spaces allowed)"));
    }
    Ok(t.to_string())
}

/// Digits of a phone number, for de-duplication.
pub fn phone_digits(phone: &str) -> String {
    phone.chars().filter(char::is_ascii_digit).collect()
}

/// Reduces `https://www.Acme.com/about` to `acme.com` and checks it looks like a domain.
pub fn normalize_domain(raw: &str) -> Result<String, String> {
    let mut d = raw.trim().to_lowercase();
    for prefix in ["https://", "http://"] {
        if let Some(rest) = d.strip_prefix(prefix) {
            d = rest.to_string();
        }
    }
    if let Some(i) = d.find(['/', '?', '#']) {
        d.truncate(i);
    }
    if let Some(rest) = d.strip_prefix("www.") {
        d = rest.to_string();
    }
    let valid = d.len() <= 253
        && d.contains('.')
        && !d.starts_with(['.', '-'])
        && !d.ends_with(['.', '-'])
        && !d.contains("..")
        && d.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
    if valid { Ok(d) } else { Err(format!("'{raw}' is not a web domain such as acme.com")) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn search_words_drop_the_marks_lower_casing_adds() {
        assert_eq!(search_words("İstanbul, İZMİR"), vec!["istanbul", "izmir"]);
    }

    #[test]
    fn create_names_every_bad_field() {
        let err = parse_changes(&CONTACTS, &json!({"email": "nope", "shoe_size": 9}), true).unwrap_err();
        let CoreError::Invalid(errors) = err else { panic!("expected invalid") };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(fields.contains(&"email"));
        assert!(fields.contains(&"shoe_size"));
        assert!(fields.contains(&"first_name"));
    }

    #[test]
    fn money_and_choices_are_normalized() {
        let c = parse_changes(
            &DEALS,
            &json!({"name": "X", "account_id": Uuid::nil().to_string(), "amount": "12,500.50", "stage": "Closed Won"}),
            true,
        )
        .expect("valid");
        assert_eq!(c.fields["amount"], Value::Int(1_250_050));
        assert_eq!(c.fields["stage"], Value::Text("closed_won".into()));
    }

    #[test]
    fn domains_are_reduced_to_host() {
        assert_eq!(normalize_domain("https://www.Acme.com/about").as_deref(), Ok("acme.com"));
        assert!(normalize_domain("not a domain").is_err());
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Search input becomes lower-case alphanumeric words only, so it can never carry FTS5
        /// or tsquery syntax into a query.
        /// The search text's words, written straight into one string, are the query's words.
        #[test]
        fn search_text_words_are_search_words(a in "\\PC{0,40}", b in "\\PC{0,40}") {
            let mut out = String::from("x");
            push_search_words(&a, &mut out);
            push_search_words(&b, &mut out);
            let mut expected = vec!["x".to_string()];
            expected.extend(search_words(&a));
            expected.extend(search_words(&b));
            prop_assert_eq!(out, expected.join(" "));
        }

        #[test]
        fn search_words_are_plain(text in "\\PC{0,60}") {
            for w in search_words(&text) {
                prop_assert!(!w.is_empty());
                prop_assert!(w.chars().all(char::is_alphanumeric), "{w:?}");
                prop_assert_eq!(w.to_lowercase(), w.clone());
            }
        }

        /// Every value a field accepts is stored in a form the same field accepts again unchanged.
        #[test]
        fn parsed_values_are_stable(text in "\\PC{0,40}") {
            for kind in ALL_KINDS {
                for field in kind.fields.iter().filter(|f| !matches!(f.ty, FieldType::RefList(_) | FieldType::Timestamp | FieldType::Money | FieldType::Int { .. })) {
                    if let Ok(Value::Text(stored)) = parse_value(field, &Json::String(text.clone())) {
                        prop_assert_eq!(parse_value(field, &Json::String(stored.clone())), Ok(Value::Text(stored)));
                    }
                }
            }
        }
    }
}
