// A YAML or JSON list of endpoints (nerve's objects, or "host:port" strings) in a file. The
// directory is watched, not the file: editors and config managers replace files by renaming a
// new one over the old, which a watch on the old inode would never see. Events are debounced
// because one save is several events (truncate, write, rename).
//
// A file that is missing or does not parse is an error (control keeps the last good set);
// a parsable list with some malformed entries uses the valid ones and names the others.
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import { parse } from 'yaml';
import type { FileTarget } from '../config/discovery-model.js';
import { parseHostPort } from '../config/address.js';
import { collectEntries, parseEndpointValue, type ParsedEntry } from './parse-endpoint.js';
import type { Source, SourceListener } from './source.js';

const DEBOUNCE_MS = 25;
/** fs.watch can miss events (e.g. the directory itself replaced); a slow re-read backs it up. */
const SAFETY_POLL_MS = 5_000;

export class FileSource implements Source {
  readonly description: string;
  private readonly path: string;
  private watcher: FSWatcher | null = null;
  private listener: SourceListener | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private poller: NodeJS.Timeout | null = null;
  private lastText: string | null = null;
  /** The last read's "host:port" entries and what they parsed to: a change re-parses only what changed. */
  private parsedStrings = new Map<string, ParsedEntry>();
  private reading = false;
  private again = false;

  constructor(target: FileTarget) {
    this.path = resolve(target.path);
    this.description = `file ${this.path}`;
  }

  async start(listener: SourceListener): Promise<void> {
    if (this.watcher) return;
    this.listener = listener;
    const name = basename(this.path);
    this.watcher = watch(dirname(this.path), { persistent: false }, (_event, file) => {
      if (file === null || file === name) this.schedule();
    });
    this.watcher.on('error', (err) => this.listener?.onError(new Error(`${this.description}: watch failed: ${err.message}`)));
    this.poller = setInterval(() => this.read(false), SAFETY_POLL_MS);
    this.poller.unref();
    await this.read(true);
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    this.listener = null;
    if (this.debounce) clearTimeout(this.debounce);
    if (this.poller) clearInterval(this.poller);
  }

  private schedule(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.read(true), DEBOUNCE_MS);
  }

  /** Reads and reports the file; unchanged text is reported again only when `always`. */
  private async read(always: boolean): Promise<void> {
    if (this.reading) {
      this.again = true;
      return;
    }
    this.reading = true;
    try {
      let text: string;
      try {
        text = await readFile(this.path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (this.lastText !== null || always) this.listener?.onError(new Error(`${this.description}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`));
        this.lastText = null;
        return;
      }
      if (!always && text === this.lastText) return;
      this.lastText = text;
      this.report(text);
    } finally {
      this.reading = false;
      if (this.again) {
        this.again = false;
        void this.read(true);
      }
    }
  }

  private report(text: string): void {
    let data: unknown;
    try {
      data = parseList(text);
    } catch (err) {
      this.listener?.onError(new Error(`${this.description}: malformed YAML/JSON: ${(err as Error).message.split('\n')[0]}`));
      return;
    }
    if (data === null || data === undefined) data = [];
    if (!Array.isArray(data)) {
      this.listener?.onError(new Error(`${this.description}: expected a list of endpoints`));
      return;
    }
    const seen = new Map<string, ParsedEntry>();
    const parsed = data.map((value: unknown, i) => {
      if (typeof value !== 'string') return [`entry ${i}`, entry(value)] as const;
      const known = seen.get(value) ?? this.parsedStrings.get(value) ?? entry(value);
      seen.set(value, known);
      return [`entry ${i}`, known] as const;
    });
    this.parsedStrings = seen;
    const { endpoints, problems } = collectEntries(parsed);
    this.listener?.onEndpoints(endpoints, problems);
  }
}

/**
 * JSON first, YAML otherwise: JSON is YAML too, and JSON.parse reads a 10,000-entry list in a few
 * milliseconds where the YAML parser takes hundreds, in the process that also serves the admin API.
 */
function parseList(text: string): unknown {
  const start = text.trimStart()[0];
  if (start === '[' || start === '{') {
    try {
      return JSON.parse(text);
    } catch {
      // Not strict JSON (comments, trailing commas, flow-style YAML): the YAML parser decides.
    }
  }
  return parse(text);
}

function entry(value: unknown): ParsedEntry {
  if (typeof value !== 'string') return parseEndpointValue(value);
  const parsed = parseHostPort(value);
  return parsed.ok ? parseEndpointValue({ host: parsed.value.host, port: parsed.value.port }) : { ok: false, reason: parsed.reason };
}
