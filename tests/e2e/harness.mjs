// harness.mjs: what the browser suites share (browser_chat.mjs,
// h2_browser.mjs, admin_ui.mjs): paths ($SIO_BIN, $SIO_PLUGIN_DIR,
// $CHROMIUM as tests/interop/run.sh; default build/ and /usr/bin/chromium),
// ok/not ok counting, a free loopback port, `sio server` started in the
// background (its output kept, its listening line awaited) and stopped,
// and headless Chromium through npm playwright-core (installed in
// tests/interop; it downloads no browser) on a temp profile.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import net from "node:net";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const SIO_BIN = resolve(process.env.SIO_BIN || join(ROOT, "build/tools/sio"));
export const PLUGIN_DIR = resolve(process.env.SIO_PLUGIN_DIR || join(ROOT, "build/plugins"));
export const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
export const requireInterop = createRequire(join(ROOT, "tests/interop/package.json"));

// ok/not ok lines and the closing "N passed, N failed".
export const tally = {
  passed: 0, failed: 0,
  ok(name) { console.log(`ok - ${name}`); this.passed++; },
  notOk(name, why) { console.log(`not ok - ${name}: ${why}`); this.failed++; },
  finish() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed ? 1 : 0;
  },
};

export function freePort() {
  return new Promise((res, rej) => {
    const s = net.createServer();
    s.on("error", rej);
    s.listen(0, "127.0.0.1", () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

// Start `sio ARGS...`; resolves with { proc, log(), base } once it prints
// its "listening on http(s)://HOST:PORT/" line (base: that origin), or
// rejects after 10 s or when it exits first.
export function startSio(args, env = process.env) {
  const proc = spawn(SIO_BIN, args, { stdio: ["ignore", "pipe", "pipe"], env });
  let text = "";
  proc.stdout.on("data", (d) => { text += d; });
  proc.stderr.on("data", (d) => { text += d; });
  const server = { proc, log: () => text, base: null };
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error("no listening line within 10 s")), 10000);
    const look = () => {
      const m = /^listening on (https?:\/\/[^/\s]+)\//m.exec(text);
      if (m) { clearTimeout(t); server.base = m[1]; res(server); }
    };
    proc.stdout.on("data", look);
    proc.once("exit", (code) => { clearTimeout(t); rej(new Error(`server exited (${code}): ${text.slice(-500)}`)); });
    look();
  });
}

// SIGTERM, then SIGKILL after 3 s; resolves once it has exited.
export async function stopProcess(proc) {
  if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once("exit", r));
  proc.kill("SIGTERM");
  const t = setTimeout(() => {
    console.log(`# pid ${proc.pid} ignored SIGTERM, killing it`);
    proc.kill("SIGKILL");
  }, 3000);
  await gone;
  clearTimeout(t);
}

// Headless Chromium on a new temp profile: { browser, close() } (close
// also removes the profile). opts go to launchPersistentContext; extraArgs
// to Chromium.
export async function launchChromium(prefix, opts = {}, extraArgs = []) {
  const { chromium } = requireInterop("playwright-core");
  const profile = mkdtempSync(join(tmpdir(), prefix));
  let browser;
  try {
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true,
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             ...extraArgs],
      ...opts,
    });
  } catch (e) {
    rmSync(profile, { recursive: true, force: true });
    throw e;
  }
  return {
    browser,
    async close() {
      await browser.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
