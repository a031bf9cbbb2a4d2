//! AWS credentials in the order the AWS SDKs use: an explicit profile; else the environment's
//! keys; else its web identity (IRSA: `AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`); else the
//! shared files' profile (`AWS_PROFILE` or `default`); else container credentials
//! (`AWS_CONTAINER_CREDENTIALS_{RELATIVE,FULL}_URI`, as ECS and EKS Pod Identity provide);
//! else the instance metadata service (IMDSv2).

use std::time::Duration;

use zeroize::Zeroizing;

use super::call::{AwsError, agent, body, env};
use super::profile::{self, Profile};
use super::sts;

/// Credentials for signing. The secret parts are wiped on drop and never printed.
#[derive(Clone)]
pub struct Credentials {
    /// The access key id (not secret; shown in AWS's own errors).
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: Zeroizing<String>,
    /// The session token of temporary credentials.
    pub session_token: Option<Zeroizing<String>>,
    /// Where they came from, for messages (`environment`, `profile prod`, …).
    pub source: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(from {})", self.source)
    }
}

/// Time allowed for a metadata service to answer.
const METADATA_TIMEOUT: Duration = Duration::from_secs(2);

/// Role chains longer than this (source_profile hops) are refused.
const MAX_CHAIN: usize = 5;

/// Resolves credentials for a call in `region`; `profile` is the key's `aws_profile`.
pub fn resolve(profile: Option<&str>, region: &str) -> Result<Credentials, AwsError> {
    let files = profile::Files::load();
    if let Some(name) = profile.filter(|p| !p.is_empty()) {
        return from_profile(&files, name, region, 0);
    }
    if let Some(c) = from_env() {
        return Ok(c);
    }
    if let (Some(token_file), Some(role)) =
        (env("AWS_WEB_IDENTITY_TOKEN_FILE"), env("AWS_ROLE_ARN"))
    {
        return web_identity(&token_file, &role, env("AWS_ROLE_SESSION_NAME"), region);
    }
    let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_string());
    if files.get(&name).is_some() {
        return from_profile(&files, &name, region, 0);
    }
    if env("AWS_PROFILE").is_some() {
        return Err(AwsError::new(
            "no-credentials",
            format!(
                "AWS_PROFILE names '{name}', which is in neither the shared config nor the credentials file"
            ),
        ));
    }
    if let Some(c) = from_container()? {
        return Ok(c);
    }
    from_imds().map_err(|e| {
        AwsError::new(
            "no-credentials",
            format!(
                "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or a web identity (AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN); the instance metadata service said: {}",
                e.message
            ),
        )
    })
}

fn from_env() -> Option<Credentials> {
    let id = env("AWS_ACCESS_KEY_ID")?;
    let secret = env("AWS_SECRET_ACCESS_KEY")?;
    Some(Credentials {
        access_key_id: id,
        secret_access_key: Zeroizing::new(secret),
        session_token: env("AWS_SESSION_TOKEN").map(Zeroizing::new),
        source: "environment".into(),
    })
}

/// A session name as the SDKs make one when none is configured.
fn session_name(given: Option<String>) -> String {
    given.unwrap_or_else(|| format!("sigil-{}", crate::sops::time::now_unix()))
}

fn web_identity(
    token_file: &str,
    role: &str,
    session: Option<String>,
    region: &str,
) -> Result<Credentials, AwsError> {
    let token = Zeroizing::new(std::fs::read_to_string(token_file).map_err(|e| {
        AwsError::new(
            "no-credentials",
            format!("cannot read the web identity token file {token_file}: {e}"),
        )
    })?);
    sts::assume_role_with_web_identity(token.trim(), role, &session_name(session), region)
}

fn from_profile(
    files: &profile::Files,
    name: &str,
    region: &str,
    depth: usize,
) -> Result<Credentials, AwsError> {
    if depth > MAX_CHAIN {
        return Err(AwsError::new(
            "bad-profile",
            format!(
                "profile '{name}': the source_profile chain is longer than {MAX_CHAIN} or loops"
            ),
        ));
    }
    let p: &Profile = files.get(name).ok_or_else(|| {
        AwsError::new(
            "no-credentials",
            format!(
                "AWS profile '{name}' is in neither {} nor {}",
                files.config_path, files.credentials_path
            ),
        )
    })?;
    let static_keys = || -> Option<Credentials> {
        Some(Credentials {
            access_key_id: p.get("aws_access_key_id")?.to_string(),
            secret_access_key: Zeroizing::new(p.get("aws_secret_access_key")?.to_string()),
            session_token: p
                .get("aws_session_token")
                .map(|t| Zeroizing::new(t.to_string())),
            source: format!("profile {name}"),
        })
    };
    let Some(role) = p.get("role_arn") else {
        if let Some(c) = static_keys() {
            return Ok(c);
        }
        if p.get("credential_process").is_some()
            || p.get("sso_session").is_some()
            || p.get("sso_start_url").is_some()
        {
            return Err(AwsError::new(
                "unsupported-profile",
                format!(
                    "profile '{name}' uses credential_process or SSO, which sigil does not run: export credentials to the environment (e.g. `aws configure export-credentials --format env`)"
                ),
            ));
        }
        return Err(AwsError::new(
            "no-credentials",
            format!(
                "profile '{name}' has no aws_access_key_id/aws_secret_access_key and no role_arn"
            ),
        ));
    };
    let session = p.get("role_session_name").map(str::to_string);
    if let Some(token_file) = p.get("web_identity_token_file") {
        return web_identity(token_file, role, session, region);
    }
    let base = if let Some(source) = p.get("source_profile") {
        if source == name {
            static_keys().ok_or_else(|| {
                AwsError::new(
                    "bad-profile",
                    format!("profile '{name}' is its own source_profile without keys"),
                )
            })?
        } else {
            from_profile(files, source, region, depth + 1)?
        }
    } else {
        match p.get("credential_source") {
            Some("Environment") => from_env().ok_or_else(|| {
                AwsError::new("no-credentials", format!("profile '{name}': credential_source Environment, but AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set"))
            })?,
            Some("EcsContainer") => from_container()?.ok_or_else(|| {
                AwsError::new("no-credentials", format!("profile '{name}': credential_source EcsContainer, but no container credentials URI is set"))
            })?,
            Some("Ec2InstanceMetadata") => from_imds()?,
            other => {
                return Err(AwsError::new(
                    "bad-profile",
                    format!("profile '{name}' has role_arn but no source_profile, web_identity_token_file or known credential_source ({})", other.unwrap_or("none")),
                ));
            }
        }
    };
    sts::assume_role(
        &base,
        role,
        &session_name(session),
        p.get("external_id"),
        region,
    )
}

/// Container credentials (ECS task roles, EKS Pod Identity), if the environment names them.
fn from_container() -> Result<Option<Credentials>, AwsError> {
    let url = if let Some(rel) = env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") {
        format!("http://169.254.170.2{rel}")
    } else if let Some(full) = env("AWS_CONTAINER_CREDENTIALS_FULL_URI") {
        full
    } else {
        return Ok(None);
    };
    let uri: ureq::http::Uri = url.parse().map_err(|_| {
        AwsError::new(
            "bad-config",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI is not a URL",
        )
    })?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']);
    let allowed_http = host == "169.254.170.2"
        || host == "169.254.170.23"
        || host == "fd00:ec2::23"
        || host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if uri.scheme_str() != Some("https") && !allowed_http {
        return Err(AwsError::new(
            "bad-config",
            "container credentials over plain HTTP go only to loopback or the ECS/EKS agent addresses",
        ));
    }
    let token = match env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
        Some(f) => Some(Zeroizing::new(
            std::fs::read_to_string(&f)
                .map_err(|e| AwsError::new("no-credentials", format!("cannot read {f}: {e}")))?
                .trim()
                .to_string(),
        )),
        None => env("AWS_CONTAINER_AUTHORIZATION_TOKEN").map(Zeroizing::new),
    };
    let mut req = agent(METADATA_TIMEOUT).get(&url);
    if let Some(t) = &token {
        req = req.header("Authorization", t.as_str());
    }
    let resp = req.call().map_err(|e| {
        AwsError::new(
            "no-credentials",
            format!("container credentials endpoint: {e}"),
        )
    })?;
    let (status, bytes) = body(resp)?;
    if status != 200 {
        return Err(AwsError::new(
            "no-credentials",
            format!("container credentials endpoint answered {status}"),
        ));
    }
    json_credentials(&bytes, "container credentials").map(Some)
}

/// `{AccessKeyId, SecretAccessKey, Token}` (container and instance metadata).
fn json_credentials(bytes: &[u8], source: &str) -> Result<Credentials, AwsError> {
    let v: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|_| AwsError::new("bad-response", format!("{source}: not JSON")))?;
    let field = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    Ok(Credentials {
        access_key_id: field("AccessKeyId")
            .ok_or_else(|| AwsError::new("bad-response", format!("{source}: no AccessKeyId")))?,
        secret_access_key: Zeroizing::new(field("SecretAccessKey").ok_or_else(|| {
            AwsError::new("bad-response", format!("{source}: no SecretAccessKey"))
        })?),
        session_token: field("Token").map(Zeroizing::new),
        source: source.to_string(),
    })
}

/// The instance role's credentials from IMDSv2.
fn from_imds() -> Result<Credentials, AwsError> {
    if env("AWS_EC2_METADATA_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Err(AwsError::new(
            "no-credentials",
            "the instance metadata service is disabled (AWS_EC2_METADATA_DISABLED)",
        ));
    }
    let base = env("AWS_EC2_METADATA_SERVICE_ENDPOINT")
        .unwrap_or_else(|| "http://169.254.169.254".to_string());
    let base = base.trim_end_matches('/');
    let agent = agent(METADATA_TIMEOUT);
    let fail = |e: &dyn std::fmt::Display| {
        AwsError::new("no-credentials", format!("instance metadata: {e}"))
    };
    let resp = agent
        .put(&format!("{base}/latest/api/token"))
        .header("X-aws-ec2-metadata-token-ttl-seconds", "300")
        .send_empty()
        .map_err(|e| fail(&e))?;
    let (status, token) = body(resp)?;
    if status != 200 {
        return Err(fail(&format!("token request answered {status}")));
    }
    let token = Zeroizing::new(String::from_utf8_lossy(&token).trim().to_string());
    let get = |path: &str| -> Result<Vec<u8>, AwsError> {
        let resp = agent
            .get(&format!(
                "{base}/latest/meta-data/iam/security-credentials/{path}"
            ))
            .header("X-aws-ec2-metadata-token", token.as_str())
            .call()
            .map_err(|e| fail(&e))?;
        let (status, bytes) = body(resp)?;
        if status != 200 {
            return Err(fail(&format!("answered {status}")));
        }
        Ok(bytes)
    };
    let roles = get("")?;
    let role = String::from_utf8_lossy(&roles)
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    if role.is_empty() || role.contains('/') {
        return Err(fail(&"no instance role"));
    }
    json_credentials(&get(&role)?, "instance metadata")
}
