import * as http from "node:http";
import { AddressInfo } from "node:net";
import { request } from "@playwright/test";
import { test, expect, adminApi, uniqueName } from "./fixtures";

// Herald embedded in a host app served from another origin (a second local
// port): the host page loads /embed/herald.js, its backend provisions the
// user, mints connection tokens and publishes; the page shows a like count
// that updates live and a <herald-bell> that receives the user's
// notifications.

/** The host app: a page and a token endpoint backed by Herald's API. */
async function startHost(heraldURL: string, apiToken: string, externalId: string) {
  const herald = await request.newContext({
    baseURL: heraldURL,
    extraHTTPHeaders: { Authorization: `Bearer ${apiToken}` },
  });
  let tokensMinted = 0;
  const server = http.createServer(async (req, res) => {
    if (req.url === "/herald-token") {
      const minted = await herald.post("/api/connection-tokens", {
        data: { integration: "host", external_id: externalId, topics: ["post:*"] },
      });
      tokensMinted += 1;
      const { token } = await minted.json();
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(token);
      return;
    }
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Host app</title>
<script src="${heraldURL}/embed/herald.js"></script></head>
<body>
<header><h1>Host app</h1><herald-bell></herald-bell></header>
<article><h2>Post 1</h2><p>Likes: <span data-testid="like-count">–</span></p>
<p>Connection: <span data-testid="state">closed</span></p></article>
<script>
  const herald = new Herald({
    url: ${JSON.stringify(heraldURL)},
    token: () => fetch("/herald-token").then((r) => r.text()),
    topics: ["post:1"],
  });
  herald.on("topic:post:1", (value) => {
    document.querySelector("[data-testid=like-count]").textContent = value.like_count;
  });
  herald.on("state", (state) => {
    document.querySelector("[data-testid=state]").textContent = state;
  });
  herald.connect();
</script>
</body></html>`);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    minted: () => tokensMinted,
    close: async () => {
      await herald.dispose();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test("a host page on another origin shows live topic values and the user's notifications", async ({
  page,
  baseURL,
  consoleErrors,
}) => {
  const admin = await adminApi(baseURL!);
  const created = await admin.post("/api/tokens", { data: { name: uniqueName("host") } });
  expect(created.status()).toBe(201);
  const apiToken = (await created.json()).token as string;
  const backend = await request.newContext({
    baseURL,
    extraHTTPHeaders: { Authorization: `Bearer ${apiToken}` },
  });
  const externalId = uniqueName("host-user");
  const provisioned = await backend.put(`/api/external-users/${externalId}`, {
    data: { display_name: "Hosted Hanna" },
  });
  expect(provisioned.status()).toBe(201);
  const host = await startHost(baseURL!, apiToken, externalId);
  try {
    await backend.delete("/api/integrations/host");
    const integration = await backend.post("/api/integrations", {
      data: { name: "host", origins: [host.origin] },
    });
    expect(integration.status(), await integration.text()).toBe(201);
    const setLikes = async (likes: number) => {
      const answer = await backend.put("/api/topics/post:1", { data: { like_count: likes } });
      expect(answer.status(), await answer.text()).toBe(200);
    };
    await setLikes(41);

    await page.goto(host.origin);
    await expect(page.getByTestId("state")).toHaveText("open");
    // The latest value arrives with the subscription.
    await expect(page.getByTestId("like-count")).toHaveText("41");
    await setLikes(42);
    await expect(page.getByTestId("like-count")).toHaveText("42");

    // A notification for this user reaches the bell.
    const bell = page.getByTestId("herald-bell");
    await expect(bell).toHaveAccessibleName("Notifications, 0 unread");
    const published = await backend.post("/api/notifications", {
      data: {
        to: { external_ids: [externalId] },
        category: "job",
        title: "Your order shipped",
        body: "Arrives Tuesday",
      },
    });
    expect(published.status()).toBe(202);
    await expect(bell).toHaveAccessibleName("Notifications, 1 unread");
    await bell.click();
    const item = page.getByRole("button", { name: /Your order shipped/ });
    await expect(item).toBeVisible();
    await item.click();
    await expect(bell).toHaveAccessibleName("Notifications, 0 unread");
    await page.keyboard.press("Escape");
    await expect(bell).toHaveAttribute("aria-expanded", "false");
    expect(host.minted()).toBeGreaterThanOrEqual(1);
    expect(consoleErrors).toEqual([]);
  } finally {
    await host.close();
    await backend.dispose();
  }
});
