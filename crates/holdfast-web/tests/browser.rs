//! The main journeys in real headless Chromium (Debian's chromium and chromium-driver, which
//! scripts/test installs). A failing journey leaves a screenshot in target/browser-failures/.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use holdfast_core::coworker::Role;
use holdfast_core::record::{ACCOUNTS, CONTACTS};
use holdfast_testing::web::TestApp;
use holdfast_testing::{TestDb, add_named, each_backend};
use serde_json::json;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

struct Driver(Child, u16);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

fn start_driver() -> Option<Driver> {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        assert!(
            std::env::var("CI").is_err(),
            "CI must run the browser tests: scripts/test installs chromium and chromium-driver"
        );
        eprintln!("skipping browser tests: install chromium and chromium-driver (scripts/test does) to run them");
        return None;
    }
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver");
    // Owned by the guard from here on, so it is killed and reaped on every path.
    let driver = Driver(child, port);
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Some(driver);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("chromedriver did not start");
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({"binary": CHROMIUM, "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync", "--window-size=1280,900"]}),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{}", driver.1))
        .await
        .expect("a browser session")
}

/// Seeds the database; returns the application and the account the journeys start from.
fn seeded(db: TestDb) -> (TestApp, String) {
    let app = TestApp::new(db);
    let account = app.with(|services| {
        for (email, name, role) in
            [("admin@example.com", "Alex Admin", Role::Admin), ("rep@example.com", "Rita Rep", Role::Rep)]
        {
            add_named(services, email, name, role, None, None);
        }
        let rep = services.actor_for("rep@example.com").expect("rep");
        let a = services
            .create_record(&rep, &ACCOUNTS, &json!({"name": "Analytical Engines Ltd", "domain": "analytical.com"}))
            .expect("account");
        services.create_record(&rep, &ACCOUNTS, &json!({"name": "Babbage Mills"})).expect("account");
        services
            .create_record(&rep, &CONTACTS, &json!({"account_id": a.id.to_string(), "first_name": "Ada", "last_name": "Lovelace", "email": "ada@analytical.com", "buying_role": "champion"}))
            .expect("contact");
        a.id.to_string()
    });
    (app, account)
}

type Step = Result<(), String>;

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

async fn wait_for(c: &Client, css: &str) -> Result<fantoccini::elements::Element, String> {
    c.wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .map_err(|err| format!("waiting for {css}: {err}"))
}

async fn page_has(c: &Client, text: &str) -> Step {
    for _ in 0..50 {
        if c.source().await.map_err(e)?.contains(text) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the page never showed {text:?} (at {})", c.current_url().await.map_err(e)?))
}

async fn page_lacks(c: &Client, text: &str) -> Step {
    for _ in 0..50 {
        if !c.source().await.map_err(e)?.contains(text) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("the page kept showing {text:?} (at {})", c.current_url().await.map_err(e)?))
}

async fn sign_in(c: &Client, base: &str, email: &str) -> Step {
    c.goto(&format!("{base}/login")).await.map_err(e)?;
    wait_for(c, "input[name=email]").await?.send_keys(email).await.map_err(e)?;
    c.find(Locator::Css("input[name=password]"))
        .await
        .map_err(e)?
        .send_keys("correct horse battery")
        .await
        .map_err(e)?;
    c.find(Locator::Css("button[type=submit]")).await.map_err(e)?.click().await.map_err(e)?;
    wait_for(c, "header.top").await?;
    let url = c.current_url().await.map_err(e)?;
    if url.path() == "/login" {
        return Err("still on the sign-in page after signing in".into());
    }
    Ok(())
}

async fn journeys(c: &Client, base: &str, account: &str) -> Step {
    sign_in(c, base, "rep@example.com").await?;

    // Find a contact by search: "/" jumps to the search box.
    c.find(Locator::Css("body")).await.map_err(e)?.send_keys("/").await.map_err(e)?;
    let active = c.active_element().await.map_err(e)?;
    if active.attr("id").await.map_err(e)?.as_deref() != Some("global-search") {
        return Err("'/' did not focus the search box".into());
    }
    active.send_keys("lovel\u{E007}").await.map_err(e)?;
    wait_for(c, "table.list").await?;
    c.find(Locator::LinkText("Ada Lovelace")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "ada@analytical.com").await?;

    // Open the account from the contact.
    c.find(Locator::LinkText("Analytical Engines Ltd")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Who talks to whom").await?;
    page_has(c, "champion").await?;

    // Log a call in two clicks (type is preselected: write, click).
    wait_for(c, "form.log textarea").await?.send_keys("Talked budget for the pilot").await.map_err(e)?;
    c.find(Locator::Css("form.log button")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Talked budget for the pilot").await?;

    // Create a deal and move its stage.
    c.find(Locator::Css("details.new summary")).await.map_err(e)?.click().await.map_err(e)?;
    wait_for(c, "details.new input[name=name]").await?.send_keys("Pilot 2027").await.map_err(e)?;
    c.find(Locator::Css("details.new input[name=amount]")).await.map_err(e)?.send_keys("25000").await.map_err(e)?;
    c.find(Locator::Css("details.new button")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Pilot 2027").await?;
    let select = wait_for(c, "form.inline select").await?;
    select.select_by_value("proposal").await.map_err(e)?;
    c.find(Locator::Css("form.inline button")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "<option value=\"proposal\" selected").await?;
    if !c.current_url().await.map_err(e)?.path().ends_with(account) {
        return Err("moving the stage did not come back to the account".into());
    }

    // Sign out; the admin opens the rep's System events tab and sees what was just done.
    c.find(Locator::Css("form.signout button")).await.map_err(e)?.click().await.map_err(e)?;
    wait_for(c, "input[name=email]").await?;
    sign_in(c, base, "admin@example.com").await?;
    c.goto(&format!("{base}/coworkers")).await.map_err(e)?;
    wait_for(c, "table.list").await?;
    let rows = c.find_all(Locator::Css("table.list tr")).await.map_err(e)?;
    let mut opened = false;
    for row in rows {
        if row.text().await.map_err(e)?.contains("rep@example.com") {
            row.find(Locator::LinkText("System events")).await.map_err(e)?.click().await.map_err(e)?;
            opened = true;
            break;
        }
    }
    if !opened {
        return Err("the rep is not on the co-workers page".into());
    }
    page_has(c, "System events: Rita Rep").await?;
    page_has(c, "record.update").await?;
    page_has(c, "record.read").await?;
    page_has(c, "<svg class=\"chart\"").await?;

    // The accounts list narrows as you type, without pressing Enter, and the address follows.
    c.goto(&format!("{base}/accounts")).await.map_err(e)?;
    page_has(c, "Babbage Mills").await?;
    wait_for(c, "form.filters input[name=q]").await?.send_keys("analyt").await.map_err(e)?;
    page_lacks(c, "Babbage Mills").await?;
    page_has(c, "Analytical Engines Ltd").await?;
    if c.current_url().await.map_err(e)?.query() != Some("q=analyt") {
        return Err("the address did not follow the search".into());
    }

    // Bulk select: the buttons wait for a pick; hand the account over, then undo it.
    let hand_over = c.find(Locator::Css("button[value=assign]")).await.map_err(e)?;
    if hand_over.attr("disabled").await.map_err(e)?.is_none() {
        return Err("'Hand over' is enabled with nothing picked".into());
    }
    c.find(Locator::Css("input[name=ids]")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "1 picked").await?;
    c.find(Locator::Css("form[data-bulk] select[name=new_owner]"))
        .await
        .map_err(e)?
        .select_by_label("Alex Admin")
        .await
        .map_err(e)?;
    c.find(Locator::Css("button[value=assign]")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Handed account to Alex Admin.").await?;
    c.find(Locator::Css(".notice button")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Undone: put back account.").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn main_journeys_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, account) = seeded(db);
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = journeys(&c, &base, &account).await;
        if let Err(problem) = &result {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("journeys-{}.png", app.db.backend));
            if let Ok(png) = c.screenshot().await {
                let _ = std::fs::write(&file, png);
            }
            let _ = c.close().await;
            panic!("{} on {}: screenshot in {}", problem, app.db.backend, file.display());
        }
        let _ = c.close().await;
    }
}
