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
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, SIO_BIN, PLUGIN_DIR, CHROMIUM, requireInterop, tally, startSio, stopProcess,
         launchChromium } from "./harness.mjs";

const TOTAL_MS = 30000;
const ok = (name) => tally.ok(name);
const notOk = (name, why) => tally.notOk(name, why);
const finish = () => tally.finish();

try {
  requireInterop("playwright-core");
} catch (e) {
  notOk("load playwright-core", `${e.message.split("\n")[0]} (npm install in tests/interop)`);
}
for (const [what, p] of [["sio", SIO_BIN], ["chat plugin", join(PLUGIN_DIR, "chat/chat.so")],
                         ["chromium", CHROMIUM]]) {
  if (!existsSync(p)) notOk(`find ${what}`, `${p} not found`);
}
if (tally.failed) { finish(); process.exit(); }

let server, chrome, browser;
const shots = [];

async function startServer() {
  server = await startSio([
    "server", "--plugin", join(PLUGIN_DIR, "chat/chat.so"), "--host", "127.0.0.1", "--port", "0",
    "--static", `/=${join(ROOT, "plugins/chat/www")}`,
    "--static", `/socket.io-client/=${join(ROOT, "tests/interop/node_modules/socket.io-client/dist")}`,
  ]);
  return `${server.base}/`;
}

async function cleanup() {
  if (chrome) await chrome.close();
  if (server) await stopProcess(server.proc);
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
  chrome = await launchChromium("sio-chromium-", { viewport: { width: 800, height: 700 } });
  browser = chrome.browser;
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
  if (server) console.log(server.log().trim().split("\n").slice(-10).map((l) => `# server: ${l}`).join("\n"));
} finally {
  clearTimeout(timer);
  await cleanup();
}
finish();
process.exit();
