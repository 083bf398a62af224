// One text per value, whatever its representation: object keys and Map entries sorted, numbers as
// text. Hashes of config parts are taken over it (the workers' config digest, endpoint prints), so
// they do not depend on how V8 represents a value on either side of IPC.
export function canonical(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return String(value);
    case 'boolean':
      return value ? 't' : 'f';
    case 'undefined':
      return 'u';
    case 'object':
      break;
    default:
      return `?${String(value)}`;
  }
  if (value === null) return 'n';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => `${canonical(k)}=>${canonical(v)}`).sort();
    return `M{${entries.join(',')}}`;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`;
}
