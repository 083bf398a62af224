// Headless Debian Chromium driven by playwright-core, for the dashboard test and the docs
// screenshot. playwright-core is loaded by name at run time so that a checkout without it still
// type-checks; callers skip with the returned reason when either piece is missing.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHROMIUM = '/usr/bin/chromium';

/** The few Playwright calls the tests make. */
export interface Page {
  goto(url: string): Promise<unknown>;
  waitForSelector(selector: string, options?: { timeout?: number }): Promise<unknown>;
  textContent(selector: string): Promise<string | null>;
  locator(selector: string): { count(): Promise<number>; allTextContents(): Promise<string[]> };
  screenshot(options: { path?: string; fullPage?: boolean }): Promise<Buffer>;
  setViewportSize(size: { width: number; height: number }): Promise<void>;
  fill(selector: string, value: string): Promise<void>;
  evaluate<T>(fn: () => T): Promise<T>;
}

interface Context {
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

interface PlaywrightModule {
  chromium: { launchPersistentContext(dir: string, options: Record<string, unknown>): Promise<Context> };
}

export interface Browser {
  readonly page: Page;
  close(): Promise<void>;
}

/** A reason to skip, or null when Chromium and playwright-core are both here. */
export async function browserMissing(): Promise<string | null> {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (apt-get install -y chromium)`;
  try {
    await loadPlaywright();
  } catch {
    return 'playwright-core is not installed (npm install --no-save playwright-core)';
  }
  return null;
}

async function loadPlaywright(): Promise<PlaywrightModule> {
  const name = 'playwright-core';
  return (await import(name)) as PlaywrightModule;
}

/** Chromium with a fresh profile and nothing that phones home; close() removes the profile. */
export async function launchBrowser(viewport = { width: 1400, height: 1000 }): Promise<Browser> {
  const { chromium } = await loadPlaywright();
  const profile = mkdtempSync(join(tmpdir(), 'hitless-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const page = await context.newPage();
  return {
    page,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Width and height from a PNG's IHDR chunk, after checking the signature. */
export function pngSize(png: Buffer): { width: number; height: number } {
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  if (png.length < 24 || !png.subarray(0, 8).equals(signature) || png.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG');
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}
