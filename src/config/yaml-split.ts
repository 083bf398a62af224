// Cuts a YAML config into its top (everything but the services' bodies) and one slice of text per
// service, so that a service whose text did not change need not be parsed again.
//
// Only the plain block layout is cut; anything else returns null and the caller parses the whole
// text as before:
//
//   <top-level keys, comments>        column 0: `key:` lines, `#` comments, blank lines
//   services:                         exactly this (a trailing comment is allowed)
//     <name>:                         every service at one indentation, `<name>:` + space or end
//       ...                           deeper lines, blank lines and comments: this service's
//   <more top-level keys>             a column-0 key ends the services block
//
// Why the pieces mean what they mean in the whole text: each slice starts where the block map of
// services expects its next key, and the caller accepts the cut only when every piece parses on
// its own (so every quote, bracket and block scalar that opens in a slice closes in it, and an
// alias that refers outside its slice fails) into the expected shape: the top with `services:`
// null, each slice a map with exactly its own name as key. Names are checked for duplicates here,
// since the pieces cannot see each other.

export interface ServiceText {
  readonly name: string;
  /** YAML: the service's lines, from its `<name>:` line up to the next service or the block's end. JSON: its value, `{...}`. */
  readonly text: string;
}

/** A config text cut in two: the top, and the text of each service (yaml-split.ts, json-text.ts). */
export interface TextSplit {
  /** The text without the services' bodies (YAML: `services:` left with no value; JSON: `{}`). */
  readonly top: string;
  readonly services: readonly ServiceText[];
}

const SPACE = 0x20;
const TAB = 0x09;
const HASH = 0x23;
const CR = 0x0d;

const TOP_KEY = /^[A-Za-z_][A-Za-z0-9_]*:(?:[ \t]|$)/;
const SERVICES_LINE = /^services:[ \t]*(?:#.*)?$/;
/** The schema's service-name rule; a name it refuses (or a quoted one) is left to the full parse. */
const SERVICE_KEY = /^([A-Za-z0-9][A-Za-z0-9_.-]*):(?:[ \t]|$)/;

export function splitYamlServices(text: string): TextSplit | null {
  const length = text.length;
  let blockStart = -1; // just after the `services:` line
  let blockEnd = -1; // start of the first column-0 key after it (or the end of the text)
  let indent = -1; // of the service names
  const starts: number[] = [];
  const names: string[] = [];
  const seen = new Set<string>();
  for (let pos = 0; pos < length; ) {
    const newline = text.indexOf('\n', pos);
    const next = newline === -1 ? length : newline + 1;
    let end = newline === -1 ? length : newline;
    if (end > pos && text.charCodeAt(end - 1) === CR) end--;
    let spaces = 0;
    while (pos + spaces < end && text.charCodeAt(pos + spaces) === SPACE) spaces++;
    const first = pos + spaces < end ? text.charCodeAt(pos + spaces) : -1;
    const inBlock = blockStart !== -1 && blockEnd === -1;
    if (first === -1 || first === HASH) {
      // Blank or comment: belongs to whatever surrounds it.
    } else if (spaces === 0) {
      if (first === TAB) return null;
      const line = text.slice(pos, end);
      if (!TOP_KEY.test(line)) return null;
      if (inBlock) blockEnd = pos;
      if (SERVICES_LINE.test(line)) {
        if (blockStart !== -1) return null;
        blockStart = next;
      }
    } else if (inBlock) {
      if (indent === -1) indent = spaces;
      if (spaces < indent) return null;
      if (spaces === indent) {
        const match = SERVICE_KEY.exec(text.slice(pos + spaces, end));
        if (!match || seen.has(match[1])) return null;
        seen.add(match[1]);
        names.push(match[1]);
        starts.push(pos);
      }
    }
    pos = next;
  }
  if (blockStart === -1 || names.length === 0) return null;
  if (blockEnd === -1) blockEnd = length;
  // Anything but blank lines and comments between `services:` and the first name was refused above.
  const services = names.map((name, i) => ({ name, text: text.slice(starts[i], i + 1 < starts.length ? starts[i + 1] : blockEnd) }));
  const top = blockEnd === length ? text.slice(0, blockStart) : text.slice(0, blockStart) + text.slice(blockEnd);
  return { top, services };
}
