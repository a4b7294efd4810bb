//! [`Location`]: where a file lives, a local path or an object (`s3://bucket/key`). Parsing
//! refuses schemes sluice cannot reach with a message that says which it can.

use std::fmt;
use std::path::PathBuf;

use crate::error::StoreError;

/// An object in a bucket. `key` has no leading `/`; an empty key is the bucket's root.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectUrl {
    pub bucket: String,
    pub key: String,
}

/// A local path or an object URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Location {
    Local(PathBuf),
    Object(ObjectUrl),
}

/// URL schemes that look like object storage, with whether sluice speaks them.
const SCHEMES: [(&str, bool); 7] = [
    ("s3://", true),
    ("s3a://", true),
    ("gs://", false),
    ("gcs://", false),
    ("az://", false),
    ("abfs://", false),
    ("hf://", false),
];

impl Location {
    /// Whether `s` names an object URL (any `scheme://`), as opposed to a local path.
    pub fn is_url(s: &str) -> bool {
        s.split_once("://").is_some_and(|(scheme, _)| {
            !scheme.is_empty() && scheme.chars().all(|c| c.is_ascii_alphanumeric())
        })
    }

    /// A location from what a user wrote: `s3://bucket/key` or a local path.
    pub fn parse(s: &str) -> Result<Location, StoreError> {
        if !Location::is_url(s) {
            return Ok(Location::Local(PathBuf::from(s)));
        }
        let bad = |message: &str| StoreError::BadLocation {
            url: s.to_string(),
            message: message.to_string(),
        };
        let supported = SCHEMES.iter().find(|(p, _)| s.starts_with(p));
        match supported {
            Some((_, true)) => {}
            _ => {
                return Err(bad(
                    "unsupported storage scheme; sluice reads and writes local paths and s3:// (any S3-compatible endpoint through AWS_ENDPOINT_URL)",
                ))
            }
        }
        let rest = s.split_once("://").map(|(_, r)| r).unwrap_or_default();
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.len() < 3
            || !bucket
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.' || c == '_')
        {
            return Err(bad(
                "bucket names are 3 to 63 letters, digits, '-', '.' or '_'",
            ));
        }
        let key = key.trim_end_matches('/');
        if key.split('/').any(|seg| seg == "." || seg == "..") || key.contains("//") {
            return Err(bad("object keys may not hold '.' or '..' segments or '//'"));
        }
        Ok(Location::Object(ObjectUrl {
            bucket: bucket.to_string(),
            key: key.to_string(),
        }))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local(p) => write!(f, "{}", p.display()),
            Location::Object(o) => o.fmt(f),
        }
    }
}

impl ObjectUrl {
    /// `rel` (a `/`-separated relative path) under this object's key.
    pub fn join(&self, rel: &str) -> ObjectUrl {
        let rel = rel.trim_matches('/');
        let key = match (self.key.is_empty(), rel.is_empty()) {
            (_, true) => self.key.clone(),
            (true, false) => rel.to_string(),
            (false, false) => format!("{}/{rel}", self.key),
        };
        ObjectUrl {
            bucket: self.bucket.clone(),
            key,
        }
    }

    /// The last segment of the key.
    pub fn file_name(&self) -> &str {
        self.key.rsplit('/').next().unwrap_or(&self.key)
    }

    /// The key relative to `prefix` (an ancestor), if it is one.
    pub fn relative_to(&self, prefix: &ObjectUrl) -> Option<&str> {
        if self.bucket != prefix.bucket {
            return None;
        }
        if prefix.key.is_empty() {
            return Some(&self.key);
        }
        self.key.strip_prefix(&prefix.key)?.strip_prefix('/')
    }
}

impl fmt::Display for ObjectUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths_and_urls() {
        assert_eq!(
            Location::parse("raw/a.jsonl").unwrap(),
            Location::Local("raw/a.jsonl".into())
        );
        let Location::Object(o) = Location::parse("s3://my-bucket/runs/1/").unwrap() else {
            panic!()
        };
        assert_eq!((o.bucket.as_str(), o.key.as_str()), ("my-bucket", "runs/1"));
        assert_eq!(
            o.join("work/run.json").to_string(),
            "s3://my-bucket/runs/1/work/run.json"
        );
        assert_eq!(
            o.join("work/run.json").relative_to(&o),
            Some("work/run.json")
        );
        assert_eq!(o.join("x").file_name(), "x");
        let Location::Object(root) = Location::parse("s3://bkt").unwrap() else {
            panic!()
        };
        assert_eq!(root.join("a").to_string(), "s3://bkt/a");
    }

    #[test]
    fn refuses_what_it_cannot_reach() {
        for (url, says) in [
            ("gs://b/k", "unsupported storage scheme"),
            ("hf://datasets/x", "unsupported storage scheme"),
            ("s3://ab/k", "bucket names"),
            ("s3://bucket/a/../b", "'..'"),
        ] {
            let e = Location::parse(url).unwrap_err().to_string();
            assert!(e.contains(says) && e.contains(url), "{url}: {e}");
        }
    }
}
