//! Co-workers (the people who use Holdfast), teams, and the actor behind each request.

use serde::Serialize;
use serde_json::{Value as Json, json};
use uuid::Uuid;

use crate::time::format_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    /// Sees every team's records, reports and system events, and acts as every team's manager;
    /// does not change settings.
    Director,
    Manager,
    Rep,
}

impl Role {
    /// Every role, in the order forms offer them.
    pub const ALL: [Role; 4] = [Role::Rep, Role::Manager, Role::Director, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Director => "director",
            Role::Manager => "manager",
            Role::Rep => "rep",
        }
    }
    pub fn parse(s: &str) -> Result<Role, String> {
        match s.trim().to_lowercase().as_str() {
            "admin" => Ok(Role::Admin),
            "director" => Ok(Role::Director),
            "manager" => Ok(Role::Manager),
            "rep" => Ok(Role::Rep),
            other => Err(format!("'{other}' is not a role; use admin, director, manager or rep")),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Active,
    /// Has resigned or been given notice; still signs in until departed.
    Departing,
    /// Has left: cannot sign in; sessions and tokens are revoked.
    Departed,
    /// Temporarily blocked: cannot sign in; sessions and tokens are revoked.
    Suspended,
}

impl Status {
    /// Every status, in the order a co-worker goes through them (suspended is a pause).
    pub const ALL: [Status; 4] = [Status::Active, Status::Departing, Status::Suspended, Status::Departed];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Departing => "departing",
            Status::Departed => "departed",
            Status::Suspended => "suspended",
        }
    }
    pub fn parse(s: &str) -> Result<Status, String> {
        match s.trim().to_lowercase().as_str() {
            "active" => Ok(Status::Active),
            "departing" => Ok(Status::Departing),
            "departed" => Ok(Status::Departed),
            "suspended" => Ok(Status::Suspended),
            other => Err(format!("'{other}' is not a status; use active, departing, departed or suspended")),
        }
    }
    /// Whether a co-worker in this status may sign in and use tokens.
    pub fn may_sign_in(self) -> bool {
        matches!(self, Status::Active | Status::Departing)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Seniority {
    Executive,
    Manager,
    Individual,
}

impl Seniority {
    /// Every seniority, from the first rung up, as forms offer them.
    pub const ALL: [Seniority; 3] = [Seniority::Individual, Seniority::Manager, Seniority::Executive];

    pub fn as_str(self) -> &'static str {
        match self {
            Seniority::Executive => "executive",
            Seniority::Manager => "manager",
            Seniority::Individual => "individual",
        }
    }
    pub fn parse(s: &str) -> Result<Seniority, String> {
        match s.trim().to_lowercase().as_str() {
            "executive" => Ok(Seniority::Executive),
            "manager" => Ok(Seniority::Manager),
            "individual" => Ok(Seniority::Individual),
            other => Err(format!("'{other}' is not a seniority; use executive, manager or individual")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct CoWorker {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: Status,
    pub seniority: Seniority,
    pub team_id: Option<Uuid>,
    pub manager_id: Option<Uuid>,
    pub title: Option<String>,
    /// argon2id PHC string; `None` for co-workers who only use tokens or SSO.
    pub password_hash: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The password was chosen by someone else (a reset, a generated first password): its owner
    /// must change it before anything else.
    pub password_must_change: bool,
}

impl CoWorker {
    pub fn to_json(&self) -> Json {
        json!({
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "seniority": self.seniority,
            "team_id": self.team_id,
            "manager_id": self.manager_id,
            "title": self.title,
            "created_at": format_timestamp(self.created_at),
            "updated_at": format_timestamp(self.updated_at),
        })
    }
}

/// What the company's identity provider (SCIM) says about a co-worker beyond what Holdfast
/// keeps on the co-worker.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Identity {
    pub coworker_id: Uuid,
    /// The identity provider's own id for the user (SCIM `externalId`).
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub department: Option<String>,
    /// When the identity provider deleted the user (`DELETE /scim/v2/Users/{id}`): the co-worker
    /// stays, with their history; the SCIM resource is gone until the provider creates it again.
    pub removed_at: Option<i64>,
    /// When the identity provider switched the co-worker off (`active: false` or DELETE on someone
    /// who could sign in, or provisioned inactive), cleared by any later change of their status:
    /// only such a co-worker does it switch on again; one Holdfast switched off stays off.
    pub deactivated_at: Option<i64>,
    /// The single sign-on account the co-worker first signed in with (`{issuer} {subject}`):
    /// later sign-ins through the same provider must be that account, whatever email it carries.
    pub sso_subject: Option<String>,
    /// When SCIM first provisioned or matched the co-worker (an identity row made by single
    /// sign-on's binding alone has none).
    pub provisioned_at: Option<i64>,
    pub updated_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Team {
    pub id: Uuid,
    pub name: String,
    pub manager_id: Option<Uuid>,
}

impl Team {
    pub fn to_json(&self) -> Json {
        json!({"id": self.id, "name": self.name, "manager_id": self.manager_id})
    }
}

/// How a request reached the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// A web session (cookie) or a session token from `POST /api/v1/sessions`.
    Session,
    /// An API token.
    ApiToken,
    /// The `holdfast` command line, run by an operator on the server.
    Cli,
    /// The company's identity provider, with a SCIM token (it opens `/scim/v2` only).
    Scim,
    /// A visitor posting a public web-to-lead form (no sign-in; it can only leave a lead).
    WebForm,
    /// The company's mail server handing Holdfast journal copies of outgoing mail, or mail to a
    /// canary address (`holdfast serve --mail-journal`, `--canary-smtp`).
    Mail,
}

impl Channel {
    pub fn as_str(&self) -> &'static str {
        match self {
            Channel::Session => "session",
            Channel::ApiToken => "api_token",
            Channel::Cli => "cli",
            Channel::Scim => "scim",
            Channel::WebForm => "web_form",
            Channel::Mail => "mail",
        }
    }
}

/// Who is asking: the co-worker (or the server's operator), how, and from where.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `None` for the operator at the command line, who acts as an administrator.
    pub coworker: Option<CoWorker>,
    pub channel: Channel,
    /// The credential used (session or token id), recorded in system events.
    pub credential_id: Option<Uuid>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// Co-workers this actor manages (directly or as a team's manager), themselves excluded.
    pub manages: Vec<Uuid>,
    /// Co-workers in the actor's own team, themselves included.
    pub team_mates: Vec<Uuid>,
}

impl Actor {
    /// The operator running a CLI command on the server.
    pub fn operator() -> Actor {
        Actor {
            coworker: None,
            channel: Channel::Cli,
            credential_id: None,
            client_addr: None,
            user_agent: std::env::var("USER").ok().map(|u| format!("holdfast-cli ({u})")),
            manages: Vec::new(),
            team_mates: Vec::new(),
        }
    }
    /// The server's own scheduler (ending access when a last day is over), which acts as the
    /// operator does.
    pub fn scheduler() -> Actor {
        Actor { user_agent: Some("holdfast scheduler".into()), ..Actor::operator() }
    }
    /// A visitor posting a public web-to-lead form: the service lets it do nothing but leave a
    /// lead (the form's path calls the capture directly).
    pub fn web_form(client_addr: Option<String>, user_agent: Option<String>) -> Actor {
        Actor { channel: Channel::WebForm, client_addr, user_agent, ..Actor::operator() }
    }
    /// The company's mail server, delivering to the server's SMTP listeners.
    pub fn mail_server(client_addr: Option<String>) -> Actor {
        Actor { channel: Channel::Mail, client_addr, user_agent: Some("smtp".into()), ..Actor::operator() }
    }
    pub fn id(&self) -> Option<Uuid> {
        self.coworker.as_ref().map(|c| c.id)
    }
    pub fn role(&self) -> Role {
        match (&self.coworker, &self.channel) {
            (Some(c), _) => c.role,
            // A visitor posting a public form has no rights of its own.
            (None, Channel::WebForm) => Role::Rep,
            (None, _) => Role::Admin,
        }
    }
    pub fn is_admin(&self) -> bool {
        self.role() == Role::Admin
    }
    /// Whether the actor leads people: a manager, a director, an admin or the operator.
    pub fn leads(&self) -> bool {
        self.role() != Role::Rep
    }
    /// Human description for messages and logs.
    pub fn describe(&self) -> String {
        match &self.coworker {
            Some(c) => c.email.clone(),
            None => "the operator".into(),
        }
    }
}
