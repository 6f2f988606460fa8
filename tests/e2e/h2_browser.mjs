// h2_browser.mjs: the chat demo page over https in headless Chromium, which
// speaks HTTP/2 to the gateway (ALPN h2):
//
//   node tests/e2e/h2_browser.mjs CERT KEY
//
// Starts `sio server --tls-cert CERT --tls-key KEY --plugin chat.so` with
// the page and the socket.io-client bundle as static files on a free
// loopback port ($SIO_BIN, $SIO_PLUGIN_DIR; default build/), opens the page
// in two tabs of /usr/bin/chromium (npm playwright-core,
// --ignore-certificate-errors), checks that the page and the polling
// requests came over h2 (nextHopProtocol), that the socket upgraded to a
// WebSocket over the same HTTP/2 connection (RFC 8441: the gateway's debug
// log shows one HTTP/2 connection and two tunnels), and that a message
// typed in one tab shows in the other.
// Prints "ok - ..." / "not ok - ...", then "N passed, N failed".
// Bounded: the whole run gives up after 30 s.
import { join } from "node:path";
import { ROOT, PLUGIN_DIR, tally, startSio, stopProcess, launchChromium } from "./harness.mjs";

const [CERT, KEY] = process.argv.slice(2);
const ok = (name) => tally.ok(name);
const notOk = (name, why) => tally.notOk(name, why);

let server, chrome, browser;
const serverLog = () => (server ? server.log() : "");
async function main() {
  server = await startSio([
    "server", "--plugin", join(PLUGIN_DIR, "chat/chat.so"), "--port", "0",
    "--tls-cert", CERT, "--tls-key", KEY, "--log-level", "debug",
    "--static", `/=${join(ROOT, "plugins/chat/www")}`,
    "--static", `/socket.io-client/=${join(ROOT, "tests/interop/node_modules/socket.io-client/dist")}`,
  ]);
  const url = `${server.base}/`;
  chrome = await launchChromium("sio-chromium-h2-", { ignoreHTTPSErrors: true },
                                ["--ignore-certificate-errors"]);
  browser = chrome.browser;
  const errors = [];
  const open = async (name) => {
    const p = await browser.newPage();
    p.on("pageerror", (e) => errors.push(`${name}: ${e.message}`));
    p.on("requestfailed", (r) => errors.push(`${name}: request failed: ${r.url()}`));
    await p.goto(url);
    await p.waitForFunction(() => document.getElementById("status").textContent === "connected",
                            null, { timeout: 8000 });
    return p;
  };
  const ann = await open("ann");
  const bob = await open("bob");
  const proto = await ann.evaluate(() => performance.getEntriesByType("navigation")[0].nextHopProtocol);
  if (proto === "h2") ok("the page came over HTTP/2 (nextHopProtocol h2)");
  else notOk("the page came over HTTP/2", `nextHopProtocol ${proto}`);
  const polls = await ann.evaluate(() => performance.getEntriesByType("resource")
    .filter((e) => e.name.includes("/socket.io/?")).map((e) => e.nextHopProtocol));
  if (polls.length && polls.every((p) => p === "h2")) ok(`polling requests over h2 (${polls.length})`);
  else notOk("polling requests over h2", JSON.stringify(polls));
  await ann.waitForFunction(() => socket.io.engine.transport.name === "websocket", null, { timeout: 8000 })
    .then(() => ok("the socket upgraded to a WebSocket"),
          () => notOk("the socket upgraded to a WebSocket", "still polling"));
  await ann.fill("#msg", "hello over h2");
  await ann.press("#msg", "Enter");
  await bob.waitForFunction(() => [...document.querySelectorAll("#log li")]
    .some((li) => li.textContent === "hello over h2"), null, { timeout: 5000 })
    .then(() => ok("a message typed in one tab shows in the other"),
          () => notOk("a message typed in one tab shows in the other", "not seen"));
  // the gateway logs each HTTP/2 connection and each RFC 8441 WebSocket
  const conns = (serverLog().match(/: HTTP\/2$/gm) || []).length;
  const tunnels = (serverLog().match(/WebSocket over HTTP\/2 \(RFC 8441\)$/gm) || []).length;
  if (tunnels === 2 && conns === 1)
    ok("both tabs' WebSockets ride the page's one HTTP/2 connection (RFC 8441)");
  else notOk("WebSockets over the page's HTTP/2 connection", `${conns} HTTP/2 connections, ${tunnels} RFC 8441 WebSockets`);
  if (errors.length) notOk("no page errors", errors.join("; "));
  else ok("no page errors and no failed requests");
}

let timer;
try {
  await Promise.race([main(), new Promise((_, rej) => {
    timer = setTimeout(() => rej(new Error("gave up after 30 s")), 30000);
  })]);
} catch (e) {
  notOk("browser over h2", e.message.split("\n")[0]);
  console.log(serverLog().trim().split("\n").slice(-10).map((l) => `# server: ${l}`).join("\n"));
} finally {
  clearTimeout(timer);
  if (chrome) await chrome.close();
  if (server) await stopProcess(server.proc);
}
tally.finish();
process.exit();
