// Facts computed from an immutable config object (a service's identity, an endpoint list's print
// and derivation) are kept on the object itself, not in a module-level table keyed by it: they
// live and die with the object, and whoever holds the object holds its facts.
//
// A slot is a non-enumerable, symbol-keyed property holding a mutable box, defined before the
// object is frozen. Non-enumerable matters: a spread copy (`{ ...service, endpoints }`, another
// object that may hold other content) never inherits facts that are not its own, and canonical(),
// JSON and structured clone (IPC) never see them. A config that arrived over IPC is not frozen: it
// gets its slot on first use (config objects are never changed once built). A frozen object
// without one (built by hand, or by a spread) has its facts computed at each use: right, not cached.

/** The box in `target`'s slot `key`, made by `make` when `target` can still take one; undefined otherwise. */
export function ownSlot<T extends object>(target: object, key: symbol, make: () => T): T | undefined {
  const own = (target as Record<symbol, T | undefined>)[key];
  if (own !== undefined) return own;
  if (!Object.isExtensible(target)) return undefined;
  const box = make();
  Object.defineProperty(target, key, { value: box, enumerable: false, writable: false, configurable: false });
  return box;
}

/** The box in `target`'s slot `key`, if it has one (never makes one). */
export function peekSlot<T extends object>(target: object, key: symbol): T | undefined {
  return (target as Record<symbol, T | undefined>)[key];
}
