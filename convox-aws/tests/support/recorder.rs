//! moto's request recorder: which requests reached "AWS", by moto's account,
//! classified without the backend's own code (but for the one table of mutating
//! operation names).

use std::collections::BTreeMap;

use convox_aws::is_mutating;
use serde_json::Value;

use super::server::MotoServer;
use super::server::moto_api;

/// One request as moto recorded it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub account: String,
    /// The operation: `X-Amz-Target`'s (JSON protocols), `Action=` (query
    /// protocols), the body's root element less `Request` (Route53's POSTs), or
    /// `METHOD /path` (Route53's other requests, which only GET reads).
    pub operation: String,
    rest: bool,
    method: String,
    /// URL and body, percent-decoded: where an id the request acts on shows.
    pub text: String,
}

impl Recorded {
    pub fn mutating(&self) -> bool {
        if self.rest {
            self.method != "GET"
        } else {
            is_mutating(&self.operation)
        }
    }
}

/// The recorder of a server the test owns: nothing but the test writes to it,
/// and the test's requests are sequential, so every download ends on a complete
/// line.
pub struct Recorder {
    endpoint: String,
}

impl Recorder {
    /// Starts the server's recorder, empty.
    pub fn start(server: &MotoServer) -> Recorder {
        // Resetting creates the recording file: until a request is recorded,
        // downloading the recording otherwise fails for want of it.
        moto_api(
            &server.endpoint,
            "POST",
            "/moto-api/recorder/reset-recording",
        );
        moto_api(
            &server.endpoint,
            "POST",
            "/moto-api/recorder/start-recording",
        );
        Recorder {
            endpoint: server.endpoint.clone(),
        }
    }

    /// Every request recorded so far in `account`, in order.
    pub fn requests(&self, account: &str) -> Vec<Recorded> {
        let text = moto_api(
            &self.endpoint,
            "GET",
            "/moto-api/recorder/download-recording",
        );
        // moto writes a request's line before it answers it: a line cut short
        // means a writer the test does not know of, and the count would be wrong.
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "moto's recording ends mid-line: something else writes to this server's recorder"
        );
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str::<Value>(l)
                    .unwrap_or_else(|e| panic!("a recorded line is not JSON ({e}): {l}"))
            })
            .filter_map(|e| parse(&e))
            .filter(|r| r.account == account)
            .collect()
    }

    pub fn stop(self) {
        moto_api(&self.endpoint, "POST", "/moto-api/recorder/stop-recording");
    }
}

/// One recorded entry, if it carries moto's account header.
fn parse(e: &Value) -> Option<Recorded> {
    let headers: BTreeMap<String, String> = e["headers"]
        .as_object()?
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").into()))
        .collect();
    let account = headers.get("x-moto-account-id")?.clone();
    let body = e["body"].as_str().unwrap_or("");
    let body = if e["body_encoded"].as_bool() == Some(true) {
        let raw = aws_smithy_types::base64::decode(body).expect("a base64 body");
        String::from_utf8_lossy(&raw).into_owned()
    } else {
        body.to_string()
    };
    let method = e["method"].as_str().unwrap_or("").to_string();
    let url = e["url"].as_str().unwrap_or("").to_string();
    let query_action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .map(str::to_string);
    let (operation, rest) = if let Some(t) = headers.get("x-amz-target") {
        (t.rsplit('.').next().unwrap_or(t).to_string(), false)
    } else if let Some(a) = query_action {
        (a, false)
    } else if let Some(root) = xml_root(&body) {
        // Route53 (REST-XML) names a POST by its body's root element:
        // `ListTagsForResourcesRequest` reads, `ChangeResourceRecordSetsRequest`
        // writes.
        (root.trim_end_matches("Request").to_string(), false)
    } else {
        let path = url.splitn(4, '/').nth(3).unwrap_or("");
        (format!("{method} /{path}"), true)
    };
    Some(Recorded {
        account,
        operation,
        rest,
        method,
        text: percent_decode(&format!("{url}\n{body}")),
    })
}

/// How many requests of each operation.
pub fn operations(requests: &[Recorded]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for r in requests {
        *m.entry(r.operation.clone()).or_default() += 1;
    }
    m
}

fn percent_decode(s: &str) -> String {
    let hex = |c: u8| (c as char).to_digit(16);
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
                continue;
            }
            (b'+', ..) => out.push(b' '),
            (c, ..) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The name of an XML document's root element.
fn xml_root(body: &str) -> Option<&str> {
    let mut rest = body.trim_start();
    while let Some(after) = rest.strip_prefix("<?") {
        rest = after.split_once("?>")?.1.trim_start();
    }
    let tag = rest.strip_prefix('<')?;
    let end = tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/')?;
    Some(&tag[..end]).filter(|n| !n.is_empty())
}
