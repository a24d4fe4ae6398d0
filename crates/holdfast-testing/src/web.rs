//! Holdfast over HTTP for tests: the real router on a test database, an API client that sends a
//! co-worker's token, a browser-like client that signs in through the form and keeps the session
//! cookie, and a real TCP server for browser tests.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use holdfast_core::Holdfast;
use holdfast_core::coworker::Role;
use holdfast_store::Store;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use crate::{PASSWORD, TestDb, add_coworker, off_runtime};

/// The whole application on one test database.
pub struct TestApp {
    pub db: TestDb,
    pub services: Arc<Holdfast<Store>>,
    router: Option<axum::Router>,
}

impl Drop for TestApp {
    /// The PostgreSQL client must be dropped off the runtime too.
    fn drop(&mut self) {
        let router = self.router.take();
        let services = Arc::clone(&self.services);
        off_runtime(move || {
            drop(router);
            services.shutdown();
        });
    }
}

/// What a page answered, as a browser sees it.
pub struct Reply {
    pub status: StatusCode,
    pub location: String,
    pub csp: String,
    pub cache_control: String,
    pub cookies: Vec<String>,
    pub body: String,
}

impl TestApp {
    pub fn new(db: TestDb) -> TestApp {
        let services = off_runtime(|| db.services());
        let router = holdfast_web::router(Arc::clone(&services));
        TestApp { db, services, router: Some(router) }
    }

    fn router(&self) -> axum::Router {
        self.router.clone().expect("the router lives as long as the app")
    }

    /// Adds a co-worker (password [`PASSWORD`], name from the email) and returns an API token.
    pub fn add(&self, email: &str, role: Role, team: Option<&str>, manager: Option<&str>) -> String {
        off_runtime(|| add_coworker(&self.services, email, role, team, manager))
    }

    /// Runs blocking service work (fixtures, checks) off the async runtime.
    pub fn with<T: Send>(&self, f: impl FnOnce(&Holdfast<Store>) -> T + Send) -> T {
        off_runtime(|| f(&self.services))
    }

    /// A JSON API call; the answer's body as JSON (or as a JSON string when it is not JSON).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.raw(method, path, token, body.map(|b| ("application/json", b.to_string().into_bytes()))).await
    }

    /// An API call with any body and content type.
    pub async fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some((ct, bytes)) => req.header("content-type", ct).body(Body::from(bytes)),
            None => req.body(Body::empty()),
        }
        .expect("request");
        let resp = self.router().oneshot(req).await.expect("response");
        let status = resp.status();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        (status, value)
    }

    /// A page request with a session cookie (may be empty) and perhaps a urlencoded form.
    pub async fn send(&self, method: &str, path: &str, cookie: &str, form: Option<&str>) -> Reply {
        self.send_with(method, path, cookie, form, &[]).await
    }

    /// The same, with extra request headers.
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        cookie: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        let req = match form {
            Some(f) => {
                req.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded").body(Body::from(f.to_string()))
            }
            None => req.body(Body::empty()),
        }
        .expect("request");
        self.reply(req).await
    }

    /// A page request with any body (a multipart upload) and its content type.
    pub async fn send_body(&self, method: &str, path: &str, cookie: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header(header::CONTENT_TYPE, content_type);
        if !cookie.is_empty() {
            req = req.header(header::COOKIE, cookie);
        }
        self.reply(req.body(Body::from(body)).expect("request")).await
    }

    async fn reply(&self, req: Request<Body>) -> Reply {
        let resp = self.router().oneshot(req).await.expect("response");
        let header_text = |name: &str| resp.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (status, location, csp) = (resp.status(), header_text("location"), header_text("content-security-policy"));
        let cache_control = header_text("cache-control");
        let cookies = resp
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(String::from)
            .collect();
        let body = String::from_utf8_lossy(&resp.into_body().collect().await.expect("body").to_bytes()).into_owned();
        Reply { status, location, csp, cache_control, cookies, body }
    }

    /// Posts the sign-in form as a browser would: opens `/login` (sending `cookies`, e.g. a
    /// device cookie), then posts email, password and `next` (already URL-encoded) with the
    /// form's token and cookie.
    pub async fn submit_sign_in(&self, email: &str, password: &str, next: &str, cookies: &str) -> Reply {
        let page = self.send("GET", "/login", cookies, None).await;
        let login = page.cookie("holdfast_login").expect("the sign-in form sets its cookie");
        let all = if cookies.is_empty() { login } else { format!("{login}; {cookies}") };
        let form = format!(
            "email={}&password={}&csrf_token={}&next={next}",
            email.replace('@', "%40"),
            password.replace('+', "%2B").replace(' ', "+"),
            hidden(&page.body, "csrf_token")
        );
        self.send("POST", "/login", &all, Some(&form)).await
    }

    /// Signs in through the form as a co-worker added with [`PASSWORD`]; returns the session
    /// cookie to send with later requests. Checks what a browser relies on on the way.
    pub async fn sign_in(&self, email: &str) -> String {
        let r = self.submit_sign_in(email, PASSWORD, "%2Faccounts", "").await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        assert_eq!(r.location, "/accounts");
        let session = r.cookies.iter().find(|c| c.starts_with("holdfast_session=")).expect("session cookie");
        assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
        let cookie = r.cookie("holdfast_session").expect("session cookie");
        self.acknowledge_notice(&cookie).await;
        cookie
    }

    /// Goes through the confidentiality notice a co-worker is shown at their first sign-in (or
    /// while departing), as they would: opens it and presses the button. Nothing when none is
    /// asked.
    pub async fn acknowledge_notice(&self, cookie: &str) {
        let home = self.send("GET", "/", cookie, None).await;
        if !home.location.starts_with("/confidentiality") {
            return;
        }
        let page = self.send("GET", "/confidentiality", cookie, None).await;
        let sha = hidden(&page.body, "sha256");
        let done =
            self.post_form(cookie, "/confidentiality", "/confidentiality", &format!("sha256={sha}&next=%2F")).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "acknowledging the notice: {}", done.body);
    }

    /// Signs in through the API with email and password.
    pub async fn api_sign_in(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.call("POST", "/api/v1/sessions", None, Some(serde_json::json!({"email": email, "password": password})))
            .await
    }

    /// Posts a form from a page the co-worker has open (its CSRF token added).
    pub async fn post_form(&self, cookie: &str, from_page: &str, action: &str, fields: &str) -> Reply {
        let page = self.send("GET", from_page, cookie, None).await;
        let csrf = hidden(&page.body, "csrf_token");
        let sep = if fields.is_empty() { "" } else { "&" };
        self.send("POST", action, cookie, Some(&format!("{fields}{sep}csrf_token={csrf}"))).await
    }

    /// Serves the application on a free loopback port (for a real browser), until the test ends.
    pub async fn serve(&self) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("listen");
        let addr = listener.local_addr().expect("addr");
        let app = self.router();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await;
        });
        addr
    }
}

impl Reply {
    /// A cookie the answer sets, as `name=value` (ready to send back), if it sets one.
    pub fn cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        let set = self.cookies.iter().find(|c| c.starts_with(&prefix))?;
        Some(set.split(';').next().unwrap_or("").to_string())
    }
}

/// Whether `text` appears in the page as text (HTML-escaped), and never as markup.
pub fn escaped(html: &str, text: &str) -> bool {
    let as_named = text.replace('<', "&lt;").replace('>', "&gt;");
    let as_numeric = text.replace('<', "&#60;").replace('>', "&#62;");
    (html.contains(&as_named) || html.contains(&as_numeric)) && !html.contains(text)
}

/// The value of a hidden form field on a page.
pub fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).map(|i| i + marker.len()).unwrap_or_else(|| panic!("no {name} in {html}"));
    html[start..].split('"').next().unwrap_or("").to_string()
}

/// The `id` of a JSON record.
pub fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap_or_else(|| panic!("no id in {v}")).to_string()
}
