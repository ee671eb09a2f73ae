//! A throwaway PostgreSQL cluster for the tests that run on PostgreSQL:
//! `initdb` and `pg_ctl` in a temporary directory, on a free port, started
//! by the first test that asks for a database and stopped by a watchdog
//! when the test process ends. Each server gets a database of its own. It
//! depends on no system service: only on PostgreSQL's programs, which
//! `scripts/setup --test` installs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

/// Whether the tests run on PostgreSQL (`HERALD_TEST_DATABASE=postgres`)
/// instead of SQLite.
pub fn selected() -> bool {
    std::env::var("HERALD_TEST_DATABASE").is_ok_and(|value| value == "postgres")
}

struct Cluster {
    bin: PathBuf,
    port: u16,
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT_DATABASE: AtomicU32 = AtomicU32::new(1);

/// The URL of a new, empty database on the cluster (started on first use).
pub fn fresh_database() -> String {
    let cluster = CLUSTER.get_or_init(Cluster::start);
    let name = format!(
        "herald_{}_{}",
        std::process::id(),
        NEXT_DATABASE.fetch_add(1, Ordering::Relaxed)
    );
    cluster.psql("postgres", &format!("CREATE DATABASE {name}"));
    format!("postgres://postgres@127.0.0.1:{}/{name}", cluster.port)
}

/// Runs `sql` on the database at `url` (made by [`fresh_database`]) and
/// returns what psql prints, unaligned and without headers.
pub fn psql(url: &str, sql: &str) -> String {
    let cluster = CLUSTER.get().expect("the cluster runs");
    let database = url.rsplit('/').next().expect("a database name");
    cluster.psql(database, sql)
}

/// Where PostgreSQL's programs are: Debian keeps them under
/// /usr/lib/postgresql/<version>/bin, off the PATH; the newest wins.
fn find_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|path| PathBuf::from(path.trim()));
    match on_path.as_deref().and_then(Path::parent) {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => panic!("PostgreSQL's initdb was not found; run scripts/setup --test"),
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// PostgreSQL's programs refuse to run as root: as root they run as the
/// `postgres` user that Debian's package creates.
fn as_cluster_owner(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

fn run(mut command: Command, what: &str) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    fn start() -> Self {
        let bin = find_bin();
        let dir = tempfile::Builder::new()
            .prefix("herald-pg-")
            .tempdir()
            .expect("temp dir")
            .keep();
        if is_root() {
            let mut chown = Command::new("chown");
            chown.arg("postgres:").arg(&dir);
            run(chown, "chown");
        }
        let data = dir.join("data");
        let mut initdb = as_cluster_owner(&bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]);
        run(initdb, "initdb");
        let port = free_port();
        // Durability of the test cluster itself is not under test (Herald's
        // is): no fsync keeps the suite fast.
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_connections=400 \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c deadlock_timeout=100ms",
            dir.display()
        );
        let mut pg_ctl = as_cluster_owner(&bin.join("pg_ctl"));
        pg_ctl
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(dir.join("log"))
            .args(["-w", "start"]);
        run(pg_ctl, "pg_ctl start");
        // The cluster outlives no test run: a watchdog stops it and deletes
        // its directory once this process is gone, however it ends.
        let stop = as_cluster_owner(&bin.join("pg_ctl"));
        let stop = format!(
            "{} -D '{}' -m immediate stop",
            command_line(&stop),
            data.display()
        );
        let watchdog = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf '{dir}'",
            pid = std::process::id(),
            dir = dir.display()
        );
        let mut watchdog = Command::new("setsid")
            .args(["sh", "-c", &watchdog])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the cluster's watchdog");
        // It outlives this process by design; reaped here if it ends first.
        std::thread::spawn(move || watchdog.wait());
        Self { bin, port }
    }

    fn psql(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-U", "postgres", "-X", "-q", "-A", "-t"])
            .args([
                "-v",
                "ON_ERROR_STOP=1",
                "-p",
                &self.port.to_string(),
                "-d",
                database,
            ])
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("run psql");
        assert!(
            out.status.success(),
            "psql {sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

/// A command as a shell line (program and arguments, quoted).
fn command_line(command: &Command) -> String {
    std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|part| format!("'{}'", part.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}
