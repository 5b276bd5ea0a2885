//! Every route the server serves, as (method, path) with the path as the OpenAPI document writes
//! it (`/v1/kv/{key}` is the router's catch-all `/v1/kv/{*key}`: a key may contain `/`). The
//! router is in `api.rs`; whoever adds a route there adds it here, and the tests then fail until
//! it is documented at `/openapi.json` (`tests/openapi.rs` reads this file) and labelled in the
//! metrics (`metrics::route_of`).

pub const ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("GET", "/v1/info"),
    ("POST", "/v1/backend/read"),
    ("POST", "/v1/backend/commit"),
    ("GET", "/v1/backend/watch"),
    ("POST", "/v1/leases"),
    ("POST", "/v1/leases/ttl"),
    ("POST", "/v1/leases/{id}/keepalive"),
    ("DELETE", "/v1/leases/{id}"),
    ("GET", "/v1/kv/{key}"),
    ("PUT", "/v1/kv/{key}"),
    ("DELETE", "/v1/kv/{key}"),
    ("GET", "/v1/kv"),
    ("POST", "/v1/get-many"),
    ("GET", "/v1/index"),
    ("POST", "/v1/txn"),
    ("GET", "/v1/locks/{name}"),
    ("DELETE", "/v1/locks/{name}/holder"),
];
