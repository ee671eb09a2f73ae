// Browser tests against the release build. scripts/test builds the app, picks
// a free port (HERALD_E2E_PORT) and names the binary (HERALD_BIN); Playwright
// starts the server with a fresh data directory and waits for /healthz.
import { defineConfig } from "@playwright/test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

const port = Number(process.env.HERALD_E2E_PORT ?? 3917);
const repoRoot = path.resolve(__dirname, "..");
const binary = process.env.HERALD_BIN ?? path.join(repoRoot, "target/release/herald");
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-e2e-"));

export default defineConfig({
  testDir: "./tests",
  fullyParallel: false,
  workers: 1,
  forbidOnly: !!process.env.CI,
  retries: 0,
  timeout: 30_000,
  reporter: [["list"]],
  use: {
    baseURL: `http://127.0.0.1:${port}`,
    trace: "retain-on-failure",
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
  },
  webServer: {
    command: binary,
    cwd: repoRoot,
    url: `http://127.0.0.1:${port}/healthz`,
    reuseExistingServer: false,
    timeout: 60_000,
    stdout: "ignore",
    stderr: "pipe",
    env: {
      HERALD_ADDR: `127.0.0.1:${port}`,
      HERALD_PUBLIC_URL: `http://127.0.0.1:${port}`,
      HERALD_DATA_DIR: dataDir,
      HERALD_ADMIN_USERNAME: "admin",
      HERALD_ADMIN_PASSWORD: "admin-password-e2e",
      HERALD_LOG: "warn",
      // The tests publish, register and start conversations far faster
      // than a person would, all from 127.0.0.1.
      HERALD_PUBLISH_RATE_PER_MINUTE: "100000",
      HERALD_SESSION_PUBLISH_RATE_PER_MINUTE: "100000",
      HERALD_REGISTRATIONS_PER_IP_PER_HOUR: "100000",
      HERALD_CONVERSATIONS_PER_MINUTE: "100000",
      HERALD_MEMBERSHIP_CHANGES_PER_MINUTE: "100000",
      // The integrator endpoint that screens.spec.ts starts for POST actions.
      HERALD_ACTION_ORIGINS: `http://127.0.0.1:${port + 1}`,
    },
  },
});
