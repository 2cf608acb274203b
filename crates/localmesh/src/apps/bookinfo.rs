//! What each demo service answers. Like Bookinfo, a service whose dependency fails still
//! answers 200 and says what failed in its body (productpage shows "reviews unavailable"), so
//! an injected fault shows up where it happened (the caller's sidecar access log) and not as
//! a cascade of errors up the call chain.

use super::{App, Service, client::Reply};
use http::HeaderMap;
use serde_json::{Value, json};

/// The JSON answer for `path`, or `None` for a path the service does not serve.
pub async fn answer(app: &App, path: &str, headers: &HeaderMap) -> Option<Value> {
    let id = |prefix: &str| path.strip_prefix(prefix).and_then(|rest| rest.parse::<u32>().ok());
    let mut body = match app.service {
        Service::Productpage if path == "/" || path == "/productpage" => productpage(app, headers).await,
        Service::Details => details(app, id("/details/")?, headers).await,
        Service::Reviews => reviews(app, id("/reviews/")?, headers).await,
        Service::Ratings => {
            let id = id("/ratings/")?;
            json!({"id": id, "ratings": {"Reviewer1": 5, "Reviewer2": 4}})
        }
        Service::BooksApi => {
            let id = id("/books/")?;
            json!({"id": id, "title": "The Comedy of Errors", "isbn13": "9781420948738"})
        }
        Service::Productpage => return None,
    };
    let request_id = headers.get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let user = headers.get("end-user").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if let Value::Object(map) = &mut body {
        // The service, version and pod come first so a reader (or `head -c`) sees them.
        let mut out = serde_json::Map::new();
        out.insert("service".into(), app.service.name().into());
        out.insert("version".into(), app.version.clone().into());
        out.insert("pod".into(), app.pod.clone().into());
        out.insert("requestId".into(), request_id.into());
        out.insert("endUser".into(), user.into());
        out.append(map);
        return Some(Value::Object(out));
    }
    Some(body)
}

/// A dependency's answer as JSON, or `{"error": …}` naming what went wrong.
fn outcome(call: Result<Reply, String>) -> Value {
    match call {
        Ok(r) if r.status.is_success() => {
            serde_json::from_slice(&r.body).unwrap_or_else(|_| json!({"text": String::from_utf8_lossy(&r.body)}))
        }
        Ok(r) => json!({"error": format!("{} {}", r.status.as_u16(), String::from_utf8_lossy(&r.body).trim())}),
        Err(e) => json!({"error": e}),
    }
}

async fn productpage(app: &App, headers: &HeaderMap) -> Value {
    let (details, reviews) = tokio::join!(
        app.client.get("http://details:9080/details/0", headers),
        app.client.get("http://reviews:9080/reviews/0", headers),
    );
    json!({"product": "The Comedy of Errors", "details": outcome(details), "reviews": outcome(reviews)})
}

async fn details(app: &App, id: u32, headers: &HeaderMap) -> Value {
    let mut body = json!({
        "id": id, "author": "William Shakespeare", "year": 1595, "type": "paperback", "pages": 200,
        "publisher": "PublisherA", "language": "English",
    });
    // Bookinfo's details can fetch from an external books API (ENABLE_EXTERNAL_BOOK_SERVICE);
    // here it is `BOOKS_API=host:port`, reached through a CONNECT tunnel as HTTPS would be,
    // so REGISTRY_ONLY egress policy shows in the sidecar's access log (BlackHoleCluster).
    if let Ok(target) = std::env::var("BOOKS_API") {
        let external = outcome(app.client.get_tunnelled(&target, &format!("/books/{id}"), headers).await);
        body["external"] = external;
    }
    body
}

async fn reviews(app: &App, id: u32, headers: &HeaderMap) -> Value {
    let mut reviews = json!([
        {"reviewer": "Reviewer1", "text": "An extremely entertaining play by Shakespeare."},
        {"reviewer": "Reviewer2", "text": "Absolutely fun and entertaining."},
    ]);
    if app.version != "v1" {
        let color =
            std::env::var("STAR_COLOR").unwrap_or_else(|_| if app.version == "v2" { "black" } else { "red" }.into());
        let ratings = outcome(app.client.get(&format!("http://ratings:9080/ratings/{id}"), headers).await);
        for r in reviews.as_array_mut().into_iter().flatten() {
            let name = r["reviewer"].as_str().unwrap_or_default().to_string();
            r["rating"] = match ratings.get("ratings").and_then(|m| m.get(&name)) {
                Some(stars) => json!({"stars": stars, "color": color}),
                None => json!({"error": ratings.get("error").cloned().unwrap_or_else(|| "ratings unavailable".into())}),
            };
        }
    }
    json!({"id": id, "reviews": reviews})
}
