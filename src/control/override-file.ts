// The endpoint overrides on disk, so that a restart keeps them: one small JSON file, replaced
// atomically on every change (temp file, fsync, rename, fsync of the folder), so that a crash or
// a power cut leaves either the previous file or the new one, never half of one.
import { open, readFile, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { checkAddress, checkService, checkState, checkWeight, cleanBy, MAX_OVERRIDES, type OverrideRecord } from './override-store.js';

const FORMAT = 1;
/** The file is ours, but it is read before anything runs: a huge one is refused rather than parsed. */
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export interface OverrideFile {
  readonly version: typeof FORMAT;
  readonly overrides: readonly OverrideRecord[];
}

/**
 * Where the overrides are kept when `--state-file` does not say: systemd's StateDirectory
 * ($STATE_DIRECTORY, /var/lib/hitless under the shipped unit, which keeps /etc/hitless read-only),
 * else next to the config file. Null (memory only) for a config that did not come from a file.
 */
export function defaultStateFile(configPath: string | undefined, env: NodeJS.ProcessEnv = process.env): string | null {
  const stateDirectory = env.STATE_DIRECTORY?.split(':')[0];
  if (stateDirectory) return join(resolve(stateDirectory), 'endpoint-overrides.json');
  return configPath ? `${resolve(configPath)}.overrides.json` : null;
}

export interface LoadedOverrides {
  readonly records: OverrideRecord[];
  /** Entries left out, each with why (the file was edited by hand, or by another version). */
  readonly skipped: string[];
}

/** The overrides in `path`; none when the file does not exist. Throws when it cannot be read or is not ours. */
export async function readOverrideFile(path: string): Promise<LoadedOverrides> {
  let text: string;
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      if (size > MAX_FILE_BYTES) throw new Error(`${path} is ${size} bytes, more than an override file can be (${MAX_FILE_BYTES})`);
      text = await readFile(handle, 'utf8');
    } finally {
      await handle.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], skipped: [] };
    throw err;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`${path} is not JSON: ${(err as Error).message}`);
  }
  const list = (doc as { overrides?: unknown } | null)?.overrides;
  if (typeof doc !== 'object' || doc === null || (doc as { version?: unknown }).version !== FORMAT || !Array.isArray(list)) {
    throw new Error(`${path} is not a hitless override file (expected {"version": ${FORMAT}, "overrides": [...]})`);
  }
  const records: OverrideRecord[] = [];
  const skipped: string[] = [];
  const seen = new Set<string>();
  list.forEach((entry: unknown, i) => {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') return skipped.push(`overrides[${i}]: ${parsed}`);
    const key = `${parsed.service}\u0000${parsed.address}`;
    if (seen.has(key)) return skipped.push(`overrides[${i}]: a second entry for ${parsed.service} ${parsed.address}`);
    if (records.length >= MAX_OVERRIDES) return skipped.push(`overrides[${i}]: more than ${MAX_OVERRIDES} overrides`);
    seen.add(key);
    records.push(parsed);
  });
  return { records, skipped };
}

function parseEntry(entry: unknown): OverrideRecord | string {
  if (typeof entry !== 'object' || entry === null) return 'not an object';
  const e = entry as Record<string, unknown>;
  const service = checkService(e.service);
  if (!service.ok) return `${service.field}: ${service.reason}`;
  const address = checkAddress(e.address);
  if (!address.ok) return `${address.field}: ${address.reason}`;
  let state: OverrideRecord['state'] = null;
  if (e.state !== null) {
    const s = checkState(e.state);
    if (!s.ok || s.value === 'ready') return `state: ${s.ok ? 'expected "drain", "maint" or null' : s.reason}`;
    state = s.value;
  }
  let weight: number | null = null;
  if (e.weight !== null) {
    const w = checkWeight(e.weight);
    if (!w.ok) return `weight: ${w.reason}`;
    weight = w.value;
  }
  if (state === null && weight === null) return 'neither a state nor a weight';
  const since = typeof e.since === 'string' && !Number.isNaN(Date.parse(e.since)) ? new Date(e.since).toISOString() : new Date(0).toISOString();
  return Object.freeze({ service: service.value, address: address.value, state, weight, since, by: cleanBy(e.by) ?? 'unknown' });
}

/** Replaces `path` with `records`, atomically and durably. */
export async function writeOverrideFile(path: string, records: readonly OverrideRecord[]): Promise<void> {
  const doc: OverrideFile = { version: FORMAT, overrides: records };
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const handle = await open(tmp, 'w', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(doc, null, 2)}\n`);
    await handle.sync();
  } catch (err) {
    await handle.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw err;
  }
  await handle.close();
  try {
    await rename(tmp, path);
  } catch (err) {
    await unlink(tmp).catch(() => {});
    throw err;
  }
  // The rename is durable only once the folder's entry is on disk too.
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
