//! The embedded sender: a loopback FHIR server (axum) that serves a folder of resources, for the
//! sample job and demos (`embedded_sender`): every sender's requests go to it. Layout:
//! `<dir>/<Type>/<id>.json`. A read answers the file; a search answers a `searchset` Bundle of all
//! resources of that type (search parameters other than `_count` and `_offset` are not
//! evaluated: a demo, not a FHIR server), paged with `next` links; anything else is a 404 with an
//! OperationOutcome. Names are checked (FHIR type and id syntax), so no path leaves the folder.

use axum::Router;
use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A running embedded sender.
pub struct EmbeddedSender {
    pub base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl EmbeddedSender {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        let _ = (&mut self.task).await;
    }
}

struct Served {
    dir: PathBuf,
    base: String,
}

/// Starts serving `dir` on 127.0.0.1 (a free port).
pub async fn start(dir: &Path) -> anyhow::Result<EmbeddedSender> {
    if !dir.is_dir() {
        anyhow::bail!(
            "the embedded sender's folder {} does not exist",
            dir.display()
        );
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}/fhir", listener.local_addr()?);
    let state = Arc::new(Served {
        dir: dir.to_path_buf(),
        base: base.clone(),
    });
    let app = router(state);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(EmbeddedSender {
        base,
        stop: Some(stop),
        task,
    })
}

fn router(state: Arc<Served>) -> Router {
    Router::new()
        .route("/fhir/metadata", get(metadata))
        .route("/fhir/{rtype}", get(search))
        .route("/fhir/{rtype}/{id}", get(read))
        .with_state(state)
}

fn fhir(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/fhir+json")],
        body.to_string(),
    )
        .into_response()
}

fn outcome(status: StatusCode, code: &str, text: &str) -> Response {
    fhir(
        status,
        json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}),
    )
}

fn type_ok(t: &str) -> bool {
    t.len() <= 64
        && t.starts_with(|c: char| c.is_ascii_uppercase())
        && t.chars().all(|c| c.is_ascii_alphanumeric())
}

fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && id != "."
        && id != ".."
}

async fn metadata() -> Response {
    fhir(
        StatusCode::OK,
        json!({"resourceType": "CapabilityStatement", "status": "active", "kind": "instance",
               "software": {"name": "pullrecon embedded sender"}, "fhirVersion": "3.0.2", "format": ["json"]}),
    )
}

async fn read(
    State(s): State<Arc<Served>>,
    UrlPath((rtype, id)): UrlPath<(String, String)>,
) -> Response {
    if !type_ok(&rtype) || !id_ok(&id) {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "not a FHIR type and id");
    }
    let path = s.dir.join(&rtype).join(format!("{id}.json"));
    match tokio::fs::read(&path).await {
        Ok(bytes) => match serde_json::from_slice::<Value>(&bytes) {
            Ok(v) => fhir(StatusCode::OK, v),
            Err(_) => outcome(
                StatusCode::INTERNAL_SERVER_ERROR,
                "exception",
                "unreadable resource",
            ),
        },
        Err(_) => outcome(StatusCode::NOT_FOUND, "not-found", "no such resource"),
    }
}

async fn search(
    State(s): State<Arc<Served>>,
    UrlPath(rtype): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if !type_ok(&rtype) {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "not a FHIR type");
    }
    let query = query.unwrap_or_default();
    let param = |name: &str| {
        query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<usize>().ok())
    };
    let count = param("_count").unwrap_or(50).clamp(1, 500);
    let offset = param("_offset").unwrap_or(0);
    let mut resources = Vec::new();
    if let Ok(mut rd) = tokio::fs::read_dir(s.dir.join(&rtype)).await {
        let mut names = Vec::new();
        while let Ok(Some(e)) = rd.next_entry().await {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") {
                names.push(e.path());
            }
        }
        names.sort();
        for p in names {
            if let Ok(bytes) = tokio::fs::read(&p).await
                && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
            {
                resources.push(v);
            }
        }
    }
    let total = resources.len();
    let page: Vec<Value> = resources
        .into_iter()
        .skip(offset)
        .take(count)
        .map(|r| {
            let id = r.get("id").and_then(Value::as_str).unwrap_or_default().to_owned();
            json!({"fullUrl": format!("{}/{rtype}/{id}", s.base), "resource": r, "search": {"mode": "match"}})
        })
        .collect();
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("_offset=") && !p.starts_with("_count="))
        .collect();
    let link = |off: usize| {
        let mut q = kept.clone();
        let c = format!("_count={count}");
        let o = format!("_offset={off}");
        q.push(&c);
        q.push(&o);
        format!("{}/{rtype}?{}", s.base, q.join("&"))
    };
    let mut links = vec![json!({"relation": "self", "url": link(offset)})];
    if offset + count < total {
        links.push(json!({"relation": "next", "url": link(offset + count)}));
    }
    fhir(
        StatusCode::OK,
        json!({"resourceType": "Bundle", "type": "searchset", "total": total, "link": links, "entry": page}),
    )
}
