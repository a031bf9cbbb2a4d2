//! The gate verifies what the reconciler will apply. Each bypass class that `sigil gate --once`
//! used to publish is its own test here: a real repository with SSH-signed commits, a real
//! `docker-registry` with one cosign-signed and one unsigned image, and the real
//! `kubectl kustomize` as ground truth showing that the case really renders the unsigned image
//! or the plaintext Secret. Controls show what must publish, and the published render is
//! applied with `kubectl apply --dry-run=client` against a discovery stand-in.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::gate::{alice_repo, commit_all, free_port, memory_dir, ssh_key};
use common::registry::{Registry, cosign_keypair, sign_image};
use common::{Scratch, run, sigil};

struct Lab {
    s: Scratch,
    repo: PathBuf,
    alice: PathBuf,
    age_key: PathBuf,
    age_recipient: String,
    cosign_pub: PathBuf,
    /// A signed image, by tag.
    good: String,
    /// Its digest.
    good_digest: String,
    /// An unsigned image, by tag.
    evil: String,
    out: PathBuf,
    _reg: Registry,
    _shm: tempfile::TempDir,
}

const APP: &str = "team/app";

impl Lab {
    fn new() -> Lab {
        let reg = Registry::start();
        let s = Scratch::new();
        let repo = alice_repo(&s, "gitops", &[]);
        let alice = ssh_key(&s, "alice");
        let (age_key, age_recipient) = s.age_key("age.txt");
        let (cosign_key, cosign_pub) = cosign_keypair(&s, "cosign");
        let good = reg.image(APP, "v1");
        let good_digest = reg.push_image(APP, "v1", "app v1");
        sign_image(&s, &good, &cosign_key, &[]);
        let evil = reg.image("team/evil", "v1");
        reg.push_image("team/evil", "v1", "evil v1");
        let shm = memory_dir();
        let out = shm.path().join("published");
        let lab = Lab {
            s,
            repo,
            alice,
            age_key,
            age_recipient,
            cosign_pub,
            good,
            good_digest,
            evil,
            out,
            _reg: reg,
            _shm: shm,
        };
        lab.policy("");
        lab
    }

    fn policy(&self, extra: &str) {
        let pubkey = std::fs::read_to_string(self.alice.with_extension("pub")).unwrap();
        self.s.write(
            "allowed_signers",
            format!("alice@example.com {}", pubkey.trim()).as_bytes(),
        );
        self.s.write(
            "policy.yaml",
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Policy\nspec:\n  signers:\n    - name: alice\n      allowedSigners: allowed_signers\n  commits:\n    rules:\n      - refs: [\"refs/heads/*\"]\n        signers: [alice]\n  images:\n    insecureRegistries: [\"127.0.0.1:*\"]\n    rules:\n      - match: \"127.0.0.1:*/**\"\n        authorities:\n          - key: {}\n{extra}",
                self.cosign_pub.display()
            )
            .as_bytes(),
        );
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// `sigil encrypt` of `plain` into `rel` (age), with extra flags.
    fn encrypt(&self, rel: &str, plain: &str, flags: &[&str]) {
        let name = rel.rsplit('/').next().unwrap();
        let src = self.s.write(&format!("plain/{name}"), plain.as_bytes());
        let mut c = sigil();
        c.args(["encrypt", "--age", &self.age_recipient])
            .args(flags)
            .arg(&src);
        let out = run(c);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let p = self.repo.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, out.stdout).unwrap();
    }

    fn commit(&self, msg: &str) -> String {
        commit_all(&self.repo, Some(&self.alice), msg)
    }

    /// The gate configuration: `render` block (YAML flow), volume publishing the render.
    fn config(&self, render: &str, decrypt: bool) -> PathBuf {
        self.s.write(
            "gate.yaml",
            format!(
                "apiVersion: sigil.dev/v1alpha1\nkind: Gate\nspec:\n  stateDir: {state}\n  sources:\n    - name: app\n      url: file://{repo}\n      ref: refs/heads/main\n      policy: {policy}\n      secrets: {{ageKeyFile: {age}}}\n      render: {render}\n      publish:\n        rendered: true\n        volume: {{root: {out}, link: current, keepVersions: 1, grace: 0s, decryptSecrets: {decrypt}}}\n",
                state = self.s.path("state").display(),
                repo = self.repo.display(),
                policy = self.s.path("policy.yaml").display(),
                age = self.age_key.display(),
                out = self.out.display(),
            )
            .as_bytes(),
        )
    }

    /// `sigil gate --once`: (exit code, reason of the attempt, the whole stdout+stderr).
    fn gate(&self, render: &str) -> (i32, String, String) {
        self.gate_with(render, false)
    }

    fn gate_with(&self, render: &str, decrypt: bool) -> (i32, String, String) {
        let config = self.config(render, decrypt);
        let mut c = self.s.cmd(sigil());
        c.args(["gate", "--once", "--config"]).arg(&config);
        let out = run(c);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let reason = text
            .lines()
            .find_map(|l| l.strip_prefix("app: refused "))
            .and_then(|l| l.split_once(" ("))
            .and_then(|(_, r)| r.split(':').next())
            .unwrap_or("")
            .to_string();
        (out.status.code().unwrap_or(-1), reason, text)
    }

    fn published(&self, file: &str) -> String {
        std::fs::read_to_string(self.out.join("current").join(file)).unwrap_or_default()
    }

    /// The verdict published beside the link.
    fn verdict(&self) -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(self.out.join(".sigil-verdict.json")).unwrap())
            .unwrap()
    }

    fn current(&self) -> Option<String> {
        std::fs::read_link(self.out.join("current"))
            .ok()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
    }

    /// Ground truth: what the real `kubectl kustomize` builds from the work tree.
    fn kustomize(&self, path: &str) -> String {
        let out = Command::new("kubectl")
            .args(["kustomize", "--load-restrictor", "LoadRestrictionsNone"])
            .arg(self.repo.join(path))
            .env("KUBECONFIG", "/dev/null")
            .output()
            .expect("kubectl (scripts/peers.sh installs it)");
        assert!(
            out.status.success(),
            "kubectl kustomize {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

/// The objects of a published YAML stream, as a consumer reads them.
fn objects(text: &str) -> Vec<serde_json::Value> {
    sigil::manifest::documents::parse(text.as_bytes(), sigil::manifest::documents::Syntax::Yaml)
        .unwrap()
        .into_iter()
        .map(|d| d.value)
        .collect()
}

fn deployment(name: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {name}\nspec:\n  selector:\n    matchLabels: {{app: {name}}}\n  template:\n    metadata:\n      labels: {{app: {name}}}\n    spec:\n      containers:\n        - name: app\n          image: {image}\n"
    )
}

const KUSTOMIZE: &str = "{kustomize: {paths: [overlays/prod]}}";

/// A base with the signed image and a prod overlay listing it (plus `overlay` lines).
fn base_and_overlay(lab: &Lab, overlay: &str) {
    lab.write("base/deploy.yaml", &deployment("web", &lab.good));
    lab.write("base/kustomization.yaml", "resources: [deploy.yaml]\n");
    lab.write(
        "overlays/prod/kustomization.yaml",
        &format!("resources: [../../base]\n{overlay}"),
    );
}

#[test]
fn overlay_images_field_pointing_at_an_unsigned_image_is_refused() {
    let lab = Lab::new();
    base_and_overlay(&lab, "");
    let c1 = lab.commit("signed base");
    let (code, _, text) = lab.gate(KUSTOMIZE);
    assert_eq!(code, 0, "{text}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));

    let (evil_name, evil_tag) = lab.evil.rsplit_once(':').unwrap();
    let (good_name, _) = lab.good.rsplit_once(':').unwrap();
    base_and_overlay(
        &lab,
        &format!(
            "images:\n  - name: {good_name}\n    newName: {evil_name}\n    newTag: {evil_tag}\n"
        ),
    );
    lab.commit("retarget");
    assert!(
        lab.kustomize("overlays/prod").contains(&lab.evil),
        "kustomize renders the unsigned image"
    );
    let (code, reason, text) = lab.gate(KUSTOMIZE);
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
    assert_eq!(
        lab.current().as_deref(),
        Some(c1.as_str()),
        "the last good revision stays"
    );
}

#[test]
fn yaml_merge_key_container_is_refused_in_kustomize_and_directory_modes() {
    let lab = Lab::new();
    let merged = format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector:\n    matchLabels: {{app: web}}\n  template:\n    metadata:\n      labels: {{app: web}}\n    spec:\n      containers:\n        - <<: {{name: app, image: \"{}\"}}\n          imagePullPolicy: Always\n",
        lab.evil
    );
    lab.write("apps/deploy.yaml", &merged);
    lab.write("apps/kustomization.yaml", "resources: [deploy.yaml]\n");
    lab.commit("merge key");
    assert!(lab.kustomize("apps").contains(&lab.evil));
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
    let (code, reason, text) = lab.gate("{directory: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
    assert!(lab.current().is_none());
}

#[test]
fn inline_patches_that_set_the_image_are_refused() {
    let lab = Lab::new();
    for (i, patch) in [
        // JSON 6902, inline.
        format!(
            "patches:\n  - target: {{kind: Deployment, name: web}}\n    patch: |-\n      - op: replace\n        path: /spec/template/spec/containers/0/image\n        value: {}\n",
            lab.evil
        ),
        // Strategic merge, inline.
        format!(
            "patches:\n  - patch: |-\n      apiVersion: apps/v1\n      kind: Deployment\n      metadata: {{name: web}}\n      spec:\n        template:\n          spec:\n            containers:\n              - name: app\n                image: {}\n",
            lab.evil
        ),
        // Strategic merge, in a file.
        "patches:\n  - path: patch.yaml\n".to_string(),
    ]
    .iter()
    .enumerate()
    {
        base_and_overlay(&lab, patch);
        lab.write(
            "overlays/prod/patch.yaml",
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: {}\n",
                lab.evil
            ),
        );
        lab.commit(&format!("patch {i}"));
        assert!(lab.kustomize("overlays/prod").contains(&lab.evil), "case {i}");
        let (code, reason, text) = lab.gate(KUSTOMIZE);
        assert_eq!((code, reason.as_str()), (1, "unsigned"), "case {i}: {text}");
    }
}

#[test]
fn json_manifests_are_rendered_and_checked() {
    let lab = Lab::new();
    let json = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": {"metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "app", "image": lab.evil}]}}}
    });
    lab.write(
        "apps/deploy.json",
        &serde_json::to_string_pretty(&json).unwrap(),
    );
    lab.write("apps/kustomization.yaml", "resources: [deploy.json]\n");
    lab.commit("json");
    assert!(lab.kustomize("apps").contains(&lab.evil));
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
    let (code, reason, text) = lab.gate("{directory: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");

    // `sigil render` (the Argo CD plugin) no longer prints a .json manifest it did not check.
    let mut c = lab.s.cmd(sigil());
    c.args(["render", "--policy"])
        .arg(lab.s.path("policy.yaml"))
        .args(["--render", "directory", "--path"])
        .arg(lab.repo.join("apps"))
        .env("ARGOCD_APP_REVISION", "HEAD")
        .env("ARGOCD_APP_SOURCE_TARGET_REVISION", "main");
    let out = run(c);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsigned"));
}

#[test]
fn a_bad_second_document_refuses_the_whole_file() {
    let lab = Lab::new();
    lab.write(
        "apps/deploy.yaml",
        &format!(
            "{}---\nkind: [this does not parse\n",
            deployment("web", &lab.evil)
        ),
    );
    lab.commit("bad second document");
    // Ground truth: a YAML decoder reads the first document (with the unsigned image) before
    // it meets the second.
    let first: String = std::fs::read_to_string(lab.repo.join("apps/deploy.yaml"))
        .unwrap()
        .split("---")
        .next()
        .unwrap()
        .to_string();
    assert!(first.contains(&lab.evil));
    let (code, reason, text) = lab.gate("{directory: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "render-failed"), "{text}");
    assert!(text.contains("apps/deploy.yaml"), "{text}");
    assert!(text.contains("document 2"), "{text}");
}

#[test]
fn plaintext_secrets_in_lists_json_and_generators_are_refused() {
    let lab = Lab::new();
    let cases = [
        (
            "apps/list.yaml",
            "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: v1\n    kind: Secret\n    metadata: {name: db}\n    stringData: {password: hunter2}\n".to_string(),
            "",
        ),
        (
            "apps/secret.json",
            r#"{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, "data": {"password": "aHVudGVyMg=="}}"#.to_string(),
            "",
        ),
        (
            "apps/other.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".to_string(),
            "secretGenerator:\n  - name: db\n    literals: [password=hunter2]\n",
        ),
    ];
    for (i, (file, text, generator)) in cases.iter().enumerate() {
        let _ = std::fs::remove_dir_all(lab.repo.join("apps"));
        lab.write(file, text);
        let name = file.rsplit('/').next().unwrap();
        lab.write(
            "apps/kustomization.yaml",
            &format!("resources: [{name}]\n{generator}"),
        );
        lab.commit(&format!("case {i}"));
        let rendered = lab.kustomize("apps");
        assert!(
            rendered.contains("hunter2") || rendered.contains("aHVudGVyMg=="),
            "case {i}: kustomize renders the plaintext"
        );
        let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
        assert_eq!(
            (code, reason.as_str()),
            (1, "plaintext-secret"),
            "case {i}: {text}"
        );
        assert!(
            !text.contains("hunter2") && !text.contains("aHVudGVyMg=="),
            "no secret in the output"
        );
        if generator.is_empty() {
            let (code, reason, text) = lab.gate("{directory: {paths: [apps]}}");
            assert_eq!(
                (code, reason.as_str()),
                (1, "plaintext-secret"),
                "case {i}: {text}"
            );
        }
    }
    // `sigil check secrets` shares the check.
    let mut c = lab.s.cmd(sigil());
    c.args(["check", "secrets", "--render", "kustomize"])
        .arg(lab.repo.join("apps"));
    let out = run(c);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("plaintext-secret"));
}

#[test]
fn a_sops_file_whose_regex_selects_nothing_is_refused() {
    let lab = Lab::new();
    // A valid MAC, made with only the cluster's public recipient; the password stays clear.
    lab.encrypt(
        "apps/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
        &["--encrypted-regex", "^nothing$"],
    );
    lab.write("apps/kustomization.yaml", "resources: [secret.yaml]\n");
    lab.commit("regex selects nothing");
    assert!(lab.kustomize("apps").contains("hunter2"));
    for render in [
        "{kustomize: {paths: [apps]}}",
        "{directory: {paths: [apps]}}",
    ] {
        let (code, reason, text) = lab.gate(render);
        assert_eq!(
            (code, reason.as_str()),
            (1, "plaintext-secret"),
            "{render}: {text}"
        );
        assert!(!text.contains("hunter2"));
    }
    let mut c = lab.s.cmd(sigil());
    c.args(["check", "secrets"]).arg(lab.repo.join("apps"));
    let out = run(c);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The same kind of file through a secretGenerator (`files:`): kustomize-controller would
    // decrypt it whole into the Secret, plaintext included.
    lab.encrypt(
        "apps/conf.yaml",
        "password: hunter2\n",
        &["--encrypted-regex", "^nothing$"],
    );
    lab.write(
        "apps/kustomization.yaml",
        "secretGenerator:\n  - name: conf\n    files: [conf.yaml]\n",
    );
    lab.commit("generated from a file whose regex selects nothing");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "plaintext-secret"), "{text}");
    assert!(text.contains("apps/conf.yaml"), "{text}");
}

#[test]
fn sops_secrets_and_generators_over_sops_files_publish_as_ciphertext_or_decrypted() {
    let lab = Lab::new();
    lab.encrypt(
        "apps/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: hunter2\n",
        &["--encrypted-regex", "^(data|stringData)$"],
    );
    lab.encrypt("apps/creds.env", "USER=admin\nTOKEN=s3cret\n", &[]);
    lab.encrypt("apps/conf.yaml", "a: 1\nb: two\n", &[]);
    lab.write("apps/deploy.yaml", &deployment("web", &lab.good));
    lab.write(
        "apps/kustomization.yaml",
        "namespace: prod\nresources: [secret.yaml, deploy.yaml]\nsecretGenerator:\n  - name: creds\n    envs: [creds.env]\n  - name: conf\n    files: [config.yaml=conf.yaml]\n",
    );
    let c1 = lab.commit("sops everywhere");
    let (code, _, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!(code, 0, "{text}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    let rendered = lab.published("apps.yaml");
    let k = lab.published("kustomization.yaml");
    // Ciphertext only; the image pinned to the verified digest.
    assert!(!rendered.contains("hunter2") && !rendered.contains("s3cret"));
    assert!(
        rendered.contains(&format!("{}@{}", lab.good, lab.good_digest)),
        "{rendered}"
    );
    assert!(
        rendered.contains("\"sops\": {"),
        "the SOPS Secret keeps its metadata"
    );
    // The dotenv generator is republished as a generator over the SOPS file, exact name.
    assert!(k.contains("secretGenerator"), "{k}");
    let generator = &objects(&k)[0]["secretGenerator"][0];
    assert_eq!(generator["options"]["disableNameSuffixHash"], true, "{k}");
    assert!(
        generator["name"].as_str().unwrap().starts_with("creds-"),
        "{k}"
    );
    assert_eq!(generator["namespace"], "prod", "{k}");
    let env = std::fs::read_dir(lab.out.join("current/apps.sops"))
        .unwrap()
        .count();
    assert_eq!(env, 1);
    assert!(
        !objects(&rendered).iter().any(|o| o["kind"] == "Secret"
            && o["metadata"]["name"].as_str().unwrap().starts_with("creds")),
        "{rendered}"
    );

    // decryptSecrets on a tmpfs volume: plaintext, 0600, in its own file.
    lab.commit("republish");
    let (code, _, text) = lab.gate_with("{kustomize: {paths: [apps]}}", true);
    assert_eq!(code, 0, "{text}");
    let secrets = lab.out.join("current/apps.secrets.yaml");
    let plain = std::fs::read_to_string(&secrets).unwrap();
    assert!(plain.contains("hunter2"), "{plain}");
    use base64::Engine;
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert!(plain.contains(&b64("s3cret")), "{plain}");
    assert!(plain.contains(&b64("a: 1\nb: two\n")), "{plain}");
    assert!(!plain.contains("sops"), "{plain}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!lab.published("apps.yaml").contains("hunter2"));

    // A patch that copies another file's ciphertext over the password: refused.
    let other = std::fs::read_to_string(lab.repo.join("apps/creds.env")).unwrap();
    let foreign = other
        .lines()
        .find_map(|l| l.strip_prefix("TOKEN="))
        .unwrap()
        .to_string();
    lab.write(
        "apps/kustomization.yaml",
        &format!("namespace: prod\nresources: [secret.yaml, deploy.yaml]\npatches:\n  - patch: |-\n      apiVersion: v1\n      kind: Secret\n      metadata: {{name: db}}\n      stringData: {{password: \"{foreign}\"}}\n"),
    );
    lab.commit("moved ciphertext");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unverified-secret"), "{text}");

    // A patch that adds a plaintext value to the SOPS Secret: refused.
    lab.write(
        "apps/kustomization.yaml",
        "namespace: prod\nresources: [secret.yaml, deploy.yaml]\npatches:\n  - patch: |-\n      apiVersion: v1\n      kind: Secret\n      metadata: {name: db}\n      stringData: {extra: aGk=}\n",
    );
    lab.commit("patched secret");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "plaintext-secret"), "{text}");
}

#[test]
fn post_build_substitution_needs_the_same_variables() {
    let lab = Lab::new();
    let (registry, _) = lab.good.split_once('/').unwrap();
    lab.write(
        "apps/deploy.yaml",
        &deployment("web", &format!("{registry}/team/${{APP}}:v1")),
    );
    lab.write("apps/kustomization.yaml", "resources: [deploy.yaml]\n");
    lab.commit("substituted image");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!(
        (code, reason.as_str()),
        (1, "unresolved-substitution"),
        "{text}"
    );
    let (code, reason, text) =
        lab.gate("{kustomize: {paths: [apps]}, postBuild: {substitute: {APP: evil}}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
    let (code, _, text) =
        lab.gate("{kustomize: {paths: [apps]}, postBuild: {substitute: {APP: app}}}");
    assert_eq!(code, 0, "{text}");
    assert!(
        lab.published("apps.yaml")
            .contains(&format!("{}@{}", lab.good, lab.good_digest))
    );
}

#[test]
fn helm_releases_are_refused_unless_the_policy_allows_them() {
    let lab = Lab::new();
    lab.write(
        "apps/release.yaml",
        "apiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata: {name: podinfo, namespace: flux-system}\nspec:\n  chart:\n    spec: {chart: podinfo, sourceRef: {kind: HelmRepository, name: podinfo}}\n  values:\n    image: {repository: evil}\n",
    );
    lab.write("apps/kustomization.yaml", "resources: [release.yaml]\n");
    lab.commit("helm release");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unverified-source"), "{text}");
    lab.policy("  sources:\n    allow:\n      - {kind: HelmRelease, namespace: flux-system, name: podinfo}\n");
    let (code, _, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!(code, 0, "{text}");
    let verdict = lab.verdict();
    assert_eq!(verdict["sources"][0]["result"], "allowed", "{verdict}");
}

#[test]
fn remote_bases_helm_charts_and_unknown_pod_specs_are_refused_offline() {
    let lab = Lab::new();
    for (k, want) in [
        (
            "resources:\n  - https://raw.githubusercontent.com/org/repo/main/deploy.yaml\n",
            "is remote",
        ),
        (
            "resources:\n  - github.com/org/repo//deploy?ref=v1\n",
            "is remote",
        ),
        (
            "helmCharts:\n  - {name: podinfo, repo: https://stefanprodan.github.io/podinfo, version: 6.0.0}\n",
            "Helm",
        ),
        ("resources: [../../../../etc]\n", "leaves the repository"),
    ] {
        lab.write("apps/kustomization.yaml", k);
        lab.commit(want);
        let started = std::time::Instant::now();
        let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
        assert_eq!((code, reason.as_str()), (1, "render-failed"), "{k}: {text}");
        assert!(text.contains(want), "{k}: {text}");
        assert!(
            started.elapsed().as_secs() < 20,
            "refused before any network attempt"
        );
    }
    // A Knative Service runs containers at a place sigil does not know: refused until the
    // policy names the pod spec, then verified.
    lab.write("apps/kustomization.yaml", "resources: [ksvc.yaml]\n");
    lab.write(
        "apps/ksvc.yaml",
        &format!(
            "apiVersion: serving.knative.dev/v1\nkind: Service\nmetadata: {{name: web}}\nspec:\n  template:\n    spec:\n      containers:\n        - image: {}\n",
            lab.evil
        ),
    );
    lab.commit("knative");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unknown-pod-spec"), "{text}");
    lab.policy("    podSpecs:\n      - {kind: Service, apiVersion: serving.knative.dev/v1, podSpec: spec.template.spec}\n");
    let (code, reason, text) = lab.gate("{kustomize: {paths: [apps]}}");
    assert_eq!((code, reason.as_str()), (1, "unsigned"), "{text}");
}

/// Overlays over a shared base, a component, patches in files and inline, a path without a
/// kustomization (Flux's generated one), all signed: published, every image pinned, and the
/// published render applies with `kubectl apply --dry-run=client`.
#[test]
fn overlays_components_and_patches_publish_a_pinned_render_kubectl_accepts() {
    let lab = Lab::new();
    lab.write("base/deploy.yaml", &deployment("web", &lab.good));
    lab.write("base/service.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  selector: {app: web}\n  ports: [{port: 80}]\n");
    lab.write(
        "base/kustomization.yaml",
        "resources: [deploy.yaml, service.yaml]\n",
    );
    lab.write(
        "components/sidecar/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n  - target: {{kind: Deployment}}\n    patch: |-\n      - op: add\n        path: /spec/template/spec/containers/-\n        value: {{name: sidecar, image: \"{}\"}}\n",
            lab.good
        ),
    );
    lab.write(
        "overlays/prod/kustomization.yaml",
        "resources: [../../base]\ncomponents: [../../components/sidecar]\nnamespace: prod\nnamePrefix: prod-\npatches:\n  - path: replicas.yaml\n",
    );
    lab.write(
        "overlays/prod/replicas.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 3}\n",
    );
    lab.write(
        "overlays/staging/kustomization.yaml",
        "resources: [../../base]\nnamespace: staging\n",
    );
    lab.write(
        "plain/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n",
    );
    lab.write(
        "plain/nested/cm2.yml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain2}\n",
    );
    let c1 = lab.commit("layout");
    let render = "{kustomize: {paths: [overlays/prod, overlays/staging, plain]}}";
    let (code, _, text) = lab.gate(render);
    assert_eq!(code, 0, "{text}");
    assert_eq!(lab.current().as_deref(), Some(c1.as_str()));
    let prod = lab.published("overlays-prod.yaml");
    let pinned = format!("{}@{}", lab.good, lab.good_digest);
    assert_eq!(prod.matches(&pinned).count(), 2, "{prod}");
    assert!(
        prod.contains("\"name\": \"prod-web\"") && prod.contains("\"replicas\": 3"),
        "{prod}"
    );
    assert!(lab.published("overlays-staging.yaml").contains(&pinned));
    assert!(
        lab.published("plain.yaml").contains("\"name\": \"plain2\""),
        "the generated kustomization recurses"
    );
    let k = lab.published("kustomization.yaml");
    for f in ["overlays-prod.yaml", "overlays-staging.yaml", "plain.yaml"] {
        assert!(k.contains(f), "{k}");
    }
    let verdict = lab.verdict();
    let recorded: serde_json::Value =
        serde_json::from_slice(&std::fs::read(lab.s.path("state/app.published.json")).unwrap())
            .unwrap();
    assert_eq!(
        recorded["render"]["tool"], verdict["render"]["tool"],
        "shown in /status too"
    );
    assert_eq!(verdict["render"]["mode"], "kustomize");
    assert!(
        verdict["render"]["tool"]
            .as_str()
            .unwrap()
            .starts_with("kustomize v"),
        "{verdict}"
    );
    // Every image of every published object carries the verified digest.
    let mut seen = 0;
    for o in objects(&prod)
        .iter()
        .chain(&objects(&lab.published("overlays-staging.yaml")))
    {
        for c in o
            .pointer("/spec/template/spec/containers")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            let img = c["image"].as_str().unwrap();
            assert!(img.ends_with(&lab.good_digest), "{img}");
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
    kubectl_apply_dry_run(&lab.out.join("current"));
}

/// `kubectl apply --dry-run=client -k DIR` against a discovery stand-in: the published
/// render parses and maps to resources.
fn kubectl_apply_dry_run(dir: &Path) {
    let port = free_port();
    let stub = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/common/kube_discovery.py");
    let kinds = r#"[["","v1","ConfigMap"],["","v1","Service"],["","v1","Secret"],["apps","v1","Deployment"]]"#;
    let mut server = Command::new("python3")
        .arg(&stub)
        .arg(port.to_string())
        .arg(kinds)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let kubeconfig = dir.parent().unwrap().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: s, cluster: {{server: \"http://127.0.0.1:{port}\"}}}}]\ncontexts: [{{name: s, context: {{cluster: s, namespace: default}}}}]\ncurrent-context: s\n"),
    )
    .unwrap();
    common::gate::wait_for("the discovery stand-in", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let out = Command::new("kubectl")
        .args(["apply", "--dry-run=client", "--validate=false", "-k"])
        .arg(dir)
        .env("KUBECONFIG", &kubeconfig)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_file(&kubeconfig);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kubectl apply: {stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("deployment.apps/prod-web created (dry run)"),
        "{stdout}"
    );
}

/// `sigil verify images` renders like the gate: the overlay's override is seen.
#[test]
fn verify_images_renders_the_kustomization() {
    let lab = Lab::new();
    let (evil_name, evil_tag) = lab.evil.rsplit_once(':').unwrap();
    let (good_name, _) = lab.good.rsplit_once(':').unwrap();
    base_and_overlay(
        &lab,
        &format!(
            "images:\n  - name: {good_name}\n    newName: {evil_name}\n    newTag: {evil_tag}\n"
        ),
    );
    let mut c = lab.s.cmd(sigil());
    c.args(["verify", "images", "--format", "json", "--policy"])
        .arg(lab.s.path("policy.yaml"))
        .arg(lab.repo.join("overlays/prod"));
    let out = run(c);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["images"][0]["reason"], "unsigned", "{v}");
    assert!(
        v["images"][0]["image"]
            .as_str()
            .unwrap()
            .contains("team/evil")
    );
}
