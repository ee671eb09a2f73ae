// The first load of `/` as a signed-in person with an empty cache: the bytes
// on the wire (encoded, as served, with headers) of the HTML, the JavaScript,
// the WASM and the CSS, against a budget set from the measurement with a
// little headroom. Prints both. A regression past the budget fails here.
import { test, expect, hydrated, signUp } from "./fixtures";

/**
 * Bytes on the wire of `/`'s first load, all of it and by kind: the goal
 * of issue 19, 300 KB. Measured: 297,781 B, so the headroom is 0.7 %
 * (brotli alone moves the figure by a kilobyte either way when unrelated
 * code changes). The split tool keeping every chunk's text in the first
 * download again (15 KB more; see `SPLIT_DATA_ROOM` in `src/lib.rs`) fails
 * here, as does any module's code coming back into the first download.
 */
const BUDGET_BYTES = 300_000;

test("the first load of / stays within its transfer budget", async ({ browser }) => {
  const signUpContext = await browser.newContext();
  await signUp(await signUpContext.newPage());
  const storageState = await signUpContext.storageState();
  await signUpContext.close();

  // A new context: the session's cookie, an empty HTTP cache.
  const context = await browser.newContext({ storageState, serviceWorkers: "block" });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("Network.enable");
  const urls = new Map<string, string>();
  const bytes: Record<string, number> = { html: 0, js: 0, wasm: 0, css: 0 };
  cdp.on("Network.requestWillBeSent", (event) => urls.set(event.requestId, event.request.url));
  cdp.on("Network.loadingFinished", (event) => {
    const url = new URL(urls.get(event.requestId) ?? "http://x/");
    const kind =
      url.pathname === "/" ? "html"
      : url.pathname.endsWith(".wasm") ? "wasm"
      : url.pathname.endsWith(".js") && url.pathname.startsWith("/pkg/") ? "js"
      : url.pathname.endsWith(".css") ? "css"
      : null;
    if (kind) bytes[kind] += event.encodedDataLength;
  });
  await page.goto("/");
  await hydrated(page);
  await expect(page.getByTestId("dashboard-summary")).toBeVisible();
  const total = Object.values(bytes).reduce((a, b) => a + b, 0);
  console.log(
    `first load of /: ${total} B on the wire (budget ${BUDGET_BYTES} B): ` +
      Object.entries(bytes).map(([kind, n]) => `${kind} ${n} B`).join(", "),
  );
  expect(bytes.wasm, "the WASM was loaded").toBeGreaterThan(0);
  expect(total).toBeLessThanOrEqual(BUDGET_BYTES);
  await context.close();
});
