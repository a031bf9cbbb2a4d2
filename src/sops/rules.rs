//! Which values get encrypted: the six mutually exclusive selection rules of sops.

use regex::Regex;

use super::error::Error;

/// The selection rule recorded in a file's metadata (at most one is set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// `unencrypted_suffix`: keys ending with it (and their subtrees) stay plain.
    pub unencrypted_suffix: String,
    /// `encrypted_suffix`: only keys ending with it (and subtrees) are encrypted.
    pub encrypted_suffix: String,
    /// `unencrypted_regex`: keys matching it stay plain (unanchored search).
    pub unencrypted_regex: String,
    /// `encrypted_regex`: only keys matching it are encrypted.
    pub encrypted_regex: String,
    /// `unencrypted_comment_regex`: values after a matching comment stay plain.
    pub unencrypted_comment_regex: String,
    /// `encrypted_comment_regex`: only values after a matching comment are encrypted.
    pub encrypted_comment_regex: String,
}

impl Selection {
    /// Field names and values in metadata order.
    pub fn fields(&self) -> [(&'static str, &String); 6] {
        [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
    }

    /// Mutable access by metadata field name.
    pub fn field_mut(&mut self, name: &str) -> Option<&mut String> {
        Some(match name {
            "unencrypted_suffix" => &mut self.unencrypted_suffix,
            "encrypted_suffix" => &mut self.encrypted_suffix,
            "unencrypted_regex" => &mut self.unencrypted_regex,
            "encrypted_regex" => &mut self.encrypted_regex,
            "unencrypted_comment_regex" => &mut self.unencrypted_comment_regex,
            "encrypted_comment_regex" => &mut self.encrypted_comment_regex,
            _ => return None,
        })
    }

    /// How many of the six rules are set.
    pub fn count_set(&self) -> usize {
        self.fields().iter().filter(|(_, v)| !v.is_empty()).count()
    }

    /// Errors when more than one rule is set (sops: "Cannot use more than one of …").
    pub fn check_exclusive(&self) -> Result<(), Error> {
        if self.count_set() > 1 {
            let set: Vec<&str> = self
                .fields()
                .iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(k, _)| *k)
                .collect();
            return Err(Error::Conflict(format!(
                "cannot use more than one of encrypted_suffix, unencrypted_suffix, encrypted_regex, unencrypted_regex, encrypted_comment_regex or unencrypted_comment_regex (got {})",
                set.join(", ")
            )));
        }
        Ok(())
    }

    /// With no rule set, sops assumes `unencrypted_suffix: _unencrypted`.
    pub fn with_default(mut self) -> Selection {
        if self.count_set() == 0 {
            self.unencrypted_suffix = "_unencrypted".to_string();
        }
        self
    }

    /// Compiles the rule for evaluation.
    pub fn compile(&self) -> Result<Selector, Error> {
        self.check_exclusive()?;
        let re = |s: &str| {
            Regex::new(s)
                .map_err(|e| Error::Config(format!("invalid regular expression '{s}': {e}")))
        };
        Ok(if !self.unencrypted_suffix.is_empty() {
            Selector::UnencryptedSuffix(self.unencrypted_suffix.clone())
        } else if !self.encrypted_suffix.is_empty() {
            Selector::EncryptedSuffix(self.encrypted_suffix.clone())
        } else if !self.unencrypted_regex.is_empty() {
            Selector::UnencryptedRegex(re(&self.unencrypted_regex)?)
        } else if !self.encrypted_regex.is_empty() {
            Selector::EncryptedRegex(re(&self.encrypted_regex)?)
        } else if !self.unencrypted_comment_regex.is_empty() {
            Selector::UnencryptedCommentRegex(re(&self.unencrypted_comment_regex)?)
        } else if !self.encrypted_comment_regex.is_empty() {
            Selector::EncryptedCommentRegex(re(&self.encrypted_comment_regex)?)
        } else {
            Selector::UnencryptedSuffix("_unencrypted".to_string())
        })
    }
}

/// A compiled selection rule.
pub enum Selector {
    /// See [`Selection::unencrypted_suffix`].
    UnencryptedSuffix(String),
    /// See [`Selection::encrypted_suffix`].
    EncryptedSuffix(String),
    /// See [`Selection::unencrypted_regex`].
    UnencryptedRegex(Regex),
    /// See [`Selection::encrypted_regex`].
    EncryptedRegex(Regex),
    /// See [`Selection::unencrypted_comment_regex`].
    UnencryptedCommentRegex(Regex),
    /// See [`Selection::encrypted_comment_regex`].
    EncryptedCommentRegex(Regex),
}

impl Selector {
    /// Whether the leaf at `path` is encrypted. `comments` are the comments in scope (preceding
    /// the leaf at its level and preceding each ancestor key); `own` is the comment being tested
    /// itself when the leaf is a comment.
    pub fn encrypts(&self, path: &[&str], comments: &[&str], own: Option<&str>) -> bool {
        match self {
            Selector::UnencryptedSuffix(s) => !path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::EncryptedSuffix(s) => path.iter().any(|k| k.ends_with(s.as_str())),
            Selector::UnencryptedRegex(r) => !path.iter().any(|k| r.is_match(k)),
            Selector::EncryptedRegex(r) => path.iter().any(|k| r.is_match(k)),
            Selector::UnencryptedCommentRegex(r) => {
                !(comments.iter().any(|c| r.is_match(c)) || own.is_some_and(|c| r.is_match(c)))
            }
            Selector::EncryptedCommentRegex(r) => comments.iter().any(|c| r.is_match(c)),
        }
    }

    /// Whether comments are tracked at all (only the comment rules need them).
    pub fn uses_comments(&self) -> bool {
        matches!(
            self,
            Selector::UnencryptedCommentRegex(_) | Selector::EncryptedCommentRegex(_)
        )
    }
}
