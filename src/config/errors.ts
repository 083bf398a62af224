import { ErrorCodes, HitlessError } from '../errors.js';

/** One problem in a config file, located as editors and compilers locate them. */
export interface ConfigProblem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted key path, e.g. "services.echo.endpoints[1].weight"; "" for the document itself. */
  readonly path: string;
  readonly message: string;
}

export function formatProblem(p: ConfigProblem): string {
  return `${p.file}:${p.line}:${p.col}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/** Thrown (or returned) when a config is rejected; carries every problem found, not just the first. */
export class ConfigError extends HitlessError {
  constructor(readonly problems: readonly ConfigProblem[]) {
    super(ErrorCodes.CONFIG_INVALID, problems.map(formatProblem).join('\n'), problems);
    this.name = 'ConfigError';
  }
}

export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}
