//! `holdfast demo` (and `serve --demo`): a realistic demo company in an empty database.

use anyhow::Result;
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_core::demo::{DEMO_PASSWORD, DemoSize};
use holdfast_store::Store;

pub fn load_demo(services: &Holdfast<Store>, me: &Actor) -> Result<()> {
    let started = std::time::Instant::now();
    let s = services.load_demo(me, DemoSize::default(), &|step| eprintln!("demo: {step}…"))?;
    println!(
        "Loaded the demo company in {:.1}s: {} co-workers, {} accounts, {} contacts, {} leads, {} deals, {} contracts, {} activities, {} tasks.",
        started.elapsed().as_secs_f64(),
        s.coworkers,
        s.accounts,
        s.contacts,
        s.leads,
        s.deals,
        s.contracts,
        s.activities,
        s.tasks
    );
    println!("Sign in as any demo co-worker with the password '{DEMO_PASSWORD}':");
    println!("  admin:    {}", s.admin_email);
    println!("  director: {}", s.director_email);
    println!("  manager:  {}", s.manager_email);
    println!("  rep:      {}", s.rep_email);
    println!(
        "With {} system events of made-up history (90 days). {} read 3,000 contacts one evening two weeks ago: \
         mark them departing to see the look-back find it.",
        s.history_events, s.leaver_email
    );
    println!(
        "The mail journal caught them mailing their customers to a personal address (see Alerts); every export \
         carries canaries on {}: trace a file with `holdfast trace FILE` or Settings → Leak tracing.",
        holdfast_core::demo::DEMO_CANARY_DOMAIN
    );
    Ok(())
}
