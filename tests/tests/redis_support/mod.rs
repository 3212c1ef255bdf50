//! A real `redis-server` for the tests: started on a free port on
//! 127.0.0.1 with persistence off, stopped when dropped.
//!
//! Without `redis-server` on PATH the tests that need it are compiled as
//! ignored, with the install command as the reason (`tests/build.rs`;
//! mark them `#[cfg_attr(not(redis_tests), ignore = "...")]`), unless
//! `CI=true`: then they run and fail. `YMC_REDIS_URL` points them at a
//! server of your own instead (the tests that stop and restart Redis are
//! skipped then).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const INSTALL: &str =
    "apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server";

pub struct RedisServer {
    port: u16,
    url: String,
    child: Option<Child>,
    dir: PathBuf,
    external: bool,
    /// Append-only file, synced at every write: data survives `kill -9`.
    persistent: bool,
}

impl RedisServer {
    /// A running server (always `Some`; the `Option` keeps the callers'
    /// `let Some(..) else` form). Panics when there is none: such a test is
    /// ignored unless `CI=true` or redis-server is there.
    pub fn start() -> Option<Self> {
        if let Ok(url) = std::env::var("YMC_REDIS_URL") {
            return Some(Self {
                port: 0,
                url,
                child: None,
                dir: PathBuf::new(),
                external: true,
                persistent: false,
            });
        }
        let found = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        // The tests that get here are not ignored (see `build.rs`): a
        // missing redis-server is a failure, named with its fix.
        assert!(
            found,
            "this test needs redis-server on PATH (Debian: {INSTALL}), or YMC_REDIS_URL \
             pointing at a Redis you own; without CI=true it is ignored when missing"
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("ymc-redis-{}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a working folder for redis-server");
        let mut server = Self {
            port,
            url: format!("redis://127.0.0.1:{port}/0"),
            child: None,
            dir,
            external: false,
            persistent: false,
        };
        server.spawn();
        Some(server)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether this test may stop and restart the server.
    pub fn is_own(&self) -> bool {
        !self.external
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", ""])
            .args(if self.persistent {
                ["--appendonly", "yes", "--appendfsync", "always"]
            } else {
                ["--appendonly", "no", "--appendfsync", "everysec"]
            })
            .args(["--protected-mode", "no", "--loglevel", "warning"])
            .current_dir(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server on port {} did not answer PING", self.port);
    }

    fn ping(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let mut reply = [0u8; 7];
        stream.write_all(b"PING\r\n").is_ok()
            && stream.read_exact(&mut reply).is_ok()
            && &reply == b"+PONG\r\n"
    }

    /// Kills the server (`kill -9`): its data is gone, as after a crash.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Turns persistence on or off (an append-only file synced at every
    /// write); takes effect at the next (re)start.
    pub fn set_persistent(&mut self, on: bool) {
        self.persistent = on;
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    /// Runs one command with the redis crate's sync client.
    pub fn query<T: redis::FromRedisValue>(&self, command: &mut redis::Cmd) -> T {
        let client = redis::Client::open(self.url.as_str()).expect("a valid URL");
        let mut connection = client.get_connection().expect("a connection to Redis");
        command.query(&mut connection).expect("the command runs")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        if !self.external {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}
