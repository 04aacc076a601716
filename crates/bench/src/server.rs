//! Starts the SFU under test for one run: `huiyi serve --dev` on free loopback ports with a
//! temporary data folder, killed and cleaned up when the run ends.

use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub struct Huiyi {
    child: Child,
    dir: PathBuf,
    pub url: String,
    pub pid: u32,
}

/// Free ports, found by binding port 0 and letting go: a small race, on loopback only.
fn free_tcp() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn free_udp() -> Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Huiyi {
    pub async fn start(bin: &Path) -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("huiyi-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let (port, tcp, udp) = (free_tcp()?, free_tcp()?, free_udp()?);
        let log = std::fs::File::create(dir.join("server.log"))?;
        let child = Command::new(bin)
            .args(["serve", "--dev", "--bind", "127.0.0.1", "--node-ip", "127.0.0.1"])
            .args(["--port", &port.to_string(), "--rtc-tcp-port", &tcp.to_string(), "--rtc-udp-port", &udp.to_string()])
            .arg("--data-dir")
            .arg(&dir)
            .env("RUST_LOG", std::env::var("HUIYI_BENCH_SERVER_LOG").unwrap_or_else(|_| "warn".into()))
            .stdout(log.try_clone()?)
            .stderr(log)
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        let pid = child.id();
        let mut server = Self { child, dir, url: format!("ws://127.0.0.1:{port}"), pid };
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Some(status) = server.child.try_wait()? {
                bail!("{} exited with {status}; its log is {}", bin.display(), server.dir.join("server.log").display());
            }
            if Instant::now() > deadline {
                bail!("{} did not listen on {port} within 30 s", bin.display());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(server)
    }
}

impl Drop for Huiyi {
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
