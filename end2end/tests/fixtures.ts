// Shared test fixture: every page records console errors and uncaught
// exceptions ("text @ url"), and a test fails if any appeared. A test that
// provokes an error on purpose removes it from the array it is given.
import { test as base, expect, Page, APIRequestContext, request } from "@playwright/test";

export const test = base.extend<{ consoleErrors: string[] }>({
  consoleErrors: [
    async ({ page }, use) => {
      const errors: string[] = [];
      page.on("console", (msg) => {
        if (msg.type() === "error") errors.push(`${msg.text()} @ ${msg.location().url}`);
      });
      page.on("pageerror", (err) => errors.push(String(err)));
      await use(errors);
      expect(errors, "console errors").toEqual([]);
    },
    { auto: true },
  ],
});

export { expect };

/** Waits until the WASM has hydrated the server-rendered page. */
export async function hydrated(page: Page) {
  await expect(page.locator("[data-hydrated=true]")).toHaveCount(1, { timeout: 15_000 });
}

let counter = 0;
/** A username no other test has used on this server. */
export function uniqueName(prefix: string): string {
  counter += 1;
  return `${prefix}${Date.now().toString(36)}${counter}`.slice(0, 32);
}

export const PASSWORD = "correct horse battery";

/** Creates an account through the UI and waits for the signed-in app. */
export async function signUp(page: Page, username = uniqueName("u")): Promise<string> {
  await page.goto("/register");
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Create account" }).click();
  await expect(page.getByTestId("user-menu")).toBeVisible();
  return username;
}

/** Records console errors and uncaught exceptions of a page opened by hand. */
export function watchErrors(page: Page, errors: string[]) {
  page.on("console", (msg) => {
    if (msg.type() === "error") errors.push(`${msg.text()} @ ${msg.location().url}`);
  });
  page.on("pageerror", (err) => errors.push(String(err)));
}

/** Signs in an existing account through the UI. */
export async function signIn(page: Page, username: string, password = PASSWORD) {
  await page.goto("/login");
  await hydrated(page);
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByTestId("user-menu")).toBeVisible();
}

export const ADMIN = { username: "admin", password: "admin-password-e2e" };

/** An API client signed in as the admin (a cookie session), for publishing. */
export async function adminApi(baseURL: string): Promise<APIRequestContext> {
  const api = await request.newContext({ baseURL });
  const answer = await api.post("/api/auth/login", { data: ADMIN });
  expect(answer.status()).toBe(200);
  return api;
}

/** Publishes one notification to `to` through the REST API. */
export async function publish(
  api: APIRequestContext,
  to: string,
  title: string,
  extra: Record<string, unknown> = {},
): Promise<void> {
  const answer = await api.post("/api/notifications", {
    data: { to: [to], category: "job", priority: "normal", title, body: "", ...extra },
  });
  expect(answer.status(), await answer.text()).toBe(202);
}

/** The connection indicator of a page. */
export function connectionStatus(page: Page) {
  return page.getByTestId("connection-status");
}
