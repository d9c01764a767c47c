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
use crate::engine::{Engine, ScanStats, SeriesResult};
use crate::error::QueryError;
use crate::logql::ast::{LogExpr, MetricExpr, VectorOp};
use crate::logql::{self, Expr};
use crate::params::{self, Params};
use crate::pipeline::Pipeline;
use crate::plan::metric::{MetricPlanner, Planned};
use crate::plan::pipeline_exec::{PipelineOutput, PipelineSpec};
use crate::plan::range_exec::Steps;
use crate::plan::{self, LogQuery};
use crate::response::{self, CATEGORIZE_LABELS, Stats};

/// Header selecting response encoding flags.
const ENCODING_FLAGS_HEADER: &str = "x-loki-response-encoding-flags";
/// Tenant header.
const TENANT_HEADER: &str = "x-scope-orgid";

/// The evaluation times of a range metric query: Loki's frontend aligns start down and end
/// up to multiples of the step.
fn aligned(start: i64, end: i64, step: i64) -> Steps {
    let start = start.div_euclid(step).saturating_mul(step);
    let end = end.div_euclid(step).saturating_add(i64::from(end.rem_euclid(step) != 0)).saturating_mul(step);
    Steps { start, end, step }
}

/// What a metric query evaluated to.
enum MetricResult {
    /// A number (a literal expression).
    Scalar(f64),
    /// Series, sorted by labels, with the outermost `sort`/`sort_desc` if any.
    Vector(Vec<SeriesResult>, Option<VectorOp>),
}

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
        .route("/loki/api/v1/format_query", get(format_query).post(format_query))
        .route("/skald/api/v1/explain", get(explain).post(explain))
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
    let limit = svc.state.limits.query_timeout.0;
    instrument(within(limit, async move { svc.query_range(&headers, &p).await })).await
}

async fn query(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    let limit = svc.state.limits.query_timeout.0;
    instrument(within(limit, async move { svc.instant_query(&headers, &p).await })).await
}

/// Runs a query as its own task, answering 504 once `limit` has passed (0: no limit) and
/// cancelling the task; the handler stays responsive even while the query computes.
async fn within(
    limit: std::time::Duration,
    fut: impl Future<Output = Result<Response, QueryError>> + Send + 'static,
) -> Result<Response, QueryError> {
    let started = Instant::now();
    let mut task = tokio::spawn(fut);
    let joined = if limit.is_zero() {
        (&mut task).await
    } else {
        match tokio::time::timeout(limit, &mut task).await {
            // A query that finished, but only after the limit, timed out all the same.
            Ok(_) if started.elapsed() > limit => return Err(QueryError::Timeout),
            Ok(joined) => joined,
            Err(_) => {
                task.abort();
                return Err(QueryError::Timeout);
            }
        }
    };
    joined.map_err(|e| QueryError::Internal(format!("query task failed: {e}")))?
}

async fn format_query(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(async { svc.format_query(&headers, &p) }).await
}

async fn explain(State(svc): State<Arc<Service>>, method: Method, headers: HeaderMap, RawQuery(q): RawQuery, body: Bytes) -> Response {
    let p = request_params(&method, &headers, q, &body);
    instrument(svc.explain(&headers, &p)).await
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
        let expr = logql::parse(&rp.query)?;
        if let Expr::Log(_) = expr {
            let max = self.state.limits.max_entries_limit_per_query;
            if max != 0 && rp.limit > max {
                return Err(QueryError::MaxEntries { limit: rp.limit, max });
            }
        }
        params::check_query_length(rp.start, rp.end, self.state.limits.max_query_length.0)?;
        crate::pipeline::check::check_expr(&expr)?;
        {
            match expr {
                Expr::Log(log) => self.log_range(&tenant, headers, &rp, log).await,
                Expr::Metric(m) => {
                    let steps = aligned(rp.start, rp.end, rp.step);
                    let (result, stats) = self.metric(&tenant, &m, steps).await?;
                    match result {
                        MetricResult::Scalar(v) => {
                            let points = steps.times().map(|t| (t, v)).collect();
                            json(response::matrix_body(&[SeriesResult { labels: Vec::new(), points }], &stats))
                        }
                        MetricResult::Vector(series, _) => json(response::matrix_body(&series, &stats)),
                    }
                }
            }
        }
    }

    /// The snapshot, scan and pipeline of a log query over `[start, end)`.
    async fn log_parts(
        &self,
        tenant: &str,
        log: &LogExpr,
        start: i64,
        end: i64,
        direction: params::Direction,
    ) -> Result<(ReadSnapshot, LogQuery, Option<Arc<PipelineSpec>>), QueryError> {
        let pipeline = Pipeline::compile(&log.pipeline).map_err(QueryError::BadRequest)?;
        let snapshot = self.snapshot(tenant, log.matchers.clone(), start, end, true).await?;
        let query = LogQuery { filters: pipeline.scan_filters.clone(), start, end, direction };
        let spec = (!pipeline.is_noop()).then(|| {
            Arc::new(PipelineSpec {
                describe: format!("{} stage(s) -> entries", pipeline.steps.len()),
                streams: snapshot.streams.iter().map(|(id, l)| (id.0, Arc::new(l.pairs().to_vec()))).collect(),
                pipeline,
                output: PipelineOutput::Entries,
                // Log queries drop copies as they gather rows (`engine`).
                dedup: None,
            })
        });
        Ok((snapshot, query, spec))
    }

    /// A log query over `[start, end)`.
    async fn log_range(&self, tenant: &str, headers: &HeaderMap, rp: &params::RangeQueryParams, log: LogExpr) -> Result<Response, QueryError> {
        let started = Instant::now();
        let (snapshot, query, spec) = self.log_parts(tenant, &log, rp.start, rp.end, rp.direction).await?;
        let limit = usize::try_from(rp.limit).unwrap_or(usize::MAX);
        let rows = self.engine.log_query(&snapshot, &query, spec, limit, rp.interval).await?;
        let entries = rows.len();
        crate::metrics::ENTRIES.add(entries as u64);
        let stream_labels: HashMap<StreamId, Labels> = snapshot.streams.iter().cloned().collect();
        let categorize = categorize(headers);
        let streams = response::group_streams(rows, &stream_labels, categorize);
        let stats = Stats::for_log_query(&ScanStats::of(&snapshot, rp.start, rp.end), entries, started.elapsed().as_secs_f64());
        json(response::streams_body(&streams, categorize, &stats))
    }

    /// Takes the snapshots of a metric query's ranges and plans it.
    async fn metric_plan(&self, tenant: &str, expr: &MetricExpr, steps: Steps) -> Result<(Planned, Option<VectorOp>, ScanStats), QueryError> {
        let mut snapshots = Vec::new();
        let mut scan = ScanStats::default();
        for range in plan::metric::ranges(expr) {
            let (start, end) = plan::metric::scan_window(range, steps);
            let snapshot = self.snapshot(tenant, range.log.matchers.clone(), start, end, true).await?;
            scan.add(&ScanStats::of(&snapshot, start, end));
            snapshots.push(snapshot);
        }
        let mut planner = MetricPlanner::new(steps, &snapshots, self.engine.scan_options());
        let planned = planner.plan_query(expr)?;
        Ok((planned, planner.sort, scan))
    }

    /// Evaluates a metric query at every time of `steps`.
    async fn metric(&self, tenant: &str, expr: &MetricExpr, steps: Steps) -> Result<(MetricResult, Stats), QueryError> {
        let started = Instant::now();
        let (planned, sort, scan) = self.metric_plan(tenant, expr, steps).await?;
        let result = match planned {
            Planned::Scalar(v) => MetricResult::Scalar(v),
            Planned::Vector(plan) => MetricResult::Vector(self.engine.metric_query(plan, self.state.limits.max_query_series).await?, sort),
        };
        let stats = Stats::for_log_query(&scan, 0, started.elapsed().as_secs_f64());
        Ok((result, stats))
    }

    /// `/skald/api/v1/explain`: the DataFusion plans a query runs as, in plain text. Takes
    /// the parameters of `query_range`, or of `query` when `time` is given.
    pub(crate) async fn explain(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        let tenant = self.tenant(headers)?;
        let instant = !p.get("time").is_empty();
        let (query, start, end, step, limit, direction) = if instant {
            let ip = params::instant_query(p, now_ns())?;
            (ip.query, ip.time, ip.time, 1, ip.limit, ip.direction)
        } else {
            let rp = params::range_query(p, now_ns())?;
            (rp.query, rp.start, rp.end, rp.step, rp.limit, rp.direction)
        };
        let expr = logql::parse(&query)?;
        crate::pipeline::check::check_expr(&expr)?;
        let mut text = format!("== query ==\n{}\n\n", logql::format::prettify(&expr));
        let plan = match &expr {
            Expr::Log(log) => {
                let (snapshot, q, spec) = self.log_parts(&tenant, log, start, end, direction).await?;
                let fetch = Some(usize::try_from(limit).unwrap_or(usize::MAX));
                plan::build_log_plan(&snapshot, &q, spec.as_ref(), fetch, self.engine.scan_options())?
            }
            Expr::Metric(m) => {
                let steps = if instant { Steps { start, end, step } } else { aligned(start, end, step) };
                match self.metric_plan(&tenant, m, steps).await?.0 {
                    Planned::Scalar(v) => {
                        text.push_str(&format!("scalar {}\n", response::format_value(v)));
                        None
                    }
                    Planned::Vector(plan) => Some(plan),
                }
            }
        };
        match plan {
            Some(plan) => text.push_str(&self.engine.explain(plan).await?),
            None if matches!(expr, Expr::Log(_)) => text.push_str("no stream matches in the time range: nothing to scan\n"),
            None => {}
        }
        let mut resp = (axum::http::StatusCode::OK, text).into_response();
        resp.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("text/plain; charset=utf-8"));
        Ok(resp)
    }

    /// `/loki/api/v1/format_query`: the query pretty-printed as Loki does; a query that
    /// does not parse answers 400 with Loki's JSON body rather than plain text.
    pub(crate) fn format_query(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        self.tenant(headers)?;
        match logql::parse(p.get("query")) {
            Ok(expr) => json(response::format_query_body(&logql::format::prettify(&expr))),
            Err(e) => {
                let mut resp = response::json_response(response::format_query_error_body(&e.to_string())?);
                *resp.status_mut() = axum::http::StatusCode::BAD_REQUEST;
                resp.headers_mut().insert(header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json; charset=utf-8"));
                Ok(resp)
            }
        }
    }

    /// `/loki/api/v1/query`.
    pub(crate) async fn instant_query(&self, headers: &HeaderMap, p: &Params) -> Result<Response, QueryError> {
        let tenant = self.tenant(headers)?;
        let ip = params::instant_query(p, now_ns())?;
        let m = match logql::parse(&ip.query)? {
            Expr::Log(_) => return Err(QueryError::LogInstantQuery),
            Expr::Metric(m) => m,
        };
        crate::pipeline::check::check_metric(&m)?;
        {
            let (result, stats) = self.metric(&tenant, &m, Steps { start: ip.time, end: ip.time, step: 1 }).await?;
            match result {
                MetricResult::Scalar(v) => json(response::scalar_body(ip.time, v, &stats)),
                MetricResult::Vector(mut series, sort) => {
                    if let Some(op @ (VectorOp::Sort | VectorOp::SortDesc)) = sort {
                        plan::metric::order_by_value(&mut series, op);
                    }
                    json(response::vector_body(&series, &stats))
                }
            }
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
        let mut selectors: Vec<&str> = p.all("match[]").into_iter().chain(p.all("match")).collect();
        selectors.sort_unstable();
        selectors.dedup();
        // As Loki's ParseSeriesQuery: no selector at all, or the single selector `{}`,
        // asks for every series.
        if let [only] = selectors.as_slice()
            && only.replace(' ', "") == "{}"
        {
            selectors.clear();
        }
        let mut groups = Vec::with_capacity(selectors.len().max(1));
        for s in selectors {
            // Validated as Loki's series parser does: `{a=~".*"}` selects nothing.
            let matchers = logql::parse_selector(s)?;
            logql::parser::validate_matchers(&matchers)?;
            groups.push(matchers);
        }
        if groups.is_empty() {
            groups.push(Vec::new());
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
