//! Test support (used by this workspace's tests, not by sluice itself): a real S3-compatible
//! server on loopback (`moto_server` from PyPI's `moto[server]`, which `scripts/setup.sh`
//! installs), a bucket on it, and a fault-injecting proxy that answers a share of requests
//! with `503 SlowDown`, resets a share of connections and forwards the rest.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Test credentials: what the server accepts and what the tests check never leaks.
pub const ACCESS_KEY: &str = "AKIASLUICETESTKEY01";
pub const SECRET_KEY: &str = "sluice-test-secret-Zq8n3Vw0pLk2";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn wait_for(port: u16, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A `moto_server` child process, killed on drop.
pub struct S3Server {
    child: Child,
    pub port: u16,
}

impl S3Server {
    /// Starts moto on a free loopback port.
    pub fn start() -> S3Server {
        let port = free_port();
        let bin = std::env::var("SLUICE_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let child = Command::new(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {bin} ({e}): run scripts/setup.sh, which installs moto[server] from PyPI")
            });
        wait_for(port, "moto_server");
        // A server in a static (`shared_server`) is never dropped: a watchdog stops it once
        // this process is gone, so test runs leave no servers behind.
        let watchdog = format!(
            "while kill -0 {me} && kill -0 {moto}; do sleep 1; done 2>/dev/null; kill {moto} 2>/dev/null",
            me = std::process::id(),
            moto = child.id()
        );
        let _ = Command::new("sh")
            .args(["-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        S3Server { child, port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The environment a sluice process needs to reach this server through `endpoint`.
    pub fn env_for(endpoint: &str) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", endpoint.to_string()),
            ("AWS_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    pub fn env(&self) -> Vec<(&'static str, String)> {
        S3Server::env_for(&self.endpoint())
    }

    /// Creates `bucket` (with boto3, which moto brings).
    pub fn create_bucket(&self, bucket: &str) {
        let script = format!(
            "import boto3; boto3.client('s3', endpoint_url='{}', aws_access_key_id='{ACCESS_KEY}', \
             aws_secret_access_key='{SECRET_KEY}', region_name='us-east-1').create_bucket(Bucket='{bucket}')",
            self.endpoint()
        );
        let python = std::env::var("SLUICE_MOTO_PYTHON").unwrap_or_else(|_| "python3".into());
        let st = Command::new(python)
            .args(["-c", &script])
            .status()
            .expect("python3 runs");
        assert!(st.success(), "cannot create bucket {bucket}");
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One server for this test process, its variables set in the process environment (set
/// once, before any client is built, so every test of the process sees the same).
pub fn shared_server() -> &'static S3Server {
    static SERVER: std::sync::OnceLock<S3Server> = std::sync::OnceLock::new();
    SERVER.get_or_init(|| {
        let s = S3Server::start();
        for (k, v) in s.env() {
            // SAFETY: set once, under the OnceLock, before any thread reads them.
            unsafe { std::env::set_var(k, v) };
        }
        s
    })
}

/// A loopback proxy in front of `upstream` that answers `slowdown_pct`% of requests with
/// `503 SlowDown` and resets `reset_pct`% of connections before answering (the choice is a
/// fixed pseudo-random sequence); the rest are forwarded. Stops when dropped.
pub struct FaultProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    /// Requests answered with a fault so far.
    pub faults: Arc<AtomicU64>,
}

impl FaultProxy {
    pub fn start(upstream: u16, slowdown_pct: u64, reset_pct: u64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let faults = Arc::new(AtomicU64::new(0));
        let (s, f) = (stop.clone(), faults.clone());
        std::thread::spawn(move || {
            let mut n: u64 = 0x9E37_79B9_7F4A_7C15;
            while !s.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let f = f.clone();
                        n ^= n << 13;
                        n ^= n >> 7;
                        n ^= n << 17;
                        let seed = n;
                        std::thread::spawn(move || {
                            serve(conn, upstream, seed, slowdown_pct, reset_pct, f)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy { port, stop, faults }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Reads one HTTP request (head and `Content-Length` body) from `r`.
fn read_request(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut head = Vec::new();
    let mut len = 0usize;
    loop {
        let mut line = Vec::new();
        if r.read_until(b'\n', &mut line).ok()? == 0 {
            return None;
        }
        let text = String::from_utf8_lossy(&line).to_ascii_lowercase();
        if let Some(v) = text.strip_prefix("content-length:") {
            len = v.trim().parse().ok()?;
        }
        if text.starts_with("connection:") {
            continue;
        }
        if line == b"\r\n" {
            head.extend_from_slice(b"Connection: close\r\n\r\n");
            break;
        }
        head.extend_from_slice(&line);
    }
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).ok()?;
    head.extend_from_slice(&body);
    Some(head)
}

/// Serves the requests of one client connection, one upstream connection each.
fn serve(
    conn: TcpStream,
    upstream: u16,
    mut seed: u64,
    slow: u64,
    reset: u64,
    faults: Arc<AtomicU64>,
) {
    let mut r = BufReader::new(conn.try_clone().expect("clone"));
    let mut w = conn;
    while let Some(req) = read_request(&mut r) {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let roll = (seed >> 33) % 100;
        if roll < reset {
            faults.fetch_add(1, Ordering::Relaxed);
            let _ = w.shutdown(Shutdown::Both);
            return;
        }
        if roll < reset + slow {
            faults.fetch_add(1, Ordering::Relaxed);
            let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>";
            let resp = format!(
                "HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if w.write_all(resp.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        if up.write_all(&req).is_err() {
            return;
        }
        // The upstream closes after its answer (Connection: close); so does this connection.
        let _ = std::io::copy(&mut up, &mut w);
        let _ = w.shutdown(Shutdown::Both);
        return;
    }
}
