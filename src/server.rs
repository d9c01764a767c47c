//! Wires the roles into one process: storage, ingester, distributor, querier, compactor,
//! and the HTTP and gRPC listeners, with a graceful shutdown that flushes heads. A process
//! without the ingester role hosts no replica and serves, for the cluster its seeds name,
//! only its roles' APIs (and the delete API).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;

use raft_ingest::{Distributor, Ingester};
use store::object::build_object_store;

use crate::config::Config;

/// Flags the process-level HTTP routes read.
struct Ops {
    stopping: AtomicBool,
    config_yaml: String,
}

async fn ready(State(ops): State<Arc<Ops>>) -> Response {
    if ops.stopping.load(Ordering::Relaxed) {
        (StatusCode::SERVICE_UNAVAILABLE, "Application is stopping\n").into_response()
    } else {
        (StatusCode::OK, "ready\n").into_response()
    }
}

async fn metrics() -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], store::metrics::render()).into_response()
}

async fn buildinfo() -> Response {
    let body = serde_json::json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("SKALD_REVISION").unwrap_or(""),
        "branch": option_env!("SKALD_BRANCH").unwrap_or(""),
        "buildUser": "",
        "buildDate": "",
        "goVersion": "",
    });
    ([(header::CONTENT_TYPE, "application/json; charset=UTF-8")], body.to_string()).into_response()
}

async fn show_config(State(ops): State<Arc<Ops>>) -> Response {
    ([(header::CONTENT_TYPE, "text/yaml; charset=utf-8")], ops.config_yaml.clone()).into_response()
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(t) => t,
            Err(_) => {
                let _ = ctrl_c.await;
                return;
            }
        };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

/// Binds a listener as Loki does: an empty address means every interface; a host name or an
/// IPv4/IPv6 literal is resolved and bound.
async fn bind(address: &str, port: u16, what: &str) -> Result<TcpListener> {
    let host = if address.is_empty() { "0.0.0.0" } else { address };
    TcpListener::bind((host, port)).await.with_context(|| format!("{what}: binding {host} port {port}"))
}

/// Runs every role until SIGTERM or Ctrl-C, then drains and flushes.
pub async fn run(config: Config) -> Result<()> {
    let roles = config.target.roles().map_err(anyhow::Error::msg)?;
    let overrides = (!config.runtime_config.file.is_empty()).then(|| std::path::PathBuf::from(&config.runtime_config.file));
    let retention = Arc::new(std::sync::RwLock::new(crate::retention::policy(&config.limits_config, overrides.as_deref())?));
    let data_dir = config.common.path_prefix.clone();
    std::fs::create_dir_all(&data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let chunk_store = build_object_store(&config.common.storage, &data_dir)?;
    let object_store = chunk_store.store.clone();
    let compactor_store = chunk_store.clone();
    let http = bind(&config.server.http_listen_address, config.server.http_listen_port, "server.http_listen_address/port").await?;
    let grpc = bind(&config.server.grpc_listen_address, config.server.grpc_listen_port, "server.grpc_listen_address/port").await?;
    let (http_addr, grpc_addr) = (http.local_addr()?, grpc.local_addr()?);
    let peer_addr = format!("127.0.0.1:{}", grpc_addr.port());
    let ingester = if roles.ingester {
        Ingester::start(&data_dir, chunk_store, config.ingester.clone(), &config.cluster, &peer_addr).await.context("starting the ingester")?
    } else {
        Ingester::start_without_replicas(&config.cluster, &peer_addr).await.context("joining the cluster without replicas")?
    };
    let distributor = Arc::new(Distributor::new(ingester.clone(), config.limits_config.clone(), config.auth_enabled));
    let query_state = Arc::new(query::QueryState {
        view: ingester.clone(),
        object_store,
        limits: config.limits_config.clone(),
        auth_enabled: config.auth_enabled,
        querier: config.querier.clone(),
    });
    let rules = compactor::Rules {
        retention: retention.clone(),
        deletes: Arc::new(query::deletes::LogqlDeleteMatcher),
        deletion_mode: config.limits_config.deletion_mode,
    };
    let compactor = compactor::Compactor::new(ingester.clone(), compactor_store, config.compactor.clone(), rules);
    let delete_api = Arc::new(crate::delete_api::DeleteApi {
        ingester: ingester.clone(),
        auth_enabled: config.auth_enabled,
        retention_enabled: config.compactor.retention_enabled,
        mode: config.limits_config.deletion_mode,
        cancel_period: config.compactor.delete_request_cancel_period.0,
    });
    let ops = Arc::new(Ops {
        stopping: AtomicBool::new(false),
        config_yaml: serde_yaml_ng::to_string(&config).unwrap_or_default(),
    });
    let serving = |router: Router, on: bool| if on { router } else { Router::new() };
    let app = Router::new()
        .merge(serving(raft_ingest::http::router(distributor.clone()), roles.distributor))
        .merge(serving(query::router(query_state), roles.querier))
        .merge(raft_ingest::status::router(ingester.clone()))
        .merge(crate::delete_api::router(delete_api))
        .merge(
            Router::new()
                .route("/ready", get(ready))
                .route("/config", get(show_config))
                .with_state(ops.clone()),
        )
        .merge(serving(compactor::http::router(compactor.clone()), roles.compactor))
        .route("/metrics", get(metrics))
        .route("/loki/api/v1/status/buildinfo", get(buildinfo));

    println!("skald: http listening on {http_addr}");
    println!("skald: grpc listening on {grpc_addr}");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut http_stop = stop_rx.clone();
    let http_task = tokio::spawn(async move {
        axum::serve(http, app)
            .with_graceful_shutdown(async move {
                let _ = http_stop.changed().await;
            })
            .await
    });
    let mut grpc_stop = stop_rx.clone();
    let grpc_task = tokio::spawn(
        tonic::transport::Server::builder()
            .add_optional_service(roles.distributor.then(|| raft_ingest::grpc::pusher_service(distributor)))
            .add_service(raft_ingest::transport::RaftServer::new(ingester.groups()).into_service())
            .add_service(raft_ingest::forward::ForwardServer::service(Arc::downgrade(&ingester)))
            .serve_with_incoming_shutdown(tokio_stream::wrappers::TcpListenerStream::new(grpc), async move {
                let _ = grpc_stop.changed().await;
            }),
    );
    if roles.compactor {
        compactor.spawn_lease();
        compactor.spawn_schedule(stop_rx.clone());
    }
    crate::retention::spawn_reload(
        config.limits_config.clone(),
        config.runtime_config.file.clone(),
        config.runtime_config.period.0,
        retention,
        stop_rx.clone(),
    );
    if config.cluster.join && config.cluster.rebalance_on_join {
        let joined = ingester.clone();
        tokio::spawn(async move { joined.rebalance_after_join().await });
    }
    println!("skald: ready");
    tracing::info!(%http_addr, %grpc_addr, data = %data_dir.display(), "skald started");

    shutdown_signal().await;
    tracing::info!("shutting down: draining requests and flushing heads");
    ops.stopping.store(true, Ordering::Relaxed);
    let _ = stop_tx.send(true);
    if roles.compactor {
        compactor.stop().await;
    }
    let _ = http_task.await;
    let _ = grpc_task.await;
    ingester.shutdown().await.context("flushing heads on shutdown")?;
    tracing::info!("shutdown complete");
    Ok(())
}
