//! Huiyi's composition root: configuration, telemetry, and [`Application`], which binds
//! every socket, wires the crates together and runs until shutdown. The `huiyi` binary is
//! a thin wrapper; tests build an `Application` on port 0 and talk to it over real sockets.

pub mod config;
mod recorder;

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;

use huiyi_api::metrics::MetricsAccess;
use huiyi_api::{AppState, KeyRing};
use huiyi_sfu::{SfuConfig, SfuHandle};
use huiyi_sfu_core::EngineConfig;
use tracing::info;

pub use config::Config;

/// A built, bound, not yet running server. Its fields are the addresses actually bound.
pub struct Application {
    pub http_addr: SocketAddr,
    pub udp_addr: SocketAddr,
    pub tcp_addr: Option<SocketAddr>,
    pub sfu: SfuHandle,
    pub store: huiyi_store::Store,
    listener: tokio::net::TcpListener,
    router: axum::Router,
    shutdown: tokio::sync::watch::Sender<bool>,
}

impl Application {
    /// Binds every socket and starts the media engine.
    pub async fn build(config: Config) -> std::io::Result<Self> {
        std::fs::create_dir_all(&config.data_dir)?;
        let store = match &config.database {
            Some(url) => huiyi_store::Store::connect(url).await,
            None => huiyi_store::Store::open_data_dir(&config.data_dir).await,
        }
        .map_err(|e| std::io::Error::other(format!("cannot open the database: {e}")))?;
        // Nobody is connected to a server that is starting: sessions left open by a crash end now.
        let started = huiyi_api::unix_now();
        let dropped = match store.close_open_sessions(started).await {
            Ok(closed) => closed,
            Err(e) => return Err(std::io::Error::other(format!("cannot close open sessions: {e}"))),
        };
        if !dropped.is_empty() {
            tracing::info!(sessions = dropped.len(), "closed attendance sessions left open by the last run");
        }
        if config.dev {
            let now = huiyi_api::unix_now();
            store.seed_dev(now).await.map_err(|e| std::io::Error::other(format!("cannot seed the dev enterprise: {e}")))?;
        } else if store.forget_dev_credential().await.map_err(|e| std::io::Error::other(format!("cannot remove the dev credential: {e}")))? {
            // A data folder that once ran in dev mode must not keep a credential printed in the docs.
            tracing::warn!("removed the dev credential (devkey) left by an earlier run in dev mode");
        }
        let listener = tokio::net::TcpListener::bind((config.bind, config.port)).await?;
        let http_addr = listener.local_addr()?;
        let sfu = huiyi_sfu::start(SfuConfig {
            udp_bind: SocketAddr::new(config.bind, config.rtc_udp_port),
            tcp_bind: Some(SocketAddr::new(config.bind, config.rtc_tcp_port)),
            tcp_limits: Default::default(),
            engine: EngineConfig {
                ping_interval: config.ping_interval,
                ping_timeout: config.ping_timeout,
                // Port 0 here is replaced by the bound port.
                udp_candidate: SocketAddr::new(config.node_ip, config.rtc_udp_port),
                tcp_candidate: Some(SocketAddr::new(config.node_ip, config.rtc_tcp_port)),
                ..EngineConfig::default()
            },
        })
        .await?;
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let webhooks = huiyi_api::webhook::Webhooks::new(store.clone()).with_livekit(config.livekit_webhook_urls.clone());
        let webhook_client = huiyi_api::webhook::worker::client(config.webhooks.timeout)
            .map_err(|e| std::io::Error::other(format!("cannot build the webhook HTTP client: {e}")))?;
        tokio::spawn(huiyi_api::webhook::worker::run(store.clone(), webhook_client.clone(), webhooks.wake(), config.webhooks.clone(), shutdown_rx.clone()));
        // LiveKit-style webhooks are signed by the first API key (in sorted order), as LiveKit
        // signs with its configured `webhook.api_key`.
        if let Some((key, secret)) = config.keys.iter().min_by(|a, b| a.0.cmp(b.0)) {
            let signer = (key.clone(), secret.clone());
            tokio::spawn(huiyi_api::webhook::livekit::run(store.clone(), webhook_client.clone(), webhooks.livekit().wake(), signer, config.webhooks.clone(), shutdown_rx.clone()));
        }
        let egress = huiyi_api::egress::Egress::new(
            huiyi_api::egress::EgressConfig {
                worker: config.egress_worker.clone(),
                // Absolute: the worker runs with its own working directory in mind and refuses
                // relative paths (the default data folder is `./data`).
                dir: std::path::absolute(&config.data_dir)?.join("recordings"),
                max_concurrent: config.egress_max_jobs,
                max_duration: config.egress_max_duration,
                link_key: KeyRing::new(config.keys.clone()).derive_key("huiyi recording download links"),
                link_ttl: std::time::Duration::from_secs(6 * 3600),
                s3: config.recordings_s3.clone(),
                retention: config.recordings_retention,
            },
            sfu.handle.clone(),
            store.clone(),
            webhooks.clone(),
        );
        // A job whose worker died with the last run ends failed (its file plays up to the cut).
        match egress.fail_unfinished().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(jobs = n, "marked recording jobs left running by the last run as failed"),
            Err(e) => return Err(std::io::Error::other(format!("cannot read recording jobs: {e}"))),
        }
        if let Some(retention) = config.recordings_retention {
            // Often enough that nothing outlives its retention by more than a quarter of it
            // (and at most an hour), never in a busy loop.
            let every = (retention / 4).clamp(std::time::Duration::from_secs(1), std::time::Duration::from_secs(3600));
            let (egress, mut stop) = (egress.clone(), shutdown_rx.clone());
            tokio::spawn(async move {
                loop {
                    egress.sweep_expired().await;
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                }
            });
        }
        match &config.egress_worker {
            Some(w) => tracing::info!(worker = %w.display(), "recording and streaming enabled"),
            None => tracing::info!("recording and streaming disabled: no huiyi-egress worker (see docs/egress.md)"),
        }
        let mut sfu = sfu;
        let (_, events) = tokio::sync::mpsc::channel(1);
        tokio::spawn(recorder::run(store.clone(), webhooks.clone(), egress.clone(), std::mem::replace(&mut sfu.events, events)));
        // Their leaves are still announced (the sweep then ends the meetings that are over).
        recorder::announce_dropped(&store, &webhooks, dropped, started).await;
        tokio::spawn(recorder::sweep(store.clone(), webhooks.clone(), shutdown_rx.clone()));
        let web_dir = config.web_dir.clone().filter(|d| {
            let ok = d.join("index.html").exists();
            if !ok {
                tracing::warn!(dir = %d.display(), "web app not built; serving the API only (run `npm run build` in web/)");
            }
            ok
        });
        let state = AppState {
            sfu: sfu.handle.clone(),
            keys: KeyRing::new(config.keys.clone()),
            dev: config.dev,
            shutdown: shutdown_rx,
            token_refresh: config.token_refresh,
            token_ttl: std::time::Duration::from_secs(6 * 3600),
            store: store.clone(),
            public_url: config.public_url.clone().unwrap_or_else(|| format!("http://{http_addr}")),
            webhooks,
            webhook_client,
            signup: config.signup,
            ping_timeout: config.ping_timeout,
            limits: huiyi_api::limits::Limits::new(config.trusted_proxies.clone()),
            poll_pushes: Default::default(),
            notes: huiyi_api::notes::Notes::new(store.clone(), huiyi_api::notes::NotesConfig::default()),
            egress,
            whip: Default::default(),
            whep: Default::default(),
            metrics: match (config.dev, config.metrics_token.clone()) {
                (true, _) => MetricsAccess::Open,
                (false, Some(token)) => MetricsAccess::Token(token),
                (false, None) => MetricsAccess::Closed,
            },
        };
        let router = huiyi_api::router(state, web_dir).layer(tower_http::trace::TraceLayer::new_for_http());
        Ok(Self { http_addr, udp_addr: sfu.udp_addr, tcp_addr: sfu.tcp_addr, sfu: sfu.handle, store, listener, router, shutdown })
    }

    /// Serves until `shutdown` resolves. Then every signalling socket is told to go away
    /// (clients reconnect elsewhere) and open HTTP requests get a moment to finish.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        info!(http = %self.http_addr, udp = %self.udp_addr, tcp = ?self.tcp_addr, "huiyi listening");
        let notify = self.shutdown;
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let signal = async move {
            shutdown.await;
            let _ = notify.send(true);
            let _ = stopping_tx.send(());
        };
        // Connect info gives handlers the client address (rate limits on joining).
        let app = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(self.listener, app).with_graceful_shutdown(signal).into_future();
        // A client that ignores the close must not hold the process open.
        let grace = async {
            if stopping_rx.await.is_ok() {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            result = serve => result,
            _ = grace => Ok(()),
        }
    }
}
