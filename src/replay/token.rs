//! Bearer tokens per sender, cached until they expire: a static token from an environment variable
//! or a file, or OAuth2 client credentials at a token endpoint with the notification's
//! authorization-base sent as `authorization_base` (so one token per sender and
//! authorization-base). A refused token (401/403) is replaced by a newer one. Token values and
//! authorization-bases are `Secret`s: never logged, never written.

use crate::job::TokenSource;
use crate::secret::Secret;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// A token and its generation (renewal count) in its slot.
#[derive(Debug, Clone)]
pub struct Token {
    pub value: Secret,
    pub generation: u64,
    expires: Option<Instant>,
}

#[derive(Debug, Default)]
struct Slot {
    current: Option<Token>,
    generation: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SlotKey {
    sender: String,
    authorization_base: u64,
}

/// The token cache.
#[derive(Debug)]
pub struct Tokens {
    http: reqwest::Client,
    /// The whole token request, answer included (the replay's per-request timeout).
    timeout: Duration,
    slots: Mutex<HashMap<SlotKey, Arc<tokio::sync::Mutex<Slot>>>>,
    /// Tokens fetched (for the tests and the log).
    pub fetched: AtomicU64,
}

/// Renew a little before the sender's stated expiry.
const MARGIN: Duration = Duration::from_secs(30);
/// The largest token endpoint answer read.
const MAX_ANSWER: u64 = 64 << 10;

impl Tokens {
    pub fn new(http: reqwest::Client, timeout: Duration) -> Self {
        Tokens {
            http,
            timeout,
            slots: Mutex::new(HashMap::new()),
            fetched: AtomicU64::new(0),
        }
    }

    fn slot(&self, sender: &str, ab: Option<&Secret>) -> Arc<tokio::sync::Mutex<Slot>> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        ab.map(Secret::expose).hash(&mut h);
        let key = SlotKey {
            sender: sender.to_owned(),
            authorization_base: h.finish(),
        };
        let mut m = self.slots.lock().unwrap_or_else(|e| e.into_inner());
        m.entry(key).or_default().clone()
    }

    /// The token to send (None for a sender without tokens). `refused`: the generation of a token
    /// the sender refused; a newer one is fetched unless another task already did.
    pub async fn get(
        &self,
        sender: &str,
        source: &TokenSource,
        ab: Option<&Secret>,
        refused: Option<u64>,
    ) -> Result<Option<Token>, String> {
        if matches!(source, TokenSource::None) {
            return Ok(None);
        }
        let slot = self.slot(sender, ab);
        let mut s = slot.lock().await;
        if let Some(t) = &s.current {
            let fresh = t.expires.is_none_or(|e| Instant::now() < e);
            let newer = refused.is_none_or(|g| t.generation > g);
            if fresh && newer {
                return Ok(Some(t.clone()));
            }
        }
        self.fetched.fetch_add(1, Ordering::Relaxed);
        let (value, lifetime) = self.fetch(source, ab).await?;
        s.generation += 1;
        let t = Token {
            value,
            generation: s.generation,
            expires: lifetime.map(|l| Instant::now() + l.saturating_sub(MARGIN)),
        };
        s.current = Some(t.clone());
        Ok(Some(t))
    }

    async fn fetch(
        &self,
        source: &TokenSource,
        ab: Option<&Secret>,
    ) -> Result<(Secret, Option<Duration>), String> {
        match source {
            TokenSource::None => Err("no token source".into()),
            TokenSource::Static(s) => s.load().map(|v| (v, None)).map_err(|e| e.to_string()),
            TokenSource::ClientCredentials {
                token_url,
                client_id,
                client_secret,
                scope,
            } => {
                let secret = client_secret.load().map_err(|e| e.to_string())?;
                let mut form: Vec<(&str, &str)> = vec![
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret.expose()),
                ];
                if let Some(scope) = scope {
                    form.push(("scope", scope));
                }
                if let Some(ab) = ab {
                    form.push(("authorization_base", ab.expose()));
                }
                let resp = self
                    .http
                    .post(token_url)
                    .timeout(self.timeout)
                    .header("accept", "application/json")
                    .form(&form)
                    .send()
                    .await
                    .map_err(|e| {
                        format!("token request failed: {}", super::client::short_error(&e))
                    })?;
                let status = resp.status().as_u16();
                if !(200..300).contains(&status) {
                    return Err(format!("the token endpoint answered {status}"));
                }
                let body = super::client::read_capped(resp, MAX_ANSWER)
                    .await
                    .map_err(|(_, why, _)| format!("the token endpoint's answer: {why}"))?;
                let body: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|_| "the token endpoint's answer is not JSON".to_owned())?;
                let token = body
                    .get("access_token")
                    .and_then(|v| v.as_str())
                    .ok_or("the token endpoint's answer has no access_token")?;
                let lifetime = body
                    .get("expires_in")
                    .and_then(|v| v.as_u64())
                    .map(Duration::from_secs);
                Ok((Secret::new(token.to_owned()), lifetime))
            }
        }
    }
}
