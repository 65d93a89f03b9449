/**
 * The admin web UI in a real browser: Debian's Chromium driven by playwright-core against a real coordinator
 * process. A hospital site speaks HTTP and socket.io from this test (jose key, signed assertions, a signed
 * chunked adapter upload); the admin does everything else in the browser. Screenshots of every page go to
 * e2e/artifacts/admin-ui/.
 *
 * Without Chromium (`apt-get install chromium`; .ci/run installs it) the spec is skipped, except under
 * CI=true, where it fails saying so.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { AdminSummary, BundleListResponse, SigningKeyListResponse } from '@casam/protocol';
import { type CoordinatorProcess, startCoordinatorProcess } from './support/coordinator-process';
import { enrollHttpSite, type HttpSite } from '@casam/coordinator/testing';

// What the functions run inside the page (page.evaluate / waitForFunction) use of the browser's globals; the
// repository's TypeScript has no DOM library, and these declarations stay local to this module.
interface PageElement {
  getAttribute(name: string): string | null;
  textContent: string | null;
  outerHTML: string;
  labels?: { length: number } | null;
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement>;
};
declare const sessionStorage: {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
};

const CHROMIUM = process.env['CASAM_CHROMIUM'] ?? '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const inCi = process.env['CI'] === 'true';
const ARTIFACTS = resolve(__dirname, '../artifacts/admin-ui');
const WAIT = 15_000;

describe.runIf(!haveChromium && inCi)('admin UI in Chromium (CI)', () => {
  it('needs Debian Chromium', () => {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: the admin UI browser tests need it under CI (.ci/run installs it with ` +
        '`apt-get install -y --no-install-recommends chromium`; or set CASAM_CHROMIUM to its executable)',
    );
  });
});

describe.skipIf(!haveChromium && inCi)('admin UI in Chromium', () => {
  if (!haveChromium) {
    it.skip(`skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CASAM_CHROMIUM)`, () => {});
    return;
  }

  let coord: CoordinatorProcess;
  let browser: Browser;
  let admin: BrowserContext;
  let page: Page;
  const viewer = { email: 'viewer@hospital.example', password: 'read-only passphrase 2026' };
  const problems: string[] = [];
  let stOlav: HttpSite;
  let taskId: string;

  const shot = (name: string, p: Page = page) =>
    p.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });

  /** Fails on any uncaught error or CSP violation the page reports. */
  function watch(p: Page): void {
    p.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    p.on('console', (m) => {
      if (m.type() === 'error' && !/status of 40[134]|status of 409/.test(m.text()))
        problems.push(`console: ${m.text()}`);
    });
  }

  async function signIn(p: Page, email: string, password: string): Promise<void> {
    await p.goto(`${coord.url}/`);
    await p.getByLabel('Email').fill(email);
    await p.getByLabel('Password').fill(password);
    await p.getByRole('button', { name: 'Sign in' }).click();
    await p.locator('#who-am-i').waitFor({ timeout: WAIT });
    await p.waitForFunction(
      () => document.querySelector('#live-state')?.getAttribute('data-connected') === 'true',
      null,
      { timeout: WAIT },
    );
  }

  /** Every form control has an accessible name (a label, or aria-label). */
  async function expectLabelled(p: Page): Promise<void> {
    const unlabelled = await p.evaluate(() =>
      [...document.querySelectorAll('input, select, textarea')]
        .filter((el) => el.labels?.length === 0 && !el.getAttribute('aria-label'))
        .map((el) => el.outerHTML),
    );
    expect(unlabelled).toEqual([]);
  }

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    coord = await startCoordinatorProcess();
    await coord.admin<AdminSummary>('POST', '/api/v1/admins', { ...viewer, role: 'viewer' });
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    admin = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await admin.newPage();
    watch(page);
  });

  afterAll(async () => {
    await browser?.close();
    await coord?.stop();
  });

  it('serves the UI at / and signs the admin in; a wrong password is shown with its code', async () => {
    await page.goto(`${coord.url}/`);
    expect(new URL(page.url()).pathname).toBe('/admin/');
    await page.getByRole('heading', { name: 'Sign in' }).waitFor({ timeout: WAIT });
    await expectLabelled(page);
    await shot('01-sign-in');
    await page.getByLabel('Email').fill('ops@hospital.example');
    await page.getByLabel('Password').fill('not the password at all');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: WAIT });
    expect(await alert.textContent()).toContain('invalid_credentials');
    expect(await alert.locator('[data-correlation-id]').textContent()).toMatch(/\S{8,}/);

    // Keyboard only: Tab reaches the skip link, the fields and the button, each with a visible focus ring.
    await page.reload();
    await page.getByLabel('Email').waitFor({ timeout: WAIT });
    const focused = () =>
      page.evaluate(() => {
        const g = globalThis as unknown as {
          document: { activeElement: PageElement & { tagName: string } };
          getComputedStyle(e: unknown): { outlineStyle: string };
        };
        const el = g.document.activeElement;
        const label = el.getAttribute('name') ?? el.textContent?.trim();
        return `${el.tagName.toLowerCase()}:${label}:${g.getComputedStyle(el).outlineStyle}`;
      });
    const reached = [await focused()]; // the page puts focus on the first field
    for (const key of ['Tab', 'Tab', 'Shift+Tab', 'Shift+Tab', 'Shift+Tab']) {
      await page.keyboard.press(key);
      reached.push(await focused());
    }
    expect(reached).toEqual([
      'input:email:solid',
      'input:password:solid',
      'button:Sign in:solid',
      'input:password:solid',
      'input:email:solid',
      'a:Skip to content:solid',
    ]);

    await signIn(page, 'ops@hospital.example', coord.adminPassword);
    expect(await page.locator('#who-am-i').textContent()).toBe('ops@hospital.example (admin)');
    expect(await page.evaluate(() => Object.keys(sessionStorage))).toContain('casam.admin.session');
  });

  it('makes an enrollment token for a hospital, which enrolls with it', async () => {
    await page.getByRole('link', { name: 'Sites' }).click();
    await page.getByText('No pending sites.').waitFor({ timeout: WAIT });
    expect(await page.getByText('No enrollment tokens yet.').count()).toBe(1);
    await page.getByLabel('Hospital (label)').fill('St. Olav');
    await page.getByRole('button', { name: 'Create enrollment token' }).click();
    const token = (await page.locator('#new-enrollment-token').textContent({ timeout: WAIT }))!;
    expect(token).toMatch(/^cset_[A-Za-z0-9_-]{43}$/);
    expect(await page.locator('tr[data-token] .badge').textContent()).toBe('active');
    stOlav = await enrollHttpSite(coord, 'St. Olav', token);
  });

  it('approves the pending site by the fingerprint the hospital reads out (a wrong one is refused)', async () => {
    await page.reload();
    const card = page.getByRole('region', { name: 'Pending site St. Olav' });
    await card.waitFor({ timeout: WAIT });
    expect(await card.locator('code.fingerprint').textContent()).toBe(stOlav.fingerprint);
    await expectLabelled(page);
    await shot('02-sites-pending');

    const input = card.getByLabel('Fingerprint read out by the hospital');
    await input.fill([...stOlav.fingerprint].reverse().join('')); // a key swapped in transit
    await card.getByRole('button', { name: 'Approve' }).click();
    await card.getByRole('alert').waitFor({ timeout: WAIT });
    expect(await card.locator('[data-error-code]').textContent()).toBe('fingerprint_mismatch');
    expect((await coord.admin<{ status: string }>('GET', `/api/v1/sites/${stOlav.siteId}`)).status).toBe(
      'pending',
    );

    await input.fill(stOlav.fingerprint);
    expect(await card.textContent()).toContain('Matches the registered key.');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.getByText('No pending sites.').waitFor({ timeout: WAIT });
    expect(await page.locator('tr[data-token] .badge').textContent()).toBe('used');
    const row = page.locator(`tr[data-site="${stOlav.siteId}"]`);
    expect(await row.locator('td').first().locator('.badge').textContent()).toBe('approved');
    expect((await coord.admin<{ status: string }>('GET', `/api/v1/sites/${stOlav.siteId}`)).status).toBe(
      'approved',
    );
  });

  it("shows the site's presence change live, without a reload", async () => {
    const cell = page.locator(`td[data-presence="${stOlav.siteId}"] > span`);
    expect(await cell.getAttribute('data-online')).not.toBe('true');
    const socket = await stOlav.connect();
    await page.waitForFunction(
      (id) =>
        document.querySelector(`td[data-presence="${id}"] > span`)?.getAttribute('data-online') === 'true',
      stOlav.siteId,
      { timeout: WAIT },
    );
    expect(await cell.textContent()).toContain('online');
    await shot('03-sites-online');
    socket.disconnect();
    await page.waitForFunction(
      (id) =>
        document.querySelector(`td[data-presence="${id}"] > span`)?.getAttribute('data-online') === 'false',
      stOlav.siteId,
      { timeout: WAIT },
    );
  });

  it('approves a proposed task', async () => {
    taskId = (await stOlav.proposeTask('liver-ct')).id;
    await page.getByRole('link', { name: 'Tasks' }).click();
    const card = page.getByRole('region', { name: 'Proposed task liver-ct' });
    await card.waitFor({ timeout: WAIT });
    expect(await card.textContent()).toContain('St. Olav');
    await shot('04-tasks-proposed');
    await card.getByRole('button', { name: 'Approve task' }).click();
    await page.getByText('No task proposals waiting.').waitFor({ timeout: WAIT });
    expect(await page.locator(`tr[data-task="${taskId}"] .badge`).textContent()).toBe('approved');
    await shot('05-tasks');
  });

  it('approves an adapter (metrics and τ charted) and sees the new bundle; the next one arrives live', async () => {
    const v1 = (
      await stOlav.uploadAdapter(taskId, {
        metrics: { iou: 0.71, dice: 0.8, frozen_iou: 0.6, boxfill_iou: 0.76 },
      })
    ).adapter;
    await page.getByRole('link', { name: 'Adapters' }).click();
    const row = page.locator(`tr[data-adapter="${v1.id}"]`);
    await row.waitFor({ timeout: WAIT });
    expect(await row.textContent()).toContain('0.710');
    expect(await row.textContent()).toContain('0.800');
    // What it carries, in its row and again beside Approve.
    expect(await row.locator('td[data-adapter-kind]').textContent()).toBe('Alignment Layer');
    // τ with the percentile it was taken at.
    expect(await row.locator('td[data-tau-percentile="97"]').textContent()).toMatch(/^\d+\.\d+ \(p97\)$/);
    expect(await row.locator('div[data-adapter-kind="align"]').textContent()).toBe('Alignment Layer');
    // The site's verdict sits beside Approve: below filling the box, so not recommended.
    expect(await row.locator('[data-verdict="below-box-fill"]').textContent()).toBe(
      'below filling the box by 0.050 IoU (above frozen SAM by 0.110): not recommended',
    );
    expect(await page.locator('svg.chart').count()).toBe(2);
    expect(await page.locator('svg.chart circle').count()).toBeGreaterThanOrEqual(2);
    await expectLabelled(page);
    await row.getByRole('button', { name: 'Approve v1' }).click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-adapter="${id}"] .badge`)?.textContent === 'approved',
      v1.id,
      { timeout: WAIT },
    );
    await shot('06-adapters');

    await page.getByRole('link', { name: 'Bundles' }).click();
    const current = page.locator('#current-bundle');
    await current.waitFor({ timeout: WAIT });
    expect(await current.getByRole('heading').textContent()).toBe('Current bundle: version 1');
    expect(await current.textContent()).toContain('liver-ct');
    expect(await page.locator('tr.current[data-bundle="1"]').count()).toBe(1);

    // A second version, with a decoder delta (adapter file version 2), approved by another admin session: the
    // page learns of bundle 2 from the socket.
    const v2 = (
      await stOlav.uploadAdapter(taskId, { metrics: { iou: 0.78, dice: 0.86 }, decoderLoraRank: 2 })
    ).adapter;
    expect([v2.formatVersion, v2.kind, v2.decoderLora]).toEqual([
      2,
      'align+decoder-lora',
      { rank: 2, alpha: 2, layers: 40 },
    ]);
    await coord.admin('POST', `/api/v1/adapters/${v2.id}/approve`);
    await page.getByRole('heading', { name: 'Current bundle: version 2' }).waitFor({ timeout: WAIT });
    expect(await page.locator('tr.current[data-bundle="2"]').count()).toBe(1);
    expect(await page.locator('tr[data-bundle]').count()).toBe(2);
    expect(await page.locator(`#current-bundle [data-approved-by="${taskId}"]`).textContent()).toContain(
      'ops@hospital.example',
    );
    const v1row = page.locator('tr[data-bundle="1"]');
    await v1row.getByRole('button', { name: 'Show contents' }).click();
    await v1row.getByRole('link', { name: 'v1' }).waitFor({ timeout: WAIT });
    const { bundles } = await coord.admin<BundleListResponse>('GET', '/api/v1/bundles');
    expect(bundles.map((b) => b.version)).toEqual([2, 1]);

    // The archive download goes through the API with the token.
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: WAIT }),
      page.getByRole('button', { name: 'Download v2' }).click(),
    ]);
    expect(download.suggestedFilename()).toBe('casam-bundle-v2.tar');
    await shot('07-bundles');

    // The Adapters page names each version's kind.
    await page.getByRole('link', { name: 'Adapters' }).click();
    const v2row = page.locator(`tr[data-adapter="${v2.id}"]`);
    await v2row.waitFor({ timeout: WAIT });
    expect(await v2row.locator('td[data-adapter-kind]').textContent()).toBe(
      'Alignment Layer + decoder LoRA (rank 2, 40 layers)',
    );
    expect(await page.locator(`tr[data-adapter="${v1.id}"] td[data-adapter-kind]`).textContent()).toBe(
      'Alignment Layer',
    );
    await page.getByRole('link', { name: 'Bundles' }).click();
    await page.locator('#current-bundle').waitFor({ timeout: WAIT });
  });

  it("rotates the coordinator's bundle-signing key in two steps", async () => {
    // still on the Bundles page
    const table = page.getByRole('table', { name: 'Signing keys' });
    await table.waitFor({ timeout: WAIT });
    const rows = () => page.locator('tr[data-signing-key]');
    expect(await rows().count()).toBe(1);
    const first = await rows().first().getAttribute('data-signing-key');
    await page.getByRole('button', { name: 'Start a signing-key rotation' }).click();
    await page
      .getByRole('button', { name: 'Activate the pending signing key now' })
      .waitFor({ timeout: WAIT });
    expect(await rows().count()).toBe(2);
    const pending = (await coord.admin<SigningKeyListResponse>('GET', '/api/v1/signing-keys')).keys.find(
      (k) => k.status === 'pending',
    )!;
    expect(await page.locator(`tr[data-signing-key="${pending.kid}"] .badge`).textContent()).toBe('pending');
    await page.getByRole('button', { name: 'Activate the pending signing key now' }).click();
    await page.getByRole('button', { name: 'Start a signing-key rotation' }).waitFor({ timeout: WAIT });
    expect(await page.locator(`tr[data-signing-key="${pending.kid}"] .badge`).textContent()).toBe('active');
    expect(await page.locator(`tr[data-signing-key="${first}"] .badge`).textContent()).toBe('retired');
    await shot('07b-signing-keys');
  });

  it('shows live training progress relayed from a site', async () => {
    await page.getByRole('link', { name: 'Training' }).click();
    await page
      .getByText('No training reports since you signed in.', { exact: false })
      .waitFor({ timeout: WAIT });
    const socket = await stOlav.connect();
    const ack = await socket.emitWithAck('training.progress', {
      taskId,
      stage: 'training_align',
      epoch: 3,
      epochs: 10,
      loss: 0.1234,
      metrics: { iou: 0.5 },
    });
    expect(ack).toEqual({ ok: true });
    const row = page.locator(`tr[data-training="${stOlav.siteId}/${taskId}"]`);
    await row.waitFor({ timeout: WAIT });
    expect(await row.textContent()).toContain('epoch 3 / 10');
    expect(await row.textContent()).toContain('training_align');
    await shot('08-training');
    socket.disconnect();
  });

  it('shows which bundle each site runs, live, and asks a site for a new key', async () => {
    await page.getByRole('link', { name: 'Sites' }).click();
    const bundleCell = page.locator(`td[data-bundle="${stOlav.siteId}"]`);
    await bundleCell.waitFor({ timeout: WAIT });
    expect(await bundleCell.textContent()).toBe('not reported');
    const socket = await stOlav.connect();
    const state = (v: string) =>
      page.waitForFunction(
        ([id, want]) =>
          document.querySelector(`td[data-bundle="${id}"] > span`)?.getAttribute('data-bundle-state') ===
          want,
        [stOlav.siteId, v] as const,
        { timeout: WAIT },
      );
    expect(await socket.emitWithAck('site.status', { agentVersion: '0.1.0', bundleVersion: 1 })).toEqual({
      ok: true,
    });
    await state('behind'); // bundle 2 is out
    expect(await bundleCell.textContent()).toContain('v1');
    expect(await page.locator(`td[data-agent="${stOlav.siteId}"]`).textContent()).toBe('0.1.0');
    await socket.emitWithAck('site.status', { agentVersion: '0.1.0', bundleVersion: 2 });
    await state('current');

    const asked = new Promise<{ requestedAt: string }>((r) => socket.once('site.key_rotation_requested', r));
    const row = page.locator(`tr[data-site="${stOlav.siteId}"]`);
    await row.getByRole('button', { name: 'Ask for a new key' }).click();
    expect((await asked).requestedAt).toMatch(/^\d{4}-/);
    await row.getByText('not done yet').waitFor({ timeout: WAIT });
    await shot('03b-sites-bundle-and-rotation');
    socket.disconnect();
  });

  it('filters the audit log', async () => {
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('table', { name: 'Audit events, newest first' }).waitFor({ timeout: WAIT });
    await expectLabelled(page);
    await page.getByLabel('Action (exact, e.g. site.approved)').fill('site.approved');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForFunction(
      () =>
        [...document.querySelectorAll('tbody tr td:nth-child(3)')].every(
          (td) => td.textContent === 'site.approved',
        ),
      null,
      { timeout: WAIT },
    );
    // The approval, and before it the refused attempt with the wrong fingerprint.
    expect((await page.locator('tbody tr .badge').allTextContents()).sort()).toEqual(['denied', 'success']);
    await page.getByLabel('Action (exact, e.g. site.approved)').fill('site.approve_failed.nothing');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No audit events match these filters.').waitFor({ timeout: WAIT });
    await page.getByLabel('Action (exact, e.g. site.approved)').fill('');
    await page.getByLabel('Actor type').selectOption('site');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.waitForFunction(
      () => {
        const cells = [...document.querySelectorAll('tbody tr td:nth-child(2)')];
        return cells.length > 0 && cells.every((td) => td.textContent?.startsWith('site'));
      },
      null,
      { timeout: WAIT },
    );
    await shot('09-audit');
  });

  it('revokes a site with a reason; its open socket is ended at once', async () => {
    const socket = await stOlav.connect();
    const ended = new Promise<{ code: string }>((res) => socket.once('session.ended', res));
    await page.getByRole('link', { name: 'Sites' }).click();
    const row = page.locator(`tr[data-site="${stOlav.siteId}"]`);
    await row.waitFor({ timeout: WAIT });
    await row.getByLabel('Reason for revoking St. Olav').fill('key material leaked');
    await row.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.waitForFunction(
      (id) => document.querySelector(`tr[data-site="${id}"] td .badge`)?.textContent === 'revoked',
      stOlav.siteId,
      { timeout: WAIT },
    );
    expect(await page.locator(`tr[data-site="${stOlav.siteId}"]`).textContent()).toContain(
      'key material leaked',
    );
    expect((await ended).code).toBe('credentials_revoked');
    socket.disconnect();
  });

  it('a viewer sees everything, gets no change control, and the API refuses them anyway', async () => {
    const pending = await enrollHttpSite(coord, 'Haukeland');
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const v = await ctx.newPage();
    watch(v);
    await signIn(v, viewer.email, viewer.password);
    expect(await v.locator('#who-am-i').textContent()).toBe(`${viewer.email} (viewer)`);
    const card = v.getByRole('region', { name: 'Pending site Haukeland' });
    await card.waitFor({ timeout: WAIT });
    expect(await v.getByText('You are signed in as a viewer').count()).toBe(1);
    expect(await card.getByRole('button').count()).toBe(0);
    expect(
      await v.getByRole('button', { name: /Approve|Reject|Revoke|Retire|Create|Ask for a new key/ }).count(),
    ).toBe(0);
    await shot('10-viewer-sites', v);
    for (const link of ['Tasks', 'Adapters', 'Bundles']) {
      await v.getByRole('link', { name: link }).click();
      await v.getByRole('heading', { name: link, level: 1 }).waitFor({ timeout: WAIT });
      await v.locator('table').first().waitFor({ timeout: WAIT });
      expect(
        await v
          .getByRole('button', { name: /Approve|Reject|Revoke|Retire|Create|Activate|rotation/ })
          .count(),
        link,
      ).toBe(0);
    }
    // The same token straight at the API: 403.
    const refused = await v.evaluate(async (siteId) => {
      const s = JSON.parse(sessionStorage.getItem('casam.admin.session')!) as { accessToken: string };
      const r = await fetch(`/api/v1/sites/${siteId}/approve`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.accessToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ keyFingerprint: 'x' }),
      });
      return { status: r.status, body: (await r.json()) as { error: { code: string } } };
    }, pending.siteId);
    expect(refused.status).toBe(403);
    expect(refused.body.error.code).toBe('forbidden');
    expect((await coord.admin<{ status: string }>('GET', `/api/v1/sites/${pending.siteId}`)).status).toBe(
      'pending',
    );
    await ctx.close();
  });

  it('returns to sign-in with a message when the session expires, and on sign-out', async () => {
    // Shorten this tab's session to 1.5 s: the expiry timer, not a server answer, must end it.
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('casam.admin.session')!) as { expiresAt: string };
      s.expiresAt = new Date(Date.now() + 1500).toISOString();
      sessionStorage.setItem('casam.admin.session', JSON.stringify(s));
    });
    await page.reload();
    await page.getByText('Your session expired. Please sign in again.').waitFor({ timeout: WAIT });
    expect(new URL(page.url()).hash).toBe('#/sign-in');
    expect(await page.evaluate(() => sessionStorage.getItem('casam.admin.session'))).toBeNull();
    expect(await page.locator('#who').isHidden()).toBe(true); // no stale account or sign-out button
    await shot('11-session-expired');

    // A token the server no longer accepts (here: garbage) also ends the session, with the API's reason.
    await signIn(page, 'ops@hospital.example', coord.adminPassword);
    await page.evaluate(() => {
      const s = JSON.parse(sessionStorage.getItem('casam.admin.session')!) as { accessToken: string };
      s.accessToken = 'not-a-token';
      sessionStorage.setItem('casam.admin.session', JSON.stringify(s));
    });
    await page.getByRole('link', { name: 'Bundles' }).click();
    await page.getByText('Signed out:', { exact: false }).waitFor({ timeout: WAIT });

    await signIn(page, 'ops@hospital.example', coord.adminPassword);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByText('You signed out.').waitFor({ timeout: WAIT });
    expect(await page.locator('#nav').isHidden()).toBe(true);
    expect(await page.locator('#who').isHidden()).toBe(true);
  });

  it('raised no script error and no Content-Security-Policy violation', () => {
    expect(problems).toEqual([]);
  });
});
