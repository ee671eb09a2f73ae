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

// Web Push. The server pushes a notification only while its user has no
// live event stream, so a push usually finds no Herald page open. It is
// not shown when a Herald window has the focus (that page shows its own
// toast), nor when the notification was read or deleted in the meantime:
// one GET on the notification tells (the payload says what it was when
// sent; by the time a phone comes back online it may be old news). When
// that GET cannot answer (offline, signed out), the push is shown.
self.addEventListener("push", (event) => {
  let payload = null;
  try {
    payload = event.data ? event.data.json() : null;
  } catch (_) {
    payload = null;
  }
  event.waitUntil(showPush(payload));
});

async function showPush(payload) {
  if (!payload || typeof payload.id !== "number") {
    // Unreadable: still say something, rather than the browser's own
    // "this site has been updated in the background".
    return self.registration.showNotification("Herald", {
      body: "You have a new notification.",
      icon: "/icons/icon-192.png",
      data: { url: "/notifications" },
    });
  }
  await setBadge(payload.unread_count);
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  if (windows.some((client) => client.focused)) {
    return;
  }
  if (await settledElsewhere(payload.id)) {
    return;
  }
  return self.registration.showNotification(payload.title, {
    body: payload.body || "",
    // A replacement (same key) replaces the notification on screen.
    tag: payload.key ? `key:${payload.key}` : `id:${payload.id}`,
    renotify: Boolean(payload.key),
    requireInteraction: payload.priority === "urgent",
    silent: payload.priority === "low",
    icon: "/icons/icon-192.png",
    timestamp: Date.parse(payload.created_at) || Date.now(),
    // Buttons, where the browser shows them (Chromium); elsewhere the
    // click opens the page, where the same buttons are.
    actions: (payload.actions || [])
      .slice(0, self.Notification && Notification.maxActions ? Notification.maxActions : 3)
      .map((action, index) => ({ action: String(index), title: action.label })),
    data: { id: payload.id, url: payload.url || "/notifications", actions: payload.actions || [] },
  });
}

// Whether the notification was read or deleted since it was pushed.
async function settledElsewhere(id) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 3000);
  try {
    const response = await fetch(`/api/notifications/${id}`, {
      credentials: "same-origin",
      headers: { accept: "application/json" },
      signal: controller.signal,
    });
    if (response.status === 404) {
      return true;
    }
    if (!response.ok) {
      return false;
    }
    const body = await response.json();
    return Boolean(body.notification && body.notification.read);
  } catch (_) {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

// The installed app's icon badge, where the browser has one.
async function setBadge(unread) {
  if (typeof unread !== "number" || !("setAppBadge" in self.navigator)) {
    return;
  }
  try {
    if (unread > 0) {
      await self.navigator.setAppBadge(unread);
    } else {
      await self.navigator.clearAppBadge();
    }
  } catch (_) {
    // No permission or no installed app: the badge is a nicety.
  }
}

// A click opens the notification's page in a Herald window (the one
// already showing it, else any open one, else a new one) and marks the
// notification read.
self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const action = event.action ? (data.actions || [])[Number(event.action)] : null;
  if (action && action.method === "POST") {
    event.waitUntil(sendAction(data.id, action));
  } else {
    event.waitUntil(openAndMarkRead(data.id, action ? action.url : data.url));
  }
});

// A POST action chosen on the notification itself: its body goes to the
// publisher's endpoint (with the cookies of its site), the notification
// is marked read, and a failure is shown as a notification of its own.
async function sendAction(id, action) {
  let ok = false;
  try {
    const init = { method: "POST", credentials: "include" };
    if (action.body !== undefined && action.body !== null) {
      init.headers = { "content-type": "application/json" };
      init.body = JSON.stringify(action.body);
    }
    ok = (await fetch(new URL(action.url, self.location.origin).href, init)).ok;
  } catch (_) {
    ok = false;
  }
  if (ok) {
    await markRead(id);
  } else {
    await self.registration.showNotification(`"${action.label}" was not sent`, {
      body: "Open Herald to try again.",
      icon: "/icons/icon-192.png",
      data: { id, url: "/notifications" },
    });
  }
}

async function openAndMarkRead(id, url) {
  const target = new URL(url || "/notifications", self.location.origin);
  const local = target.origin === self.location.origin;
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const showing = windows.find((client) => client.url === target.href);
  const any = local ? showing || windows[0] : null;
  const marking = typeof id === "number" ? markRead(id) : Promise.resolve();
  try {
    if (any) {
      const focused = await any.focus();
      if (focused.url !== target.href && "navigate" in focused) {
        await focused.navigate(target.href).catch(() => self.clients.openWindow(target.href));
      }
    } else {
      await self.clients.openWindow(target.href);
    }
  } catch (_) {
    // The browser allows focusing and opening windows only in answer to
    // the click; the notification is marked read all the same.
  }
  await marking;
}

async function markRead(id) {
  try {
    await fetch(`/api/notifications/${id}/read`, { method: "POST", credentials: "same-origin" });
  } catch (_) {
    // Offline: it stays unread, and the center shows it so.
  }
}
