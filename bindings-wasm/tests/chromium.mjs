// Headless Chromium for the package's browser tests and its bench: loads a page, waits for what
// the page reports (a promise the caller's server resolves), then kills the browser and removes
// its profile.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FLAGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-quic',
];

/** Opens `url` and returns what `reported` resolves to; rejects after `timeoutMs`. */
export async function loadPage(url, reported, timeoutMs = 60_000) {
  const profile = mkdtempSync(join(tmpdir(), 'crosstrace-chromium-'));
  const chrome = spawn('chromium', [...FLAGS, `--user-data-dir=${profile}`, url], {
    stdio: 'ignore',
  });
  let timer;
  try {
    return await Promise.race([
      reported,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${url}: the page did not report within ${timeoutMs / 1000} s`)),
          timeoutMs,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    await stopChromium(chrome, profile);
  }
}

/** Kills a Chromium this process started and removes its profile directory. */
export async function stopChromium(chrome, profile) {
  const exited = new Promise((r) => chrome.once('exit', r));
  chrome.kill('SIGKILL');
  await exited;
  try {
    // Chromium's helper processes may still be writing to the profile for a moment.
    rmSync(profile, { recursive: true, force: true, maxRetries: 10, retryDelay: 200 });
  } catch {
    /* a leftover temp directory is not a failure */
  }
}
