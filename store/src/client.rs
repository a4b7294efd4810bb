//! The S3 client: one `object_store` client per bucket (configured from the standard AWS
//! variables, `AWS_PROFILE`'s files and `AWS_ENDPOINT_URL`; path-style requests; plain HTTP
//! only with `AWS_ALLOW_HTTP=true`), a private tokio runtime that the blocking calls run on,
//! and the counters of requests, failed attempts (each retried) and bytes.
//!
//! Retries: `object_store` retries every request that failed with a 5xx (`SlowDown`,
//! `InternalError`), a reset connection or a timeout, with exponential backoff and jitter,
//! until `SLUICE_S3_RETRY_TIMEOUT` seconds (default 180) have passed since the first attempt;
//! a read whose body breaks off is tried again here, a few times. Then the error names the object.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::client::{
    HttpClient, HttpConnector, HttpError, HttpRequest, HttpResponse, HttpService, ReqwestConnector,
};
use object_store::path::Path as ObjPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, RetryConfig,
    UpdateVersion, WriteMultipart,
};

use crate::error::{redact, StoreError};
use crate::location::ObjectUrl;

/// What a listing or a head request says of an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub url: ObjectUrl,
    pub size: u64,
    /// The store's version tag (ETag), if it gives one.
    pub etag: Option<String>,
    /// Last modification, seconds since the epoch.
    pub modified: i64,
}

/// Requests made to object storage by this process, and how many of them failed and were
/// tried again.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct IoCounters {
    pub requests: u64,
    pub retries: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
}

static REQUESTS: AtomicU64 = AtomicU64::new(0);
static RETRIES: AtomicU64 = AtomicU64::new(0);
static BYTES_READ: AtomicU64 = AtomicU64::new(0);
static BYTES_WRITTEN: AtomicU64 = AtomicU64::new(0);

/// This process's object-storage counters so far.
pub fn counters() -> IoCounters {
    IoCounters {
        requests: REQUESTS.load(Relaxed),
        retries: RETRIES.load(Relaxed),
        bytes_read: BYTES_READ.load(Relaxed),
        bytes_written: BYTES_WRITTEN.load(Relaxed),
    }
}

/// Objects up to this size go up in one request; larger ones as a multipart upload.
const SINGLE_PUT_MAX: u64 = 32 << 20;
/// Part size of a multipart upload.
const PART_SIZE: usize = 16 << 20;
/// Tries of a read whose response body broke off.
const BODY_TRIES: u32 = 4;

/// This process's runtime. A process forked from one that had a runtime (a PyTorch
/// DataLoader worker) builds its own: the parent's worker threads do not exist in the child,
/// and the parent's runtime is left alone (leaked), never shut down from the child.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: Mutex<Option<(u32, &'static tokio::runtime::Runtime)>> = Mutex::new(None);
    let mut rt = RT.lock().unwrap_or_else(|e| e.into_inner());
    let pid = std::process::id();
    match *rt {
        Some((p, r)) if p == pid => r,
        _ => {
            let r = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("sluice-store")
                .enable_all()
                .build()
                .expect("the object-storage runtime starts");
            let r: &'static tokio::runtime::Runtime = Box::leak(Box::new(r));
            *rt = Some((pid, r));
            r
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    runtime().block_on(f)
}

/// Counts every HTTP attempt and every failed one (error, 5xx or 429: `object_store` retries
/// those).
#[derive(Debug)]
struct Counted(HttpClient);

#[async_trait::async_trait]
impl HttpService for Counted {
    async fn call(&self, req: HttpRequest) -> Result<HttpResponse, HttpError> {
        REQUESTS.fetch_add(1, Relaxed);
        let r = self.0.execute(req).await;
        let failed = match &r {
            Err(_) => true,
            Ok(resp) => resp.status().is_server_error() || resp.status().as_u16() == 429,
        };
        if failed {
            RETRIES.fetch_add(1, Relaxed);
        }
        r
    }
}

#[derive(Debug, Default)]
struct CountingConnector;

impl HttpConnector for CountingConnector {
    fn connect(&self, options: &ClientOptions) -> object_store::Result<HttpClient> {
        let inner = ReqwestConnector::default().connect(options)?;
        Ok(HttpClient::new(Counted(inner)))
    }
}

fn env_secs(name: &str, default: u64) -> Duration {
    Duration::from_secs(
        std::env::var(name)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default),
    )
}

/// Plain HTTP endpoints are allowed only with `AWS_ALLOW_HTTP=true` (loopback test servers).
fn allow_http() -> bool {
    std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Credentials of `AWS_PROFILE` (or `default`) from the shared files, when the environment
/// has none: (access key, secret, session token, region).
fn profile() -> [Option<String>; 4] {
    let home = std::env::var("HOME").unwrap_or_default();
    let name = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    let creds = std::env::var("AWS_SHARED_CREDENTIALS_FILE")
        .unwrap_or_else(|_| format!("{home}/.aws/credentials"));
    let config = std::env::var("AWS_CONFIG_FILE").unwrap_or_else(|_| format!("{home}/.aws/config"));
    let c = ini_section(&creds, &name);
    let cfg_section = match name.as_str() {
        "default" => "default".to_string(),
        n => format!("profile {n}"),
    };
    let g = ini_section(&config, &cfg_section);
    let get = |m: &HashMap<String, String>, k: &str| m.get(k).cloned();
    [
        get(&c, "aws_access_key_id"),
        get(&c, "aws_secret_access_key"),
        get(&c, "aws_session_token"),
        get(&g, "region"),
    ]
}

/// The `key = value` pairs of `[section]` of an INI file (empty when either is missing).
fn ini_section(path: &str, section: &str) -> HashMap<String, String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return HashMap::new();
    };
    let mut inside = false;
    let mut out = HashMap::new();
    for line in text.lines().map(str::trim) {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            inside = name.trim() == section;
        } else if let (true, Some((k, v))) = (inside, line.split_once('=')) {
            out.insert(k.trim().to_string(), v.trim().to_string());
        }
    }
    out
}

/// Every credential value this process could send: what [`redact`] hides.
pub(crate) fn secrets() -> Vec<String> {
    let mut s: Vec<String> = [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ACCESS_KEY_ID",
    ]
    .iter()
    .filter_map(|k| std::env::var(k).ok())
    .collect();
    let [key, secret, token, _] = profile();
    s.extend([key, secret, token].into_iter().flatten());
    s
}

fn build(bucket: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    let mut b = AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_http_connector(CountingConnector)
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(15),
                base: 2.0,
            },
            max_retries: 12,
            retry_timeout: env_secs("SLUICE_S3_RETRY_TIMEOUT", 180),
        })
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(allow_http())
                .with_timeout(env_secs("SLUICE_S3_REQUEST_TIMEOUT", 60))
                .with_connect_timeout(Duration::from_secs(10)),
        );
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        let [key, secret, token, region] = profile();
        if let (Some(k), Some(s)) = (key, secret) {
            b = b.with_access_key_id(k).with_secret_access_key(s);
            if let Some(t) = token {
                b = b.with_token(t);
            }
        }
        if let (Some(r), None) = (region, std::env::var_os("AWS_REGION")) {
            b = b.with_region(r);
        }
    }
    let store = b.build().map_err(|e| StoreError::Config {
        url: format!("s3://{bucket}"),
        message: redact(&e.to_string()),
    })?;
    Ok(Arc::new(store))
}

/// The client of `bucket`, built once per process (a forked child builds its own: the
/// parent's connections belong to the parent's runtime; they are kept, never used or closed).
fn client(bucket: &str) -> Result<Arc<dyn ObjectStore>, StoreError> {
    type Clients = HashMap<(u32, String), Arc<dyn ObjectStore>>;
    static CLIENTS: OnceLock<Mutex<Clients>> = OnceLock::new();
    let mut map = CLIENTS
        .get_or_init(Default::default)
        .lock()
        .expect("not poisoned");
    let key = (std::process::id(), bucket.to_string());
    if let Some(c) = map.get(&key) {
        return Ok(c.clone());
    }
    let c = build(bucket)?;
    map.insert(key, c.clone());
    Ok(c)
}

fn map_err(url: &ObjectUrl, op: &'static str, e: object_store::Error) -> StoreError {
    match e {
        object_store::Error::NotFound { .. } => StoreError::NotFound {
            url: url.to_string(),
        },
        e => StoreError::remote(url, op, e),
    }
}

/// A read failure worth another try here (the request's own retries are `object_store`'s).
fn transient(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::Generic { .. })
}

/// A multipart upload of the file at `path` to `loc`.
async fn multipart(
    c: Arc<dyn ObjectStore>,
    loc: ObjPath,
    path: std::path::PathBuf,
) -> object_store::Result<()> {
    let local = |e: std::io::Error| object_store::Error::Generic {
        store: "local file",
        source: Box::new(e),
    };
    let upload = c.put_multipart(&loc).await?;
    let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
    let mut f = std::fs::File::open(&path).map_err(local)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut f, &mut buf).map_err(local)?;
        if n == 0 {
            break;
        }
        w.wait_for_capacity(4).await?;
        w.write(&buf[..n]);
    }
    w.finish().await?;
    Ok(())
}

impl ObjectUrl {
    fn client(&self) -> Result<Arc<dyn ObjectStore>, StoreError> {
        client(&self.bucket)
    }

    fn path(&self) -> ObjPath {
        ObjPath::from(self.key.as_str())
    }

    /// Runs a request (each try has `object_store`'s own retries), again when it failed in a
    /// way those do not cover (a body that broke off, a reset on a request not known to be
    /// idempotent).
    fn retrying<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        F: Fn(Arc<dyn ObjectStore>, ObjPath) -> Fut,
        Fut: std::future::Future<Output = object_store::Result<T>>,
    {
        let c = self.client()?;
        let mut tries = 0;
        loop {
            tries += 1;
            match block_on(f(c.clone(), self.path())) {
                Ok(v) => return Ok(v),
                Err(e) if tries < BODY_TRIES && transient(&e) => {
                    RETRIES.fetch_add(1, Relaxed);
                    std::thread::sleep(Duration::from_millis(200 << tries));
                }
                Err(e) => return Err(map_err(self, op, e)),
            }
        }
    }

    /// Size, tag and time of the object, or `None` if there is none.
    pub fn head(&self) -> Result<Option<ObjectInfo>, StoreError> {
        match self.retrying("head", |c, p| async move { c.head(&p).await }) {
            Ok(m) => Ok(Some(self.info(m))),
            Err(StoreError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn info(&self, m: object_store::ObjectMeta) -> ObjectInfo {
        ObjectInfo {
            url: ObjectUrl {
                bucket: self.bucket.clone(),
                key: m.location.to_string(),
            },
            size: m.size,
            etag: m.e_tag,
            modified: m.last_modified.timestamp(),
        }
    }

    /// The whole object.
    pub fn get(&self) -> Result<Bytes, StoreError> {
        let b = self.retrying("get", |c, p| async move { c.get(&p).await?.bytes().await })?;
        BYTES_READ.fetch_add(b.len() as u64, Relaxed);
        Ok(b)
    }

    /// Bytes `range` of the object.
    pub fn get_range(&self, range: Range<u64>) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        let b = self.retrying("get", |c, p| {
            let r = range.clone();
            async move { c.get_range(&p, r).await }
        })?;
        BYTES_READ.fetch_add(b.len() as u64, Relaxed);
        Ok(b)
    }

    /// Every object under this key as a prefix (`key/…`, or the whole bucket for an empty
    /// key), sorted by key; the listing's pages are followed to the end.
    pub fn list(&self) -> Result<Vec<ObjectInfo>, StoreError> {
        let prefix = (!self.key.is_empty()).then(|| self.path());
        let metas: Vec<object_store::ObjectMeta> = self.retrying("list", |c, _| {
            let prefix = prefix.clone();
            async move { c.list(prefix.as_ref()).try_collect().await }
        })?;
        let mut out: Vec<ObjectInfo> = metas.into_iter().map(|m| self.info(m)).collect();
        out.sort_by(|a, b| a.url.key.cmp(&b.url.key));
        Ok(out)
    }

    /// Writes the object whole (it appears only once complete).
    pub fn put(&self, bytes: Bytes) -> Result<(), StoreError> {
        let n = bytes.len() as u64;
        self.retrying("put", |c, p| {
            let b = bytes.clone();
            async move { c.put(&p, b.into()).await }
        })?;
        BYTES_WRITTEN.fetch_add(n, Relaxed);
        Ok(())
    }

    /// Uploads a local file: one request up to 32 MiB, a multipart upload above (in 16 MiB
    /// parts, memory bounded; aborted on failure, so no partial object appears).
    pub fn put_file(&self, path: &Path) -> Result<(), StoreError> {
        let len = std::fs::metadata(path)
            .map_err(|e| StoreError::local(path, e))?
            .len();
        if len <= SINGLE_PUT_MAX {
            let bytes = std::fs::read(path).map_err(|e| StoreError::local(path, e))?;
            return self.put(bytes.into());
        }
        self.retrying("multipart put", |c, p| multipart(c, p, path.to_path_buf()))?;
        BYTES_WRITTEN.fetch_add(len, Relaxed);
        Ok(())
    }

    /// Writes the object only if there is none (`If-None-Match: *`): `false` if one exists.
    /// A retried request can find the object its own first try created: callers that must
    /// know write something they can recognise (the lock writes its pid).
    pub fn create(&self, bytes: Bytes) -> Result<bool, StoreError> {
        self.put_with(bytes, PutMode::Create)
    }

    /// Replaces the object only if its tag is still `etag` (`If-Match`): `false` if it changed.
    pub fn replace(&self, bytes: Bytes, etag: &str) -> Result<bool, StoreError> {
        let v = UpdateVersion {
            e_tag: Some(etag.to_string()),
            version: None,
        };
        self.put_with(bytes, PutMode::Update(v))
    }

    fn put_with(&self, bytes: Bytes, mode: PutMode) -> Result<bool, StoreError> {
        let n = bytes.len() as u64;
        let done = self.retrying("conditional put", |c, p| {
            let (b, mode) = (bytes.clone(), mode.clone());
            async move {
                let opts = PutOptions {
                    mode,
                    ..Default::default()
                };
                match c.put_opts(&p, b.into(), opts).await {
                    Ok(_) => Ok(true),
                    Err(
                        object_store::Error::AlreadyExists { .. }
                        | object_store::Error::Precondition { .. },
                    ) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        })?;
        if done {
            BYTES_WRITTEN.fetch_add(n, Relaxed);
        }
        Ok(done)
    }

    /// Removes the object (no error if it is not there).
    pub fn delete(&self) -> Result<(), StoreError> {
        self.retrying("delete", |c, p| async move {
            match c.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
    }
}

impl ObjectInfo {
    /// Downloads the object to `path` (its listed size; through `path.tmp`, renamed when whole), streamed in
    /// range requests of [`BLOCK`](crate::BLOCK) bytes, so memory stays flat in its size.
    pub fn download(&self, path: &Path) -> Result<(), StoreError> {
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(|e| StoreError::local(d, e))?;
        }
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let mut f = std::fs::File::create(&tmp).map_err(|e| StoreError::local(&tmp, e))?;
        let mut r = crate::ObjectReader::new(self.url.clone(), self.size);
        std::io::copy(&mut r, &mut f).map_err(|e| match e.downcast::<StoreError>() {
            Ok(se) => se,
            Err(e) => StoreError::local(&tmp, e),
        })?;
        drop(f);
        std::fs::rename(&tmp, path).map_err(|e| StoreError::local(path, e))
    }
}
