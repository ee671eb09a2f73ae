/*! Herald embeddable client. Served by Herald at /embed/herald.js; no
 * dependencies. Documentation: docs/EMBEDDING.md in Herald's repository.
 *
 *   const herald = new Herald({
 *     url: "https://herald.example.com",          // default: where this script came from
 *     token: async () => (await fetch("/herald-token")).text(), // or a string
 *     topics: ["post:123"],
 *   });
 *   herald.on("notification", (n) => console.log(n.title));
 *   herald.on("topic", (update) => console.log(update.topic, update.value));
 *   herald.on("unread", (count) => badge.textContent = count);
 *   herald.connect();
 */
(function (global) {
  "use strict";

  var scriptOrigin = (function () {
    var script = document.currentScript;
    try {
      return script && script.src ? new URL(script.src).origin : location.origin;
    } catch (e) {
      return location.origin;
    }
  })();

  var STORED = ["notification", "notification_updated", "notifications_read",
    "notifications_read_all", "notifications_deleted", "message", "conversation_read",
    "conversation_updated", "conversation_member_added", "conversation_member_removed",
    "conversation_removed"];

  /** Seconds until a JWT's `exp` (Infinity when unreadable). */
  function secondsLeft(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(part)).exp - Date.now() / 1000;
    } catch (e) {
      return Infinity;
    }
  }

  function HeraldError(status, body) {
    var error = (body && body.error) || {};
    var e = new Error(error.message || "Herald answered " + status);
    e.status = status;
    e.code = error.code || "http_" + status;
    return e;
  }

  /**
   * A connection to Herald for one user of the host app.
   * options.url: Herald's address; options.token: a connection token, or a
   * function returning one (or a promise of one), called again whenever
   * the token expires; options.topics: topics to listen to;
   * options.lastEventId: resume after this event (default: live from now).
   */
  function Herald(options) {
    options = options || {};
    this.url = (options.url || scriptOrigin).replace(/\/+$/, "");
    this._tokenSource = options.token;
    this._token = typeof options.token === "string" ? options.token : null;
    this._topics = new Set(options.topics || []);
    this._values = new Map();
    this._handlers = new Map();
    this.lastEventId = options.lastEventId || null;
    this.connectionId = null;
    this.unreadCount = null;
    this.state = "closed";
    this._attempt = 0;
    this._source = null;
    this._timer = null;
    this._closed = true;
    if (!Herald.default) {
      Herald.default = this;
      // Bells already on the page waited for a client.
      var self = this;
      document.querySelectorAll("herald-bell").forEach(function (bell) {
        if (!bell.client) bell.client = self;
      });
    }
  }

  Herald.prototype.on = function (type, handler) {
    var list = this._handlers.get(type) || [];
    list.push(handler);
    this._handlers.set(type, list);
    var self = this;
    return function () {
      self._handlers.set(type, (self._handlers.get(type) || []).filter(function (h) {
        return h !== handler;
      }));
    };
  };

  Herald.prototype._emit = function (type, value) {
    (this._handlers.get(type) || []).forEach(function (handler) {
      try {
        handler(value);
      } catch (e) {
        setTimeout(function () { throw e; });
      }
    });
  };

  Herald.prototype._setState = function (state) {
    if (this.state !== state) {
      this.state = state;
      this._emit("state", state);
    }
  };

  /** A token valid for at least 10 more seconds, fetched if needed. */
  Herald.prototype.token = function (force) {
    var self = this;
    if (!force && self._token && secondsLeft(self._token) > 10) {
      return Promise.resolve(self._token);
    }
    if (typeof self._tokenSource !== "function") {
      return self._token ? Promise.resolve(self._token) : Promise.reject(new Error("Herald: no token"));
    }
    return Promise.resolve(self._tokenSource()).then(function (token) {
      self._token = String(token).trim();
      return self._token;
    });
  };

  Herald.prototype.connect = function () {
    this._closed = false;
    this._open(false);
    return this;
  };

  Herald.prototype.close = function () {
    this._closed = true;
    clearTimeout(this._timer);
    if (this._source) this._source.close();
    this._source = null;
    this._setState("closed");
  };

  Herald.prototype._open = function (refresh) {
    var self = this;
    if (self._closed) return;
    clearTimeout(self._timer);
    if (self._source) self._source.close();
    self._setState("connecting");
    self.token(refresh).then(function (token) {
      if (self._closed) return;
      var query = "access_token=" + encodeURIComponent(token);
      if (self._topics.size) query += "&topics=" + encodeURIComponent(Array.from(self._topics).join(","));
      if (self.lastEventId) query += "&last_event_id=" + encodeURIComponent(self.lastEventId);
      var source = new EventSource(self.url + "/api/events?" + query);
      self._source = source;
      source.addEventListener("ready", function (e) {
        var ready = JSON.parse(e.data);
        self.connectionId = ready.connection_id;
        if (!self.lastEventId) self.lastEventId = String(ready.cursor);
        self._attempt = 0;
        self._setState("open");
        self._emit("ready", ready);
        if (self.unreadCount === null) self.refreshUnread();
      });
      source.addEventListener("reset", function (e) {
        self.lastEventId = String(JSON.parse(e.data).cursor);
        self._emit("reset", JSON.parse(e.data));
        self.refreshUnread();
      });
      source.addEventListener("token_expired", function () {
        self._open(true);
      });
      source.addEventListener("topic", function (e) {
        var update = JSON.parse(e.data);
        var known = self._values.get(update.topic);
        if (known && known.version >= update.version) return;
        self._values.set(update.topic, update);
        self._emit("topic", update);
        self._emit("topic:" + update.topic, update.value);
      });
      STORED.forEach(function (type) {
        source.addEventListener(type, function (e) {
          self.lastEventId = e.lastEventId || self.lastEventId;
          var event = JSON.parse(e.data);
          if (typeof event.unread_count === "number") self._setUnread(event.unread_count);
          self._emit(type, event.notification || event.message || event);
          self._emit("event", event);
        });
      });
      source.onerror = function () {
        // EventSource retries by itself with the same URL (an old token,
        // old topics): take over, with backoff and jitter.
        source.close();
        if (self._source !== source || self._closed) return;
        self._setState("connecting");
        var delay = Math.min(30000, 1000 * Math.pow(2, self._attempt++));
        delay = delay / 2 + Math.random() * delay / 2;
        var expiring = secondsLeft(self._token || "") < 30;
        self._timer = setTimeout(function () { self._open(expiring); }, delay);
      };
    }).catch(function (error) {
      self._emit("error", error);
      var delay = Math.min(30000, 1000 * Math.pow(2, self._attempt++));
      self._timer = setTimeout(function () { self._open(true); }, delay / 2 + Math.random() * delay / 2);
    });
  };

  Herald.prototype._setUnread = function (count) {
    if (this.unreadCount !== count) {
      this.unreadCount = count;
      this._emit("unread", count);
    }
  };

  /** Calls Herald's API with the token (one retry with a fresh token). */
  Herald.prototype.request = function (method, path, body, retried) {
    var self = this;
    return self.token(false).then(function (token) {
      var init = { method: method, headers: { Authorization: "Bearer " + token } };
      if (body !== undefined) {
        init.headers["Content-Type"] = "application/json";
        init.body = JSON.stringify(body);
      }
      return fetch(self.url + path, init);
    }).then(function (response) {
      if (response.status === 401 && !retried && typeof self._tokenSource === "function") {
        return self.token(true).then(function () { return self.request(method, path, body, true); });
      }
      if (response.status === 204) return null;
      return response.json().catch(function () { return null; }).then(function (json) {
        if (!response.ok) throw HeraldError(response.status, json);
        return json;
      });
    });
  };

  /** The latest notifications: {notifications, unread_count, next_before}. */
  Herald.prototype.notifications = function (query) {
    var self = this;
    var params = new URLSearchParams(query || {}).toString();
    return self.request("GET", "/api/notifications" + (params ? "?" + params : "")).then(function (page) {
      self._setUnread(page.unread_count);
      return page;
    });
  };

  Herald.prototype.refreshUnread = function () {
    return this.notifications({ limit: 1 }).then(function (page) { return page.unread_count; }, function () { return null; });
  };

  Herald.prototype.markRead = function (id) {
    return this.request("POST", "/api/notifications/" + encodeURIComponent(id) + "/read");
  };

  Herald.prototype.markAllRead = function () {
    return this.request("POST", "/api/notifications/read-all", {});
  };

  /** The latest value of `topic` received, if any. */
  Herald.prototype.value = function (topic) {
    var update = this._values.get(topic);
    return update ? update.value : undefined;
  };

  Herald.prototype._change = function (subscribe, unsubscribe) {
    if (!this.connectionId || this.state !== "open") return Promise.resolve(null);
    return this.request("POST", "/api/topics/subscriptions", {
      connection_id: this.connectionId, subscribe: subscribe, unsubscribe: unsubscribe,
    });
  };

  /** Listens to `topic` from now on (also after reconnecting). */
  Herald.prototype.subscribe = function (topic) {
    if (this._topics.has(topic)) return Promise.resolve(null);
    this._topics.add(topic);
    var self = this;
    return this._change([topic], []).catch(function (error) {
      self._topics.delete(topic);
      throw error;
    });
  };

  Herald.prototype.unsubscribe = function (topic) {
    if (!this._topics.delete(topic)) return Promise.resolve(null);
    this._values.delete(topic);
    return this._change([], [topic]);
  };

  global.Herald = Herald;

  // <herald-bell>: a bell with the unread count and the latest
  // notifications, for the client in its `client` property (default: the
  // first Herald created on the page).
  if (!global.customElements || customElements.get("herald-bell")) return;

  var STYLE = ":host{position:relative;display:inline-block;font:inherit}" +
    "button{font:inherit;cursor:pointer}" +
    ".bell{position:relative;background:none;border:0;padding:.4em;min-width:44px;min-height:44px;color:inherit}" +
    ".badge{position:absolute;top:0;right:0;min-width:1.3em;padding:0 .3em;border-radius:1em;background:#c0262d;color:#fff;font-size:.75em;line-height:1.3em}" +
    ".panel{position:absolute;right:0;z-index:1000;width:20em;max-height:26em;overflow:auto;background:Canvas;color:CanvasText;border:1px solid GrayText;border-radius:.5em;box-shadow:0 4px 16px rgba(0,0,0,.2)}" +
    ".head{display:flex;justify-content:space-between;align-items:center;padding:.5em .75em;border-bottom:1px solid GrayText}" +
    "ul{list-style:none;margin:0;padding:0}li button{display:block;width:100%;text-align:left;background:none;border:0;border-bottom:1px solid #8884;padding:.6em .75em;color:inherit}" +
    "li.unread button{font-weight:600}small{display:block;opacity:.75;font-weight:400}.empty{padding:1em .75em;opacity:.75}";

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) { node.setAttribute(name, attrs[name]); });
    if (text !== undefined) node.textContent = text;
    return node;
  }

  class HeraldBell extends HTMLElement {
    connectedCallback() {
      if (this._root) {
        // Moved in the page: listen again.
        document.addEventListener("keydown", this._onKey);
        document.addEventListener("click", this._onClick);
        return;
      }
      var root = (this._root = this.attachShadow({ mode: "open" }));
      root.appendChild(el("style", {}, STYLE));
      this._button = el("button", { class: "bell", part: "button", "aria-haspopup": "true", "aria-expanded": "false", "data-testid": "herald-bell" });
      this._button.innerHTML = '<svg width="24" height="24" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1z"/></svg>';
      this._badge = el("span", { class: "badge", part: "badge", hidden: "" });
      this._button.appendChild(this._badge);
      this._live = el("span", { role: "status", style: "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)" });
      this._panel = el("div", { class: "panel", part: "panel", hidden: "", role: "region", "aria-label": "Notifications" });
      root.append(this._button, this._live, this._panel);
      var self = this;
      this._button.addEventListener("click", function () { self.toggle(); });
      // On the document: the panel re-renders after a click, and focus
      // leaves with the button that had it.
      this._onKey = function (e) {
        if (e.key === "Escape" && !self._panel.hidden) { self.toggle(false); self._button.focus(); }
      };
      this._onClick = function (e) {
        if (!self._panel.hidden && !e.composedPath().includes(self)) self.toggle(false);
      };
      document.addEventListener("keydown", this._onKey);
      document.addEventListener("click", this._onClick);
      this._render(null);
      this.client = this._client || Herald.default;
    }

    disconnectedCallback() {
      document.removeEventListener("keydown", this._onKey);
      document.removeEventListener("click", this._onClick);
    }

    set client(client) {
      if (this._off) this._off.forEach(function (off) { off(); });
      this._client = client;
      if (!client || !this._root) return;
      var self = this;
      this._off = [
        client.on("unread", function (count) { self._render(count); }),
        client.on("notification", function (n) {
          self._live.textContent = "New notification: " + n.title;
          if (!self._panel.hidden) self._load();
        }),
      ];
      if (client.unreadCount !== null) this._render(client.unreadCount);
    }

    get client() { return this._client; }

    _render(count) {
      var unread = count || 0;
      this._badge.hidden = unread === 0;
      this._badge.textContent = unread > 99 ? "99+" : String(unread);
      this._button.setAttribute("aria-label", "Notifications, " + unread + " unread");
    }

    toggle(open) {
      var show = open === undefined ? this._panel.hidden : open;
      this._panel.hidden = !show;
      this._button.setAttribute("aria-expanded", String(show));
      if (show) this._load();
    }

    _load() {
      var self = this;
      var client = this._client;
      if (!client) return;
      client.notifications({ limit: 10 }).then(function (page) {
        var panel = self._panel;
        panel.textContent = "";
        var head = el("div", { class: "head" });
        head.appendChild(el("strong", {}, "Notifications"));
        var all = el("button", { type: "button" }, "Mark all read");
        all.addEventListener("click", function () { client.markAllRead().then(function () { self._load(); }); });
        head.appendChild(all);
        panel.appendChild(head);
        if (!page.notifications.length) {
          panel.appendChild(el("p", { class: "empty" }, "Nothing yet."));
          return;
        }
        var list = el("ul");
        page.notifications.forEach(function (n) {
          var item = el("li", { class: n.read ? "read" : "unread" });
          var button = el("button", { type: "button" }, n.title);
          if (n.body) button.appendChild(el("small", {}, n.body));
          button.addEventListener("click", function () {
            client.markRead(n.id).then(function () {
              if (n.url) location.assign(n.url); else self._load();
            });
          });
          item.appendChild(button);
          list.appendChild(item);
        });
        panel.appendChild(list);
      }, function (error) {
        self._panel.textContent = "";
        self._panel.appendChild(el("p", { class: "empty" }, "Could not load notifications (" + error.message + ")."));
      });
    }
  }

  customElements.define("herald-bell", HeraldBell);
})(window);
