//! Two small SMTP receivers (RFC 5321: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT), each
//! started only when asked for:
//!
//! - the **mail journal** (`holdfast serve --mail-journal 127.0.0.1:2525`): the company's mail
//!   server sends it a journal copy of every outgoing message; each is judged as
//!   `POST /api/v1/mail-journal` judges it. It takes mail only from loopback, or from the
//!   addresses `--mail-journal-from` names.
//! - the **canary receiver** (`holdfast serve --canary-smtp 0.0.0.0:25`, the MX of the canary
//!   domain): it takes mail for canary addresses only (others are refused at RCPT) and reports
//!   each as a canary hit.
//!
//! Nothing of a message is kept: it is read, judged and dropped.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use holdfast_core::CoreError;
use holdfast_core::coworker::Actor;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::state::AppState;

/// The largest message the journal takes (as `SIZE` says in the EHLO answer); mail to a canary
/// is judged by its headers, so the canary receiver takes at most [`CANARY_MAX_BYTES`].
pub const MAIL_MAX_BYTES: usize = 64 * 1024 * 1024;
pub const CANARY_MAX_BYTES: usize = 1024 * 1024;
/// A longer line is answered 500 and dropped (RFC 5321 allows 1,000 octets).
const LINE_MAX: usize = 64 * 1024;
/// How long a client may stay silent, and how long a whole session may last.
const IDLE: Duration = Duration::from_secs(300);
const SESSION: Duration = Duration::from_secs(1_800);
const RECIPIENTS_MAX: usize = 100;
/// Sessions served at once, per receiver; more wait for a turn.
const SESSIONS_MAX: usize = 32;

/// Which receiver a listener is, and for the journal, who may hand mail in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailReceiver {
    /// Journal copies of outgoing mail, from these addresses only (empty: loopback only).
    Journal {
        from: Vec<IpAddr>,
    },
    Canary,
}

impl MailReceiver {
    fn name(&self) -> &'static str {
        match self {
            MailReceiver::Journal { .. } => "the mail journal",
            MailReceiver::Canary => "the canary mail receiver",
        }
    }
    fn largest(&self) -> usize {
        match self {
            MailReceiver::Journal { .. } => MAIL_MAX_BYTES,
            MailReceiver::Canary => CANARY_MAX_BYTES,
        }
    }
    fn admits(&self, peer: IpAddr) -> bool {
        match self {
            MailReceiver::Journal { from } if from.is_empty() => peer.is_loopback(),
            MailReceiver::Journal { from } => from.contains(&peer),
            MailReceiver::Canary => true,
        }
    }
}

/// Serves one receiver on `listener` until the runtime stops.
pub async fn receive_mail(services: AppState, listener: TcpListener, receiver: MailReceiver) {
    let turns = Arc::new(Semaphore::new(SESSIONS_MAX));
    let receiver = Arc::new(receiver);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("{}: accepting a connection failed: {e}", receiver.name());
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let Ok(turn) = Arc::clone(&turns).acquire_owned().await else { return };
        let services = services.clone();
        let receiver = Arc::clone(&receiver);
        tokio::spawn(async move {
            let _turn = turn;
            let (read, mut write) = stream.into_split();
            if !receiver.admits(peer.ip()) {
                tracing::warn!("{}: refused a connection from {peer} (not an allowed mail server)", receiver.name());
                let _ = reply(&mut write, "554 this address may not hand in mail here").await;
                return;
            }
            match tokio::time::timeout(SESSION, session(&services, read, write, peer, &receiver)).await {
                Ok(Err(e)) => tracing::debug!("{}: session with {peer} ended: {e}", receiver.name()),
                Err(_) => tracing::debug!("{}: session with {peer} ran out of time", receiver.name()),
                Ok(Ok(())) => {}
            }
        });
    }
}

async fn reply<W: AsyncWrite + Unpin>(out: &mut W, text: &str) -> std::io::Result<()> {
    out.write_all(text.as_bytes()).await?;
    out.write_all(b"\r\n").await?;
    out.flush().await
}

/// One line as sent, with its line ending.
enum Line {
    Text(Vec<u8>),
    /// Longer than [`LINE_MAX`]: read to its end and dropped.
    TooLong,
    End,
}

async fn line<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<Line> {
    tokio::time::timeout(IDLE, read_line_capped(input))
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "idle"))?
}

async fn read_line_capped<R: AsyncRead + Unpin>(input: &mut BufReader<R>) -> std::io::Result<Line> {
    let mut buf = Vec::new();
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(if buf.is_empty() && !too_long {
                Line::End
            } else if too_long {
                Line::TooLong
            } else {
                Line::Text(buf)
            });
        }
        let (used, done) = match available.iter().position(|b| *b == b'\n') {
            Some(i) => (i + 1, true),
            None => (available.len(), false),
        };
        if !too_long {
            buf.extend_from_slice(&available[..used]);
        }
        input.consume(used);
        if buf.len() > LINE_MAX {
            too_long = true;
            buf = Vec::new();
        }
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Text(buf) });
        }
    }
}

/// A command line's text, without its line ending.
fn command_of(raw: &[u8]) -> String {
    let mut t = raw;
    while let [rest @ .., b'\r' | b'\n'] = t {
        t = rest;
    }
    String::from_utf8_lossy(t).into_owned()
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
    receiver: &MailReceiver,
) -> std::io::Result<()> {
    let mut input = BufReader::new(read);
    reply(&mut out, "220 holdfast ESMTP").await?;
    let mut from: Option<String> = None;
    let mut recipients: Vec<String> = Vec::new();
    let largest = receiver.largest();
    loop {
        let command = match line(&mut input).await? {
            Line::End => return Ok(()),
            Line::TooLong => {
                reply(&mut out, "500 line too long").await?;
                continue;
            }
            Line::Text(raw) => command_of(&raw),
        };
        let upper = command.to_ascii_uppercase();
        if upper.starts_with("EHLO") {
            reply(&mut out, &format!("250-holdfast\r\n250-SIZE {largest}\r\n250-8BITMIME\r\n250 SMTPUTF8")).await?;
        } else if upper.starts_with("HELO") {
            reply(&mut out, "250 holdfast").await?;
        } else if upper.starts_with("MAIL FROM:") {
            from = Some(path_of(&command[10..]));
            recipients.clear();
            reply(&mut out, "250 OK").await?;
        } else if upper.starts_with("RCPT TO:") {
            if from.is_none() {
                reply(&mut out, "503 MAIL FROM first").await?;
                continue;
            }
            if recipients.len() >= RECIPIENTS_MAX {
                reply(&mut out, "452 too many recipients").await?;
                continue;
            }
            let to = path_of(&command[8..]);
            let accepted = match receiver {
                MailReceiver::Journal { .. } => true,
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
            // The message as sent, dot-stuffing undone (RFC 5321 4.5.2); only CRLF.CRLF ends it.
            let mut message: Vec<u8> = Vec::new();
            let mut too_big = false;
            loop {
                let raw = match line(&mut input).await? {
                    Line::End => return Ok(()),
                    Line::TooLong => {
                        too_big = true;
                        continue;
                    }
                    Line::Text(raw) => raw,
                };
                if raw == b".\r\n" {
                    break;
                }
                if too_big {
                    continue;
                }
                let text = if raw.first() == Some(&b'.') { &raw[1..] } else { &raw[..] };
                message.extend_from_slice(text);
                if message.len() > largest {
                    too_big = true;
                    message = Vec::new();
                }
            }
            if too_big {
                reply(&mut out, &format!("552 the message is larger than {largest} bytes")).await?;
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
    receiver: &MailReceiver,
    peer: SocketAddr,
    from: Option<String>,
    recipients: Vec<String>,
    message: Vec<u8>,
) -> String {
    let s = services.clone();
    let actor = Actor::mail_server(Some(peer.ip().to_string()));
    let journal = matches!(receiver, MailReceiver::Journal { .. });
    let done = tokio::task::spawn_blocking(move || -> Result<String, CoreError> {
        Ok(if journal {
            let f = s.journal_mail(&actor, &message)?;
            format!("250 OK: {} customers outside the company", f.customers)
        } else {
            let hits = s.canary_mail(&actor, from.as_deref(), &recipients, &message)?;
            format!("250 OK: {} canary hits", hits.len())
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
    fn only_the_named_mail_servers_may_hand_in_journal_copies() {
        let local = MailReceiver::Journal { from: Vec::new() };
        assert!(local.admits("127.0.0.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))));
        assert!(!local.admits(IpAddr::from([10, 0, 0, 5])));
        let named = MailReceiver::Journal { from: vec![IpAddr::from([10, 0, 0, 5])] };
        assert!(named.admits(IpAddr::from([10, 0, 0, 5])) && !named.admits(IpAddr::from([10, 0, 0, 6])));
        assert!(MailReceiver::Canary.admits(IpAddr::from([203, 0, 113, 9])));
        assert_eq!(command_of(b"QUIT\r\n"), "QUIT");
    }

    #[test]
    fn paths_are_read_with_or_without_brackets() {
        assert_eq!(path_of("<ana@acme.com> SIZE=100"), "ana@acme.com");
        assert_eq!(path_of(" ana@acme.com"), "ana@acme.com");
        assert_eq!(path_of("<>"), "");
    }
}
