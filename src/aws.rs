//! AWS for SOPS's `kms` master keys: credentials found in the standard order (environment,
//! web identity as IRSA provides it, shared config and credentials files with profiles and
//! role chains, container and instance metadata), requests signed with SigV4 by `aws-sigv4`,
//! the KMS `Encrypt`/`Decrypt` and STS `AssumeRole`/`AssumeRoleWithWebIdentity` calls.
//!
//! Endpoints follow the SDKs: `AWS_ENDPOINT_URL_<SERVICE>`, then `AWS_ENDPOINT_URL`, then
//! `https://<service>.<region>.amazonaws.com` (`.amazonaws.com.cn` in China regions). No
//! credential, token or key material is ever written to a log or an error.

mod call;
pub mod credentials;
pub mod kms;
mod profile;
mod sts;

pub use call::AwsError;
pub use credentials::Credentials;
