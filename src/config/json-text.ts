// JSON bodies without a YAML parser: cut into the top and one `{...}` per service (so a service
// whose text did not change is neither parsed nor scanned again), each piece read by JSON.parse
// (about ten times faster than js-yaml), but only when the result is what js-yaml would make of
// the same text. JSON is YAML; JSON.parse differs on:
// - a repeated key: JSON.parse keeps the last, YAML refuses the document;
// - "__proto__" as a key;
// - numbers with an exponent (YAML reads 1e400 as a string, JSON.parse as Infinity) and the
//   integer -0 (YAML: 0);
// - characters YAML does not accept in a stream (DEL, C1 controls, lone surrogates...).
// In any of these cases, or when the text is not laid out as expected, the answer is null and the
// caller parses the text as YAML, as it always did.
import type { ServiceText, TextSplit } from './yaml-split.js';

/** What js-yaml refuses in any stream (its PATTERN_NON_PRINTABLE). */
// eslint-disable-next-line no-control-regex -- the control characters are the point
const NON_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x84\x86-\x9F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:[^\uD800-\uDBFF]|^)[\uDC00-\uDFFF]/;
/** A quoted service name the schema accepts, without escapes (anything else: not cut). */
const SERVICE_KEY = /"([A-Za-z0-9][A-Za-z0-9_.-]*)"/y;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const MINUS = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

export function looksLikeJson(text: string): boolean {
  return /^[ \t\r\n]*\{/.test(text);
}

/** The value of a JSON text as js-yaml would read it, or undefined when not sure. */
export function parseJsonText(text: string): unknown {
  if (text.includes('"__proto__"') || NON_PRINTABLE.test(text)) return undefined;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return undefined;
  }
  const members = scanMembers(text);
  return members >= 0 && members === countMembers(data) ? data : undefined;
}

/**
 * Cuts `{ ..., "services": { "<name>": {...}, ... }, ... }` into the top (services replaced by
 * `{}`) and each service's `{...}`. `cached(name)` is the text that service had last time: when
 * the text goes on with it, that object ends there (a JSON object ends where its text does), so
 * it is not scanned. Only the separators are checked here; the caller parses the top and every
 * service it has not seen, and those parses check the rest.
 */
export function splitJsonServices(text: string, cached: (name: string) => string | undefined): TextSplit | null {
  const open = servicesObject(text);
  if (open < 0) return null;
  const services: ServiceText[] = [];
  const seen = new Set<string>();
  let i = skipSpace(text, open + 1);
  while (text.charCodeAt(i) !== CLOSE_BRACE) {
    SERVICE_KEY.lastIndex = i;
    const key = SERVICE_KEY.exec(text);
    if (!key || seen.has(key[1])) return null;
    const name = key[1];
    seen.add(name);
    i = skipSpace(text, SERVICE_KEY.lastIndex);
    if (text.charCodeAt(i) !== COLON) return null;
    i = skipSpace(text, i + 1);
    if (text.charCodeAt(i) !== OPEN_BRACE) return null;
    const known = cached(name);
    const end = known !== undefined && text.slice(i, i + known.length) === known ? i + known.length : valueEnd(text, i) + 1;
    if (end <= i) return null;
    services.push({ name, text: text.slice(i, end) });
    i = skipSpace(text, end);
    if (text.charCodeAt(i) === COMMA) {
      i = skipSpace(text, i + 1);
      if (text.charCodeAt(i) !== QUOTE) return null; // no trailing comma in JSON
    } else if (text.charCodeAt(i) !== CLOSE_BRACE) {
      return null;
    }
  }
  if (services.length === 0) return null;
  return { top: `${text.slice(0, open)}{}${text.slice(i + 1)}`, services };
}

/** Offset of the `{` that opens the value of the top-level "services" key, or -1. */
function servicesObject(text: string): number {
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return -1;
  let depth = 0;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      if (end < 0) return -1;
      if (depth === 1 && end - i === 9 && text.startsWith('"services"', i)) {
        const colon = skipSpace(text, end + 1);
        if (text.charCodeAt(colon) === COLON) {
          const value = skipSpace(text, colon + 1);
          return text.charCodeAt(value) === OPEN_BRACE ? value : -1;
        }
      }
      i = end;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return -1;
    }
  }
  return -1;
}

/** Offset of the bracket that closes the one at `start`, or -1. */
function valueEnd(text: string, start: number): number {
  let depth = 0;
  for (let i = start; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if ((c === CLOSE_BRACE || c === CLOSE_BRACKET) && --depth === 0) {
      return i;
    }
  }
  return -1;
}

/** Offset of the quote that closes the string opening at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  for (let i = text.indexOf('"', start + 1); i >= 0; i = text.indexOf('"', i + 1)) {
    let backslashes = 0;
    while (text.charCodeAt(i - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return i;
  }
  return -1;
}

function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/**
 * The number of `key: value` members written in a valid JSON text (one colon outside strings
 * each), or -1 when a number could read differently in YAML.
 */
function scanMembers(text: string): number {
  let members = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      i = stringEnd(text, i);
      if (i < 0) return -1;
    } else if (c === COLON) {
      members++;
    } else if (c === LOWER_E || c === UPPER_E) {
      const before = text.charCodeAt(i - 1);
      if ((before >= ZERO && before <= NINE) || before === DOT) return -1;
    } else if (c === MINUS && text.charCodeAt(i + 1) === ZERO && text.charCodeAt(i + 2) !== DOT) {
      return -1; // the integer -0 (valid JSON has no digit after a leading 0)
    }
  }
  return members;
}

/** Members of every object in a parsed value; fewer than written means a key was repeated. */
function countMembers(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0;
  let n = 0;
  if (Array.isArray(value)) {
    for (const item of value) n += countMembers(item);
    return n;
  }
  for (const key in value) n += 1 + countMembers((value as Record<string, unknown>)[key]);
  return n;
}
