//! The built app's files under `/pkg` (the WASM and its chunks, their
//! JavaScript glue, the CSS), sent as the brotli or gzip copy that
//! `scripts/precompress.mjs` wrote beside each one at build time, whichever
//! the browser accepts, instead of being compressed again on every request.
//! Server only.
//!
//! A release build names each file after a hash of its content
//! (`herald.<hash>.wasm`, cargo-leptos' `hash-files`) and writes the names to
//! `hash.txt` beside the binary. Those files never change, so browsers keep
//! them for a year without asking again (`immutable`), and a page always
//! loads the chunks of the build that rendered it. Anything else under
//! `/pkg` (an unhashed debug build, wasm-bindgen's snippets) is `no-cache`:
//! kept, but checked each time (`Last-Modified` makes that a 304).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower_http::services::ServeDir;

/// The path the files are served under.
pub const PKG_PATH: &str = "/pkg";

/// Whether the site was built with content-hashed file names: cargo-leptos
/// then writes `hash_file` (relative to the binary's directory, as Leptos
/// reads it when naming the files in the page).
pub fn site_is_hashed(hash_file: &str) -> bool {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(hash_file)))
        .is_some_and(|path| path.is_file())
}

/// `/pkg` from `<site_root>/<pkg_dir>`; `hashed` as [`site_is_hashed`] found.
pub fn pkg_routes<S: Clone + Send + Sync + 'static>(
    site_root: &str,
    pkg_dir: &str,
    hashed: bool,
) -> Router<S> {
    let dir = Path::new(site_root).join(pkg_dir);
    drop_stale_copies(&dir);
    Router::new()
        .nest_service(
            PKG_PATH,
            ServeDir::new(dir).precompressed_br().precompressed_gzip(),
        )
        .layer(middleware::from_fn(move |request: Request, next: Next| {
            let immutable = hashed && names_content_hash(request.uri().path());
            async move {
                let mut response: Response = next.run(request).await;
                if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
                    // The body depends on Accept-Encoding (the brotli, the
                    // gzip or the plain copy): a shared cache must not hand
                    // one browser's copy to another. `ServeDir` does not
                    // say so itself.
                    response
                        .headers_mut()
                        .append(header::VARY, HeaderValue::from_static("accept-encoding"));
                    response.headers_mut().insert(
                        header::CACHE_CONTROL,
                        HeaderValue::from_static(if immutable {
                            "public, max-age=31536000, immutable"
                        } else {
                            "no-cache"
                        }),
                    );
                }
                response
            }
        }))
}

/// Whether a file name carries cargo-leptos' content hash: a dot-separated
/// part of 22 URL-safe base64 characters (an MD5 digest), as in
/// `herald.<hash>.wasm` or `__wasm_split.<hash>.js`.
fn names_content_hash(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut parts = name.split('.');
    parts.next();
    let mut middle: Vec<&str> = parts.collect();
    middle.pop();
    middle.iter().any(|part| {
        part.len() == 22
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// Deletes compressed copies older than their file: a build that did not
/// run `scripts/precompress.mjs` afterwards must not be served the last
/// build's WASM. Those files are then compressed per request.
fn drop_stale_copies(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    for entry in entries.flatten() {
        let copy = entry.path();
        let source: PathBuf = match copy.extension().and_then(|e| e.to_str()) {
            Some("br" | "gz") => copy.with_extension(""),
            _ => continue,
        };
        let stale = match (modified(&copy), modified(&source)) {
            (Some(copy_time), Some(source_time)) => copy_time < source_time,
            // A copy without its file is stale too.
            (_, None) => true,
            (None, Some(_)) => false,
        };
        if stale {
            tracing::warn!(copy = %copy.display(), "dropping a compressed copy older than its file (run scripts/precompress.mjs after building)");
            let _ = std::fs::remove_file(&copy);
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::{drop_stale_copies, names_content_hash, pkg_routes};

    #[tokio::test]
    async fn a_copy_is_chosen_by_accept_encoding_and_says_so() {
        let root = std::env::temp_dir().join(format!("herald-pkg-{}", std::process::id()));
        let dir = root.join("pkg");
        std::fs::create_dir_all(&dir).unwrap();
        let name = "app.gMe5rX-3ZcYdO_u1AbCdEf.wasm";
        std::fs::write(dir.join(name), b"plain").unwrap();
        std::fs::write(dir.join(format!("{name}.br")), b"brotli").unwrap();
        let routes: axum::Router = pkg_routes(root.to_str().unwrap(), "pkg", true);
        for (accepts, encoding) in [("br, gzip", Some("br")), ("identity", None)] {
            let request = Request::get(format!("/pkg/{name}"))
                .header("accept-encoding", accepts)
                .body(Body::empty())
                .unwrap();
            let response = routes.clone().oneshot(request).await.unwrap();
            assert_eq!(response.status(), 200);
            let headers = response.headers();
            assert_eq!(
                headers.get("content-encoding").map(|v| v.to_str().unwrap()),
                encoding
            );
            assert_eq!(headers["vary"], "accept-encoding", "for shared caches");
            assert_eq!(
                headers["cache-control"],
                "public, max-age=31536000, immutable"
            );
        }
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn hashed_names_are_told_from_plain_ones() {
        assert!(names_content_hash(
            "/pkg/herald.gMe5rX-3ZcYdO_u1AbCdEf.wasm"
        ));
        assert!(names_content_hash(
            "/pkg/__wasm_split.gMe5rX-3ZcYdO_u1AbCdEf.js"
        ));
        assert!(!names_content_hash("/pkg/herald.wasm"));
        assert!(!names_content_hash("/pkg/herald_bg.wasm"));
        // 22 characters, but the name itself, not a hash part.
        assert!(!names_content_hash("/pkg/gMe5rX-3ZcYdO_u1AbCdEf.js"));
        assert!(!names_content_hash("/pkg/snippets/leptos-1a2b/inline0.js"));
    }

    #[test]
    fn copies_older_than_their_file_are_dropped() {
        let dir = std::env::temp_dir().join(format!("herald-assets-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (old_copy, file) = (dir.join("app.wasm.br"), dir.join("app.wasm"));
        std::fs::write(&old_copy, b"old").unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&file, b"new build").unwrap();
        let fresh_copy = dir.join("app.wasm.gz");
        std::fs::write(&fresh_copy, b"fresh").unwrap();
        let orphan = dir.join("gone.js.br");
        std::fs::write(&orphan, b"orphan").unwrap();
        drop_stale_copies(&dir);
        assert!(!old_copy.exists());
        assert!(fresh_copy.exists());
        assert!(!orphan.exists());
        assert!(file.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
