//! Two small SMTP receivers (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), each
//! started only when asked for:
//!
//! - the **mail journal** (`holdfast serve --mail-journal 127.0.0.1:2525`): the company's mail
//!   server sends it a journal copy of every outgoing message; each is judged as
//!   `POST /api/v1/mail-journal` judges it. Bind it to an address only the mail server reaches.
//! - the **canary receiver** (`holdfast serve --canary-smtp 0.0.0.0:25`, the MX of the canary
//!   domain): it takes mail for canary addresses only (others are refused at RCPT) and reports
//!   each as a canary hit.
//!
//! Nothing of a message is kept: it is read, judged and dropped.

use std::net::SocketAddr;
use std::time::Duration;

use holdfast_core::CoreError;
use holdfast_core::coworker::Actor;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::state::AppState;

/// The largest message either receiver takes (as `SIZE` says in the EHLO answer).
pub const MAIL_MAX_BYTES: usize = 64 * 1024 * 1024;
/// A line longer than this ends the session (RFC 5321 allows 1,000 octets).
const LINE_MAX: usize = 64 * 1024;
/// How long a client may stay silent.
const IDLE: Duration = Duration::from_secs(300);
const RECIPIENTS_MAX: usize = 100;

/// Which receiver a listener is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailReceiver {
    Journal,
    Canary,
}

impl MailReceiver {
    fn name(self) -> &'static str {
        match self {
            MailReceiver::Journal => "the mail journal",
            MailReceiver::Canary => "the canary mail receiver",
        }
    }
}

/// Serves one receiver on `listener` until the runtime stops.
pub async fn receive_mail(services: AppState, listener: TcpListener, receiver: MailReceiver) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{}: accepting a connection failed: {e}", receiver.name());
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let services = services.clone();
        tokio::spawn(async move {
            let (read, write) = stream.into_split();
            if let Err(e) = session(&services, read, write, peer, receiver).await {
                tracing::debug!("{}: session with {peer} ended: {e}", receiver.name());
            }
        });
    }
}

async fn reply<W: AsyncWrite + Unpin>(out: &mut W, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes()).await?;
    out.write_all(b"\r\n").await?;
    out.flush().await
}

/// One line, without its CRLF; `None` at the end of the stream.
async fn line<R: AsyncRead + Unpin>(input: &mut BufReader<R>, buf: &mut Vec<u8>) -> std::io::Result<Option<()>> {
    buf.clear();
    let n = tokio::time::timeout(IDLE, read_line_capped(input, buf))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))??;
    if n == 0 {
        return Ok(None);
    }
    while buf.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        buf.pop();
    }
    Ok(Some(()))
}

async fn read_line_capped<R: AsyncRead + Unpin>(input: &mut BufReader<R>, buf: &mut Vec<u8>) -> std::io::Result<usize> {
    let mut total = 0;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(total);
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        buf.extend_from_slice(&available[..used]);
        input.consume(used);
        total += used;
        if done {
            return Ok(total);
        }
        if buf.len() > LINE_MAX {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "line too long"));
        }
    }
}

/// The address in `MAIL FROM:<a@b>` or `RCPT TO:<a@b> …`.
fn path_of(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(s), Some(e)) if e > s => arg[s + 1..e].trim().to_string(),
        _ => arg.split_whitespace().next().unwrap_or("").to_string(),
    }
}

async fn session<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    services: &AppState,
    read: R,
    mut out: W,
    peer: SocketAddr,
    receiver: MailReceiver,
) -> std::io::Result<()> {
    let mut input = BufReader::new(read);
    let mut buf = Vec::new();
    reply(&mut out, "220 holdfast ESMTP").await?;
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    loop {
        if line(&mut input, &mut buf).await?.is_none() {
            return Ok(());
        }
        let command = String::from_utf8_lossy(&buf).to_string();
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply(&mut out, &format!("250-holdfast\r\n250-SIZE {MAIL_MAX_BYTES}\r\n250-8BITMIME\r\n250 SMTPUTF8"))
                .await?;
        } else if upper.starts_with("HELO") {
            reply(&mut out, "250 holdfast").await?;
        } else if let Some(arg) = upper.strip_prefix("MAIL FROM:").map(|_| &command[10..]) {
            from = Some(path_of(arg));
            recipients.clear();
            reply(&mut out, "250 OK").await?;
        } else if let Some(arg) = upper.strip_prefix("RCPT TO:").map(|_| &command[8..]) {
            if from.is_none() {
                reply(&mut out, "503 MAIL FROM first").await?;
                continue;
            }
            if recipients.len() >= RECIPIENTS_MAX {
                reply(&mut out, "452 too many recipients").await?;
                continue;
            }
            let to = path_of(arg);
            let accepted = match receiver {
                MailReceiver::Journal => true,
                MailReceiver::Canary => {
                    let s = services.clone();
                    let address = to.clone();
                    tokio::task::spawn_blocking(move || s.takes_canary_mail(&address))
                        .await
                        .ok()
                        .and_then(Result::ok)
                        .unwrap_or(false)
                }
            };
            if accepted {
                recipients.push(to);
                reply(&mut out, "250 OK").await?;
            } else {
                reply(&mut out, "550 no such mailbox here").await?;
            }
        } else if upper == "DATA" {
            if recipients.is_empty() {
                reply(&mut out, "503 RCPT TO first").await?;
                continue;
            }
            reply(&mut out, "354 end with <CRLF>.<CRLF>").await?;
            let mut message: Vec<u8> = Vec::new();
            let mut too_big = false;
            loop {
                if line(&mut input, &mut buf).await?.is_none() {
                    return Ok(());
                }
                if buf == b"." {
                    break;
                }
                if too_big {
                    continue;
                }
                let text = if buf.starts_with(b"..") { &buf[1..] } else { &buf[..] };
                message.extend_from_slice(text);
                message.extend_from_slice(b"\r\n");
                if message.len() > MAIL_MAX_BYTES {
                    too_big = true;
                    message = Vec::new();
                }
            }
            if too_big {
                reply(&mut out, &format!("552 the message is larger than {MAIL_MAX_BYTES} bytes")).await?;
            } else {
                let answer =
                    judge(services, receiver, peer, from.clone(), std::mem::take(&mut recipients), message).await;
                reply(&mut out, &answer).await?;
            }
            from = None;
            recipients.clear();
        } else if upper == "RSET" {
            from = None;
            recipients.clear();
            reply(&mut out, "250 OK").await?;
        } else if upper == "NOOP" {
            reply(&mut out, "250 OK").await?;
        } else if upper == "QUIT" {
            reply(&mut out, "221 bye").await?;
            return Ok(());
        } else {
            reply(&mut out, "502 command not implemented").await?;
        }
    }
}

async fn judge(
    services: &AppState,
    receiver: MailReceiver,
    peer: SocketAddr,
    from: Option<String>,
    recipients: Vec<String>,
    message: Vec<u8>,
) -> String {
    let s = services.clone();
    let actor = Actor::mail_server(Some(peer.ip().to_string()));
    let done = tokio::task::spawn_blocking(move || -> Result<String, CoreError> {
        Ok(match receiver {
            MailReceiver::Journal => {
                let f = s.journal_mail(&actor, &message)?;
                format!("250 OK: {} customers outside the company", f.customers)
            }
            MailReceiver::Canary => {
                let hits = s.canary_mail(&actor, from.as_deref(), &recipients, &message)?;
                format!("250 OK: {} canary hits", hits.len())
            }
        })
    })
    .await;
    match done {
        Ok(Ok(answer)) => answer,
        Ok(Err(CoreError::BadFile(why))) => format!("554 {why}"),
        Ok(Err(e)) => {
            tracing::warn!("{}: a message from {peer} could not be judged: {e}", receiver.name());
            "451 try again later".into()
        }
        Err(_) => "451 try again later".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_with_or_without_brackets() {
        assert_eq!(path_of("<ana@acme.com> SIZE=100"), "ana@acme.com");
        assert_eq!(path_of(" ana@acme.com"), "ana@acme.com");
        assert_eq!(path_of("<>"), "");
    }
}
