//! A throw-away AWS API on 127.0.0.1: moto's server (PyPI `moto[server]`) with IAM
//! authentication on, so signatures are checked and permissions enforced. Set up once per
//! server: a KMS key, users `admin` (everything), `base` (only sts:AssumeRole) and
//! `enc-only` (only kms:Encrypt), and a role `kms-user` allowed kms:*.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Unauthenticated calls the setup makes (moto's `INITIAL_NO_AUTH_ACTION_COUNT`).
const SETUP_CALLS: usize = 12;

const SETUP: &str = r#"
import boto3, json, sys
kw = dict(region_name='us-east-1', endpoint_url=sys.argv[1], aws_access_key_id='setup', aws_secret_access_key='setup')
iam = boto3.client('iam', **kw); kms = boto3.client('kms', **kw)
arn = kms.create_key()['KeyMetadata']['Arn']
def user(name, actions):
    iam.create_user(UserName=name)
    iam.put_user_policy(UserName=name, PolicyName='p', PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
    k = iam.create_access_key(UserName=name)['AccessKey']
    return [k['AccessKeyId'], k['SecretAccessKey']]
out = {"arn": arn, "admin": user('admin', ['kms:*', 'iam:*', 'sts:*']), "base": user('base', ['sts:AssumeRole']), "enc_only": user('enc-only', ['kms:Encrypt'])}
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": ["sts:AssumeRole", "sts:AssumeRoleWithWebIdentity"]}]}
out["role"] = iam.create_role(RoleName='kms-user', AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn']
iam.put_role_policy(RoleName='kms-user', PolicyName='p', PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:*"], "Resource": "*"}]}))
print(json.dumps(out))
"#;

/// Credentials of one moto user.
#[derive(Clone)]
pub struct User {
    pub key: String,
    pub secret: String,
}

/// A running moto server and what its setup made.
pub struct Moto {
    child: Child,
    pub url: String,
    /// The KMS key's ARN.
    pub arn: String,
    /// The role allowed kms:*.
    pub role: String,
    pub admin: User,
    pub base: User,
    pub enc_only: User,
}

impl Moto {
    /// With IAM authentication (signatures and permissions checked).
    pub fn start() -> Moto {
        Moto::start_with(true)
    }

    /// Without authentication: moto answers unsigned `AssumeRoleWithWebIdentity` only then
    /// (with authentication on it fails with a 500, for sops too).
    pub fn start_open() -> Moto {
        Moto::start_with(false)
    }

    fn start_with(auth: bool) -> Moto {
        let port = super::gate::free_port();
        let mut c = Command::new("python3");
        c.args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ]);
        if auth {
            c.env("INITIAL_NO_AUTH_ACTION_COUNT", SETUP_CALLS.to_string());
        }
        let child = c
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 -m moto.server (PyPI moto[server]; scripts/peers.sh installs it)");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let out = Command::new("python3")
            .args(["-c", SETUP, &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "moto setup: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let user = |k: &str| User {
            key: v[k][0].as_str().unwrap().to_string(),
            secret: v[k][1].as_str().unwrap().to_string(),
        };
        Moto {
            child,
            url,
            arn: v["arn"].as_str().unwrap().to_string(),
            role: v["role"].as_str().unwrap().to_string(),
            admin: user("admin"),
            base: user("base"),
            enc_only: user("enc_only"),
        }
    }

    /// Points `c` at this server as `who` (no other AWS setting of the host leaks in).
    pub fn env(&self, c: &mut Command, who: Option<&User>) {
        for v in [
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_PROFILE",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_ARN",
            "AWS_ENDPOINT_URL_KMS",
            "SOPS_KMS_ARN",
        ] {
            c.env_remove(v);
        }
        c.env("AWS_ENDPOINT_URL", &self.url);
        // sops's profile role provider asks STS through its own client: name it too.
        c.env("AWS_ENDPOINT_URL_STS", &self.url);
        c.env("AWS_EC2_METADATA_DISABLED", "true");
        if let Some(u) = who {
            c.env("AWS_ACCESS_KEY_ID", &u.key);
            c.env("AWS_SECRET_ACCESS_KEY", &u.secret);
        }
    }

    /// The key's id (moto's DisableKey takes the id, not the ARN).
    pub fn key_id(&self) -> &str {
        self.arn.rsplit('/').next().unwrap_or_default()
    }

    /// Runs a boto3 call as admin, e.g. `kms.disable_key(KeyId=ID)`.
    pub fn admin(&self, call: &str) {
        let script = format!(
            "import boto3\nkms = boto3.client('kms', region_name='us-east-1', endpoint_url='{}', aws_access_key_id='{}', aws_secret_access_key='{}')\n{call}\n",
            self.url, self.admin.key, self.admin.secret
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{call}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
