//! The HTTP side of one attempt: a reqwest client (rustls) that follows redirects only within the
//! origin it started from, a per-request timeout, a body size cap enforced while streaming, and a
//! search that follows its Bundle's `next` links on the same origin only. The answer is classified
//! (`classify`); error texts are our own short words, never a URL or a body (they may hold a BSN).

use super::classify::{self, Class};
use crate::fhir::task::RequestKind;
use crate::secret::Secret;
use reqwest::Url;
use serde_json::Value;
use std::time::Duration;

/// The most pages one search may have.
pub const MAX_PAGES: u32 = 100;
/// The most redirects followed (all within the origin).
pub const MAX_REDIRECTS: usize = 5;

/// What one attempt got.
#[derive(Debug, Clone, Default)]
pub struct Answer {
    pub status: Option<u16>,
    pub class: Class,
    /// Why it failed, in our own words.
    pub error: Option<String>,
    pub retry_after: Option<Duration>,
    pub bytes: u64,
    pub pages: u32,
    /// On success: the resources to land.
    pub resources: Vec<Value>,
    /// On success: the first resource or Bundle (the Workflow Task for a `get-workflow-task`).
    pub body: Option<Value>,
}

impl Answer {
    fn failed(class: Class, status: Option<u16>, error: impl Into<String>) -> Self {
        Answer {
            status,
            class,
            error: Some(error.into()),
            ..Answer::default()
        }
    }

    /// A short text for logs and the `reason` column.
    pub fn describe(&self) -> String {
        let what = match (self.status, &self.error) {
            (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
            (Some(s), None) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        };
        format!("{}: {what}", self.class.as_str())
    }
}

/// Our words for a transport error (no URL, no body).
pub fn short_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection error".into()
    } else if e.is_redirect() {
        "redirect error".into()
    } else if e.is_body() || e.is_decode() {
        "error while reading the body".into()
    } else {
        "request error".into()
    }
}

/// The client: rustls, no redirect off the origin, gzip.
pub fn build(connect_timeout: Duration, pool: usize) -> anyhow::Result<reqwest::Client> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        let same = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if same && attempt.previous().len() <= MAX_REDIRECTS {
            attempt.follow()
        } else {
            attempt.stop()
        }
    });
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(policy)
        .connect_timeout(connect_timeout)
        .pool_max_idle_per_host(pool)
        .user_agent(concat!("pullrecon/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The URL of a request under a base, or why it may not be sent there. `raw` is the request as
/// the Task wrote it: an absolute URL must be on the base's origin.
pub fn target_url(base: &str, request: &str, raw: Option<&str>) -> Result<Url, String> {
    let base_url = Url::parse(base).map_err(|_| "the sender base is not a URL".to_owned())?;
    if let Some(raw) = raw
        && crate::fhir::request::origin(raw).is_some()
    {
        let abs = Url::parse(raw.trim())
            .map_err(|_| "the Task's absolute URL cannot be read".to_owned())?;
        if abs.origin() != base_url.origin() {
            return Err("the Task names an absolute URL on another origin".into());
        }
    }
    let url = Url::parse(&format!("{}/{}", base.trim_end_matches('/'), request))
        .map_err(|_| "the request does not form a URL".to_owned())?;
    let base_path = base_url.path().trim_end_matches('/');
    if url.origin() != base_url.origin() || !url.path().starts_with(&format!("{base_path}/")) {
        return Err("the request leaves the sender's base".into());
    }
    Ok(url)
}

/// One attempt's request.
pub struct Get<'a> {
    pub url: Url,
    pub kind: &'a RequestKind,
    /// The normalised request (for the expected resource type).
    pub request: &'a str,
    pub token: Option<&'a Secret>,
    pub traceparent: &'a str,
    pub timeout: Duration,
    pub max_body: u64,
    /// For an HTTP-date Retry-After (UTC microseconds).
    pub now: i64,
}

/// Performs one attempt (all pages of a search).
pub async fn fetch(client: &reqwest::Client, g: &Get<'_>) -> Answer {
    let origin = g.url.origin();
    let mut url = g.url.clone();
    let mut out = Answer::default();
    loop {
        out.pages += 1;
        let mut rb = client
            .get(url.clone())
            .timeout(g.timeout)
            .header("accept", "application/fhir+json")
            .header("traceparent", g.traceparent);
        if let Some(t) = g.token {
            rb = rb.bearer_auth(t.expose());
        }
        let resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                let mut a = Answer::failed(Class::Transient, None, short_error(&e));
                a.pages = out.pages;
                a.bytes = out.bytes;
                return a;
            }
        };
        let status = resp.status().as_u16();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| super::backoff::parse_retry_after(v, g.now));
        if resp.status().is_redirection() {
            let off = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| resp.url().join(l).ok())
                .is_none_or(|l| l.origin() != origin);
            let mut a = if off {
                Answer::failed(
                    Class::Refused,
                    Some(status),
                    "redirect to another origin refused",
                )
            } else {
                Answer::failed(Class::Permanent, Some(status), "too many redirects")
            };
            a.pages = out.pages;
            return a;
        }
        let class = classify::of_status(status);
        if class != Class::Success {
            let mut a = Answer::failed(class, Some(status), status_text(status));
            a.retry_after = retry_after;
            a.pages = out.pages;
            a.bytes = out.bytes;
            return a;
        }
        let body = match read_capped(resp, g.max_body).await {
            Ok(b) => b,
            Err((class, why, n)) => {
                let mut a = Answer::failed(class, Some(status), why);
                a.bytes = out.bytes + n;
                a.pages = out.pages;
                return a;
            }
        };
        out.bytes += body.len() as u64;
        out.status = Some(status);
        let v = match classify::check_body(g.kind, g.request, &body) {
            Ok(v) => v,
            Err(why) => {
                let mut a = Answer::failed(Class::InvalidBody, Some(status), why);
                a.bytes = out.bytes;
                a.pages = out.pages;
                return a;
            }
        };
        out.resources.extend(classify::resources(g.kind, &v));
        let next = if *g.kind == RequestKind::Search {
            classify::next_link(&v)
        } else {
            None
        };
        if out.body.is_none() {
            out.body = Some(v);
        }
        let Some(next) = next else {
            out.class = Class::Success;
            return out;
        };
        let next = match url.join(&next) {
            Ok(n) if n.origin() == origin => n,
            _ => {
                return Answer {
                    status: Some(status),
                    class: Class::Refused,
                    error: Some("a next link to another origin was refused".into()),
                    bytes: out.bytes,
                    pages: out.pages,
                    ..Answer::default()
                };
            }
        };
        if out.pages >= MAX_PAGES || next == url {
            return Answer {
                status: Some(status),
                class: Class::Permanent,
                error: Some(format!(
                    "the search has more than {MAX_PAGES} pages or loops"
                )),
                bytes: out.bytes,
                pages: out.pages,
                ..Answer::default()
            };
        }
        url = next;
    }
}

fn status_text(status: u16) -> String {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error")
        .to_owned()
}

/// Reads a body, stopping as soon as it passes `max` bytes.
pub(super) async fn read_capped(
    mut resp: reqwest::Response,
    max: u64,
) -> Result<Vec<u8>, (Class, String, u64)> {
    if resp.content_length().is_some_and(|n| n > max) {
        return Err((
            Class::TooLarge,
            format!("the body is larger than {max} bytes"),
            0,
        ));
    }
    let mut buf = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(c)) => {
                if buf.len() as u64 + c.len() as u64 > max {
                    return Err((
                        Class::TooLarge,
                        format!("the body is larger than {max} bytes"),
                        buf.len() as u64 + c.len() as u64,
                    ));
                }
                buf.extend_from_slice(&c);
            }
            Ok(None) => return Ok(buf),
            Err(e) => return Err((Class::Transient, short_error(&e), buf.len() as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_stay_under_the_base() {
        let base = "https://fhir.a.example/fhir";
        assert_eq!(
            target_url(base, "Observation?code=a%7Cb", None)
                .unwrap()
                .as_str(),
            "https://fhir.a.example/fhir/Observation?code=a%7Cb"
        );
        assert!(
            target_url(
                base,
                "Patient/1",
                Some("https://evil.example/fhir/Patient/1")
            )
            .is_err()
        );
        assert!(
            target_url(
                base,
                "Patient/1",
                Some("https://fhir.a.example/fhir/Patient/1")
            )
            .is_ok()
        );
        assert!(target_url(base, "../admin/x", None).is_err());
        assert!(target_url(base, "Patient/../../admin", None).is_err());
    }
}
