// Reading synapse's and nerve's configs as they do: one YAML or JSON file (JSON is YAML), whose
// `services` may be extended by a `service_conf_dir` of per-service files, each named after its
// service (NAME.json / NAME.yaml; a file there overrides a service of the same name in the main
// file). Given a directory instead of a file, the directory is that conf.d.
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { at, isRecord, type Report } from './report.js';
import { ErrorCodes, HitlessError } from '../errors.js';

/** A config as read: the top-level keys, and every service with the file it came from. */
export interface SourceConfig {
  readonly top: Record<string, unknown>;
  readonly services: ReadonlyMap<string, unknown>;
  /** Files read, in order (for the report's summary). */
  readonly files: readonly string[];
}

/** A synapse or nerve config that cannot be read: the import prints its message and exits 1. */
export class ImportError extends HitlessError {
  constructor(message: string) {
    super(ErrorCodes.CONFIG_INVALID, message);
    this.name = 'ImportError';
  }
}

async function parseFile(file: string): Promise<unknown> {
  const text = await readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    throw new ImportError(`cannot read ${file}: ${err.code === 'ENOENT' ? 'no such file' : err.message}`);
  });
  try {
    return parse(text, { uniqueKeys: false }) as unknown;
  } catch (err) {
    throw new ImportError(`${file} is neither JSON nor YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** The *.json and *.yaml files of a conf.d (what synapse and nerve read), by service name; others named in the report. */
async function readConfDir(dir: string, report: Report, path: string): Promise<Array<{ name: string; file: string; value: unknown }>> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
    throw new ImportError(`cannot read the directory ${dir}: ${err.code === 'ENOENT' ? 'no such directory' : err.message}`);
  });
  const out: Array<{ name: string; file: string; value: unknown }> = [];
  for (const entry of entries.sort((a, b) => (a.name < b.name ? -1 : 1))) {
    if (!entry.isFile()) continue;
    const ext = extname(entry.name);
    if (ext !== '.json' && ext !== '.yaml') {
      report.note(at(path, entry.name), 'skipped: synapse and nerve read only *.json and *.yaml files of a service_conf_dir');
      continue;
    }
    const file = join(dir, entry.name);
    out.push({ name: basename(entry.name, ext), file, value: await parseFile(file) });
  }
  return out;
}

/**
 * Reads FILE (with its service_conf_dir, or `confDir` in its place) or a DIR of per-service files.
 * A relative service_conf_dir is looked for next to the config file first (synapse and nerve
 * resolve it against their working directory, which is rarely where an import runs).
 */
export async function readSource(path: string, report: Report, confDir?: string): Promise<SourceConfig> {
  const info = await stat(path).catch(() => {
    throw new ImportError(`cannot read ${path}: no such file or directory`);
  });
  const services = new Map<string, unknown>();
  const files: string[] = [];
  let top: Record<string, unknown> = {};
  let dir: string | null = confDir ?? null;
  if (info.isDirectory()) {
    dir = path;
    report.note('service_conf_dir', 'a directory was given: its per-service files were read without a main config (no top-level haproxy defaults, no instance_id); import the main config file to carry those over');
  }
  else {
    const value = await parseFile(path);
    files.push(path);
    if (!isRecord(value)) throw new ImportError(`${path}: expected a mapping of settings at the top, found ${value === null ? 'nothing' : typeof value}`);
    top = value;
    const listed = top.services ?? {};
    if (!isRecord(listed)) throw new ImportError(`${path}: services: expected a mapping of service name to settings`);
    for (const [name, service] of Object.entries(listed)) services.set(name, service);
    const named = top.service_conf_dir;
    if (dir === null && typeof named === 'string') {
      const nextToFile = resolve(dirname(path), named);
      dir = isAbsolute(named) ? named : (await stat(nextToFile).then((s) => s.isDirectory()).catch(() => false)) ? nextToFile : resolve(named);
    }
  }
  if (dir !== null) {
    for (const { name, file, value } of await readConfDir(dir, report, 'service_conf_dir')) {
      services.set(name, value);
      files.push(file);
    }
  }
  return { top, services, files };
}
