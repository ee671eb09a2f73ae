//! The built app's files under `/pkg` (WASM, its JavaScript glue, the CSS),
//! sent as the brotli or gzip copy that `scripts/precompress.mjs` wrote
//! beside each one at build time, whichever the browser accepts, instead of
//! being compressed again on every request. Server only.
//!
//! The file names are not versioned yet, so browsers keep them but ask
//! again each time (`no-cache`; `Last-Modified` makes that a 304).

use std::path::{Path, PathBuf};

use axum::Router;
use axum::http::{HeaderValue, header};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

/// The path the files are served under.
pub const PKG_PATH: &str = "/pkg";

/// `/pkg` from `<site_root>/<pkg_dir>`.
pub fn pkg_routes<S: Clone + Send + Sync + 'static>(site_root: &str, pkg_dir: &str) -> Router<S> {
    let dir = Path::new(site_root).join(pkg_dir);
    drop_stale_copies(&dir);
    Router::new()
        .nest_service(
            PKG_PATH,
            ServeDir::new(dir).precompressed_br().precompressed_gzip(),
        )
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        ))
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
    use super::drop_stale_copies;

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
