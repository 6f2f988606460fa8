// browser_chat.mjs: the chat demo page (plugins/chat/www/index.html) in
// headless Chromium, as two people would use it.
//
//   node tests/e2e/browser_chat.mjs
//
// Starts `sio server --plugin chat.so --static /=plugins/chat/www
// --static /socket.io-client/=<socket.io-client dist>` on a free loopback
// port ($SIO_BIN, $SIO_PLUGIN_DIR as tests/interop/run.sh; default build/),
// drives Debian's /usr/bin/chromium with npm playwright-core (installed in
// tests/interop; it downloads no browser), opens the page in three tabs,
// sends a chat message from one and sees it in the others, then a room
// message via Join/Send that reaches the room member only. On a failure it
// saves a screenshot of each tab to a temp file and names it;
// SIO_BROWSER_SCREENSHOT=FILE.png saves one of the first tab at the end
// anyway. Prints "ok - ..." / "not ok - ...", then "N passed, N failed".
// Bounded: the whole run gives up after 30 s.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const SIO_BIN = resolve(process.env.SIO_BIN || join(ROOT, "build/tools/sio"));
const PLUGIN_DIR = resolve(process.env.SIO_PLUGIN_DIR || join(ROOT, "build/plugins"));
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TOTAL_MS = 30000;

let passed = 0, failed = 0;
const ok = (name) => { console.log(`ok - ${name}`); passed++; };
const notOk = (name, why) => { console.log(`not ok - ${name}: ${why}`); failed++; };
function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exitCode = failed ? 1 : 0;
}

let chromium;
try {
  const require = createRequire(join(ROOT, "tests/interop/package.json"));
  ({ chromium } = require("playwright-core"));
} catch (e) {
  notOk("load playwright-core", `${e.message.split("\n")[0]} (npm install in tests/interop)`);
}
for (const [what, p] of [["sio", SIO_BIN], ["chat plugin", join(PLUGIN_DIR, "chat/chat.so")],
                         ["chromium", CHROMIUM]]) {
  if (!existsSync(p)) notOk(`find ${what}`, `${p} not found`);
}
if (failed) { finish(); process.exit(); }

function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

let server, browser, profile;
let serverLog = "";
const shots = [];

async function startServer() {
  const port = await freePort();
  server = spawn(SIO_BIN, [
    "server", "--plugin", join(PLUGIN_DIR, "chat/chat.so"), "--host", "127.0.0.1", "--port", String(port),
    "--static", `/=${join(ROOT, "plugins/chat/www")}`,
    "--static", `/socket.io-client/=${join(ROOT, "tests/interop/node_modules/socket.io-client/dist")}`,
  ], { stdio: ["ignore", "pipe", "pipe"] });
  server.stdout.on("data", (d) => { serverLog += d; });
  server.stderr.on("data", (d) => { serverLog += d; });
  await new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error("no listening line within 10 s")), 10000);
    const look = () => { if (/^listening on http:\/\//m.test(serverLog)) { clearTimeout(t); res(); } };
    server.stdout.on("data", look);
    server.once("exit", (code) => { clearTimeout(t); rej(new Error(`server exited (${code}): ${serverLog.slice(-500)}`)); });
    look();
  });
  return `http://127.0.0.1:${port}/`;
}

async function stopServer() {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const gone = new Promise((r) => server.once("exit", r));
  server.kill("SIGTERM");
  const t = setTimeout(() => { console.log(`# server pid ${server.pid} ignored SIGTERM, killing it`); server.kill("SIGKILL"); }, 3000);
  await gone;
  clearTimeout(t);
}

async function cleanup() {
  if (browser) await browser.close().catch(() => {});
  await stopServer();
  if (profile) rmSync(profile, { recursive: true, force: true });
}

// Text of the chat log's lines.
const logLines = (page) => page.$$eval("#log li", (lis) => lis.map((li) => li.textContent));
async function waitLine(page, text, ms = 5000) {
  await page.waitForFunction((t) => [...document.querySelectorAll("#log li")].some((li) => li.textContent === t),
                             text, { timeout: ms });
}
async function say(page, text) {
  await page.fill("#msg", text);
  await page.press("#msg", "Enter");
}

async function main() {
  const url = await startServer();
  profile = mkdtempSync(join(tmpdir(), "sio-chromium-"));
  browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 800, height: 700 },
  });
  const errors = [];
  const open = async (name) => {
    const p = await browser.newPage();
    p.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
    p.on("console", (m) => {
      if (m.type() === "error" && !/^Failed to load resource/.test(m.text())) errors.push(`${name}: console: ${m.text()}`);
    });
    p.on("requestfailed", (r) => errors.push(`${name}: request failed: ${r.url()}`));
    p.on("response", (r) => { if (r.status() >= 400) errors.push(`${name}: HTTP ${r.status()} for ${r.url()}`); });
    shots.push([name, p]);
    await p.goto(url);
    return p;
  };
  const step = async (name, fn) => {
    try { await fn(); ok(name); } catch (e) { notOk(name, e.message.split("\n")[0]); e.counted = true; throw e; }
  };

  let ann, bob, cat;
  await step("the page loads in three tabs and connects (status, welcome, inputs enabled)", async () => {
    ann = await open("ann"); bob = await open("bob"); cat = await open("cat");
    for (const p of [ann, bob, cat]) {
      await p.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 5000 });
      await p.waitForFunction(() => /^welcome, you are \S{20}$/.test(document.querySelector("#log li")?.textContent || ""),
                              null, { timeout: 5000 });
      if (await p.isDisabled("#msg")) throw new Error("message box still disabled");
    }
    if ((await ann.title()) !== "sio chat") throw new Error(`title ${await ann.title()}`);
  });

  await step("a message typed in one tab appears in the others (and its own)", async () => {
    await say(ann, "hello from ann");
    for (const p of [bob, cat, ann]) await waitLine(p, "hello from ann");
    if (await ann.inputValue("#msg") !== "") throw new Error("message box not cleared");
  });

  await step("Join puts a tab in a room (status and `joined` line)", async () => {
    for (const p of [bob, ann]) {
      await p.fill("#room", "lobby");
      if (p === bob) await p.press("#room", "Enter");   // Enter in the room box joins too
      else await p.click("#join");
      await p.waitForFunction(() => document.getElementById("status").textContent === "connected, room lobby",
                              null, { timeout: 5000 });
    }
    const annSid = await ann.evaluate("socket.id");
    await waitLine(bob, `${annSid} joined lobby`);   // the other member's join
    await waitLine(ann, "you joined lobby");           // one's own
  });

  await step("a room message reaches the room member, once in the sender, not outsiders", async () => {
    await say(ann, "just the lobby");
    await waitLine(bob, "[lobby] just the lobby");
    await say(cat, "marker from cat");   // cat is in no room: everyone gets it
    for (const p of [ann, bob, cat]) await waitLine(p, "marker from cat");
    const count = (lines) => lines.filter((l) => l.includes("just the lobby")).length;
    const [a, c] = [await logLines(ann), await logLines(cat)];
    if (count(a) !== 1) throw new Error(`sender shows it ${count(a)} times`);
    if (count(c) !== 0) throw new Error(`outsider got it: ${JSON.stringify(c)}`);
  });

  await step("Leave goes back to everyone", async () => {
    await ann.click("#leave");
    await waitLine(ann, "left lobby");
    await ann.waitForFunction(() => document.getElementById("status").textContent === "connected", null, { timeout: 5000 });
    await say(ann, "back to all");
    for (const p of [bob, cat]) await waitLine(p, "back to all");
  });

  await step("no page errors and no failed requests", async () => {
    if (errors.length) throw new Error(errors.join("; "));
  });

  if (process.env.SIO_BROWSER_SCREENSHOT) {
    await ann.screenshot({ path: process.env.SIO_BROWSER_SCREENSHOT });
    console.log(`# screenshot: ${process.env.SIO_BROWSER_SCREENSHOT}`);
  }
}

async function screenshots() {
  for (const [name, p] of shots) {
    const path = join(tmpdir(), `sio-browser-chat-${process.pid}-${name}.png`);
    try { await p.screenshot({ path, timeout: 3000 }); console.log(`# screenshot of ${name}: ${path}`); }
    catch (e) { console.log(`# no screenshot of ${name}: ${e.message.split("\n")[0]}`); }
  }
}

let timer;
try {
  await Promise.race([main(), new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error(`gave up after ${TOTAL_MS / 1000} s`)), TOTAL_MS);
  })]);
} catch (e) {
  if (!e.counted) notOk("browser chat", e.message.split("\n")[0]);
  await screenshots();
  if (serverLog) console.log(serverLog.trim().split("\n").slice(-10).map((l) => `# server: ${l}`).join("\n"));
} finally {
  clearTimeout(timer);
  await cleanup();
}
finish();
process.exit();
