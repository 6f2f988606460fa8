// admin_ui.mjs: the official Socket.IO Admin UI (npm @socket.io/admin-ui's
// built ui/dist), served by sio itself (--admin-ui), in headless Chromium.
//
//   node tests/e2e/admin_ui.mjs
//
// Starts `sio server --plugin echo.so --admin --admin-ui /admin-ui/` on a
// free loopback port ($SIO_BIN, $SIO_PLUGIN_DIR; default build/), opens the
// UI with Debian's /usr/bin/chromium (npm playwright-core), logs in through
// its connection form, starts a socket.io-client test client, sees it in the
// UI's socket list, opens it and disconnects it with the UI's button; the
// client must see "io server disconnect". Requests off this machine (the
// UI's web fonts and icon font) are refused, as on a machine without
// internet. SIO_ADMIN_SCREENSHOT=FILE.png saves the socket list with the
// client (docs/admin-ui.png is made so). Prints "ok - ..." / "not ok - ...",
// then "N passed, N failed". Bounded: gives up after 40 s.
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, SIO_BIN, PLUGIN_DIR, CHROMIUM, requireInterop, tally, startSio, stopProcess,
         launchChromium } from "./harness.mjs";

const UI_DIR = join(ROOT, "tests/interop/node_modules/@socket.io/admin-ui/ui/dist");
const TOTAL_MS = 40000;
const PASSWORD = "ui-s3cret";
const ok = (name) => tally.ok(name);
const notOk = (name, why) => tally.notOk(name, why);
const finish = () => tally.finish();

let io;
try {
  requireInterop("playwright-core");
  ({ io } = requireInterop("socket.io-client"));
} catch (e) {
  notOk("load playwright-core and socket.io-client", `${e.message.split("\n")[0]} (npm install in tests/interop)`);
}
for (const [what, p] of [["sio", SIO_BIN], ["echo plugin", join(PLUGIN_DIR, "echo/echo.so")],
                         ["chromium", CHROMIUM], ["the Admin UI (ui/dist)", join(UI_DIR, "index.html")]]) {
  if (!existsSync(p)) notOk(`find ${what}`, `${p} not found`);
}
if (tally.failed) { finish(); process.exit(); }

let server, chrome, browser, client;
const serverLog = () => (server ? server.log() : "");

async function startServer() {
  server = await startSio([
    "server", "--plugin", join(PLUGIN_DIR, "echo/echo.so"), "--host", "127.0.0.1", "--port", "0",
    "--io-threads", "1", "--admin", "--admin-ui", "/admin-ui/", "--admin-ui-dir", UI_DIR,
  ], { ...process.env, SIO_ADMIN_USER: "admin", SIO_ADMIN_PASSWORD: PASSWORD });
  return server.base;
}

async function cleanup() {
  if (client) client.close();
  if (chrome) await chrome.close();
  if (server) await stopProcess(server.proc);
}

let page;
async function main() {
  const base = await startServer();
  chrome = await launchChromium("sio-admin-ui-", { viewport: { width: 1200, height: 700 } });
  browser = chrome.browser;
  // as on a machine without internet: only this server answers
  await browser.route("**/*", (r) => (r.request().url().startsWith(base) ? r.continue() : r.abort()));
  const errors = [];
  page = await browser.newPage();
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("response", (r) => { if (r.status() >= 400) errors.push(`HTTP ${r.status()} for ${r.url()}`); });
  const step = async (name, fn) => {
    try { await fn(); ok(name); } catch (e) { notOk(name, e.message.split("\n")[0]); e.counted = true; throw e; }
  };

  await step("sio serves the Admin UI at /admin-ui/ and it shows its connection form", async () => {
    await page.goto(`${base}/admin-ui/`);
    await page.getByLabel("Server URL").waitFor({ timeout: 10000 });
  });

  await step("logging in through the form connects the UI (wrong password first: refused)", async () => {
    await page.getByLabel("Server URL").fill(base);
    await page.getByLabel("Username").fill("admin");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: /connect/i }).click();
    await page.getByText(/invalid credentials/i).waitFor({ timeout: 10000 });
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: /connect/i }).click();
    await page.getByLabel("Server URL").waitFor({ state: "hidden", timeout: 10000 });
  });

  let id;
  await step("a test client appears in the UI's socket list", async () => {
    client = io(base, { reconnection: false, forceNew: true });
    await new Promise((res, rej) => {
      const t = setTimeout(() => rej(new Error("the test client did not connect")), 5000);
      client.once("connect", () => { clearTimeout(t); res(); });
    });
    id = client.id;
    await page.goto(`${base}/admin-ui/#/sockets/`);
    // the list shows one namespace at a time: pick "/"
    await page.getByLabel("Select namespace").click({ force: true });
    await page.getByRole("option", { name: "/", exact: true }).click();
    await page.getByText(id).first().waitFor({ timeout: 10000 });
    if (process.env.SIO_ADMIN_SCREENSHOT) {
      await page.getByRole("option").first().waitFor({ state: "hidden", timeout: 5000 }).catch(() => {});
      await page.waitForTimeout(500);     // the menu's fade-out, for a clean picture
      await page.screenshot({ path: process.env.SIO_ADMIN_SCREENSHOT });
      console.log(`# screenshot: ${process.env.SIO_ADMIN_SCREENSHOT}`);
    }
  });

  await step("disconnecting it from the UI: the client sees `io server disconnect`", async () => {
    const reason = new Promise((res) => client.once("disconnect", res));
    await page.goto(`${base}/admin-ui/#/n/${encodeURIComponent("/")}/sockets/${id}`);
    await page.getByText(id).first().waitFor({ timeout: 10000 });
    // the page has two Status rows, the client's then the socket's, each
    // with an (icon) disconnect button: the socket's
    await page.locator("tr", { hasText: "Status" }).nth(1).locator("button").click({ timeout: 5000 });
    const r = await Promise.race([reason, new Promise((res) => setTimeout(() => res("(none within 5 s)"), 5000))]);
    if (r !== "io server disconnect") throw new Error(`disconnect reason ${r}`);
  });

  await step("no page errors and no failed requests to sio", async () => {
    if (errors.length) throw new Error(errors.join("; "));
  });
}

const guard = setTimeout(async () => {
  notOk("the whole run", `gave up after ${TOTAL_MS} ms`);
  await cleanup();
  finish();
  process.exit();
}, TOTAL_MS);
try {
  await main();
} catch (e) {
  if (!e.counted) notOk("the run", e.message.split("\n")[0]);
  if (page) {
    const path = join(tmpdir(), `sio-admin-ui-${process.pid}.png`);
    await page.screenshot({ path }).then(() => console.log(`# screenshot: ${path}`), () => {});
  }
  console.log(`# server log: ${serverLog().slice(-800)}`);
} finally {
  clearTimeout(guard);
  await cleanup();
  finish();
}
