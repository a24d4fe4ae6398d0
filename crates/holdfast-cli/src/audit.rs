//! `holdfast audit`: the signing key, checkpoints, verification, activity reports, evidence
//! bundles a third party can verify with standard tools, and SIEM shipping.

use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Subcommand, ValueEnum};
use holdfast_core::Holdfast;
use holdfast_core::audit::{AuditKey, Checkpoint, StoredEvent, append_checkpoint_file, read_checkpoint_file};
use holdfast_core::coworker::Actor;
use holdfast_core::event::{GENESIS_HASH, chain_hash};
use holdfast_core::service::ActivityReport;
use holdfast_core::time::{format_timestamp, parse_timestamp};
use holdfast_store::Store;
use sha2::{Digest, Sha256};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Print the installation's public key (hex and PEM) that signs checkpoints.
    Key,
    /// Sign the current chain head now.
    Checkpoint,
    /// Check the whole event chain and every checkpoint; exits non-zero on any break.
    Verify {
        /// External checkpoint file (default: checkpoints.jsonl in the data directory, if present).
        #[arg(long)]
        from_checkpoint_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// A co-worker's activity per day against their 90-day baseline and their team's median.
    Report {
        #[arg(long)]
        coworker: String,
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Write a self-contained evidence bundle of a co-worker's events.
    Evidence {
        #[arg(long)]
        coworker: String,
        #[arg(long)]
        since: String,
        #[arg(long)]
        until: Option<String>,
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an evidence bundle (the same checks as its verify.sh).
    VerifyBundle { dir: PathBuf },
    /// Delete events older than a date, behind a signed retention checkpoint (admins).
    Retain {
        /// Delete events before this date (at least 90 days ago).
        #[arg(long)]
        before: String,
        /// Say yes: retention cannot be undone.
        #[arg(long)]
        yes: bool,
    },
    /// Ship events to a SIEM: JSON Lines, RFC 5424 syslog or CEF, to stdout, a file, or syslog over UDP/TCP.
    Tail {
        /// Keep following new events.
        #[arg(long)]
        follow: bool,
        #[arg(long, value_enum, default_value = "jsonl")]
        format: Format,
        /// stdout, file:PATH, udp://HOST:PORT or tcp://HOST:PORT
        #[arg(long, default_value = "stdout")]
        to: String,
        /// Name of a persisted cursor: delivery resumes after the last acknowledged event.
        #[arg(long)]
        cursor: Option<String>,
        /// Without a cursor, start after this seq.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Jsonl,
    Syslog,
    Cef,
}

/// Where the signing key and the external checkpoint file live.
pub struct AuditFiles {
    pub key: PathBuf,
    pub checkpoints: PathBuf,
}

impl AuditFiles {
    pub fn in_dir(dir: &Path) -> AuditFiles {
        AuditFiles { key: dir.join("audit-signing.key"), checkpoints: dir.join("checkpoints.jsonl") }
    }

    /// Signs the chain head into the database and the external file.
    pub fn checkpoint(&self, services: &Holdfast<Store>, reason: &str) -> Result<Checkpoint> {
        let key = AuditKey::load_or_create(&self.key)?;
        let c = services.write_checkpoint(&key, reason)?;
        append_checkpoint_file(&self.checkpoints, &c)?;
        Ok(c)
    }
}

fn when(text: &str, field: &str) -> Result<i64> {
    Ok(parse_timestamp(text).map_err(|r| holdfast_core::CoreError::invalid(field, r))?)
}

pub fn run(services: &Holdfast<Store>, me: &Actor, files: &AuditFiles, cmd: &AuditCmd) -> Result<()> {
    match cmd {
        AuditCmd::Key => {
            let key = AuditKey::load_or_create(&files.key)?;
            println!("{}", key.public_hex());
            print!("{}", key.public_pem());
            eprintln!(
                "private key: {} (keep it off the database server's backups' reach; never share it)",
                files.key.display()
            );
            Ok(())
        }
        AuditCmd::Checkpoint => {
            let c = files.checkpoint(services, "manual")?;
            println!("checkpoint: {} events, head {} (appended to {})", c.seq, c.hash, files.checkpoints.display());
            Ok(())
        }
        AuditCmd::Verify { from_checkpoint_file, json } => {
            verify(services, me, files, from_checkpoint_file.as_deref(), *json)
        }
        AuditCmd::Report { coworker, since, until, json } => {
            let since = when(since, "since")?;
            let until = match until {
                Some(u) => when(u, "until")?,
                None => services.now(),
            };
            let report = services.activity_report(me, coworker, since, until)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(())
        }
        AuditCmd::Evidence { coworker, since, until, out } => {
            let since = when(since, "since")?;
            let until = match until {
                Some(u) => when(u, "until")?,
                None => services.now(),
            };
            let n = write_bundle(services, me, files, coworker, since, until, out)?;
            println!(
                "wrote an evidence bundle of {n} events to {}; check it with: (cd {} && ./verify.sh)",
                out.display(),
                out.display()
            );
            Ok(())
        }
        AuditCmd::VerifyBundle { dir } => {
            let summary = verify_bundle(dir)?;
            println!("{summary}");
            Ok(())
        }
        AuditCmd::Retain { before, yes } => {
            let before = when(before, "before")?;
            if !yes {
                bail!(
                    "retention deletes every system event before {} for good (a signed checkpoint keeps the rest verifiable); run again with --yes",
                    format_timestamp(before)
                );
            }
            let key = AuditKey::load_or_create(&files.key)?;
            let r = services.retain_events(me, &key, before)?;
            append_checkpoint_file(&files.checkpoints, &r.checkpoint)?;
            println!(
                "deleted {} events (through event {}); the retention checkpoint was appended to {}",
                r.deleted,
                r.through_seq,
                files.checkpoints.display()
            );
            Ok(())
        }
        AuditCmd::Tail { follow, format, to, cursor, after } => {
            tail(services, me, *follow, *format, to, cursor.as_deref(), *after)
        }
    }
}

fn verify(services: &Holdfast<Store>, me: &Actor, files: &AuditFiles, file: Option<&Path>, json: bool) -> Result<()> {
    let key = AuditKey::load_or_create(&files.key)?;
    let external = match file {
        Some(f) => read_checkpoint_file(f)?,
        None if files.checkpoints.exists() => read_checkpoint_file(&files.checkpoints)?,
        None => {
            eprintln!(
                "note: no external checkpoint file at {}; a deleted tail cannot be detected without one",
                files.checkpoints.display()
            );
            Vec::new()
        }
    };
    let started = std::time::Instant::now();
    let report = services.verify_log(me, &key.public_hex(), &external)?;
    let secs = started.elapsed().as_secs_f64();
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.ok() {
        println!(
            "ok: {} events form one unbroken chain (head {}), {} checkpoints match and are signed by this installation; {:.0} events/s",
            report.events,
            report.head_hash,
            report.checkpoints_checked,
            report.events as f64 / secs.max(1e-9)
        );
    } else {
        println!("BROKEN: {} events checked, {} problems:", report.events, report.findings.len());
        for f in &report.findings {
            println!("  event {}: [{}] {}", f.seq, f.kind, f.message);
        }
    }
    if !report.ok() {
        bail!("the system event log failed verification (first problem at event {})", report.findings[0].seq);
    }
    Ok(())
}

fn print_report(r: &ActivityReport) {
    println!(
        "{} <{}>: {} to {}",
        r.coworker["name"].as_str().unwrap_or(""),
        r.coworker["email"].as_str().unwrap_or(""),
        r.since,
        r.until
    );
    println!("{:<12} {:>9} {:>9} {:>9} {:>9}", "day", "viewed", "searched", "exported", "changed");
    for d in &r.days {
        println!("{:<12} {:>9} {:>9} {:>9} {:>9}", d.date, d.viewed, d.searched, d.exported, d.changed);
    }
    let t = &r.totals;
    println!("{:<12} {:>9} {:>9} {:>9} {:>9}", "total", t.viewed, t.searched, t.exported, t.changed);
    let b = &r.own_baseline;
    println!("{:<12} {:>9.1} {:>9.1} {:>9.1} {:>9.1}", "own 90d avg", b.viewed, b.searched, b.exported, b.changed);
    let m = &r.team_median;
    println!("{:<12} {:>9.1} {:>9.1} {:>9.1} {:>9.1}", "team median", m.viewed, m.searched, m.exported, m.changed);
    if !r.unusual_days.is_empty() {
        println!("unusual days (over 3x their own baseline, or any export): {}", r.unusual_days.join(", "));
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// One event in the report's table.
struct ReportEvent {
    seq: i64,
    at: String,
    action: String,
    object: String,
    rows: i64,
    from: String,
}

/// One day in the report's summary, marked when it is unusual.
struct ReportDay<'a> {
    day: &'a holdfast_core::service::DayActivity,
    unusual: bool,
}

/// The printable report in an evidence bundle (auto-escaped: event fields are customer-entered).
#[derive(askama::Template)]
#[template(path = "report.html")]
struct ReportPage<'a> {
    r: &'a ActivityReport,
    days: Vec<ReportDay<'a>>,
    name: String,
    email: String,
    version: &'static str,
    generated: String,
    events: Vec<ReportEvent>,
}

fn report_html(r: &ActivityReport, events: &[StoredEvent]) -> Result<String> {
    use askama::Template;
    let page = ReportPage {
        r,
        days: r.days.iter().map(|day| ReportDay { day, unusual: r.unusual_days.contains(&day.date) }).collect(),
        name: r.coworker["name"].as_str().unwrap_or("").to_string(),
        email: r.coworker["email"].as_str().unwrap_or("").to_string(),
        version: env!("CARGO_PKG_VERSION"),
        generated: format_timestamp(holdfast_core::time::Clock::now(&holdfast_core::time::SystemClock)),
        events: events
            .iter()
            .map(|e| ReportEvent {
                seq: e.seq,
                at: format_timestamp(e.at),
                action: e.action.clone(),
                object: format!("{} {}", e.object_type.as_deref().unwrap_or(""), e.object_id.as_deref().unwrap_or("")),
                rows: e.row_count,
                from: e.client_addr.clone().unwrap_or_default(),
            })
            .collect(),
    };
    Ok(page.render()? + "\n")
}

const BUNDLE_README: &str = include_str!("bundle/README.md");
const BUNDLE_VERIFY: &str = include_str!("bundle/verify.sh");

#[allow(clippy::too_many_arguments)]
fn write_bundle(
    services: &Holdfast<Store>,
    me: &Actor,
    files: &AuditFiles,
    who: &str,
    since: i64,
    until: i64,
    out: &Path,
) -> Result<usize> {
    let target = services.coworker_for_review(me, who)?;
    if out.exists() && std::fs::read_dir(out).map(|mut d| d.next().is_some()).unwrap_or(false) {
        bail!("{} is not empty; give --out a new directory", out.display());
    }
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let report = services.activity_report(me, who, since, until)?;
    // A fresh checkpoint covers everything up to now, including the events selected.
    let end = files.checkpoint(services, "evidence")?;
    // The co-worker's events in the period.
    let mut events = Vec::new();
    services.stream_events(0, Some(target.id), &mut |e| {
        if e.seq > end.seq {
            return Ok(false);
        }
        if e.at >= since && e.at < until {
            events.push(e.clone());
        }
        Ok(true)
    })?;
    // The chain segment that links them to a trusted anchor: the latest checkpoint before the
    // first selected event (or the genesis), through the end checkpoint.
    let first = events.first().map(|e| e.seq).unwrap_or(end.seq);
    let key = AuditKey::load_or_create(&files.key)?;
    let anchor = services
        .checkpoints()?
        .into_iter()
        .filter(|c| c.seq < first && c.signature_ok(&key.public_hex()))
        .max_by_key(|c| c.seq);
    let anchor_seq = anchor.as_ref().map(|c| c.seq).unwrap_or(0);
    let mut chain = String::new();
    let mut buf = Vec::new();
    services.stream_events(anchor_seq, None, &mut |e| {
        if e.seq > end.seq {
            return Ok(false);
        }
        let digest = e.content().digest(&mut buf);
        let _ = writeln!(chain, "{}\t{}\t{}\t{}", e.seq, e.prev_hash, digest, e.hash);
        Ok(true)
    })?;
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        std::fs::write(out.join(name), bytes).with_context(|| format!("writing {name}"))
    };
    let mut canonical = Vec::new();
    let mut jsonl = String::new();
    let mut csv =
        String::from("seq,time_utc,action,object_type,object_id,row_count,client_addr,user_agent,details,hash\n");
    for e in &events {
        e.content().canonical_bytes(&mut buf);
        canonical.extend_from_slice(&buf);
        canonical.push(b'\n');
        let details: serde_json::Value = serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null);
        let _ = writeln!(
            jsonl,
            "{}",
            serde_json::json!({"seq": e.seq, "id": e.id, "at": format_timestamp(e.at), "coworker_id": e.coworker_id, "action": e.action,
                "object_type": e.object_type, "object_id": e.object_id, "row_count": e.row_count, "client_addr": e.client_addr,
                "user_agent": e.user_agent, "details": details, "prev_hash": e.prev_hash, "hash": e.hash})
        );
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            e.seq,
            format_timestamp(e.at),
            csv_cell(&e.action),
            csv_cell(e.object_type.as_deref().unwrap_or("")),
            csv_cell(e.object_id.as_deref().unwrap_or("")),
            e.row_count,
            csv_cell(e.client_addr.as_deref().unwrap_or("")),
            csv_cell(e.user_agent.as_deref().unwrap_or("")),
            csv_cell(&e.details),
            e.hash
        );
    }
    write("events.canonical", &canonical)?;
    write("events.jsonl", jsonl.as_bytes())?;
    write("events.csv", csv.as_bytes())?;
    write("chain.tsv", chain.as_bytes())?;
    let anchor_line = match &anchor {
        Some(c) => serde_json::to_string(c)?,
        None => format!("{{\"seq\":0,\"hash\":\"{GENESIS_HASH}\",\"genesis\":true}}"),
    };
    write("anchor.json", format!("{anchor_line}\n").as_bytes())?;
    if let Some(c) = &anchor {
        write("anchor.msg", Checkpoint::message(c.seq, &c.hash, c.at).as_bytes())?;
        write("anchor.sig", &hex::decode(&c.signature)?)?;
    }
    write("checkpoint.json", format!("{}\n", serde_json::to_string(&end)?).as_bytes())?;
    write("checkpoint.msg", Checkpoint::message(end.seq, &end.hash, end.at).as_bytes())?;
    write("checkpoint.sig", &hex::decode(&end.signature)?)?;
    write("public-key.pem", key.public_pem().as_bytes())?;
    write("report.html", report_html(&report, &events)?.as_bytes())?;
    write(
        "README.md",
        BUNDLE_README.replace("{{COWORKER}}", &format!("{} <{}>", target.name, target.email)).as_bytes(),
    )?;
    write("verify.sh", BUNDLE_VERIFY.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(out.join("verify.sh"), std::fs::Permissions::from_mode(0o755))?;
    }
    let mut names: Vec<String> =
        std::fs::read_dir(out)?.filter_map(|e| e.ok()).map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    let mut sums = String::new();
    for n in &names {
        let bytes = std::fs::read(out.join(n))?;
        let _ = writeln!(sums, "{}  {n}", hex::encode(Sha256::digest(&bytes)));
    }
    write("SHA256SUMS", sums.as_bytes())?;
    write("SHA256SUMS.sig", &hex::decode(key.sign_bytes(sums.as_bytes()))?)?;
    services.record_audit_export(me, "evidence bundle", Some(target.id), events.len())?;
    Ok(events.len())
}

/// The checks of verify.sh, in Rust.
fn verify_bundle(dir: &Path) -> Result<String> {
    let read =
        |name: &str| std::fs::read(dir.join(name)).with_context(|| format!("reading {name} in {}", dir.display()));
    let sums = String::from_utf8(read("SHA256SUMS")?)?;
    for line in sums.lines() {
        let (hash, name) = line.split_once("  ").context("SHA256SUMS is malformed")?;
        if hex::encode(Sha256::digest(read(name)?)) != hash {
            bail!("{name} was changed after the bundle was made (its SHA-256 does not match SHA256SUMS)");
        }
    }
    let pem = String::from_utf8(read("public-key.pem")?)?;
    let key = holdfast_core::audit::public_key_from_pem(&pem).context("public-key.pem is not an Ed25519 public key")?;
    if !holdfast_core::audit::signature_valid(&key, sums.as_bytes(), &read("SHA256SUMS.sig")?) {
        bail!("SHA256SUMS.sig is not a valid signature by public-key.pem");
    }
    let msg = String::from_utf8(read("checkpoint.msg")?)?;
    if !holdfast_core::audit::signature_valid(&key, msg.as_bytes(), &read("checkpoint.sig")?) {
        bail!("checkpoint.sig is not a valid signature of checkpoint.msg by public-key.pem");
    }
    let end_hash = msg.lines().nth(2).context("checkpoint.msg is malformed")?.to_string();
    let end_seq: i64 = msg.lines().nth(1).context("checkpoint.msg is malformed")?.parse()?;
    let (mut prev, start_seq) = if dir.join("anchor.msg").exists() {
        let a = String::from_utf8(read("anchor.msg")?)?;
        if !holdfast_core::audit::signature_valid(&key, a.as_bytes(), &read("anchor.sig")?) {
            bail!("anchor.sig is not a valid signature of anchor.msg");
        }
        (
            a.lines().nth(2).context("anchor.msg is malformed")?.to_string(),
            a.lines().nth(1).context("anchor")?.parse::<i64>()?,
        )
    } else {
        (GENESIS_HASH.to_string(), 0)
    };
    let chain = String::from_utf8(read("chain.tsv")?)?;
    let mut digests = std::collections::HashMap::new();
    let mut expected = start_seq + 1;
    for line in chain.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let [seq, p, digest, hash] = f.as_slice() else { bail!("chain.tsv line '{line}' is malformed") };
        let seq: i64 = seq.parse()?;
        if seq != expected || *p != prev || chain_hash(p, digest) != *hash {
            bail!("chain.tsv breaks at event {seq}");
        }
        digests.insert(seq, digest.to_string());
        prev = hash.to_string();
        expected += 1;
    }
    if expected - 1 != end_seq || prev != end_hash {
        bail!("chain.tsv does not end at the signed checkpoint (event {end_seq})");
    }
    let canonical = read("events.canonical")?;
    let mut n = 0;
    for line in canonical.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let seq: i64 = std::str::from_utf8(&line[1..])
            .ok()
            .and_then(|s| s.split(',').next())
            .and_then(|s| s.parse().ok())
            .context("events.canonical line is malformed")?;
        if digests.get(&seq) != Some(&hex::encode(Sha256::digest(line))) {
            bail!("event {seq} in events.canonical does not match the signed chain");
        }
        n += 1;
    }
    Ok(format!(
        "ok: {n} events, each linked into the signed chain up to checkpoint {end_seq}; files unaltered; signatures valid"
    ))
}

fn syslog_line(e: &StoredEvent) -> String {
    let sd = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"").replace(']', "\\]");
    format!(
        "<110>1 {} - holdfast - {} [holdfast@32473 seq=\"{}\" coworker=\"{}\" object_type=\"{}\" object_id=\"{}\" rows=\"{}\" src=\"{}\" hash=\"{}\"] {}",
        format_timestamp(e.at),
        e.action,
        e.seq,
        sd(e.coworker_id.as_deref().unwrap_or("-")),
        sd(e.object_type.as_deref().unwrap_or("-")),
        sd(e.object_id.as_deref().unwrap_or("-")),
        e.row_count,
        sd(e.client_addr.as_deref().unwrap_or("-")),
        e.hash,
        e.details
    )
}

fn cef_line(e: &StoredEvent) -> String {
    let h = |s: &str| s.replace('\\', "\\\\").replace('|', "\\|");
    let v = |s: &str| s.replace('\\', "\\\\").replace('=', "\\=").replace('\n', "\\n");
    let severity = if e.action.starts_with("export") || e.action == "auth.login_failed" { 6 } else { 3 };
    format!(
        "CEF:0|Holdfast|Holdfast CRM|{}|{}|{}|{severity}|rt={} suid={} cs1Label=objectType cs1={} cs2Label=objectId cs2={} cnt={} src={} cs3Label=hash cs3={} externalId={}",
        env!("CARGO_PKG_VERSION"),
        h(&e.action),
        h(&e.action),
        e.at / 1000,
        v(e.coworker_id.as_deref().unwrap_or("")),
        v(e.object_type.as_deref().unwrap_or("")),
        v(e.object_id.as_deref().unwrap_or("")),
        e.row_count,
        v(e.client_addr.as_deref().unwrap_or("")),
        e.hash,
        e.seq
    )
}

fn tail(
    services: &Holdfast<Store>,
    me: &Actor,
    follow: bool,
    format: Format,
    to: &str,
    cursor: Option<&str>,
    after: i64,
) -> Result<()> {
    if !me.is_admin() {
        bail!("only an admin may ship the system event log");
    }
    enum Sink {
        Out(std::io::Stdout),
        File(std::fs::File),
        Udp(std::net::UdpSocket),
        Tcp(std::net::TcpStream),
    }
    let mut sink = if to == "stdout" {
        Sink::Out(std::io::stdout())
    } else if let Some(p) = to.strip_prefix("file:") {
        Sink::File(
            std::fs::OpenOptions::new().create(true).append(true).open(p).with_context(|| format!("opening {p}"))?,
        )
    } else if let Some(addr) = to.strip_prefix("udp://") {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect(addr).with_context(|| format!("resolving {addr}"))?;
        Sink::Udp(s)
    } else if let Some(addr) = to.strip_prefix("tcp://") {
        Sink::Tcp(std::net::TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?)
    } else {
        bail!("--to must be stdout, file:PATH, udp://HOST:PORT or tcp://HOST:PORT");
    };
    let mut last = match cursor {
        Some(name) => services.cursor(name)?,
        None => after,
    };
    let mut shipped = 0usize;
    loop {
        let mut batch = Vec::new();
        let end = services.stream_events(last, None, &mut |e| {
            batch.push(e.clone());
            Ok(batch.len() < 5_000)
        })?;
        let end = batch.last().map(|e| e.seq).unwrap_or(end);
        for e in &batch {
            let line = match format {
                Format::Jsonl => {
                    let details: serde_json::Value =
                        serde_json::from_str(&e.details).unwrap_or(serde_json::Value::Null);
                    serde_json::json!({"seq": e.seq, "id": e.id, "at": format_timestamp(e.at), "coworker_id": e.coworker_id,
                        "action": e.action, "object_type": e.object_type, "object_id": e.object_id, "row_count": e.row_count,
                        "client_addr": e.client_addr, "user_agent": e.user_agent, "details": details, "hash": e.hash})
                    .to_string()
                }
                Format::Syslog => syslog_line(e),
                Format::Cef => cef_line(e),
            };
            match &mut sink {
                Sink::Out(o) => writeln!(o, "{line}")?,
                Sink::File(f) => writeln!(f, "{line}")?,
                Sink::Udp(s) => {
                    s.send(line.as_bytes())?;
                }
                // RFC 6587 octet counting
                Sink::Tcp(s) => write!(s, "{} {line}", line.len())?,
            }
        }
        if !batch.is_empty() {
            match &mut sink {
                Sink::Out(o) => o.flush()?,
                Sink::File(f) => f.sync_data()?,
                Sink::Tcp(s) => s.flush()?,
                Sink::Udp(_) => {}
            }
            // Acknowledged only once written: a restart resends at most this batch.
            if let Some(name) = cursor {
                services.set_cursor(name, end)?;
            }
            shipped += batch.len();
            last = end;
        }
        if !follow {
            break;
        }
        if batch.is_empty() {
            std::thread::sleep(Duration::from_millis(500));
        }
    }
    services.record_audit_export(me, "siem", None, shipped)?;
    Ok(())
}
