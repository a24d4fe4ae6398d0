//! The main journeys in real headless Chromium (Debian's chromium and chromium-driver, which
//! scripts/test installs). A failing journey leaves a screenshot in target/browser-failures/.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use holdfast_core::coworker::Role;
use holdfast_core::record::{ACCOUNTS, ACTIVITIES, CONTACTS, DEALS, TASKS};
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

/// Types the email and password on the sign-in page and sends them.
async fn enter_password(c: &Client, base: &str, email: &str) -> Step {
    c.goto(&format!("{base}/login")).await.map_err(e)?;
    wait_for(c, "input[name=email]").await?.send_keys(email).await.map_err(e)?;
    c.find(Locator::Css("input[name=password]"))
        .await
        .map_err(e)?
        .send_keys("correct horse battery")
        .await
        .map_err(e)?;
    click(c, "form[action='/login'] button[type=submit]").await
}

async fn sign_in(c: &Client, base: &str, email: &str) -> Step {
    enter_password(c, base, email).await?;
    wait_for(c, "header.top").await?;
    let url = c.current_url().await.map_err(e)?;
    if url.path() == "/login" {
        return Err("still on the sign-in page after signing in".into());
    }
    // The confidentiality notice at the first sign-in (and while departing): read and accept.
    if url.path() == "/confidentiality" {
        c.find(Locator::Css("form[action='/confidentiality'] button")).await.map_err(e)?.click().await.map_err(e)?;
        wait_for(c, "header.top").await?;
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
    // Results of every kind drop down as you type, grouped.
    active.send_keys("lovel").await.map_err(e)?;
    wait_for(c, "#search-results a[href^='/contacts/']").await?;
    page_has(c, "<h3>Contacts</h3>").await?;
    click(c, "#search-results a[href^='/contacts/']").await?;
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
    page_has(c, "Handed account to Alex Admin with the 2 contacts, deals, contracts and tasks under it").await?;
    c.find(Locator::Css(".notice button")).await.map_err(e)?.click().await.map_err(e)?;
    page_has(c, "Undone: put back 3 records.").await?;
    Ok(())
}

/// A leaver with four accounts (each with a contact, a deal and a task) and two colleagues.
fn seeded_departure(db: TestDb) -> (TestApp, String) {
    let app = TestApp::new(db);
    let leaver = app.with(|services| {
        for (email, name, role) in [
            ("admin@example.com", "Alex Admin", Role::Admin),
            ("lena@example.com", "Lena Leaver", Role::Rep),
            ("hannah@example.com", "Hannah Heir", Role::Rep),
            ("mia@example.com", "Mia Mate", Role::Rep),
        ] {
            add_named(services, email, name, role, Some("East"), None);
        }
        let lena = services.actor_for("lena@example.com").expect("leaver");
        for (i, name) in ["Acme", "Globex", "Initech", "Umbrella"].iter().enumerate() {
            let a = services
                .create_record(&lena, &ACCOUNTS, &json!({"name": name, "annual_value": 10_000 * (i + 1)}))
                .expect("account");
            let at = a.id.to_string();
            services
                .create_record(&lena, &CONTACTS, &json!({"account_id": at, "first_name": format!("Pat {name}")}))
                .expect("contact");
            services
                .create_record(
                    &lena,
                    &DEALS,
                    &json!({"account_id": at, "name": format!("{name} renewal"), "amount": 5000}),
                )
                .expect("deal");
            services
                .create_record(&lena, &TASKS, &json!({"account_id": at, "title": format!("Call {name}")}))
                .expect("task");
        }
        lena.id().expect("id").to_string()
    });
    (app, leaver)
}

/// Clicks the element `css` finds. When the page was replaced between finding and clicking (a
/// stale element: the previous page's element, found while the next page loaded), finds it again.
async fn click(c: &Client, css: &str) -> Step {
    for _ in 0..3 {
        match wait_for(c, css).await?.click().await {
            Err(err) if err.is_stale_element_reference() => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            other => return other.map_err(e),
        }
    }
    Err(format!("{css} kept going stale while the page changed"))
}

/// Clicks a button whose form asks first, and says yes.
async fn click_and_confirm(c: &Client, css: &str) -> Step {
    click(c, css).await?;
    c.accept_alert().await.map_err(e)
}

async fn sign_out(c: &Client) -> Step {
    click(c, "form.signout button").await?;
    wait_for(c, "input[name=email]").await.map(drop)
}

/// The whole departure case, as the admin and the leaver would walk it.
async fn departure_case(c: &Client, base: &str, leaver: &str) -> Step {
    // The admin records the departure from the leaver's profile.
    sign_in(c, base, "admin@example.com").await?;
    c.goto(&format!("{base}/coworkers/{leaver}/edit")).await.map_err(e)?;
    wait_for(c, "form.departure-form").await?;
    c.execute("document.querySelector('form.departure-form input[name=last_day]').value = '2099-06-30';", vec![])
        .await
        .map_err(e)?;
    click(c, "form.departure-form button[type=submit]").await?;
    page_has(c, "Departure recorded").await?;
    sign_out(c).await?;

    // The leaver signs in and is shown the notice first; sign_in accepts it.
    sign_in(c, base, "lena@example.com").await?;
    sign_out(c).await?;

    // The admin reviews and plans round-robin to two reps, previews and applies.
    sign_in(c, base, "admin@example.com").await?;
    c.goto(&format!("{base}/departures")).await.map_err(e)?;
    click(c, "table.list a").await?;
    page_has(c, "Lena Leaver acknowledged version 1").await?;
    click(c, "form[action$='/review'] button").await?;
    page_has(c, "Marked reviewed.").await?;
    click(c, "input[name=recipients][value='hannah@example.com']").await?;
    click(c, "input[name=recipients][value='mia@example.com']").await?;
    click(c, "form[action$='/plan'] button[type=submit]").await?;
    page_has(c, "Preview: 16 records").await?;
    page_has(c, "Hannah Heir").await?;
    click_and_confirm(c, "form[action$='/apply'] button").await?;
    page_has(c, "Handed over.").await?;

    // Undo from the Bulk operations page, then apply the saved plan again.
    c.goto(&format!("{base}/bulk-operations")).await.map_err(e)?;
    click_and_confirm(c, "form[action$='/undo'] button").await?;
    page_has(c, "Undone: put back 16 records.").await?;
    c.goto(&format!("{base}/departures")).await.map_err(e)?;
    click(c, "table.list a").await?;
    page_lacks(c, "Undo the transfer").await?;
    click(c, "form[action$='/plan'] button[type=submit]").await?;
    page_has(c, "Preview: 16 records").await?;
    click_and_confirm(c, "form[action$='/apply'] button").await?;
    page_has(c, "Handed over.").await?;
    click(c, "form[action$='/introductions'] button").await?;
    page_has(c, "Introduction tasks created").await?;

    // The last day: access ends (here by hand; the scheduler does it when the day is over).
    click_and_confirm(c, "form[action$='/end-access'] button").await?;
    page_has(c, "Access ended").await?;
    // The introductions Lena did not make before she left stay with her: hand them on.
    page_has(c, "still owns 4 tasks").await?;
    click(c, "input[name=rule][value=one]").await?;
    wait_for(c, "select[name=to]").await?.select_by_value("hannah@example.com").await.map_err(e)?;
    click(c, "form[action$='/plan'] button[type=submit]").await?;
    page_has(c, "Preview: 4 records").await?;
    click_and_confirm(c, "form[action$='/apply'] button").await?;
    page_has(c, "case <b>closed</b>").await?;
    sign_out(c).await?;
    c.goto(&format!("{base}/login")).await.map_err(e)?;
    wait_for(c, "input[name=email]").await?.send_keys("lena@example.com").await.map_err(e)?;
    c.find(Locator::Css("input[name=password]"))
        .await
        .map_err(e)?
        .send_keys("correct horse battery")
        .await
        .map_err(e)?;
    click(c, "button[type=submit]").await?;
    wait_for(c, "input[name=email]").await?;
    if c.current_url().await.map_err(e)?.path() != "/login" {
        return Err("the leaver could still sign in after their last day".into());
    }
    Ok(())
}

/// A director, a manager over Dana, Dana owning the strategic account Acme where she alone talks
/// to one buyer (single-threaded), its COO escalation only; Ravi, a rep in another team.
fn seeded_coverage(db: TestDb) -> (TestApp, String) {
    let app = TestApp::new(db);
    let acme = app.with(|services| {
        add_named(services, "diana@example.com", "Diana Director", Role::Director, None, None);
        add_named(services, "max@example.com", "Max Manager", Role::Manager, Some("East"), None);
        add_named(services, "dana@example.com", "Dana Owner", Role::Rep, Some("East"), Some("max@example.com"));
        add_named(services, "ravi@example.com", "Ravi Rep", Role::Rep, Some("West"), None);
        let dana = services.actor_for("dana@example.com").expect("dana");
        let acme = services
            .create_record(&dana, &ACCOUNTS, &json!({"name": "Acme", "tier": "strategic", "annual_value": 480_000}))
            .expect("account");
        let at = acme.id.to_string();
        services
            .create_record(
                &dana,
                &CONTACTS,
                &json!({"account_id": at, "first_name": "Linda", "last_name": "Chen", "title": "COO",
                        "seniority": "executive", "protocol": "escalation_only"}),
            )
            .expect("coo");
        let buyer = services
            .create_record(&dana, &CONTACTS, &json!({"account_id": at, "first_name": "Bo", "last_name": "Buyer"}))
            .expect("buyer");
        for summary in ["Renewal scope", "Pricing follow-up"] {
            services
                .create_record(
                    &dana,
                    &ACTIVITIES,
                    &json!({"type": "call", "summary": summary, "account_id": at, "contact_ids": [buyer.id.to_string()]}),
                )
                .expect("call");
        }
        at
    });
    (app, acme)
}

/// The director finds who would take customers along; a manager's meeting changes the account's
/// coverage at once; a rep calling an escalation-only COO at Dana's account is asked for an
/// approval, logs it as after the fact, and Dana gets the alert.
async fn coverage_and_protocol(c: &Client, base: &str, acme: &str) -> Step {
    sign_in(c, base, "diana@example.com").await?;
    page_has(c, "If they left today").await?;
    click(c, "a[href='/coverage']").await?;
    page_has(c, "Walk-out exposure").await?;
    page_has(c, "480,000").await?;
    click(c, "#exposure a").await?;
    page_has(c, "Dana Owner: accounts only they cover").await?;
    click(c, "#accounts a").await?;
    page_has(c, "Only Dana Owner has spoken to anyone at Acme").await?;
    page_has(c, "Schedule my check-in with Linda Chen (COO)").await?;
    c.goto(&format!("{base}/coverage/accounts?only=single")).await.map_err(e)?;
    page_has(c, "Acme").await?;
    sign_out(c).await?;

    // The manager logs a meeting with the buyer: the reason changes at once.
    sign_in(c, base, "max@example.com").await?;
    c.goto(&format!("{base}/accounts/{acme}")).await.map_err(e)?;
    click(c, "input[name=type][value=meeting]").await?;
    wait_for(c, "form.log textarea").await?.send_keys("Met the buyer with Dana").await.map_err(e)?;
    click(c, "form.log details.with summary").await?;
    c.execute(
        "Array.from(document.querySelectorAll('form.log input[name=contact_ids]')).find(b => b.parentElement.textContent.includes('Bo Buyer')).click();",
        vec![],
    )
    .await
    .map_err(e)?;
    click(c, "form.log button[type=submit]").await?;
    page_has(c, "2 co-workers talk to Acme").await?;
    sign_out(c).await?;

    // A rep from another team calls the escalation-only COO.
    sign_in(c, base, "ravi@example.com").await?;
    c.goto(&format!("{base}/accounts/{acme}")).await.map_err(e)?;
    page_has(c, "Linda Chen (escalation only)").await?;
    wait_for(c, "form.log textarea").await?.send_keys("Lunch with Linda").await.map_err(e)?;
    click(c, "form.log details.with summary").await?;
    c.execute(
        "Array.from(document.querySelectorAll('form.log input[name=contact_ids]')).find(b => b.parentElement.textContent.includes('Linda')).click();",
        vec![],
    )
    .await
    .map_err(e)?;
    click(c, "form.log button[type=submit]").await?;
    page_has(c, "Ask before you reach Linda Chen (COO)").await?;
    page_has(c, "Ask Dana Owner").await?;
    click(c, "form[action$='/activities'] button.danger").await?;
    page_has(c, "Lunch with Linda").await?;
    sign_out(c).await?;

    // Dana, the owner, is told.
    sign_in(c, base, "dana@example.com").await?;
    click(c, "a[href='/alerts']").await?;
    page_has(c, "Ravi Rep logged a call with Linda Chen (COO) at Acme (escalation only) without approval").await?;
    Ok(())
}

/// Closes the browser session; a failed journey first leaves a screenshot and fails the test.
async fn finish(c: Client, result: Step, journey: &str, backend: &str) {
    if let Err(problem) = &result {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/browser-failures");
        let _ = std::fs::create_dir_all(&dir);
        let file = dir.join(format!("{journey}-{backend}.png"));
        if let Ok(png) = c.screenshot().await {
            let _ = std::fs::write(&file, png);
        }
        let _ = c.close().await;
        panic!("{problem} on {backend}: screenshot in {}", file.display());
    }
    let _ = c.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_departure_case_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, leaver) = seeded_departure(db);
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = departure_case(&c, &base, &leaver).await;
        finish(c, result, "departure", app.db.backend).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn main_journeys_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, account) = seeded(db);
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = journeys(&c, &base, &account).await;
        finish(c, result, "journeys", app.db.backend).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn coverage_and_contact_protocol_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, acme) = seeded_coverage(db);
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = coverage_and_protocol(&c, &base, &acme).await;
        finish(c, result, "coverage", app.db.backend).await;
    }
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// The authenticator app's code at `unix` seconds.
fn code_at(secret: &str, unix: u64) -> String {
    let bytes = totp_rs::Secret::try_from_base32(secret).expect("base32");
    let totp = totp_rs::Builder::new().with_secret(bytes.as_bytes().to_vec()).build().expect("totp");
    totp.generate(unix).to_string()
}

/// Signs in through the identity provider the test kit runs (its button on the sign-in page),
/// then, as the admin with a password, enrols an authenticator and signs in with a code.
async fn identity(c: &Client, base: &str, provider: &holdfast_testing::oidc::TestProvider) -> Step {
    provider.sign_in_as("rep@example.com", true);
    c.goto(&format!("{base}/login")).await.map_err(e)?;
    click(c, "a#sso").await?;
    wait_for(c, "header.top").await?;
    let url = c.current_url().await.map_err(e)?;
    if url.path() == "/confidentiality" {
        click(c, "form[action='/confidentiality'] button").await?;
        wait_for(c, "header.top").await?;
    }
    page_has(c, "Rita Rep").await?;
    sign_out(c).await?;

    sign_in(c, base, "admin@example.com").await?;
    c.goto(&format!("{base}/two-factor")).await.map_err(e)?;
    wait_for(c, "form[action='/two-factor/begin'] input[name=password]")
        .await?
        .send_keys("correct horse battery")
        .await
        .map_err(e)?;
    click(c, "form[action='/two-factor/begin'] button").await?;
    wait_for(c, "div.qr svg").await?;
    let secret = wait_for(c, "code.secret").await?.text().await.map_err(e)?;
    let enrolled_at = unix_now() + 30;
    wait_for(c, "input[name=code]").await?.send_keys(&code_at(&secret, enrolled_at)).await.map_err(e)?;
    click(c, "form[action='/two-factor/confirm'] button").await?;
    page_has(c, "Keep these recovery codes").await?;
    sign_out(c).await?;

    enter_password(c, base, "admin@example.com").await?;
    wait_for(c, "form[action='/login/code']").await?;
    // The enrolment used the next step's code (the server accepts one step ahead): wait until
    // that step is the current one, then type the step after it (at most ~30 s).
    let enrolled_step = enrolled_at / 30;
    while unix_now() / 30 < enrolled_step {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let code = code_at(&secret, unix_now() + 30);
    wait_for(c, "input[name=code]").await?.send_keys(&code).await.map_err(e)?;
    click(c, "form[action='/login/code'] button").await?;
    wait_for(c, "header.top").await?;
    page_has(c, "Alex Admin").await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn single_sign_on_and_two_factor_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, _) = seeded(db);
        let provider = holdfast_testing::oidc::TestProvider::start("holdfast-browser", "browser-secret").await;
        let issuer = provider.issuer.clone();
        app.with(|s| {
            let change = holdfast_core::service::SingleSignOnChange {
                issuer: Some(issuer),
                client_id: Some("holdfast-browser".into()),
                client_secret: Some("browser-secret".into()),
                name: Some("Test IdP".into()),
                ..Default::default()
            };
            s.set_single_sign_on(&holdfast_core::coworker::Actor::operator(), Some(change)).expect("single sign-on");
        });
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = identity(&c, &base, &provider).await;
        finish(c, result, "identity", app.db.backend).await;
    }
}

/// A visitor fills the company's web form; the lead reaches the only active rep at once: their
/// inbox links to the lead page, which shows the score with its reasons and the running clock,
/// and the first call logged there stops it.
async fn lead_from_a_web_form(c: &Client, base: &str, form: &str) -> Step {
    c.goto(&format!("{base}/forms/{form}")).await.map_err(e)?;
    wait_for(c, "input[name=first_name]").await?.send_keys("Grace").await.map_err(e)?;
    c.find(Locator::Css("input[name=last_name]")).await.map_err(e)?.send_keys("Hopper").await.map_err(e)?;
    c.find(Locator::Css("input[name=email]")).await.map_err(e)?.send_keys("grace@navy.example").await.map_err(e)?;
    c.find(Locator::Css("input[name=title]")).await.map_err(e)?.send_keys("Director of Computing").await.map_err(e)?;
    click(c, "form button[type=submit]").await?;
    page_has(c, "Thank you").await?;

    sign_in(c, base, "rep@example.com").await?;
    click(c, "a[href='/notifications']").await?;
    page_has(c, "New lead for you: Grace Hopper").await?;
    click(c, "ol.timeline a").await?;
    page_has(c, "+15 Director title").await?;
    page_has(c, "\">Answer ").await?;
    wait_for(c, "form.log textarea[name=summary]")
        .await?
        .send_keys("Called: wants a demo on Friday")
        .await
        .map_err(e)?;
    click(c, "form.log button[type=submit]").await?;
    page_has(c, "First touch").await?;
    page_has(c, "Called: wants a demo on Friday").await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_web_form_lead_reaches_its_owner_in_a_real_browser() {
    let Some(driver) = start_driver() else { return };
    for db in each_backend() {
        let (app, _) = seeded(db);
        let form = app.with(|s| {
            let new = holdfast_core::service::NewLeadForm {
                name: "Talk to sales".into(),
                fields: vec!["last_name".into(), "title".into()],
                redirect_url: None,
            };
            s.create_lead_form(&holdfast_core::coworker::Actor::operator(), new).expect("form").id.to_string()
        });
        let base = format!("http://{}", app.serve().await);
        let c = browser(&driver).await;
        let result = lead_from_a_web_form(&c, &base, &form).await;
        finish(c, result, "lead-form", app.db.backend).await;
    }
}
