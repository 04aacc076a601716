//! Configuration: defaults, then a TOML file, then environment variables, then flags.
//! Every setting is documented in `huiyi serve --help` and docs/configuration.md.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};
use huiyi_api::metrics::MetricsToken;
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(name = "huiyi", version, about = "Huiyi (会议): a self-hostable meeting server")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: HTTP and signalling, ICE-TCP and UDP media, and the web app.
    Serve(ServeArgs),
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Development mode: API key `devkey` with secret `secret`, an open token endpoint for
    /// the web app's join form, and a join URL printed at start.
    #[arg(long, env = "HUIYI_DEV")]
    pub dev: bool,
    /// A TOML configuration file (see docs/configuration.md).
    #[arg(long, short = 'c', env = "HUIYI_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to bind HTTP, ICE-TCP and UDP media on. [default: 127.0.0.1]
    #[arg(long, env = "HUIYI_BIND")]
    pub bind: Option<IpAddr>,
    /// HTTP and WebSocket port (web app, /rtc, /twirp). 0 picks a free port. [default: 7880]
    #[arg(long, env = "HUIYI_PORT")]
    pub port: Option<u16>,
    /// ICE over TCP port. [default: 7881]
    #[arg(long, env = "HUIYI_RTC_TCP_PORT")]
    pub rtc_tcp_port: Option<u16>,
    /// UDP port that carries all WebRTC media, multiplexed. [default: 7882]
    #[arg(long, env = "HUIYI_RTC_UDP_PORT")]
    pub rtc_udp_port: Option<u16>,
    /// The IP address clients reach this node on, advertised in ICE candidates. Set it to
    /// the public IP behind NAT. [default: the bind address, or 127.0.0.1 if unspecified]
    #[arg(long, env = "HUIYI_NODE_IP")]
    pub node_ip: Option<IpAddr>,
    /// Folder for the server's data. [default: ./data]
    #[arg(long, env = "HUIYI_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The built web app to serve at `/`. [default: web/dist]
    #[arg(long, env = "HUIYI_WEB_DIR")]
    pub web_dir: Option<PathBuf>,
    /// Database URL: `postgres://user@host/db` for PostgreSQL. [default: SQLite in the data folder]
    #[arg(long, env = "HUIYI_DATABASE")]
    pub database: Option<String>,
    /// The URL users reach the web app at, used in join links. [default: http://<bind>:<port>]
    #[arg(long, env = "HUIYI_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Seconds between refreshed access tokens sent to each connected client. [default: 300]
    #[arg(long, env = "HUIYI_TOKEN_REFRESH_SECS")]
    pub token_refresh_secs: Option<u64>,
    /// API keys, as `key: secret` pairs separated by commas (LiveKit's LIVEKIT_KEYS format).
    #[arg(long, env = "HUIYI_KEYS")]
    pub keys: Option<String>,
    /// Milliseconds before the first webhook retry; each later retry waits twice as long. [default: 10000]
    #[arg(long, env = "HUIYI_WEBHOOK_RETRY_MS")]
    pub webhook_retry_ms: Option<u64>,
    /// Attempts per webhook delivery before it is given up. [default: 12]
    #[arg(long, env = "HUIYI_WEBHOOK_MAX_ATTEMPTS")]
    pub webhook_max_attempts: Option<u32>,
    /// Whether anyone may sign up on the portal, creating an enterprise. With `false`, accounts
    /// come only from enterprise admins (POST /v1/users). [default: true]
    #[arg(long, env = "HUIYI_SIGNUP")]
    pub signup: Option<bool>,
    /// Seconds between a client's pings, as told to clients in the JoinResponse. [default: 5]
    #[arg(long, env = "HUIYI_PING_INTERVAL_SECS")]
    pub ping_interval_secs: Option<u64>,
    /// Seconds without any message after which a client's signalling socket is closed (its
    /// session is then held for a resume, then ends). [default: 15]
    #[arg(long, env = "HUIYI_PING_TIMEOUT_SECS")]
    pub ping_timeout_secs: Option<u64>,
    /// Reverse proxies whose `X-Forwarded-For` header names the client, as IP addresses
    /// separated by commas. Rate limits then count the forwarded address. [default: none]
    #[arg(long, env = "HUIYI_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Option<Vec<IpAddr>>,
    /// The bearer token a Prometheus scraper presents to read `/metrics`, at least 16
    /// characters. Without it `/metrics` answers 404, unless in dev mode, where it is open.
    /// [default: none]
    #[arg(long, env = "HUIYI_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// The recording worker binary (`huiyi-egress`, built with GStreamer). Without it,
    /// recording and streaming requests are refused. [default: `huiyi-egress` beside `huiyi`]
    #[arg(long, env = "HUIYI_EGRESS_WORKER")]
    pub egress_worker: Option<PathBuf>,
    /// Recording and streaming jobs at once; more are refused. [default: 4]
    #[arg(long, env = "HUIYI_EGRESS_MAX_JOBS")]
    pub egress_max_jobs: Option<usize>,
    /// Seconds a recording or stream may run before it is stopped. [default: 14400]
    #[arg(long, env = "HUIYI_EGRESS_MAX_DURATION_SECS")]
    pub egress_max_duration_secs: Option<u64>,
    /// A URL that gets LiveKit-style webhooks (`egress_started`, `egress_updated`,
    /// `egress_ended`, `ingress_started`, `ingress_ended`), signed with the first API key, as
    /// LiveKit's `webhook.urls`. Repeat it, or separate URLs with commas. [default: none]
    #[arg(long = "livekit-webhook-url", env = "HUIYI_LIVEKIT_WEBHOOK_URLS", value_delimiter = ',')]
    pub livekit_webhook_urls: Option<Vec<String>>,
    /// An S3-compatible bucket for recordings: each finished file is uploaded there and removed
    /// from the data folder, and download links redirect to presigned URLs. [default: none:
    /// recordings stay in the data folder]
    #[arg(long, env = "HUIYI_RECORDINGS_S3_BUCKET")]
    pub recordings_s3_bucket: Option<String>,
    /// The bucket's service URL (MinIO, Ceph, COS, OSS: `https://…`); empty for AWS. [default: AWS]
    #[arg(long, env = "HUIYI_RECORDINGS_S3_ENDPOINT")]
    pub recordings_s3_endpoint: Option<String>,
    /// [default: us-east-1]
    #[arg(long, env = "HUIYI_RECORDINGS_S3_REGION")]
    pub recordings_s3_region: Option<String>,
    #[arg(long, env = "HUIYI_RECORDINGS_S3_ACCESS_KEY")]
    pub recordings_s3_access_key: Option<String>,
    #[arg(long, env = "HUIYI_RECORDINGS_S3_SECRET_KEY", hide_env_values = true)]
    pub recordings_s3_secret_key: Option<String>,
    /// Path-style bucket URLs (`endpoint/bucket/key`), which MinIO and most self-hosted stores
    /// need. [default: false]
    #[arg(long, env = "HUIYI_RECORDINGS_S3_FORCE_PATH_STYLE")]
    pub recordings_s3_force_path_style: Option<bool>,
    /// Days a finished recording is kept (fractions allowed); then its file or object and its
    /// listing are deleted, with `recording.deleted`. [default: kept forever]
    #[arg(long, env = "HUIYI_RECORDINGS_RETENTION_DAYS")]
    pub recordings_retention_days: Option<f64>,
}

/// The TOML file's shape. Every field is optional; see docs/configuration.md.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    pub bind: Option<IpAddr>,
    pub port: Option<u16>,
    pub rtc_tcp_port: Option<u16>,
    pub rtc_udp_port: Option<u16>,
    pub node_ip: Option<IpAddr>,
    pub data_dir: Option<PathBuf>,
    pub web_dir: Option<PathBuf>,
    pub token_refresh_secs: Option<u64>,
    pub database: Option<String>,
    pub public_url: Option<String>,
    pub keys: HashMap<String, String>,
    pub webhook_retry_ms: Option<u64>,
    pub webhook_max_attempts: Option<u32>,
    pub signup: Option<bool>,
    pub ping_interval_secs: Option<u64>,
    pub ping_timeout_secs: Option<u64>,
    pub trusted_proxies: Option<Vec<IpAddr>>,
    pub metrics_token: Option<String>,
    pub egress_worker: Option<PathBuf>,
    pub egress_max_jobs: Option<usize>,
    pub egress_max_duration_secs: Option<u64>,
    pub livekit_webhook_urls: Option<Vec<String>>,
    pub recordings_s3_bucket: Option<String>,
    pub recordings_s3_endpoint: Option<String>,
    pub recordings_s3_region: Option<String>,
    pub recordings_s3_access_key: Option<String>,
    pub recordings_s3_secret_key: Option<String>,
    pub recordings_s3_force_path_style: Option<bool>,
    pub recordings_retention_days: Option<f64>,
}

/// The resolved configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub dev: bool,
    pub bind: IpAddr,
    pub port: u16,
    pub rtc_tcp_port: u16,
    pub rtc_udp_port: u16,
    pub node_ip: IpAddr,
    pub data_dir: PathBuf,
    pub web_dir: Option<PathBuf>,
    pub token_refresh: std::time::Duration,
    /// `None`: SQLite in `data_dir`.
    pub database: Option<String>,
    /// `None`: derived from the bound HTTP address.
    pub public_url: Option<String>,
    pub keys: HashMap<String, String>,
    /// How webhook deliveries are retried.
    pub webhooks: huiyi_api::webhook::worker::WorkerConfig,
    /// Open sign-up on the portal.
    pub signup: bool,
    /// How often clients ping, and after how long without a message their socket is closed.
    pub ping_interval: std::time::Duration,
    pub ping_timeout: std::time::Duration,
    /// Reverse proxies trusted to name the client in `X-Forwarded-For`.
    pub trusted_proxies: Vec<IpAddr>,
    /// What a scraper presents to read `/metrics` outside dev mode; `None`: no scraping.
    pub metrics_token: Option<MetricsToken>,
    /// Recording and streaming: the worker, and the job limits. Files go to
    /// `data_dir/recordings`.
    pub egress_worker: Option<PathBuf>,
    pub egress_max_jobs: usize,
    pub egress_max_duration: std::time::Duration,
    /// Where LiveKit-style webhooks go (`huiyi_api::webhook::livekit`).
    pub livekit_webhook_urls: Vec<String>,
    /// The recordings bucket, if any (`huiyi_api::egress_s3`).
    pub recordings_s3: Option<huiyi_api::egress_s3::S3Target>,
    pub recordings_retention: Option<std::time::Duration>,
}

/// Why the server will not start.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid config file {0}: {1}")]
    Parse(PathBuf, toml::de::Error),
    #[error("invalid --keys: expected `key: secret` pairs separated by commas")]
    Keys,
    #[error("no API keys configured: set --keys, HUIYI_KEYS or `keys` in the config file (or use --dev)")]
    NoKeys,
    #[error("ping_timeout_secs must be greater than ping_interval_secs")]
    Ping,
    #[error("metrics_token must be at least {MIN_METRICS_TOKEN} characters")]
    WeakMetricsToken,
    #[error("refusing to start with an insecure secret for key {0:?}: secrets must be at least 32 characters and not a default (use --dev for local development)")]
    WeakSecret(String),
    #[error("livekit_webhook_urls: {0:?} is not an http:// or https:// URL")]
    WebhookUrl(String),
    #[error("recordings_s3: {0}")]
    RecordingsS3(String),
    #[error("recordings_retention_days must be a positive number of days")]
    Retention,
}

/// The shortest metrics token accepted: `/metrics` has no rate limit to slow guessing.
pub const MIN_METRICS_TOKEN: usize = 16;

pub const DEV_KEY: &str = "devkey";
pub const DEV_SECRET: &str = "secret";

fn parse_keys(s: &str) -> Result<HashMap<String, String>, ConfigError> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once(':').ok_or(ConfigError::Keys)?;
            let (k, v) = (k.trim(), v.trim());
            if k.is_empty() || v.is_empty() {
                return Err(ConfigError::Keys);
            }
            Ok((k.to_owned(), v.to_owned()))
        })
        .collect()
}

impl Config {
    pub fn resolve(args: &ServeArgs) -> Result<Self, ConfigError> {
        let file = match &args.config {
            Some(path) => load_file(path)?,
            None => FileConfig::default(),
        };
        let bind = args.bind.or(file.bind).unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST));
        let node_ip = args.node_ip.or(file.node_ip).unwrap_or(if bind.is_unspecified() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { bind });
        let mut keys = match &args.keys {
            Some(s) => parse_keys(s)?,
            None => file.keys,
        };
        if args.dev {
            keys.entry(DEV_KEY.into()).or_insert_with(|| DEV_SECRET.into());
        } else {
            if keys.is_empty() {
                return Err(ConfigError::NoKeys);
            }
            if let Some((k, _)) = keys.iter().find(|(_, v)| v.len() < 32 || v.as_str() == DEV_SECRET) {
                return Err(ConfigError::WeakSecret(k.clone()));
            }
        }
        let ping_interval = args.ping_interval_secs.or(file.ping_interval_secs).unwrap_or(5).max(1);
        let ping_timeout = args.ping_timeout_secs.or(file.ping_timeout_secs).unwrap_or(15);
        if ping_timeout <= ping_interval {
            return Err(ConfigError::Ping);
        }
        let metrics_token = match args.metrics_token.clone().or(file.metrics_token) {
            Some(t) if t.trim().chars().count() < MIN_METRICS_TOKEN => return Err(ConfigError::WeakMetricsToken),
            Some(t) => Some(MetricsToken::new(t.trim())),
            None => None,
        };
        let egress_worker = args.egress_worker.clone().or(file.egress_worker).or_else(|| {
            let beside = std::env::current_exe().ok()?.with_file_name("huiyi-egress");
            beside.is_file().then_some(beside)
        });
        let livekit_webhook_urls: Vec<String> = args.livekit_webhook_urls.clone().or(file.livekit_webhook_urls.clone()).unwrap_or_default();
        if let Some(bad) = livekit_webhook_urls.iter().find(|u| !(u.starts_with("http://") || u.starts_with("https://")) || u.len() > 2048) {
            return Err(ConfigError::WebhookUrl(bad.clone()));
        }
        let recordings_s3 = match args.recordings_s3_bucket.clone().or(file.recordings_s3_bucket.clone()) {
            None => None,
            Some(bucket) => {
                let upload = huiyi_proto::lk::S3Upload {
                    bucket,
                    endpoint: args.recordings_s3_endpoint.clone().or(file.recordings_s3_endpoint.clone()).unwrap_or_default(),
                    region: args.recordings_s3_region.clone().or(file.recordings_s3_region.clone()).unwrap_or_default(),
                    access_key: args.recordings_s3_access_key.clone().or(file.recordings_s3_access_key.clone()).unwrap_or_default(),
                    secret: args.recordings_s3_secret_key.clone().or(file.recordings_s3_secret_key.clone()).unwrap_or_default(),
                    force_path_style: args.recordings_s3_force_path_style.or(file.recordings_s3_force_path_style).unwrap_or(false),
                    ..Default::default()
                };
                Some(huiyi_api::egress_s3::S3Target::from_livekit(&upload).map_err(ConfigError::RecordingsS3)?)
            }
        };
        let recordings_retention = match args.recordings_retention_days.or(file.recordings_retention_days) {
            None => None,
            Some(d) if d.is_finite() && d > 0.0 && d < 100_000.0 => Some(std::time::Duration::from_secs_f64(d * 86_400.0)),
            Some(_) => return Err(ConfigError::Retention),
        };
        Ok(Self {
            recordings_s3,
            recordings_retention,
            egress_worker,
            egress_max_jobs: args.egress_max_jobs.or(file.egress_max_jobs).unwrap_or(4).max(1),
            livekit_webhook_urls,
            egress_max_duration: std::time::Duration::from_secs(args.egress_max_duration_secs.or(file.egress_max_duration_secs).unwrap_or(4 * 3600).max(1)),
            metrics_token,
            ping_interval: std::time::Duration::from_secs(ping_interval),
            ping_timeout: std::time::Duration::from_secs(ping_timeout),
            trusted_proxies: args.trusted_proxies.clone().or(file.trusted_proxies).unwrap_or_default(),
            dev: args.dev,
            bind,
            port: args.port.or(file.port).unwrap_or(7880),
            rtc_tcp_port: args.rtc_tcp_port.or(file.rtc_tcp_port).unwrap_or(7881),
            rtc_udp_port: args.rtc_udp_port.or(file.rtc_udp_port).unwrap_or(7882),
            node_ip,
            data_dir: args.data_dir.clone().or(file.data_dir).unwrap_or_else(|| "data".into()),
            web_dir: Some(args.web_dir.clone().or(file.web_dir).unwrap_or_else(|| "web/dist".into())),
            database: args.database.clone().or(file.database),
            public_url: args.public_url.clone().or(file.public_url).map(|u| u.trim_end_matches('/').to_owned()),
            token_refresh: std::time::Duration::from_secs(args.token_refresh_secs.or(file.token_refresh_secs).unwrap_or(300).max(1)),
            keys,
            signup: args.signup.or(file.signup).unwrap_or(true),
            webhooks: {
                let defaults = huiyi_api::webhook::worker::WorkerConfig::default();
                huiyi_api::webhook::worker::WorkerConfig {
                    retry_base: args.webhook_retry_ms.or(file.webhook_retry_ms).map(std::time::Duration::from_millis).unwrap_or(defaults.retry_base),
                    max_attempts: args.webhook_max_attempts.or(file.webhook_max_attempts).unwrap_or(defaults.max_attempts).max(1),
                    ..defaults
                }
            },
        })
    }
}

fn load_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read(path.into(), e))?;
    toml::from_str(&text).map_err(|e| ConfigError::Parse(path.into(), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_has_the_dev_key_and_defaults() {
        let c = Config::resolve(&ServeArgs { dev: true, ..Default::default() }).unwrap();
        assert_eq!(c.keys.get("devkey").map(String::as_str), Some("secret"));
        assert_eq!((c.port, c.rtc_tcp_port, c.rtc_udp_port), (7880, 7881, 7882));
        assert_eq!(c.node_ip.to_string(), "127.0.0.1");
    }

    #[test]
    fn production_refuses_default_or_missing_secrets() {
        assert!(matches!(Config::resolve(&ServeArgs::default()), Err(ConfigError::NoKeys)));
        let weak = ServeArgs { keys: Some("devkey: secret".into()), ..Default::default() };
        assert!(matches!(Config::resolve(&weak), Err(ConfigError::WeakSecret(_))));
        let strong = ServeArgs { keys: Some("prod: 0123456789abcdef0123456789abcdef".into()), ..Default::default() };
        assert!(Config::resolve(&strong).is_ok());
        assert!(matches!(parse_keys("nocolon"), Err(ConfigError::Keys)));
    }

    #[test]
    fn file_then_flags() {
        let dir = std::env::temp_dir().join(format!("huiyi-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("huiyi.toml");
        std::fs::write(&path, "port = 9000\nrtc_udp_port = 9002\n[keys]\nk = \"0123456789abcdef0123456789abcdef\"\n").unwrap();
        let c = Config::resolve(&ServeArgs { config: Some(path.clone()), port: Some(9100), ..Default::default() }).unwrap();
        assert_eq!((c.port, c.rtc_udp_port), (9100, 9002));
        std::fs::write(&path, "bogus = 1\n").unwrap();
        assert!(matches!(Config::resolve(&ServeArgs { config: Some(path), ..Default::default() }), Err(ConfigError::Parse(..))));
    }

    #[test]
    fn a_metrics_token_is_long_enough_and_from_any_source() {
        let dev = |metrics_token: &str| ServeArgs { dev: true, metrics_token: Some(metrics_token.into()), ..Default::default() };
        assert!(Config::resolve(&ServeArgs { dev: true, ..Default::default() }).unwrap().metrics_token.is_none());
        assert!(matches!(Config::resolve(&dev("short")), Err(ConfigError::WeakMetricsToken)));
        let token = Config::resolve(&dev(" scrape-0123456789ab ")).unwrap().metrics_token.unwrap();
        assert!(token.matches("scrape-0123456789ab"), "surrounding spaces are not part of the token");
        let dir = std::env::temp_dir().join(format!("huiyi-cfg-metrics-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("huiyi.toml");
        std::fs::write(&path, "metrics_token = \"from-the-file-0123\"\n").unwrap();
        let c = Config::resolve(&ServeArgs { dev: true, config: Some(path), ..Default::default() }).unwrap();
        assert!(c.metrics_token.unwrap().matches("from-the-file-0123"));
    }
}
