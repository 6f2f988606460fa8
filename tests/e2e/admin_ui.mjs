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
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SIO_BIN = resolve(process.env.SIO_BIN || join(ROOT, "build/tools/sio"));
const PLUGIN_DIR = resolve(process.env.SIO_PLUGIN_DIR || join(ROOT, "build/plugins"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const UI_DIR = join(ROOT, "tests/interop/node_modules/@socket.io/admin-ui/ui/dist");
const TOTAL_MS = 40000;
const PASSWORD = "ui-s3cret";

let passed = 0, failed = 0;
const ok = (name) => { console.log(`ok - ${name}`); passed++; };
const notOk = (name, why) => { console.log(`not ok - ${name}: ${why}`); failed++; };
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

const require = createRequire(join(ROOT, "tests/interop/package.json"));
let chromium, io;
try {
  ({ chromium } = require("playwright-core"));
  ({ io } = require("socket.io-client"));
} catch (e) {
  notOk("load playwright-core and socket.io-client", `${e.message.split("\n")[0]} (npm install in tests/interop)`);
}
for (const [what, p] of [["sio", SIO_BIN], ["echo plugin", join(PLUGIN_DIR, "echo/echo.so")],
                         ["chromium", CHROMIUM], ["the Admin UI (ui/dist)", join(UI_DIR, "index.html")]]) {
  if (!existsSync(p)) notOk(`find ${what}`, `${p} not found`);
}
if (failed) { finish(); process.exit(); }

let server, browser, profile, client;
let serverLog = "";

async function startServer() {
  server = spawn(SIO_BIN, [
    "server", "--plugin", join(PLUGIN_DIR, "echo/echo.so"), "--host", "127.0.0.1", "--port", "0",
    "--io-threads", "1", "--admin", "--admin-ui", "/admin-ui/", "--admin-ui-dir", UI_DIR,
  ], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, SIO_ADMIN_USER: "admin", SIO_ADMIN_PASSWORD: PASSWORD } });
  server.stdout.on("data", (d) => { serverLog += d; });
  server.stderr.on("data", (d) => { serverLog += d; });
  return await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error("no listening line within 10 s")), 10000);
    const look = () => {
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)\//m.exec(serverLog);
      if (m) { clearTimeout(t); res(m[1]); }
    };
    server.stdout.on("data", look);
    server.once("exit", (code) => { clearTimeout(t); rej(new Error(`server exited (${code}): ${serverLog.slice(-500)}`)); });
    look();
  });
}

async function cleanup() {
  if (client) client.close();
  if (browser) await browser.close().catch(() => {});
  if (server && server.exitCode === null && server.signalCode === null) {
    const gone = new Promise((r) => server.once("exit", r));
    server.kill("SIGTERM");
    const t = setTimeout(() => server.kill("SIGKILL"), 3000);
    await gone;
    clearTimeout(t);
  }
  if (profile) rmSync(profile, { recursive: true, force: true });
}

let page;
async function main() {
  const base = await startServer();
  profile = mkdtempSync(join(tmpdir(), "sio-admin-ui-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1200, height: 700 },
  });
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
  console.log(`# server log: ${serverLog.slice(-800)}`);
} finally {
  clearTimeout(guard);
  await cleanup();
  finish();
}
