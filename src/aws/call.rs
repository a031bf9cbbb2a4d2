//! One signed AWS request: endpoint, SigV4, a bounded retry, the service's error decoded.

use std::time::{Duration, SystemTime};

use super::credentials::Credentials;

/// A failed AWS call or credential lookup: what failed and what to do, never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The service's error code (`AccessDeniedException`, `DisabledException`, …), or a
    /// sigil code (`unreachable`, `no-credentials`, `bad-response`).
    pub code: String,
    /// The explanation.
    pub message: String,
}

impl AwsError {
    pub(super) fn new(code: &str, message: impl Into<String>) -> AwsError {
        AwsError {
            code: code.to_string(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for AwsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// Time allowed for one AWS request.
const TIMEOUT: Duration = Duration::from_secs(20);

/// Attempts for throttled, 5xx or unreachable calls.
const ATTEMPTS: u32 = 3;

/// Largest response read.
const MAX_RESPONSE: u64 = 1 << 20;

/// A non-empty environment variable (an empty one counts as unset, as the SDKs do).
pub(super) fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The endpoint of `service` (`kms`, `sts`) in `region`.
pub(super) fn endpoint(service: &str, region: &str) -> String {
    let specific = format!("AWS_ENDPOINT_URL_{}", service.to_ascii_uppercase());
    if let Some(url) = env(&specific).or_else(|| env("AWS_ENDPOINT_URL")) {
        return url.trim_end_matches('/').to_string();
    }
    let suffix = if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    };
    format!("https://{service}.{region}.{suffix}")
}

/// An HTTP client for AWS endpoints and metadata services (no redirects).
pub(super) fn agent(timeout: Duration) -> ureq::Agent {
    crate::http::agent(ureq::tls::RootCerts::PlatformVerifier, timeout, 0)
}

/// Reads a response body, bounded.
pub(super) fn body(resp: ureq::http::Response<ureq::Body>) -> Result<(u16, Vec<u8>), AwsError> {
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let bytes = body
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
        .map_err(|e| AwsError::new("bad-response", format!("cannot read the response: {e}")))?;
    Ok((status, bytes))
}

/// A request to sign and send.
pub(super) struct Call<'a> {
    /// `kms` or `sts`: the signing name and the endpoint's service.
    pub service: &'a str,
    pub region: &'a str,
    /// Extra headers (signed).
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Signs `call` with `creds` (SigV4) and POSTs it to the service endpoint; retries throttling,
/// 5xx and connection failures. Returns the status and body of the last answer.
pub(super) fn send(
    call: &Call<'_>,
    creds: Option<&Credentials>,
) -> Result<(u16, Vec<u8>), AwsError> {
    let url = format!("{}/", endpoint(call.service, call.region));
    let agent = agent(TIMEOUT);
    let mut last = None;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(200 << attempt));
        }
        let mut headers = call.headers.clone();
        if let Some(creds) = creds {
            headers.extend(sign(call, &url, creds)?);
        }
        let mut req = agent.post(&url);
        for (k, v) in &headers {
            req = req.header(*k, v);
        }
        match req.send(&call.body[..]) {
            Ok(resp) => {
                let (status, bytes) = body(resp)?;
                let retry = status >= 500 || (status == 400 && throttled(&bytes));
                if !retry || attempt + 1 == ATTEMPTS {
                    return Ok((status, bytes));
                }
                last = Some(AwsError::new(
                    "unavailable",
                    format!("{url} answered {status}"),
                ));
            }
            Err(e) => {
                last = Some(AwsError::new(
                    "unreachable",
                    format!("cannot reach {url}: {e}"),
                ))
            }
        }
    }
    Err(last.unwrap_or_else(|| AwsError::new("unreachable", format!("cannot reach {url}"))))
}

fn throttled(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "TooManyRequests",
    ]
    .iter()
    .any(|c| text.contains(c))
}

/// The SigV4 headers (`authorization`, `x-amz-date`, `x-amz-security-token`) for `call`.
fn sign(
    call: &Call<'_>,
    url: &str,
    creds: &Credentials,
) -> Result<Vec<(&'static str, String)>, AwsError> {
    use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
    let identity = aws_credential_types::Credentials::new(
        creds.access_key_id.clone(),
        creds.secret_access_key.to_string(),
        creds.session_token.as_ref().map(|t| t.to_string()),
        None,
        "sigil",
    )
    .into();
    let failed = |e: &dyn std::fmt::Display| AwsError::new("signing-failed", e.to_string());
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(call.region)
        .name(call.service)
        .time(SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| failed(&e))?
        .into();
    // The signer takes `host` from the URL, as ureq sends it.
    let signed = call.headers.iter().map(|(k, v)| (*k, v.as_str()));
    let request = SignableRequest::new("POST", url, signed, SignableBody::Bytes(&call.body))
        .map_err(|e| failed(&e))?;
    let (instructions, _) = sign(request, &params).map_err(|e| failed(&e))?.into_parts();
    let mut out = Vec::new();
    for (name, value) in instructions.headers() {
        let name = match name.to_ascii_lowercase().as_str() {
            "authorization" => "authorization",
            "x-amz-date" => "x-amz-date",
            "x-amz-security-token" => "x-amz-security-token",
            "x-amz-content-sha256" => "x-amz-content-sha256",
            _ => continue,
        };
        out.push((name, value.to_string()));
    }
    Ok(out)
}

/// The error code and message of an AWS JSON (`__type`, `message`) or XML (`<Code>`,
/// `<Message>`) error body.
pub(super) fn service_error(status: u16, body: &[u8]) -> AwsError {
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let code = v
            .get("__type")
            .and_then(|t| t.as_str())
            .map(|t| t.rsplit('#').next().unwrap_or(t).to_string());
        let message = ["message", "Message"]
            .iter()
            .find_map(|k| v.get(*k).and_then(|m| m.as_str()))
            .unwrap_or_default();
        if let Some(code) = code {
            return AwsError::new(&code, message);
        }
    }
    let text = String::from_utf8_lossy(body);
    if let Some(code) = xml_text(&text, "Code") {
        return AwsError::new(&code, xml_text(&text, "Message").unwrap_or_default());
    }
    AwsError::new("http-error", format!("HTTP {status}"))
}

/// The text of the first `<tag>…</tag>` in `xml`, entities decoded.
pub(super) fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(
        xml[start..end]
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::{service_error, xml_text};

    #[test]
    fn service_errors_decoded() {
        let e = service_error(
            400,
            br#"{"__type":"com.amazonaws.kms#DisabledException","message":"arn:aws:kms:eu-west-1:1:key/k is disabled."}"#,
        );
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            (
                "DisabledException",
                "arn:aws:kms:eu-west-1:1:key/k is disabled."
            )
        );
        let e = service_error(403, b"<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not &lt;allowed&gt; &amp; more</Message></Error></ErrorResponse>");
        assert_eq!(
            (e.code.as_str(), e.message.as_str()),
            ("AccessDenied", "not <allowed> & more")
        );
        assert_eq!(service_error(502, b"<html>").code, "http-error");
        assert_eq!(xml_text("<a><B>x</B></a>", "B").as_deref(), Some("x"));
        assert_eq!(xml_text("<a><B>x</a>", "B"), None);
    }
}
