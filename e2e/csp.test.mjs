// The Content-Security-Policy `hearth serve` puts on what it serves, in
// real Chromium: the board (Go wasm in the page and in its worker, the
// sync WebSocket, the service worker) loads and syncs under it with no
// violation, and a script injected into the page is refused. The board's
// pages may evaluate strings ('unsafe-eval': vugu's DOM renderer
// evaluates its helper script); the library's worker may not.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, launchBrowser, loopbackOnly } from './harness.mjs';

describe('content security policy', () => {
  let server, browser, context, page;
  const errors = [];

  before(async () => {
    server = await startServer();
    browser = await launchBrowser();
    context = await browser.newContext();
    await loopbackOnly(context);
    // Recorded from the first script on: every violation the page sees.
    await context.addInitScript(() => {
      window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) => {
        window.cspViolations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample });
      });
    });
    page = await context.newPage();
    page.on('pageerror', (err) => errors.push(err));
  });

  after(async () => {
    await context?.close();
    await browser?.close();
    await server?.stop();
  });

  test('the board loads and syncs under the policy, with no violation', async () => {
    const res = await page.goto(new URL('board/', server.url).href);
    const csp = res.headers()['content-security-policy'];
    const host = new URL(server.url).host;
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self' 'wasm-unsafe-eval'[^;]*;/);
    assert.ok(csp.includes(`connect-src 'self' ws://${host} wss://${host}`), csp);
    assert.match(csp, /object-src 'none'/);
    assert.match(csp, /base-uri 'none'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(res.headers()['x-content-type-options'], 'nosniff');
    assert.equal(res.headers()['referrer-policy'], 'no-referrer');
    const worker = await page.request.get(new URL('hearth-worker.js', server.url).href);
    const workerCSP = worker.headers()['content-security-policy'];
    assert.match(workerCSP, /script-src 'self' 'wasm-unsafe-eval';/);

    await page.locator('.card').first().waitFor({ timeout: 120000 });
    await page.locator('#sync-online', { hasText: 'connected' }).waitFor({ timeout: 30000 });
    await page.waitForFunction(() => document.querySelectorAll('.card').length === 25, null, { timeout: 30000 });
    // The page's own inline script ran (allowed by its hash).
    assert.ok(await page.evaluate(() => window.boardMilestones && window.boardMilestones.start > 0));
    assert.deepEqual(await page.evaluate(() => window.cspViolations), []);
    assert.deepEqual(errors, []);
  });

  test('a script injected into the page is refused', async () => {
    await page.evaluate(() => {
      const s = document.createElement('script');
      s.textContent = 'window.injected = true;';
      document.head.append(s);
      const img = document.createElement('img');
      img.src = 'https://evil.example/x.png';
      document.body.append(img);
    });
    await page.waitForFunction(() => window.cspViolations.length >= 2, null, { timeout: 10000 });
    const violations = await page.evaluate(() => window.cspViolations);
    assert.equal(await page.evaluate(() => window.injected), undefined);
    assert.ok(violations.some((v) => v.directive === 'script-src-elem' && v.blocked === 'inline'), JSON.stringify(violations));
    assert.ok(violations.some((v) => v.directive === 'img-src' && v.blocked.startsWith('https://evil.example')), JSON.stringify(violations));
  });
});
