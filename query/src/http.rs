//! The HTTP edge: routes, request decoding, tenant resolution, and the handlers of the query
//! and metadata endpoints.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use store::labels::{Labels, StreamId};
use store::matcher::Matcher;
use store::view::{ReadSnapshot, SnapshotRequest};

use crate::QueryState;
use crate::engine::{Engine, ScanStats};
use crate::error::QueryError;
use crate::logql::{self, Expr};
use crate::params::{self, Params};
use crate::plan::LogQuery;
use crate::response::{self, CATEGORIZE_LABELS, Stats};

/// Header selecting response encoding flags.
const ENCODING_FLAGS_HEADER: &str = "x-loki-response-encoding-flags";
/// Tenant header.
const TENANT_HEADER: &str = "x-scope-orgid";

/// Everything a handler needs: the caller's state and the shared DataFusion engine.
pub(crate) struct Service {
    pub(crate) state: Arc<QueryState>,
    pub(crate) engine: Engine,
}

/// The query API routes, GET and POST each.
pub(crate) fn routes(svc: Arc<Service>) -> Router {
    Router::new()
        .route("/loki/api/v1/query_range", get(query_range).post(query_range))
        .route("/loki/api/v1/query", get(query).post(query))
        .route("/loki/api/v1/labels", get(labels).post(labels))
        .route("/loki/api/v1/label", get(labels).post(labels))
        .route("/loki/api/v1/label/{name}/values", get(label_values).post(label_values))
        .route("/loki/api/v1/series", get(series).post(series))
        .with_state(svc)
}

/// The request's parameters: the form body (for POST) merged with the URL query.
fn request_params(method: &Method, headers: &HeaderMap, query: Option<String>, body: &Bytes) -> Params {
    let form = method == Method::POST
        && headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_none_or(|ct| ct.to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
    Params::parse(query.as_deref(), form.then_some(body.as_ref()))
}

fn now_ns() -> i64 {
    chrono::Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn categorize(headers: &HeaderMap) -> bool {
    headers
        .get_all(ENCODING_FLAGS_HEADER)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|f| f.trim() == CATEGORIZE_LABELS)
}

/// Counts, times and renders one request.
async fn instrument(fut: impl Future<Output = Result<Response, QueryError>>) -> Response {
    crate::metrics::REQUESTS.inc();
    let started = Instant::now();
    let resp = match fut.await {
        Ok(r) => r,
        Err(e) => {
            crate::metrics::ERRORS.inc();
            e.into_response()
        }
    };
    crate::metrics::DURATION.observe(started.elapsed().as_secs_f64());
    resp
}

fn json(body: Result<Vec<u8>, serde_json::Error>) -> Result<Response, QueryError> {
    Ok(response::json_response(body?))
}

async fn query_range(
    State(svc): State<Arc<Service>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.query_range(&headers, &p)).await
}

async fn query(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.instant_query(&headers, &p)).await
}

async fn labels(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.labels(&headers, &p, None)).await
}

async fn label_values(
    State(svc): State<Arc<Service>>,
    Path(name): Path<String>,
    method: Method,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.labels(&headers, &p, Some(&name))).await
}

async fn series(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.series(&headers, &p)).await
}

impl Service {
    fn tenant(&self, headers: &HeaderMap) -> Result<String, QueryError> {
        let header = headers.get(TENANT_HEADER).and_then(|v| v.to_str().ok());
        Ok(store::tenant::resolve_tenant(header, self.state.auth_enabled)?)
    }

    async fn snapshot(&self, tenant: &str, matchers: Vec<Matcher>, start: i64, end: i64, with_data: bool) -> Result<ReadSnapshot, QueryError> {
        let req = SnapshotRequest { matchers, start, end, with_data };
        Ok(self.state.view.snapshot(tenant, &req).await?)
    }

    /// `/loki/api/v1/query_range`.
    pub(crate) async fn query_range(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        let tenant = self.tenant(headers)?;
        let rp = params::range_query(p, now_ns())?;
        let log = match logql::parse(&rp.query)? {
            Expr::Metric(_) => return Err(QueryError::MetricNotSupported),
            Expr::Log(l) => l,
        };
        let max = self.state.limits.max_entries_limit_per_query;
        if rp.limit > max {
            return Err(QueryError::MaxEntries { limit: rp.limit, max });
        }
        params::check_query_length(rp.start, rp.end, self.state.limits.max_query_length.0)?;
        if !log.only_line_filters() {
            return Err(QueryError::NotImplemented(
                "log queries with parser, label filter or formatting stages are not supported yet".into(),
            ));
        }
        let started = Instant::now();
        let snapshot = self.snapshot(&tenant, log.matchers.clone(), rp.start, rp.end, true).await?;
        let query = LogQuery {
            filters: log.line_filters().cloned().collect(),
            start: rp.start,
            end: rp.end,
            direction: rp.direction,
        };
        let limit = usize::try_from(rp.limit).unwrap_or(usize::MAX);
        let rows = self.engine.log_query(&snapshot, &query, limit, rp.interval).await?;
        let entries = rows.len();
        crate::metrics::ENTRIES.add(entries as u64);
        let stream_labels: HashMap<StreamId, Labels> = snapshot.streams.iter().cloned().collect();
        let categorize = categorize(headers);
        let streams = response::group_streams(rows, &stream_labels, categorize);
        let stats = Stats::for_log_query(&ScanStats::of(&snapshot, rp.start, rp.end), entries, started.elapsed().as_secs_f64());
        json(response::streams_body(&streams, categorize, &stats))
    }

    /// `/loki/api/v1/query`.
    pub(crate) async fn instant_query(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        self.tenant(headers)?;
        let ip = params::instant_query(p, now_ns())?;
        match logql::parse(&ip.query)? {
            Expr::Log(_) => Err(QueryError::LogInstantQuery),
            Expr::Metric(_) => Err(QueryError::MetricNotSupported),
        }
    }

    /// Matchers of the optional `query` parameter of the label endpoints.
    fn label_query_matchers(p: &Params) -> Result<Vec<Matcher>, QueryError> {
        let q = p.get("query");
        if q.trim().is_empty() {
            return Ok(Vec::new());
        }
        match logql::parse(q)? {
            Expr::Log(l) => Ok(l.matchers),
            Expr::Metric(_) => Err(QueryError::BadRequest("only log stream selectors are supported in the query parameter".into())),
        }
    }

    /// `/loki/api/v1/labels` (name `None`) and `/loki/api/v1/label/{name}/values`.
    pub(crate) async fn labels(&self, headers: &HeaderMap, p: &Params, name: Option<&str>) -> Result<Response, QueryError> {
        let tenant = self.tenant(headers)?;
        let (start, end) = params::bounds(p, now_ns())?;
        params::check_query_length(start, end, self.state.limits.max_query_length.0)?;
        let matchers = Self::label_query_matchers(p)?;
        let snapshot = self.snapshot(&tenant, matchers, start, end, false).await?;
        let mut out: BTreeSet<&str> = BTreeSet::new();
        for (_, labels) in &snapshot.streams {
            match name {
                None => out.extend(labels.pairs().iter().map(|(n, _)| n.as_str())),
                Some(n) => out.extend(labels.get(n)),
            }
        }
        let values: Vec<String> = out.into_iter().map(str::to_string).collect();
        json(response::labels_body(&values))
    }

    /// `/loki/api/v1/series`.
    pub(crate) async fn series(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        let tenant = self.tenant(headers)?;
        let (start, end) = params::bounds(p, now_ns())?;
        params::check_query_length(start, end, self.state.limits.max_query_length.0)?;
        let selectors: Vec<&str> = p.all("match[]").into_iter().chain(p.all("match")).collect();
        if selectors.is_empty() {
            return Err(QueryError::BadRequest("0 matcher groups supplied".into()));
        }
        let mut groups = Vec::with_capacity(selectors.len());
        for s in selectors {
            groups.push(logql::parse_selector(s)?);
        }
        let mut seen: HashMap<StreamId, Labels> = HashMap::new();
        for matchers in groups {
            let snapshot = self.snapshot(&tenant, matchers, start, end, false).await?;
            seen.extend(snapshot.streams);
        }
        let mut series: Vec<Labels> = seen.into_values().collect();
        series.sort_by_cached_key(|l| l.to_string());
        json(response::series_body(&series))
    }
}
