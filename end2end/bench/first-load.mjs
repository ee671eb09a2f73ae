// First-load benchmark: what a person's browser downloads, and how long it
// waits, before a page of Herald answers to clicks. Prints figures; asserts
// nothing (the budget check is tests/first-load.spec.ts).
//
//   node end2end/bench/first-load.mjs [--bin target/release/herald] [--runs 5]
//
// It starts the release binary on a free port with a fresh data directory,
// signs in the admin over the API, opens a conversation with a second
// person, then for `/`, `/messages/{id}` and `/admin/status`:
// - bytes: one load with an empty cache, summing CDP `encodedDataLength`
//   (compressed as served, headers included) of the HTML, `/pkg` JavaScript,
//   WASM and CSS;
// - time to interactive: `--runs` loads (empty cache each) with the CPU
//   slowed 4x (`Emulation.setCPUThrottlingRate`) and a "fast 3G" network
//   (562.5 ms round trip, 1.44 Mbit/s down, 675 kbit/s up; Chrome DevTools'
//   preset), from navigation start until the hydrated layout marks itself
//   `data-hydrated="true"`. The median is printed with every run.
import { chromium, request } from "@playwright/test";
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? args[at + 1] : fallback;
};
const repoRoot = path.resolve(import.meta.dirname, "../..");
const binary = path.resolve(option("bin", process.env.HERALD_BIN ?? path.join(repoRoot, "target/release/herald")));
const runs = Number(option("runs", "5"));
const ADMIN = { username: "admin", password: "admin-password-bench" };
const FAST_3G = {
  offline: false,
  latency: 562.5,
  downloadThroughput: (1.44 * 1024 * 1024) / 8,
  uploadThroughput: (675 * 1024) / 8,
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startServer() {
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-first-load-"));
  const child = spawn(binary, [], {
    cwd: repoRoot,
    stdio: ["ignore", "ignore", "inherit"],
    env: {
      ...process.env,
      HERALD_ADDR: `127.0.0.1:${port}`,
      HERALD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HERALD_DATA_DIR: dataDir,
      HERALD_ADMIN_USERNAME: ADMIN.username,
      HERALD_ADMIN_PASSWORD: ADMIN.password,
      HERALD_LOG: "warn",
    },
  });
  const baseURL = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300; attempt++) {
    if (child.exitCode !== null) throw new Error(`${binary} exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${baseURL}/healthz`)).ok) return { baseURL, child, dataDir };
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error("the server did not answer /healthz within 30 s");
}

/** Signs in the admin, adds a second person and a conversation with a few messages. */
async function seed(baseURL) {
  const bob = await request.newContext({ baseURL });
  const registered = await bob.post("/api/auth/register", {
    data: { username: "bob", password: "bench-password-bob" },
  });
  if (registered.status() !== 201) throw new Error(`register: ${registered.status()}`);
  const admin = await request.newContext({ baseURL });
  const login = await admin.post("/api/auth/login", { data: ADMIN });
  if (login.status() !== 200) throw new Error(`login: ${login.status()}`);
  const opened = await admin.post("/api/conversations", { data: { kind: "direct", with: "bob" } });
  if (!opened.ok()) throw new Error(`conversation: ${opened.status()}`);
  const { conversation } = await opened.json();
  for (let i = 1; i <= 10; i++) {
    const sender = i % 2 ? bob : admin;
    const sent = await sender.post(`/api/conversations/${conversation.id}/messages`, {
      data: { body: `Message ${i} of the benchmark's conversation` },
    });
    if (sent.status() !== 201) throw new Error(`message: ${sent.status()}`);
  }
  const storageState = await admin.storageState();
  await admin.dispose();
  await bob.dispose();
  return { storageState, conversationId: conversation.id };
}

function kindOf(url, pagePath) {
  const { pathname } = new URL(url);
  if (pathname === pagePath) return "html";
  if (!pathname.startsWith("/pkg/")) return null;
  if (pathname.endsWith(".wasm")) return "wasm";
  if (pathname.endsWith(".js")) return "js";
  if (pathname.endsWith(".css")) return "css";
  return null;
}

/** One load with an empty cache; answers the bytes by kind and the time to interactive. */
async function load(browser, baseURL, storageState, pagePath, throttled) {
  const context = await browser.newContext({ storageState, serviceWorkers: "block" });
  await context.addInitScript(() => {
    const mark = () => {
      if (!window.__interactiveAt && document.querySelector("[data-hydrated=true]")) {
        window.__interactiveAt = performance.now();
      }
    };
    new MutationObserver(mark).observe(document, {
      subtree: true,
      attributes: true,
      attributeFilter: ["data-hydrated"],
    });
  });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  await cdp.send("Network.setCacheDisabled", { cacheDisabled: true });
  if (throttled) {
    await cdp.send("Emulation.setCPUThrottlingRate", { rate: 4 });
    await cdp.send("Network.emulateNetworkConditions", FAST_3G);
  }
  const urls = new Map();
  const bytes = { html: 0, js: 0, wasm: 0, css: 0 };
  const files = [];
  cdp.on("Network.requestWillBeSent", (event) => urls.set(event.requestId, event.request.url));
  cdp.on("Network.loadingFinished", (event) => {
    const url = urls.get(event.requestId);
    const kind = url && kindOf(url, pagePath);
    if (kind) {
      bytes[kind] += event.encodedDataLength;
      files.push(`${new URL(url).pathname} ${event.encodedDataLength}`);
    }
  });
  await page.goto(baseURL + pagePath, { waitUntil: "load", timeout: 120_000 });
  await page.waitForFunction(() => window.__interactiveAt !== undefined, null, { timeout: 120_000 });
  const interactiveMs = await page.evaluate(() => window.__interactiveAt);
  const errors = await page.evaluate(() => document.querySelectorAll("[data-testid=load-error]").length);
  await context.close();
  if (errors) throw new Error(`${pagePath} showed a load error`);
  return { bytes, files, interactiveMs };
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
};

const { baseURL, child, dataDir } = await startServer();
try {
  const { storageState, conversationId } = await seed(baseURL);
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run"],
  });
  console.log(`binary: ${binary}`);
  console.log(`time to interactive: CPU 4x slower, fast 3G, median of ${runs} loads, empty cache`);
  for (const pagePath of ["/", `/messages/${conversationId}`, "/admin/status"]) {
    const first = await load(browser, baseURL, storageState, pagePath, false);
    const total = Object.values(first.bytes).reduce((a, b) => a + b, 0);
    const times = [];
    for (let i = 0; i < runs; i++) {
      times.push((await load(browser, baseURL, storageState, pagePath, true)).interactiveMs);
    }
    const label = pagePath.startsWith("/messages/") ? "/messages/{id}" : pagePath;
    console.log(
      `${label.padEnd(15)} ${String(total).padStart(9)} B on the wire ` +
        `(html ${first.bytes.html}, js ${first.bytes.js}, wasm ${first.bytes.wasm}, css ${first.bytes.css}); ` +
        `interactive after ${Math.round(median(times))} ms ` +
        `[${times.map((t) => Math.round(t)).join(", ")}]`,
    );
    if (process.env.FIRST_LOAD_FILES) console.log(`  ${first.files.join("\n  ")}`);
  }
  await browser.close();
} finally {
  child.kill();
  fs.rmSync(dataDir, { recursive: true, force: true });
}
