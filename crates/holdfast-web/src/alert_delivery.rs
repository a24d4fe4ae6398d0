//! Alerts leave the building here: the server posts each due webhook delivery (Standard Webhooks
//! headers, signed by the services) and mails each due email through the admin's SMTP server,
//! with bounded timeouts, a few times a second, so a receiver that refuses or hangs only delays
//! its own retries and never the requests being served.

use std::time::Duration;

use holdfast_core::service::{AlertEmail, AlertSender, WebhookPost};
use lettre::Transport;

use crate::state::AppState;

/// How often the server looks for due deliveries.
pub const DELIVERY_TICK: Duration = Duration::from_millis(250);
/// Longest one webhook post may take before it counts as failed (and is retried later).
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// Posts webhooks over HTTP(S).
pub struct HttpSender {
    agent: ureq::Agent,
}

impl Default for HttpSender {
    fn default() -> Self {
        HttpSender::with_timeout(WEBHOOK_TIMEOUT)
    }
}

impl HttpSender {
    /// A sender whose webhook posts give up after `timeout`.
    pub fn with_timeout(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .user_agent(concat!("holdfast/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        HttpSender { agent }
    }
}

impl AlertSender for HttpSender {
    fn post_webhook(&self, post: &WebhookPost) -> Result<(), String> {
        let mut req = self
            .agent
            .post(&post.url)
            .header("content-type", "application/json")
            .header("webhook-id", &post.id)
            .header("webhook-timestamp", post.timestamp.to_string());
        if let Some(sig) = &post.signature {
            req = req.header("webhook-signature", sig);
        }
        match req.send(post.body.as_str()) {
            Ok(_) => Ok(()),
            Err(ureq::Error::StatusCode(code)) => Err(format!("the receiver answered {code}")),
            Err(e) => Err(e.to_string()),
        }
    }

    fn send_email(&self, email: &AlertEmail) -> Result<(), String> {
        send_mail(email)
    }
}

/// Longest one SMTP conversation may take.
pub const SMTP_TIMEOUT: Duration = Duration::from_secs(15);

fn send_mail(email: &AlertEmail) -> Result<(), String> {
    // Never echo the URL: it may hold the SMTP password.
    let transport = lettre::SmtpTransport::from_url(&email.smtp_url)
        .map_err(|e| format!("the SMTP URL is not usable: {e}"))?
        .timeout(Some(SMTP_TIMEOUT))
        .build();
    let from = email.from.parse().map_err(|e| format!("the From address {}: {e}", email.from))?;
    let mut builder = lettre::Message::builder().from(from).subject(email.subject.clone());
    for to in &email.to {
        builder = builder.to(to.parse().map_err(|e| format!("the address {to}: {e}"))?);
    }
    let message = builder
        .header(lettre::message::header::ContentType::TEXT_PLAIN)
        .body(email.body.clone())
        .map_err(|e| e.to_string())?;
    transport.send(&message).map(drop).map_err(|e| format!("the SMTP server: {e}"))
}

/// Runs `job` off the async runtime at start and then every `period` (a late tick is not made up
/// for), until the runtime stops; hands what it returns to `done` and logs a failure as `what`.
async fn every<T: Send + 'static>(
    period: Duration,
    what: &'static str,
    job: impl Fn() -> Result<T, holdfast_core::CoreError> + Clone + Send + 'static,
    mut done: impl FnMut(T),
) {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::task::spawn_blocking(job.clone()).await {
            Ok(Ok(out)) => done(out),
            Ok(Err(e)) => tracing::warn!("{what}: {e}"),
            Err(e) => tracing::warn!("{what} stopped unexpectedly: {e}"),
        }
    }
}

/// Delivers due alerts until the runtime stops.
pub async fn deliver_alerts(services: AppState) {
    let sender = std::sync::Arc::new(HttpSender::default());
    every(DELIVERY_TICK, "alert delivery", move || services.deliver_due_alerts(&*sender), drop).await
}

/// How often the scheduler looks for departures whose last day is over.
pub const DEPARTURE_TICK: std::time::Duration = std::time::Duration::from_secs(30);

/// Ends access for departures whose last day is over, at start and then every
/// [`DEPARTURE_TICK`], until the runtime stops. The due cases are read from the database, so a
/// restart (or a server that was down on the day) loses nothing.
pub async fn end_due_departures(services: AppState) {
    let done = |ended: Vec<holdfast_core::departure::Departure>| {
        for case in ended {
            tracing::info!("departure {}: the last day ({}) is over; access ended", case.id, case.last_day);
        }
    };
    every(DEPARTURE_TICK, "ending due departures", move || services.end_due_departures(), done).await
}

/// How often the speed-to-lead clock is looked at.
pub const LEAD_CLOCK_TICK: std::time::Duration = std::time::Duration::from_secs(20);

/// Escalates and re-routes untouched leads (one server at a time), every [`LEAD_CLOCK_TICK`].
pub async fn run_lead_clock(services: AppState) {
    let done = |(escalated, rerouted): (usize, usize)| {
        if escalated + rerouted > 0 {
            tracing::info!("speed to lead: {escalated} leads escalated, {rerouted} re-routed");
        }
    };
    every(LEAD_CLOCK_TICK, "the speed-to-lead clock", move || services.run_lead_clock(), done).await
}

/// How often the scheduler looks whether this week's coverage digests have gone out.
pub const DIGEST_TICK: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Mails the weekly coverage digests to managers and directors (once a week, when SMTP is set),
/// checking at start and then every [`DIGEST_TICK`], until the runtime stops.
pub async fn send_weekly_digests(services: AppState) {
    let sender = std::sync::Arc::new(HttpSender::default());
    let done = |n: usize| {
        if n > 0 {
            tracing::info!("coverage digests mailed to {n} co-workers");
        }
    };
    every(DIGEST_TICK, "coverage digests", move || services.send_due_digests(&*sender), done).await
}

/// How often the scheduler looks whether today's sweep of the detectors has run.
pub const SWEEP_TICK: std::time::Duration = std::time::Duration::from_secs(3_600);

/// Runs the detectors over every co-worker's yesterday and today so far, at start and then once
/// a UTC day (looking every [`SWEEP_TICK`]), until the runtime stops. Alerts have keys, so a
/// restart that sweeps again raises nothing twice.
pub async fn sweep_detectors_daily(services: AppState) {
    let swept_on = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(i64::MIN));
    let sweep = move || {
        let today = services.now().div_euclid(holdfast_core::time::MICROS_PER_DAY);
        if swept_on.load(std::sync::atomic::Ordering::Relaxed) == today {
            return Ok(0);
        }
        let raised = services.sweep_detectors()?;
        swept_on.store(today, std::sync::atomic::Ordering::Relaxed);
        Ok(raised)
    };
    let done = |raised: usize| {
        if raised > 0 {
            tracing::info!("the daily sweep of the detectors raised {raised} alerts");
        }
    };
    every(SWEEP_TICK, "the daily sweep of the detectors", sweep, done).await
}
