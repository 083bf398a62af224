// The request target (RFC 9112 §3.2), resolved once per request into what hitless routes on and
// what it forwards. An endpoint always receives origin-form (`/path?query`) with a Host that is
// the one hitless routed on:
// - origin-form is routed on Host and the path;
// - absolute-form (`GET http://a.example/x`) is routed on its own authority and path, and the
//   received Host is ignored and replaced (§3.2.2), so the endpoint sees what the route saw;
// - asterisk-form (`OPTIONS *`) is forwarded as is;
// - anything else (authority-form outside CONNECT, userinfo, fragments, other schemes) is refused.

export interface RequestTarget {
  /** What goes on the endpoint's request line, and what path routes match. */
  readonly path: string;
  /** The authority of an absolute-form target, which replaces Host; undefined otherwise. */
  readonly authority: string | undefined;
}

/** Same grammar as a Host value (headers.ts): reg-name or IP-literal, optional port, no userinfo. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::[0-9]{0,5})?$/;
const ABSOLUTE = /^https?:\/\//i;

/** null: the target is not one hitless forwards (answered 400). */
export function resolveTarget(method: string, url: string): RequestTarget | null {
  if (url.charCodeAt(0) === 47 /* / */) return url.includes('#') ? null : { path: url, authority: undefined };
  if (url === '*') return method === 'OPTIONS' ? { path: '*', authority: undefined } : null;
  const scheme = ABSOLUTE.exec(url);
  if (scheme === null || url.includes('#')) return null;
  const start = scheme[0].length;
  let end = start;
  while (end < url.length && url.charCodeAt(end) !== 47 && url.charCodeAt(end) !== 63 /* ? */) end++;
  const authority = url.slice(start, end);
  if (!AUTHORITY.test(authority)) return null;
  const rest = url.slice(end);
  return { path: rest === '' ? '/' : rest.charCodeAt(0) === 63 ? `/${rest}` : rest, authority };
}
