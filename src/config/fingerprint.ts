// A cheap identity for services parsed from text: the loader records the raw service's JSON, so
// the diff of two configs compares one string per service instead of walking every field.
// Objects built elsewhere (discovery merges) have none and are compared field by field.
const prints = new WeakMap<object, string>();

export function setFingerprint(target: object, print: string): void {
  prints.set(target, print);
}

export function fingerprintOf(target: object): string | undefined {
  return prints.get(target);
}
