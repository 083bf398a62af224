// What an import could not carry over, said once per option: where it was, what it held, why
// hitless does not take it and what to do instead. Nothing a converter reads is dropped without a
// line here (the import tests assert each fixture's report). Notes are for options that were
// mapped but behave a little differently in hitless.

export interface NotMapped {
  /** Where the option was, as a dotted path in the source config ("services.web.haproxy.bind_options"). */
  readonly path: string;
  /** Its value, as short text. */
  readonly value: string;
  readonly why: string;
  readonly instead: string | null;
}

export interface Note {
  readonly path: string;
  readonly text: string;
}

const MAX_VALUE = 80;

// A report is pasted into tickets and chats: secrets in the source config are not repeated.
const SECRET = /pass(word|wd)?$|secret|token|credential|aws_secret_access_key/i;

/** A value as short, one-line text for the report (secrets masked). */
export function shortValue(value: unknown): string {
  const masked = (key: string, v: unknown) => (SECRET.test(key) && typeof v !== 'object' ? '***' : v);
  const text = typeof value === 'string' ? JSON.stringify(value) : (JSON.stringify(value, masked) ?? String(value));
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE - 1)}…` : text;
}

export class Report {
  readonly notMapped: NotMapped[] = [];
  readonly notes: Note[] = [];

  /** `value` at `path` is not carried over: `why`, and what to do `instead`. */
  skip(path: string, value: unknown, why: string, instead: string | null = null): void {
    this.notMapped.push({ path, value: shortValue(value), why, instead });
  }

  note(path: string, text: string): void {
    this.notes.push({ path, text });
  }

  /** A note that holds for every place it applies to: said once, at the first. */
  noteOnce(path: string, text: string): void {
    if (!this.notes.some((n) => n.text === text)) this.notes.push({ path, text });
  }

  /** One line per finding, "not mapped" first, in the order found. */
  lines(): string[] {
    return [
      ...this.notMapped.map((n) => `not mapped: ${n.path} = ${n.value}: ${n.why}${n.instead ? `. Instead: ${n.instead}` : ''}`),
      ...this.notes.map((n) => `note: ${n.path}: ${n.text}`),
    ];
  }
}

/** "a.b" + "c" → "a.b.c"; a list index as "[i]". */
export function at(path: string, key: string | number): string {
  if (typeof key === 'number') return `${path}[${key}]`;
  return path ? `${path}.${key}` : key;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
