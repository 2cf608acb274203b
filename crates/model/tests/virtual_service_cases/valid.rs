//! Hand-written valid VirtualServices covering every route kind and most fields: Strait must
//! accept them without errors. (Istio's own samples are checked in place, from the corpus, by
//! `crates/config/tests/istio_corpus.rs`; they are not copied here.)

use serde_json::{Value, json};

/// (case name, namespace, spec).
pub fn documents() -> Vec<(&'static str, &'static str, Value)> {
    vec![
        (
            "header match, subsets and an 80/20 split",
            "shop",
            json!({
                "hosts": ["cart"],
                "http": [
                    {"name": "beta", "match": [{"headers": {"x-beta": {"exact": "1"}}, "uri": {"prefix": "/api/"}}],
                     "route": [{"destination": {"host": "cart", "subset": "beta"}}]},
                    {"route": [
                        {"destination": {"host": "cart", "subset": "stable", "port": {"number": 8080}}, "weight": 80},
                        {"destination": {"host": "cart", "subset": "canary", "port": {"number": 8080}}, "weight": 20}
                    ], "timeout": "3s", "retries": {"attempts": 2, "perTryTimeout": "500ms", "retryOn": "5xx,reset,503"}}
                ]
            }),
        ),
        (
            "gateway-bound with redirect, rewrite, CORS, headers and mirroring",
            "edge",
            json!({
                "hosts": ["shop.example.com", "*.shop.example.com"],
                "gateways": ["edge/public", "mesh"],
                "http": [
                    {"match": [{"uri": {"exact": "/old"}}], "redirect": {"uri": "/new", "redirectCode": 308}},
                    {"match": [{"uri": {"regex": "/v[0-9]+/items/.*"}, "method": {"exact": "GET"}}],
                     "rewrite": {"uriRegexRewrite": {"match": "^/v[0-9]+/", "rewrite": "/"}},
                     "route": [{"destination": {"host": "items.shop.svc.cluster.local"},
                                "headers": {"request": {"set": {"x-route": "items"}}, "response": {"remove": ["server"]}}}],
                     "mirror": {"host": "items-shadow"}, "mirrorPercentage": {"value": 10.0},
                     "corsPolicy": {"allowOrigins": [{"exact": "https://shop.example.com"}], "allowMethods": ["GET", "POST"],
                                    "allowHeaders": ["authorization"], "maxAge": "24h", "allowCredentials": true}},
                    {"match": [{"uri": {"prefix": "/health"}}], "directResponse": {"status": 200, "body": {"string": "ok"}}}
                ]
            }),
        ),
        (
            "fault injection: delay and gRPC abort",
            "default",
            json!({
                "hosts": ["ratings"],
                "http": [{"fault": {"delay": {"fixedDelay": "7s", "percentage": {"value": 100}},
                                    "abort": {"grpcStatus": "UNAVAILABLE", "percentage": {"value": 5}}},
                          "route": [{"destination": {"host": "ratings"}}]}]
            }),
        ),
        (
            "TLS passthrough by SNI and weighted TCP",
            "default",
            json!({
                "hosts": ["db.example.com", "secure.example.com"],
                "tls": [{"match": [{"sniHosts": ["secure.example.com"], "port": 443}],
                         "route": [{"destination": {"host": "secure.example.com", "port": {"number": 443}}}]}],
                "tcp": [{"match": [{"port": 5432, "destinationSubnets": ["10.0.0.0/8"]}],
                         "route": [{"destination": {"host": "db-a", "port": {"number": 5432}}, "weight": 50},
                                   {"destination": {"host": "db-b", "port": {"number": 5432}}, "weight": 50}]}]
            }),
        ),
        (
            "delegate root and exportTo",
            "edge",
            json!({
                "hosts": ["api.example.com"],
                "gateways": ["edge/public"],
                "exportTo": [".", "shop"],
                "http": [{"match": [{"uri": {"prefix": "/cart"}}], "delegate": {"name": "cart-routes", "namespace": "shop"}}]
            }),
        ),
    ]
}
