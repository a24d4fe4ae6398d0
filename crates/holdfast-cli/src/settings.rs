//! `holdfast settings`: show the settings, change who may open which customer records, and set up
//! single sign-on with the company's OpenID Connect provider.

use std::io::{IsTerminal, Read};

use anyhow::{Result, bail};
use clap::Subcommand;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::service::{SettingsChange, SingleSignOnChange};
use holdfast_store::Store;

#[derive(Subcommand)]
pub enum SettingsCmd {
    /// Show all settings.
    Show,
    /// Who may open which customer records: all, team or own.
    ReadPolicy { policy: String },
    /// Leak tracing: the canary domain and phone range (canaries are in every export of contacts
    /// and leads once the domain is set), the company's mail domains, and how many customers in
    /// one outgoing message raise an alert. Options left out keep what is set; empty clears.
    LeakTracing {
        #[arg(long)]
        canary_domain: Option<String>,
        #[arg(long)]
        canary_phone_prefix: Option<String>,
        /// Comma-separated.
        #[arg(long)]
        company_domains: Option<String>,
        #[arg(long)]
        mail_alert_threshold: Option<i64>,
    },
    /// Single sign-on with an OpenID Connect provider (Okta, Entra ID, Google, Keycloak): the
    /// sign-in page offers "Sign in with NAME". Register https://HOLDFAST/login/sso/callback as the
    /// redirect URI at the provider. Options left out keep what is set.
    SingleSignOn {
        /// The provider's issuer URL (its discovery document is ISSUER/.well-known/openid-configuration).
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        client_id: Option<String>,
        /// Read the client secret from stdin (so it stays out of the shell history).
        #[arg(long)]
        client_secret_stdin: bool,
        /// What the button says: "Sign in with NAME".
        #[arg(long)]
        name: Option<String>,
        /// `off`: only the break-glass admin signs in with a password; `on`: everyone may.
        #[arg(long)]
        passwords: Option<String>,
        /// The admin who keeps a password when passwords are off.
        #[arg(long)]
        break_glass: Option<String>,
        /// Hours a session begun through the provider lasts (1-720, default 12).
        #[arg(long)]
        session_hours: Option<i64>,
        /// Turn single sign-on off (passwords work again for everyone).
        #[arg(long, conflicts_with_all = ["issuer", "client_id", "client_secret_stdin", "name", "passwords", "break_glass", "session_hours"])]
        off: bool,
    },
}

pub fn run(services: &Holdfast<Store>, me: &Actor, cmd: &SettingsCmd) -> Result<()> {
    match cmd {
        SettingsCmd::Show => {
            let s = services.settings()?;
            println!("read_policy\t{}", s.read_policy.as_str());
            println!("export_policy\t{}", s.export_policy.as_str());
            println!("bulk_read_limit\t{}", s.bulk_read_limit);
            match &s.single_sign_on {
                Some(sso) => println!("single_sign_on\t{}", sso.to_public_json()),
                None => println!("single_sign_on\toff"),
            }
            print_leak_tracing(&s.leak_tracing);
            Ok(())
        }
        SettingsCmd::LeakTracing { canary_domain, canary_phone_prefix, company_domains, mail_alert_threshold } => {
            let change = SettingsChange {
                canary_email_domain: canary_domain.clone(),
                canary_phone_prefix: canary_phone_prefix.clone(),
                company_email_domains: company_domains.clone(),
                mail_alert_threshold: *mail_alert_threshold,
                ..Default::default()
            };
            if change.is_empty() {
                bail!(
                    "name a setting: --canary-domain, --canary-phone-prefix, --company-domains or --mail-alert-threshold"
                );
            }
            let s = services.change_settings(me, &change)?;
            print_leak_tracing(&s.leak_tracing);
            Ok(())
        }
        SettingsCmd::ReadPolicy { policy } => {
            let change = SettingsChange { read_policy: Some(policy.clone()), ..Default::default() };
            let s = services.change_settings(me, &change)?;
            println!("read_policy\t{}", s.read_policy.as_str());
            Ok(())
        }
        SettingsCmd::SingleSignOn {
            issuer,
            client_id,
            client_secret_stdin,
            name,
            passwords,
            break_glass,
            session_hours,
            off,
        } => {
            if *off {
                services.set_single_sign_on(me, None)?;
                println!("single_sign_on\toff");
                return Ok(());
            }
            let client_secret = if *client_secret_stdin {
                if std::io::stdin().is_terminal() {
                    eprint!("client secret: ");
                }
                let mut text = String::new();
                std::io::stdin().read_to_string(&mut text)?;
                Some(text.trim().to_string())
            } else {
                None
            };
            let passwords = match passwords.as_deref() {
                None => None,
                Some("on") => Some(true),
                Some("off") => Some(false),
                Some(other) => bail!("--passwords takes on or off, not '{other}'"),
            };
            let change = SingleSignOnChange {
                issuer: issuer.clone(),
                client_id: client_id.clone(),
                client_secret,
                name: name.clone(),
                passwords,
                break_glass: break_glass.clone(),
                session_hours: *session_hours,
            };
            if let Some(sso) = services.set_single_sign_on(me, Some(change))? {
                println!("single_sign_on\t{}", sso.to_public_json());
            }
            Ok(())
        }
    }
}

fn print_leak_tracing(l: &holdfast_core::service::LeakTracing) {
    println!("canary_email_domain\t{}", l.canary_email_domain.as_deref().unwrap_or("(off: no canaries)"));
    println!("canary_phone_prefix\t{}", l.canary_phone_prefix.as_deref().unwrap_or("(none: canaries have no phone)"));
    if l.company_email_domains.is_empty() {
        println!("company_email_domains\t(the co-workers' domains)");
    } else {
        println!("company_email_domains\t{}", l.company_email_domains.join(", "));
    }
    println!("mail_alert_threshold\t{}", l.mail_alert_threshold);
}
