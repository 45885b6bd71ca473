//! The API over its router, on SQLite and the in-process queue with workers: the example
//! pipeline started, followed and inspected; statuses and envelopes of every error; the token;
//! the allowed folders; CORS; body limits.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use futures::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;
use vessel_api::{AllowedDirs, ApiSettings, router};
use vessel_engine::{Engine, worker};

/// A server over a copy of the example pipeline in a fresh folder, with two workers.
struct Fixture {
    dir: tempfile::TempDir,
    app: axum::Router,
    _stop: tokio::sync::watch::Sender<bool>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

fn shop() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop")
}

async fn fixture(edit: impl FnOnce(&mut ApiSettings)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&shop(), &dir.path().join("shop"));
    let storage = vessel_store_sqlite::SqliteStorage::open(dir.path().join("data")).unwrap();
    let engine = Arc::new(Engine::new(
        Arc::new(storage),
        Arc::new(vessel_queue::MemoryQueue::new()),
    ));
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    worker::spawn_workers(&engine, 2, &stop_rx).await.unwrap();
    let mut settings = ApiSettings::new(dir.path().join("shop")).unwrap();
    settings.progress_interval = Duration::from_millis(50);
    edit(&mut settings);
    Fixture {
        app: router(engine, settings),
        dir,
        _stop: stop,
    }
}

impl Fixture {
    fn shop(&self) -> PathBuf {
        self.dir.path().join("shop")
    }

    async fn call(&self, req: Request<Body>) -> (StatusCode, Value) {
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let v = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!({ "raw": String::from_utf8_lossy(&bytes) }));
        (status, v)
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Request::get(path).body(Body::empty()).unwrap())
            .await
    }

    async fn send(&self, method: Method, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(
            Request::builder()
                .method(method)
                .uri(path)
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string()))
                .unwrap(),
        )
        .await
    }

    /// Starts the example pipeline by paths, as a Capillaries client does.
    async fn start_shop(&self, ks: &str) -> i64 {
        let shop = self.shop();
        let (status, v) = self
            .send(
                Method::POST,
                &format!("/ks/{ks}/run"),
                json!({
                    "script_url": shop.join("script.yaml"),
                    "script_params_url": shop.join("params.yaml"),
                    "start_nodes": "",
                    "run_description": "from the API",
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        assert_eq!(v["error"], "");
        v["data"]["run_id"].as_i64().unwrap()
    }

    async fn wait_complete(&self, ks: &str, run: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let (status, v) = self.get(&format!("/ks/{ks}/run/{run}/summary")).await;
            assert_eq!(status, StatusCode::OK, "{v}");
            if v["data"]["run_status"] != "start" {
                return v["data"].clone();
            }
            assert!(Instant::now() < deadline, "run {run} did not finish: {v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_example_runs_and_every_view_shows_it() {
    let f = fixture(|_| {}).await;
    let (status, v) = f.get("/healthz").await;
    assert_eq!((status, &v["data"]), (StatusCode::OK, &json!("ok")));

    let run = f.start_shop("shop").await;
    assert_eq!(run, 1);
    let summary = f.wait_complete("shop", run).await;
    assert_eq!(summary["run_status"], "complete", "{summary}");
    let nodes = summary["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 8, "{summary}");
    assert!(nodes.iter().all(|n| n["status"] == "success"), "{summary}");
    assert!(f.shop().join("out/customer_totals.csv").exists());

    let (_, v) = f.get("/ks").await;
    assert_eq!(v["data"], json!(["shop"]));
    let (status, v) = f.get("/ks/shop").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let life = &v["data"]["run_lifespans"][0];
    assert_eq!(life["run_id"], 1);
    assert_eq!(life["final_status"], 2, "{life}");
    assert_eq!(life["start_comment"], "from the API");
    assert!(life["completed_ts"].is_string(), "{life}");
    let matrix_nodes = v["data"]["nodes"].as_array().unwrap();
    assert_eq!(matrix_nodes.len(), 8);
    let load = matrix_nodes
        .iter()
        .find(|n| n["node_name"] == "load_orders")
        .unwrap();
    assert!(!load["node_desc"].as_str().unwrap().is_empty(), "{load}");
    assert_eq!(load["node_statuses"][0]["status_name"], "success");

    let (status, v) = f.get("/ks/shop/run/1/node_history").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["data"]["run_props"]["run_description"], "from the API");
    assert!(v["data"]["node_history"].as_array().unwrap().len() >= 16);
    let (status, v) = f
        .get("/ks/shop/run/1/node/order_details/batch_history")
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let batches = v["data"]["batch_history"].as_array().unwrap();
    assert_eq!(
        batches
            .iter()
            .filter(|b| b["status_name"] == "success")
            .count(),
        4,
        "{v}"
    );

    // The DAG, plain and coloured by status.
    let res = f
        .app
        .clone()
        .oneshot(
            Request::get("/ks/shop/run/1/viz?is_status=true")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()[header::CONTENT_TYPE], "image/svg+xml");
    let svg =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert_eq!(svg.matches("data-status=\"success\"").count(), 8, "{svg}");
    let (status, v) = f.get("/ks/shop/run/1/viz?is_status=maybe").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let (status, _) = f.get("/ks/shop/run/7/viz").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Events of a finished run: the final summary at once.
    let res = f
        .app
        .clone()
        .oneshot(
            Request::get("/ks/shop/run/1/events")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(res.headers()[header::CONTENT_TYPE], "text/event-stream");
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    assert!(text.starts_with("event: end\ndata: {"), "{text}");
    assert!(text.contains("\"run_status\":\"complete\""), "{text}");

    // A finished run can be invalidated once; a second stop is a conflict.
    let (status, v) = f
        .send(
            Method::DELETE,
            "/ks/shop/run/1",
            json!({"comment": "bad data"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, v) = f
        .send(
            Method::DELETE,
            "/ks/shop/run/1",
            json!({"comment": "again"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{v}");
    assert!(v["error"].as_str().unwrap().contains("stopped already"));
    assert_eq!(v["data"], Value::Null);

    let (status, _) = f.send(Method::DELETE, "/ks/shop", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v) = f.get("/ks").await;
    assert_eq!(v["data"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_script_in_the_body_runs_and_progress_is_pushed() {
    let f = fixture(|_| {}).await;
    let shop = f.shop();
    let script = std::fs::read_to_string(shop.join("script.yaml")).unwrap();
    let params = format!(
        "dir_in: {}\ndir_out: {}\nbatches: 2\n",
        shop.join("data").display(),
        shop.join("out2").display()
    );
    let body = format!(
        "script: |\n{}\nparams: |\n{}\nstart_nodes: [load_customers, load_orders]\n",
        indent(&script),
        indent(&params)
    );
    let (status, v) = f
        .call(
            Request::post("/ks/inline/run")
                .header(header::CONTENT_TYPE, "application/yaml")
                .body(Body::from(body))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let run = v["data"]["run_id"].as_i64().unwrap();
    let res = f
        .app
        .clone()
        .oneshot(
            Request::get(format!("/ks/inline/run/{run}/events"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let text =
        String::from_utf8(res.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.last(), Some(&"end"), "{text}");
    assert!(text.contains("\"run_status\":\"complete\""), "{text}");
    assert!(shop.join("out2/customer_totals.csv").exists());
    // The submitted files are kept where daemons can read them.
    let saved: Vec<_> = std::fs::read_dir(shop.join("vessel-submitted"))
        .unwrap()
        .collect();
    assert_eq!(saved.len(), 2);
}

fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_get_statuses_and_the_envelope() {
    let f = fixture(|_| {}).await;
    let shop = f.shop();
    for (method, path, body, want, words) in [
        (
            Method::GET,
            "/ks/nothere",
            Value::Null,
            StatusCode::NOT_FOUND,
            "does not exist",
        ),
        (
            Method::GET,
            "/ks/bad-name!",
            Value::Null,
            StatusCode::BAD_REQUEST,
            "letters, digits",
        ),
        (
            Method::GET,
            "/no/such/endpoint",
            Value::Null,
            StatusCode::NOT_FOUND,
            "no endpoint",
        ),
        (
            Method::POST,
            "/ks/k/run",
            json!({}),
            StatusCode::BAD_REQUEST,
            "no script",
        ),
        (
            Method::POST,
            "/ks/k/run",
            json!({"script_url": 7}),
            StatusCode::BAD_REQUEST,
            "request body",
        ),
        (
            Method::POST,
            "/ks/k/run",
            json!({"script_url": "x.yaml", "bogus": 1}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            Method::POST,
            "/ks/k/run",
            json!({"script": {"nodes": {"a": {"type": "table_table"}}}}),
            StatusCode::BAD_REQUEST,
            "node 'a'",
        ),
        (
            Method::POST,
            "/ks/k/run",
            json!({"script_url": shop.join("script.yaml"), "script_params_url": shop.join("params.yaml"), "start_nodes": "no_such_node"}),
            StatusCode::BAD_REQUEST,
            "no_such_node",
        ),
        (
            Method::POST,
            "/validate",
            json!({"script": "nodes: [", }),
            StatusCode::BAD_REQUEST,
            "script",
        ),
    ] {
        let (status, v) = f.send(method.clone(), path, body.clone()).await;
        assert_eq!(status, want, "{method} {path} {body}: {v}");
        assert_eq!(v["data"], Value::Null, "{v}");
        let err = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error text: {v}"));
        assert!(err.contains(words), "{method} {path}: {err}");
    }
    // Unknown run and node of an existing keyspace.
    let run = f.start_shop("known").await;
    f.wait_complete("known", run).await;
    for path in [
        "/ks/known/run/9/node_history",
        "/ks/known/run/9/summary",
        "/ks/known/run/1/node/nope/batch_history",
    ] {
        let (status, v) = f.get(path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {v}");
    }
    let (status, _) = f.send(Method::DELETE, "/ks/known/run/9", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Validation: nodes in order, with their dependencies.
    let (status, v) = f
        .send(
            Method::POST,
            "/validate",
            json!({"script_url": shop.join("script.yaml"), "script_params_url": shop.join("params.yaml")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let nodes = v["data"]["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 8);
    assert_eq!(nodes[0]["depends_on"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_outside_the_allowed_folders_are_refused() {
    let f = fixture(|_| {}).await;
    let shop = f.shop();
    let outside = tempfile::tempdir().unwrap();
    std::fs::copy(shop.join("script.yaml"), outside.path().join("s.yaml")).unwrap();
    // Script and params locations.
    for body in [
        json!({"script_url": outside.path().join("s.yaml")}),
        json!({"script_url": shop.join("../shop/../../").join("etc/passwd")}),
        json!({"script_url": shop.join("script.yaml"), "script_params_url": "/etc/passwd"}),
    ] {
        let (status, v) = f.send(Method::POST, "/ks/k/run", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(
            v["error"].as_str().unwrap().contains("outside the folders"),
            "{v}"
        );
    }
    // A symbolic link inside the folder that leads out of it.
    std::os::unix::fs::symlink(outside.path(), shop.join("escape")).unwrap();
    let (status, v) = f
        .send(
            Method::POST,
            "/ks/k/run",
            json!({"script_url": shop.join("escape/s.yaml")}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    // Data files read or written by a script with allowed locations: each node and path named.
    let params = format!(
        "dir_in: {}\ndir_out: {}\nbatches: 2\n",
        outside.path().display(),
        shop.join("out").display()
    );
    let (status, v) = f
        .send(
            Method::POST,
            "/ks/k/run",
            json!({"script_url": shop.join("script.yaml"), "params": params}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("node 'load_orders', r.urls"), "{err}");
    assert!(err.contains(&outside.path().display().to_string()), "{err}");
    assert!(
        !err.contains("w.url_template"),
        "outputs were inside: {err}"
    );
    let (_, v) = f.get("/ks").await;
    assert_eq!(v["data"], json!([]), "a refused run created nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_token_guards_every_endpoint_but_healthz() {
    let token = "0123456789abcdef0123";
    let f = fixture(|s| s.token = Some(token.into())).await;
    let (status, _) = f.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    for (auth, want) in [
        (None, StatusCode::UNAUTHORIZED),
        (Some("Bearer wrong".to_string()), StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {token}x")), StatusCode::UNAUTHORIZED),
        (Some(format!("Basic {token}")), StatusCode::UNAUTHORIZED),
        (Some(format!("Bearer {token}")), StatusCode::OK),
    ] {
        for path in ["/ks", "/ks/x/run/1/summary"] {
            let mut req = Request::get(path);
            if let Some(a) = &auth {
                req = req.header(header::AUTHORIZATION, a);
            }
            let (status, v) = f.call(req.body(Body::empty()).unwrap()).await;
            if want == StatusCode::OK {
                assert_ne!(status, StatusCode::UNAUTHORIZED, "{path}: {v}");
            } else {
                assert_eq!(status, want, "{auth:?} {path}: {v}");
                assert!(v["error"].as_str().unwrap().contains("Bearer"), "{v}");
            }
        }
    }
    let (status, _) = f
        .call(
            Request::post("/ks/x/run")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from("{}"))
                .unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_only_for_configured_origins_and_bodies_are_capped() {
    let f = fixture(|s| {
        s.cors_origins = vec!["https://ops.example.com".into()];
        s.max_body_bytes = 64 * 1024;
    })
    .await;
    let preflight = |origin: &str| {
        Request::builder()
            .method(Method::OPTIONS)
            .uri("/ks/x/run")
            .header(header::ORIGIN, origin)
            .header(header::ACCESS_CONTROL_REQUEST_METHOD, "POST")
            .body(Body::empty())
            .unwrap()
    };
    let res = f
        .app
        .clone()
        .oneshot(preflight("https://ops.example.com"))
        .await
        .unwrap();
    assert_eq!(
        res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN],
        "https://ops.example.com"
    );
    let res = f
        .app
        .clone()
        .oneshot(preflight("https://evil.example.net"))
        .await
        .unwrap();
    assert!(
        !res.headers()
            .contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN)
    );

    let huge = "x".repeat(200 * 1024);
    let (status, v) = f
        .send(Method::POST, "/validate", json!({ "script": huge }))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(v["error"].as_str().unwrap().contains("too large"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_stalled_upload_is_cut_off() {
    let f = fixture(|s| s.body_timeout = Duration::from_millis(300)).await;
    // A body that sends its first bytes, then nothing.
    let chunks =
        futures::stream::iter([Ok::<_, std::io::Error>(axum::body::Bytes::from("{\"scr"))])
            .chain(futures::stream::pending());
    let started = Instant::now();
    let (status, v) = f
        .call(
            Request::post("/validate")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from_stream(chunks))
                .unwrap(),
        )
        .await;
    assert!(status.is_client_error(), "{status}: {v}");
    assert!(v["error"].as_str().unwrap().contains("request body"), "{v}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_description_lists_every_endpoint() {
    let f = fixture(|_| {}).await;
    let (status, v) = f.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v["openapi"].as_str().unwrap().starts_with("3."), "{v}");
    let paths = v["paths"].as_object().unwrap();
    for p in [
        "/healthz",
        "/ks",
        "/ks/{ks}",
        "/ks/{ks}/run",
        "/ks/{ks}/run/{run_id}",
        "/ks/{ks}/run/{run_id}/node_history",
        "/ks/{ks}/run/{run_id}/node/{node}/batch_history",
        "/ks/{ks}/run/{run_id}/viz",
        "/ks/{ks}/run/{run_id}/summary",
        "/ks/{ks}/run/{run_id}/events",
        "/validate",
        "/openapi.json",
    ] {
        assert!(paths.contains_key(p), "{p} is not described");
    }
    assert!(paths["/ks/{ks}"].get("delete").is_some());
    assert_eq!(
        v["components"]["securitySchemes"]["bearer"]["scheme"], "bearer",
        "{}",
        v["components"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_is_served_from_the_binary_without_a_token() {
    let f = fixture(|s| s.token = Some("0123456789abcdef0123".into())).await;
    for (path, kind, words) in [
        ("/", "text/html", "<script src=\"/ui/app.js\">"),
        ("/ui/app.js", "text/javascript", "Authorization"),
        ("/ui/app.css", "text/css", ".status"),
    ] {
        let res = f
            .app
            .clone()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{path}");
        let ct = res.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(ct.starts_with(kind), "{path}: {ct}");
        assert!(res.headers().contains_key(header::CONTENT_SECURITY_POLICY));
        let body = res.into_body().collect().await.unwrap().to_bytes();
        assert!(String::from_utf8_lossy(&body).contains(words), "{path}");
    }
}

#[test]
fn allowed_folders_must_exist() {
    let e = AllowedDirs::new(vec![PathBuf::from("/no/such/folder")]).unwrap_err();
    assert!(e.to_string().contains("/no/such/folder"), "{e}");
}
