// `hitless import synapse|nerve`: the converters run, their output assembled into one hitless
// config, checked by hitless's own loader (what is printed always validates), and the report.
import { ConfigError } from '../config/errors.js';
import { parseConfig } from '../config/load.js';
import { stringify } from 'yaml';
import { importNerve } from './nerve.js';
import { ImportError } from './read-source.js';
import { Report } from './report.js';
import { importSynapse } from './synapse.js';

export interface ImportRequest {
  readonly synapse?: string;
  readonly nerve?: string;
  readonly confDir?: string;
  readonly nerveConfDir?: string;
  readonly dataplane: 'builtin' | 'haproxy';
  readonly portOffset: number;
  readonly instanceId?: string;
  readonly admin?: string;
}

export interface ImportOutcome {
  /** The hitless config (YAML), or null when nothing could be produced. */
  readonly text: string | null;
  /** The summary, then one line per option not mapped and per note. */
  readonly report: readonly string[];
  readonly notMapped: number;
}

export async function runImport(req: ImportRequest): Promise<ImportOutcome> {
  const report = new Report();
  try {
    const synapse = req.synapse ? await importSynapse(req.synapse, { dataplane: req.dataplane, portOffset: req.portOffset, confDir: req.confDir }, report) : null;
    const nervePath = req.nerve;
    const nerve = nervePath
      ? await importNerve(nervePath, { confDir: req.synapse ? req.nerveConfDir : req.confDir, instanceId: req.instanceId, root: req.synapse ? 'nerve' : '' }, report)
      : null;
    const config: Record<string, unknown> = {};
    if (req.admin) config.admin = { listen: req.admin };
    if (synapse?.dataplane) config.dataplane = synapse.dataplane;
    if (synapse) config.services = synapse.services;
    if (nerve) config.register = nerve.register;
    const sources = [...(synapse ? [`synapse ${describe(synapse.files)}`] : []), ...(nerve ? [`nerve ${describe(nerve.files)}`] : [])];
    const header = [
      `# hitless config imported by \`hitless import\` from ${sources.join(' and ')}.`,
      `# ${report.notMapped.length === 0 ? 'Every option was carried over' : `${report.notMapped.length} option(s) were not carried over: the import listed them, with why, on stderr`}.`,
    ];
    const text = `${header.join('\n')}\n${stringify(config, { lineWidth: 0 })}`;
    try {
      parseConfig(text, 'imported config');
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      // A converter bug, not the user's: say so rather than print a config that does not load.
      return { text: null, report: [`hitless import: the converted config does not validate (please report this):`, err.message, ...report.lines()], notMapped: report.notMapped.length };
    }
    const services = synapse ? Object.keys(synapse.services).length : 0;
    const registrations = nerve ? nerve.register.length : 0;
    const made = [...(synapse ? [`${services} service${services === 1 ? '' : 's'}`] : []), ...(nerve ? [`${registrations} registration${registrations === 1 ? '' : 's'}`] : [])];
    const summary = `hitless import: ${made.join(' and ')} from ${sources.join(' and ')}; ${report.notMapped.length} option(s) not mapped, ${report.notes.length} note(s)`;
    return { text, report: [summary, ...report.lines()], notMapped: report.notMapped.length };
  } catch (err) {
    if (err instanceof ImportError) return { text: null, report: [`hitless import: ${err.message}`], notMapped: report.notMapped.length };
    throw err;
  }
}

function describe(files: readonly string[]): string {
  if (files.length === 0) return '(no files)';
  return files.length === 1 ? files[0] : `${files[0]} (+${files.length - 1} file${files.length === 2 ? '' : 's'})`;
}
