// Herald's service worker (registered by the app for scope "/").
//
// Page loads go to the network first; when it is unreachable the offline
// page answers instead. Pages are never cached: they carry the user's data
// and are sent with "Cache-Control: no-store". The app's files (/pkg) and
// icons are kept as they arrive, for the offline page and for a reload
// while the network is flaky, but always fetched first, so a new release
// never runs with the old release's files. The event stream, the API, the
// server functions and every non-GET request pass untouched.
const BUILD = new URL(self.location.href).searchParams.get("build") || "dev";
const CACHE = `herald-${BUILD}`;
const OFFLINE = "/offline.html";
const PRECACHE = [OFFLINE, "/favicon.svg", "/manifest.webmanifest", "/icons/icon-192.png"];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(PRECACHE))
      .then(() => self.skipWaiting()),
  );
});

// Caches of other releases are dropped.
self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((key) => key.startsWith("herald-") && key !== CACHE).map((key) => caches.delete(key))),
      )
      .then(() => self.clients.claim()),
  );
});

function untouched(request, url) {
  return (
    request.method !== "GET" ||
    url.origin !== self.location.origin ||
    url.pathname.startsWith("/api/") ||
    url.pathname.startsWith("/fn/") ||
    (request.headers.get("accept") || "").includes("text/event-stream")
  );
}

function kept(url) {
  return url.pathname.startsWith("/pkg/") || url.pathname.startsWith("/icons/") || PRECACHE.includes(url.pathname);
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (untouched(request, url)) {
    return;
  }
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE)));
    return;
  }
  if (kept(url)) {
    event.respondWith(
      fetch(request)
        .then((response) => {
          if (response.ok) {
            const copy = response.clone();
            event.waitUntil(caches.open(CACHE).then((cache) => cache.put(request, copy)));
          }
          return response;
        })
        .catch(() => caches.match(request).then((hit) => hit || Response.error())),
    );
  }
});
