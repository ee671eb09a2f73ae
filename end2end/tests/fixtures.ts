// Shared test fixture: every page records console errors and uncaught
// exceptions ("text @ url"), and a test fails if any appeared. A test that
// provokes an error on purpose removes it from the array it is given.
import { test as base, expect, Page } from "@playwright/test";

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
