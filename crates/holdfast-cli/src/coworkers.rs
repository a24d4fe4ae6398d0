//! `holdfast coworker` and `holdfast token`: add, list and change co-workers, hand a leaver's
//! customers to a colleague, and manage API tokens.

use std::io::{IsTerminal, Read};

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use holdfast_core::coworker::{Actor, Role, Seniority, Status};
use holdfast_core::service::{CoWorkerChanges, HandoverRule, NewCoWorker};
use holdfast_core::time::format_timestamp;
use holdfast_core::{CoreError, Holdfast, secret};
use holdfast_store::Store;

#[derive(Subcommand)]
pub enum CoworkerCmd {
    /// Add a co-worker. The password is read from stdin when it is not a terminal, else generated and printed once.
    Add {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// admin, manager or rep
        #[arg(long)]
        role: String,
        /// Team name (created if new).
        #[arg(long)]
        team: Option<String>,
        /// Email of their manager.
        #[arg(long)]
        manager: Option<String>,
        /// executive, manager or individual
        #[arg(long)]
        seniority: Option<String>,
        #[arg(long)]
        title: Option<String>,
    },
    /// One co-worker a line: email, role, status, name, team.
    List,
    /// Change a co-worker (suspending or marking departed revokes their sessions and tokens at once).
    Set {
        /// Email or id.
        coworker: String,
        #[arg(long)]
        role: Option<String>,
        /// active, departing, departed or suspended
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        team: Option<String>,
        #[arg(long)]
        manager: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Read a new password from stdin.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Hand every account, contact, lead, deal, contract and task a co-worker owns to another, in
    /// one step (undo with `holdfast undo OPERATION`). Activities stay with whoever logged them.
    Handover {
        /// Email or id of the co-worker whose customers move.
        coworker: String,
        /// Email or id of the co-worker who takes them over.
        #[arg(long, conflicts_with = "round_robin")]
        to: Option<String>,
        /// Share them among these colleagues (emails, comma-separated), smaller books first; each
        /// account moves with its contacts, deals, contracts and tasks.
        #[arg(long, value_delimiter = ',')]
        round_robin: Vec<String>,
        /// Only say what would move to whom; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove a co-worker's two-factor sign-in (a lost phone): their authenticator and recovery
    /// codes go and their sessions end; they set it up again at their next sign-in.
    ResetTwoFactor {
        /// Email or id.
        coworker: String,
    },
}

#[derive(Subcommand)]
pub enum TokenCmd {
    /// Create an API token and print it (once: only its hash is stored).
    Create {
        #[arg(long)]
        coworker: String,
        #[arg(long, default_value = "")]
        name: String,
        /// A SCIM token for the identity provider (Okta, Entra ID…): it opens /scim/v2 only and
        /// acts as the co-worker, who must be an admin.
        #[arg(long)]
        scim: bool,
    },
    /// List a co-worker's tokens and sessions.
    List {
        #[arg(long)]
        coworker: String,
    },
    /// Revoke one token.
    Revoke {
        #[arg(long)]
        coworker: String,
        id: String,
    },
}

pub fn run(services: &Holdfast<Store>, me: &Actor, cmd: &CoworkerCmd) -> Result<()> {
    match cmd {
        CoworkerCmd::Add { email, name, role, team, manager, seniority, title } => {
            add(services, me, email, name, role, team, manager, seniority, title)
        }
        CoworkerCmd::List => list(services, me),
        CoworkerCmd::Set { coworker, role, status, team, manager, name, password_stdin } => {
            set(services, me, coworker, role, status, team, manager, name, *password_stdin)
        }
        CoworkerCmd::Handover { coworker, to, round_robin, dry_run } => {
            handover(services, me, coworker, to.as_deref(), round_robin, *dry_run)
        }
        CoworkerCmd::ResetTwoFactor { coworker } => {
            let c = services.reset_two_factor(me, coworker)?;
            println!("two-factor sign-in removed for {}; their sessions ended", c.email);
            Ok(())
        }
    }
}

pub fn token(services: &Holdfast<Store>, me: &Actor, cmd: &TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Create { coworker, name, scim } => {
            let t = if *scim {
                services.create_scim_token(me, coworker, name)?
            } else {
                services.create_token(me, coworker, name)?
            };
            println!("{}", t.secret);
            eprintln!(
                "{} token {} for {coworker}; shown once, only its hash is stored",
                t.credential.kind, t.credential.id
            );
            if *scim {
                eprintln!("give it to the identity provider with the SCIM base URL https://<this server>/scim/v2");
            }
            Ok(())
        }
        TokenCmd::List { coworker } => {
            for c in services.list_credentials(me, coworker)? {
                let state = if c.revoked_at.is_some() { "revoked" } else { "live" };
                println!("{}\t{}\t{}\t{}\tcreated {}", c.id, c.kind, state, c.name, format_timestamp(c.created_at));
            }
            Ok(())
        }
        TokenCmd::Revoke { coworker, id } => {
            let id = uuid::Uuid::parse_str(id).map_err(|_| {
                CoreError::invalid("id", format!("'{id}' is not a token id; see `holdfast token list`"))
            })?;
            services.revoke_token(me, coworker, id)?;
            println!("revoked {id}");
            Ok(())
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn add(
    services: &Holdfast<Store>,
    me: &Actor,
    email: &str,
    name: &str,
    role: &str,
    team: &Option<String>,
    manager: &Option<String>,
    seniority: &Option<String>,
    title: &Option<String>,
) -> Result<()> {
    let (password, generated) =
        if std::io::stdin().is_terminal() { (secret::new_password(), true) } else { (read_stdin_secret()?, false) };
    let c = services.add_coworker(
        me,
        NewCoWorker {
            email: email.to_string(),
            name: name.to_string(),
            role: Role::parse(role).map_err(|r| CoreError::invalid("role", r))?,
            seniority: seniority
                .as_deref()
                .map(Seniority::parse)
                .transpose()
                .map_err(|r| CoreError::invalid("seniority", r))?,
            team: team.clone(),
            manager: manager.clone(),
            title: title.clone(),
            password: Some(password.clone()),
            password_must_change: generated,
        },
    )?;
    println!("added {} <{}> as {} (id {})", c.name, c.email, c.role.as_str(), c.id);
    if generated {
        println!("password (shown once): {password}");
    }
    Ok(())
}

fn list(services: &Holdfast<Store>, me: &Actor) -> Result<()> {
    let teams = services.list_teams()?;
    for c in services.list_coworkers(me)? {
        let team = c.team_id.and_then(|t| teams.iter().find(|x| x.id == t)).map(|t| t.name.as_str()).unwrap_or("-");
        println!("{}\t{}\t{}\t{}\t{}", c.email, c.role.as_str(), c.status.as_str(), c.name, team);
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn set(
    services: &Holdfast<Store>,
    me: &Actor,
    coworker: &str,
    role: &Option<String>,
    status: &Option<String>,
    team: &Option<String>,
    manager: &Option<String>,
    name: &Option<String>,
    password_stdin: bool,
) -> Result<()> {
    let changes = CoWorkerChanges {
        email: None,
        name: name.clone(),
        role: role.as_deref().map(Role::parse).transpose().map_err(|r| CoreError::invalid("role", r))?,
        status: status.as_deref().map(Status::parse).transpose().map_err(|r| CoreError::invalid("status", r))?,
        team: team.clone().map(|t| Some(t).filter(|t| !t.is_empty())),
        manager: manager.clone().map(|m| Some(m).filter(|m| !m.is_empty())),
        password: if password_stdin { Some(read_stdin_secret()?) } else { None },
        ..Default::default()
    };
    let c = services.update_coworker(me, coworker, changes)?;
    println!("{}\t{}\t{}\t{}", c.email, c.role.as_str(), c.status.as_str(), c.name);
    Ok(())
}

fn handover(
    services: &Holdfast<Store>,
    me: &Actor,
    coworker: &str,
    to: Option<&str>,
    round_robin: &[String],
    dry_run: bool,
) -> Result<()> {
    let rule = match to {
        Some(to) => HandoverRule::One(to.to_string()),
        None if !round_robin.is_empty() => HandoverRule::RoundRobin(round_robin.to_vec()),
        None => bail!("say who takes over: --to EMAIL, or --round-robin EMAIL,EMAIL"),
    };
    if dry_run {
        let p = services.preview_handover(me, coworker, &rule)?;
        for (email, kinds) in &p.per_recipient {
            let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
            let value = p.value_per_recipient.get(email).map_or(0, |v| v.annual_value);
            println!("{email}\t{}\tannual value {}", counts.join(", "), value / 100);
        }
        eprintln!("{} records would move from {}; nothing was changed", p.total, p.from);
        return Ok(());
    }
    let h = services.handover_by(me, coworker, &rule)?;
    for (email, kinds) in &h.per_recipient {
        let counts: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        println!("{email}\t{}", counts.join(", "));
    }
    eprintln!("handed {} records from {} to {}; undo with: holdfast undo {}", h.changed, h.from, h.to, h.operation);
    Ok(())
}

fn read_stdin_secret() -> Result<String> {
    let mut s = String::new();
    std::io::stdin().read_to_string(&mut s).context("reading the password from stdin")?;
    let s = s.trim_end_matches(['\n', '\r']).to_string();
    if s.is_empty() {
        bail!("stdin was empty; pipe the password in, e.g. `printf '%s' \"$PASSWORD\" | holdfast coworker add …`");
    }
    Ok(s)
}
