//! STS `AssumeRole` (signed with the base credentials) and `AssumeRoleWithWebIdentity`
//! (unsigned; the OIDC token is the proof), query API, XML answers.

use zeroize::Zeroizing;

use super::call::{AwsError, Call, send, service_error, xml_text};
use super::credentials::Credentials;

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        out.append_pair(k, v);
    }
    out.finish().into_bytes()
}

fn call(
    region: &str,
    body: Vec<u8>,
    creds: Option<&Credentials>,
    what: &str,
) -> Result<Credentials, AwsError> {
    let (status, bytes) = send(
        &Call {
            service: "sts",
            region,
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            )],
            body,
        },
        creds,
    )?;
    let text = Zeroizing::new(String::from_utf8_lossy(&bytes).into_owned());
    if status != 200 {
        let e = service_error(status, &bytes);
        return Err(AwsError::new(&e.code, format!("{what}: {}", e.message)));
    }
    let field = |tag: &str| {
        xml_text(&text, tag).ok_or_else(|| {
            AwsError::new("bad-response", format!("{what}: the answer has no {tag}"))
        })
    };
    Ok(Credentials {
        access_key_id: field("AccessKeyId")?,
        secret_access_key: Zeroizing::new(field("SecretAccessKey")?),
        session_token: Some(Zeroizing::new(field("SessionToken")?)),
        source: what.to_string(),
    })
}

/// Assumes `role` with `base` credentials.
pub(super) fn assume_role(
    base: &Credentials,
    role: &str,
    session: &str,
    external_id: Option<&str>,
    region: &str,
) -> Result<Credentials, AwsError> {
    let mut pairs = vec![
        ("Action", "AssumeRole"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session),
    ];
    if let Some(id) = external_id {
        pairs.push(("ExternalId", id));
    }
    call(
        region,
        form(&pairs),
        Some(base),
        &format!("assuming role {role} (with {})", base.source),
    )
}

/// Exchanges an OIDC token (IRSA's projected service-account token) for `role`'s credentials.
pub(super) fn assume_role_with_web_identity(
    token: &str,
    role: &str,
    session: &str,
    region: &str,
) -> Result<Credentials, AwsError> {
    let body = form(&[
        ("Action", "AssumeRoleWithWebIdentity"),
        ("Version", "2011-06-15"),
        ("RoleArn", role),
        ("RoleSessionName", session),
        ("WebIdentityToken", token),
    ]);
    call(
        region,
        body,
        None,
        &format!("assuming role {role} with a web identity token"),
    )
}

/// The session name sops uses when it assumes a key's role: `sops@<hostname>`, the hostname
/// stripped to `[a-zA-Z0-9=,.@_-]`, at most 64 characters.
pub fn sops_session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let clean: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "=,.@_-".contains(*c))
        .collect();
    let mut name = format!("sops@{clean}");
    name.truncate(64);
    name
}
