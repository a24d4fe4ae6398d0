//! `holdfast-bench http`: the API over real HTTP (the router `holdfast serve` runs, on a local
//! TCP port, with its system events), driven by keep-alive clients in this process, each phase
//! beside `GET /healthz` measured in the same run with the same clients.
//!
//! Every client signs in with its own rep's API token, as a sales team's requests come from many
//! co-workers (one co-worker's own requests read one at a time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Actor;
use holdfast_store::{Location, Store};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use crate::shared::*;

/// What one phase measured: requests answered 200, their latencies (sorted), failures, time.
struct Phase {
    ok: usize,
    failed: usize,
    lat: Vec<Duration>,
    took: Duration,
    first_failure: Option<String>,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.took.as_secs_f64()
    }
}

pub fn http(contacts: usize, clients: usize, seconds: u64, postgres: Option<&str>) -> Result<()> {
    if contacts < 1_000 || clients == 0 {
        bail!("--contacts must be at least 1000 and --clients at least 1");
    }
    let tmp = std::env::temp_dir().join(format!("holdfast-bench-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp)?;
    let (location, backend) = match postgres {
        Some(url) => (Location::Postgres(url.to_string()), "PostgreSQL".to_string()),
        None => (Location::Sqlite(tmp.join("holdfast.db")), format!("SQLite in {}", tmp.display())),
    };
    println!(
        "holdfast-bench http: {contacts} contacts, {clients} keep-alive clients (one rep each), {seconds} s a phase; {backend}"
    );
    println!("build: {}", if cfg!(debug_assertions) { "debug (numbers are not representative)" } else { "release" });
    let services = Arc::new(Holdfast::new(Store::open(&location)?));
    let operator = Actor::operator();
    bench_rep(&services)?;
    eprintln!("importing {contacts} contacts…");
    import_all(&services, &make_csv(contacts), contacts)?;
    let mut tokens = Vec::with_capacity(clients);
    for i in 0..clients {
        let email = format!("http-{i}@example.com");
        add_rep(&services, &email)?;
        tokens.push(services.create_token(&operator, &email, "bench")?.secret);
    }
    let ids: Vec<String> = services
        .unaudited_database_for_benchmarks()
        .with_conn(false, |conn| conn.rows("SELECT id FROM contacts", &[]))?
        .into_iter()
        .filter_map(|row| row.into_iter().next().and_then(|v| v.as_text().map(str::to_string)))
        .collect();
    let queries = search_queries(2_000, contacts);

    // The server: the router `holdfast serve` runs, on its own runtime, on a free local port.
    let server = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let app = holdfast_web::router(Arc::clone(&services));
    server.spawn(async move {
        let _ = axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>()).await;
    });

    // The clients: one thread, asynchronous, as a load generator on the same machine is.
    let clients_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let run = |label: &str, clients: usize, paths: &(dyn Fn(&mut StdRng) -> String + Sync)| -> Result<Phase> {
        eprintln!("{label}…");
        clients_rt.block_on(drive(addr, &tokens[..clients], Duration::from_secs(seconds), paths))
    };
    let health = run("GET /healthz", clients, &|_| "/healthz".into())?;
    let by_id = run("GET /api/v1/contacts/{id}", clients, &|rng| {
        format!("/api/v1/contacts/{}", ids[rng.random_range(0..ids.len())])
    })?;
    let search_clients = clients.min(8);
    let health_8 = run("GET /healthz (search's clients)", search_clients, &|_| "/healthz".into())?;
    let search = run("GET /api/v1/contacts?q=…&limit=50", search_clients, &|rng| {
        let q = &queries[rng.random_range(0..queries.len())];
        format!("/api/v1/contacts?q={}&limit=50", q.replace(' ', "+"))
    })?;
    // What a search box sends as a name is typed: its first one to four letters, of a first
    // name or of a last name (a one-letter prefix matches most of the contacts).
    let typed = run("GET /api/v1/contacts?q=<first letters>&limit=50", search_clients, &|rng| {
        let name = if rng.random_bool(0.5) { FIRST } else { LAST };
        let name = name[rng.random_range(0..name.len())].to_lowercase();
        let letters: String = name.chars().take(rng.random_range(1..=4)).collect();
        format!("/api/v1/contacts?q={}&limit=50", url_escape(&letters))
    })?;
    let list = run("GET /api/v1/contacts?limit=50", search_clients, &|_| "/api/v1/contacts?limit=50".into())?;
    services.shutdown();
    drop(server);

    println!();
    println!("| path | clients | Holdfast | `/healthz` in the same run | Holdfast / healthz |");
    println!("|---|---|---|---|---|");
    let line = |path: &str, n: usize, p: &Phase, base: &Phase| {
        println!(
            "| {path} | {n} | {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms{} | {:.0} req/s, p99 {:.1} ms | {:.2}× |",
            p.rate(),
            ms(percentile(&p.lat, 0.5)),
            ms(percentile(&p.lat, 0.99)),
            if p.failed > 0 {
                format!(
                    " ({} failed: {})",
                    p.failed,
                    p.first_failure.as_deref().unwrap_or("").chars().take(120).collect::<String>()
                )
            } else {
                String::new()
            },
            base.rate(),
            ms(percentile(&base.lat, 0.99)),
            p.rate() / base.rate(),
        );
    };
    line("`GET /api/v1/contacts/{id}` (audited read)", clients, &by_id, &health);
    line("`GET /api/v1/contacts?q=…&limit=50` (search)", search_clients, &search, &health_8);
    line("`GET /api/v1/contacts?q=<first 1–4 letters of a name>&limit=50` (typed)", search_clients, &typed, &health_8);
    line("`GET /api/v1/contacts?limit=50` (list page)", search_clients, &list, &health_8);
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

/// Percent-encodes a query value (names here may have letters beyond ASCII: "mü").
fn url_escape(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() { char::from(b).to_string() } else { format!("%{b:02X}") })
        .collect()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Runs `tokens.len()` keep-alive clients for `length`, each asking for the paths `paths` picks
/// (with its own seeded generator), one request at a time.
async fn drive(
    addr: std::net::SocketAddr,
    tokens: &[String],
    length: Duration,
    paths: &(dyn Fn(&mut StdRng) -> String + Sync),
) -> Result<Phase> {
    let until = Instant::now() + length;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, token) in tokens.iter().enumerate() {
        let mut rng = StdRng::seed_from_u64(i as u64 + 100);
        let requests: Vec<String> = (0..20_000).map(|_| paths(&mut rng)).collect();
        let token = token.clone();
        tasks.push(tokio::spawn(client(addr, token, requests, until)));
    }
    let mut phase = Phase { ok: 0, failed: 0, lat: Vec::new(), took: Duration::ZERO, first_failure: None };
    for t in tasks {
        let (lat, failed, failure) = t.await.context("a client stopped")??;
        phase.ok += lat.len();
        phase.failed += failed;
        phase.lat.extend(lat);
        if phase.first_failure.is_none() {
            phase.first_failure = failure;
        }
    }
    phase.took = started.elapsed();
    phase.lat.sort();
    Ok(phase)
}

/// One keep-alive client: requests one after another until `until`; latencies of the 200s, the
/// count of other answers and the first of them.
async fn client(
    addr: std::net::SocketAddr,
    token: String,
    requests: Vec<String>,
    until: Instant,
) -> Result<(Vec<Duration>, usize, Option<String>)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let (mut lat, mut failed, mut failure) = (Vec::new(), 0usize, None);
    for path in requests.iter().cycle() {
        if Instant::now() >= until {
            break;
        }
        let request = format!("GET {path} HTTP/1.1\r\nHost: bench\r\nAuthorization: Bearer {token}\r\n\r\n");
        let t = Instant::now();
        write.write_all(request.as_bytes()).await?;
        let (status, body) = response(&mut read).await?;
        let took = t.elapsed();
        if status == 200 {
            lat.push(took);
        } else {
            failed += 1;
            if failure.is_none() {
                failure = Some(format!("{status} {}", String::from_utf8_lossy(&body)));
            }
        }
    }
    Ok((lat, failed, failure))
}

/// Reads one HTTP/1.1 response (Content-Length or chunked): its status and body.
async fn response<R: tokio::io::AsyncBufRead + Unpin>(read: &mut R) -> Result<(u16, Vec<u8>)> {
    let mut line = String::new();
    read.read_line(&mut line).await?;
    let status: u16 = line.split_whitespace().nth(1).and_then(|s| s.parse().ok()).context("no HTTP status line")?;
    let (mut length, mut chunked) = (None, false);
    loop {
        line.clear();
        if read.read_line(&mut line).await? == 0 {
            bail!("the server closed the connection");
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            } else if name.eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked") {
                chunked = true;
            }
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            read.read_line(&mut line).await?;
            let size = usize::from_str_radix(line.trim(), 16).context("a chunk size")?;
            let mut chunk = vec![0; size + 2];
            read.read_exact(&mut chunk).await?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        read.read_exact(&mut body).await?;
    }
    Ok((status, body))
}
