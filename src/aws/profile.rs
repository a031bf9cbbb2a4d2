//! The shared `config` and `credentials` files (`AWS_CONFIG_FILE`,
//! `AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/…`): `[profile NAME]` / `[default]` sections
//! in config, `[NAME]` in credentials; credentials-file values win, as in the SDKs.

use std::collections::HashMap;

use zeroize::Zeroizing;

use super::call::env;

/// One profile's settings (keys lowercased).
#[derive(Default)]
pub(super) struct Profile(HashMap<String, Zeroizing<String>>);

impl Profile {
    pub(super) fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(|v| v.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// Both files, merged per profile.
pub(super) struct Files {
    profiles: HashMap<String, Profile>,
    pub(super) config_path: String,
    pub(super) credentials_path: String,
}

impl Files {
    /// Reads both files; a missing file is empty.
    pub(super) fn load() -> Files {
        let home = std::env::var("HOME").unwrap_or_default();
        let config_path = env("AWS_CONFIG_FILE").unwrap_or_else(|| format!("{home}/.aws/config"));
        let credentials_path = env("AWS_SHARED_CREDENTIALS_FILE")
            .unwrap_or_else(|| format!("{home}/.aws/credentials"));
        let mut profiles: HashMap<String, Profile> = HashMap::new();
        for (path, is_config) in [(&config_path, true), (&credentials_path, false)] {
            let Ok(text) = std::fs::read_to_string(path).map(Zeroizing::new) else {
                continue;
            };
            for (name, key, value) in parse(&text, is_config) {
                profiles.entry(name).or_default().0.insert(key, value);
            }
        }
        Files {
            profiles,
            config_path,
            credentials_path,
        }
    }

    pub(super) fn get(&self, name: &str) -> Option<&Profile> {
        self.profiles.get(name)
    }
}

/// `(profile, key, value)` for every setting of an INI-style AWS file. In the config file a
/// section is `[profile NAME]` (or `[default]`); other sections (`[sso-session …]`,
/// `[services …]`) and indented sub-settings are skipped.
fn parse(text: &str, is_config: bool) -> Vec<(String, String, Zeroizing<String>)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(section) = trimmed.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let section = section.trim();
            current = if !is_config {
                Some(section.to_string())
            } else if section == "default" {
                Some("default".to_string())
            } else {
                section
                    .strip_prefix("profile")
                    .filter(|rest| rest.starts_with([' ', '\t']))
                    .map(|rest| rest.trim().to_string())
            };
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let (Some(name), Some((k, v))) = (&current, trimmed.split_once('=')) else {
            continue;
        };
        out.push((
            name.clone(),
            k.trim().to_ascii_lowercase(),
            Zeroizing::new(v.trim().to_string()),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn sections_of_both_files() {
        let config = "[default]\nregion = eu-west-1\n[profile prod]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = base\ns3 =\n  max_concurrent_requests = 2\n[sso-session x]\nsso_region = us-east-1\n[profileless]\nk = v\n";
        let got: Vec<_> = parse(config, true)
            .into_iter()
            .map(|(p, k, v)| format!("{p}.{k}={}", v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                "default.region=eu-west-1",
                "prod.role_arn=arn:aws:iam::1:role/r",
                "prod.source_profile=base",
                "prod.s3="
            ]
        );
        let creds = "# c\n[base]\naws_access_key_id = AKIA\nAWS_Secret_Access_Key=s=e\n";
        let got: Vec<_> = parse(creds, false)
            .into_iter()
            .map(|(p, k, v)| format!("{p}.{k}={}", v.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                "base.aws_access_key_id=AKIA",
                "base.aws_secret_access_key=s=e"
            ]
        );
    }
}
