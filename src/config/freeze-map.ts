/** A Map that refuses changes: Object.freeze alone leaves set/delete/clear working. */
export function freezeMap<K, V>(map: Map<K, V>): ReadonlyMap<K, V> {
  const refuse = (): never => {
    throw new TypeError('this map belongs to a frozen config snapshot and cannot be changed');
  };
  Object.defineProperties(map, { set: { value: refuse }, delete: { value: refuse }, clear: { value: refuse } });
  return Object.freeze(map);
}
