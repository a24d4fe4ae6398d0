//! Alerts leave the building here: the server posts each due webhook delivery (Standard Webhooks
//! headers, signed by the services) with a bounded timeout, a few times a second, so a webhook
//! that refuses or hangs only delays its own retries and never the requests being served.

use std::time::Duration;

use holdfast_core::service::{AlertSender, WebhookPost};

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
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(WEBHOOK_TIMEOUT))
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
}

/// Delivers due alerts until the runtime stops.
pub async fn deliver_alerts(services: AppState) {
    let sender = std::sync::Arc::new(HttpSender::default());
    let mut tick = tokio::time::interval(DELIVERY_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (s, sender) = (services.clone(), sender.clone());
        match tokio::task::spawn_blocking(move || s.deliver_due_alerts(&*sender)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!("alert delivery: {e}"),
            Err(e) => tracing::warn!("alert delivery stopped unexpectedly: {e}"),
        }
    }
}
