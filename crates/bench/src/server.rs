//! Starts the SFU under test for one run: `huiyi serve --dev` on free loopback ports with a
//! temporary data folder, killed and cleaned up when the run ends. [`Process`] does the
//! starting, waiting and cleaning for Janus too.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A server process of one run, in its own temporary folder, listening on `url`.
pub struct Process {
    child: Child,
    dir: PathBuf,
    pub url: String,
    pub pid: u32,
}

impl Process {
    /// Starts `command` with its output in `dir/log` and waits (30 s at most) until it listens
    /// on `port`. Dropping the process kills it and removes `dir`, unless HUIYI_BENCH_KEEP is set.
    pub async fn spawn(command: Command, dir: PathBuf, log: &str, port: u16) -> Result<Self> {
        let name = command.get_program().to_string_lossy().into_owned();
        let log_path = dir.join(log);
        let mut process = Self::start(command, dir, log, format!("ws://127.0.0.1:{port}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Some(status) = process.child.try_wait()? {
                bail!("{name} exited with {status}; its log is {}", log_path.display());
            }
            if Instant::now() > deadline {
                bail!("{name} did not listen on {port} within 30 s; its log is {}", log_path.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(process)
    }

    /// Starts `command` with its output in `dir/log`, without waiting for it: for a process
    /// whose clients retry until it answers.
    pub fn start(mut command: Command, dir: PathBuf, log: &str, url: String) -> Result<Self> {
        let name = command.get_program().to_string_lossy().into_owned();
        let log = std::fs::File::create(dir.join(log))?;
        let child = command.stdout(log.try_clone()?).stderr(log).stdin(Stdio::null()).spawn().with_context(|| format!("starting {name}"))?;
        let pid = child.id();
        Ok(Self { child, dir, url, pid })
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("HUIYI_BENCH_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        } else {
            eprintln!("server folder kept: {}", self.dir.display());
        }
    }
}

/// Free ports, found by binding port 0 and letting go: a small race, on loopback only.
pub fn free_tcp() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn free_udp() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The bare relay (`huiyi-bench relay`, this same binary) on a free UDP port; its url is
/// `udp://127.0.0.1:port`.
pub fn start_relay(seed: u64) -> Result<Process> {
    let dir = std::env::temp_dir().join(format!("huiyi-bench-relay-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let port = free_udp()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.args(["relay", "--port", &port.to_string(), "--seed", &seed.to_string()]);
    Process::start(command, dir, "relay.log", format!("udp://127.0.0.1:{port}"))
}

/// `huiyi serve --dev` from `bin`.
pub async fn start_huiyi(bin: &Path) -> Result<Process> {
    let dir = std::env::temp_dir().join(format!("huiyi-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (port, tcp, udp) = (free_tcp()?, free_tcp()?, free_udp()?);
    let mut command = Command::new(bin);
    command
        .args(["serve", "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1"])
        .args(["--port", &port.to_string(), "--rtc-tcp-port", &tcp.to_string(), "--rtc-udp-port", &udp.to_string()])
        .arg("--data-dir")
        .arg(&dir)
        .env("RUST_LOG", std::env::var("HUIYI_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()));
    Process::spawn(command, dir, "server.log", port).await
}
