// The two places where hitless reaches below node:tls's documented API, in one file, each checked
// before use and with a documented fallback:
//
// 1. Choosing the certificate. node:tls's SNICallback copies the chosen certificate into the
//    connection *next to* the initial context's one, and OpenSSL then serves whichever suits the
//    client best: with an ECDSA default and an RSA certificate picked by SNI (or the reverse), the
//    client gets the default's certificate for the wrong name. So the initial context holds no
//    certificate, and the certificate callback (TLSWrap's `oncertcb`, which Node calls for every
//    handshake once SNICallback is set) always sets the chosen context (`sni_context`), the
//    default one included when the client sent no SNI, then resumes the handshake (`certCbDone`).
//    Fallback: the default certificate's context is the initial one and SNICallback picks.
// 2. Ticket keys with a previous key still valid. setTicketKeys holds one key: tickets issued
//    just before a rotation would no longer resume. The SecureContext's ticket key callback
//    (`enableTicketKeyCallback` / `onticketkeycallback`, which Node's own resumption tests use)
//    encrypts with the current key and decrypts with the current, next and previous ones.
//    Fallback: setTicketKeys(current) (a rotation then costs each open session its resumption).
import { randomBytes } from 'node:crypto';
import { Duplex } from 'node:stream';
import { createSecureContext, TLSSocket, type SecureContext } from 'node:tls';
import type { TicketKeys } from './ticket-keys.js';

interface NativeContext {
  enableTicketKeyCallback?: () => void;
  onticketkeycallback?: (name: Buffer, iv: Buffer, enc: boolean) => unknown[];
  setTicketKeys?: (keys: Buffer) => void;
}

interface CertInfo {
  readonly servername?: string;
  /** The client asked for a stapled OCSP response (status_request). */
  readonly OCSPRequest?: boolean;
}

interface TlsWrap {
  oncertcb?: (this: TlsWrap, info: CertInfo) => void;
  certCbDone?: () => void;
  sni_context?: unknown;
  setOCSPResponse?: (response: Buffer) => void;
}

function nativeOf(context: SecureContext): NativeContext {
  return (context as unknown as { context: NativeContext }).context;
}

const ZERO = Buffer.alloc(16);
/** What OpenSSL is told when a ticket's key is unknown: a full handshake (never an error). */
const UNKNOWN: unknown[] = [0, ZERO, ZERO];

/**
 * Makes `context` encrypt tickets with `keys().current` and accept current, next and previous.
 * Returns false when Node lacks the callback: then the current key is set the documented way.
 */
export function installTicketKeys(context: SecureContext, keys: () => TicketKeys): boolean {
  const native = nativeOf(context);
  if (typeof native.enableTicketKeyCallback !== 'function') {
    native.setTicketKeys?.(Buffer.from(keys().current));
    return false;
  }
  // Every path returns a full array: Node reads the HMAC and AES keys as buffers whatever the code.
  native.onticketkeycallback = (name: Buffer, _iv: Buffer, enc: boolean): unknown[] => {
    try {
      const k = keys();
      if (enc) return [1, part(k.current, 1), part(k.current, 2), part(k.current, 0), freshIv()];
      if (sameName(k.current, name)) return [1, part(k.current, 1), part(k.current, 2)];
      if (sameName(k.next, name)) return [1, part(k.next, 1), part(k.next, 2)];
      // 2: valid, and renewed under the current key.
      if (k.previous && sameName(k.previous, name)) return [2, part(k.previous, 1), part(k.previous, 2)];
      return UNKNOWN;
    } catch {
      return UNKNOWN;
    }
  };
  native.enableTicketKeyCallback();
  return true;
}

/** The fallback's way of following a rotation (the callback reads the keys itself). */
export function setCurrentTicketKey(context: SecureContext, keys: TicketKeys): void {
  const native = nativeOf(context);
  if (typeof native.enableTicketKeyCallback !== 'function') native.setTicketKeys?.(Buffer.from(keys.current));
}

/** A key's three 16-byte parts (name, HMAC key, AES key), made once per key, not per ticket. */
const parts = new WeakMap<Uint8Array, readonly [Buffer, Buffer, Buffer]>();

function part(key: Uint8Array, i: 0 | 1 | 2): Buffer {
  let p = parts.get(key);
  if (!p) {
    p = [0, 1, 2].map((j) => Buffer.from(key.buffer, key.byteOffset + j * 16, 16)) as unknown as readonly [Buffer, Buffer, Buffer];
    parts.set(key, p);
  }
  return p[i];
}

/**
 * A ticket's IV: 16 bytes from the CSPRNG, drawn a block at a time (a TLS 1.3 handshake issues
 * two tickets: a CSPRNG call for each was 3 % of a full handshake's CPU in bench:tls). Each IV
 * is used once; a drawn block is never written again.
 */
const IV_BLOCK = 4096;
let ivPool = Buffer.alloc(0);
let ivAt = 0;

function freshIv(): Buffer {
  if (ivAt + 16 > ivPool.length) {
    ivPool = randomBytes(IV_BLOCK);
    ivAt = 0;
  }
  const iv = ivPool.subarray(ivAt, ivAt + 16);
  ivAt += 16;
  return iv;
}

function sameName(key: Uint8Array, name: Buffer): boolean {
  return name.length === 16 && Buffer.compare(part(key, 0), name) === 0;
}

let pickerSupported: boolean | null = null;

/**
 * Whether this Node's server-side TLS sockets have the certificate callback as expected, checked
 * once on a socket over a stream that carries nothing. False: use the fallback (see the header).
 */
export function certificatePickerSupported(): boolean {
  if (pickerSupported !== null) return pickerSupported;
  let probe: TLSSocket | null = null;
  try {
    const nothing = new Duplex({ read() {}, write(_chunk, _encoding, done) { done(); } });
    probe = new TLSSocket(nothing, { isServer: true, secureContext: createSecureContext({}), SNICallback: () => {} });
    const wrap = (probe as unknown as { _handle?: TlsWrap | null })._handle;
    pickerSupported = !!wrap && typeof wrap.oncertcb === 'function' && typeof wrap.certCbDone === 'function';
  } catch {
    pickerSupported = false;
  } finally {
    probe?.destroy();
  }
  return pickerSupported;
}

/**
 * Makes `socket` (just created, server side, with an SNICallback so that Node enabled the
 * certificate callback) take its certificate from `pick(servername)`. Only when
 * certificatePickerSupported(); false if this socket is not as expected after all.
 */
export function installCertificatePicker(socket: TLSSocket, pick: (servername: string | undefined) => SecureContext, staple?: Staple): boolean {
  const wrap = (socket as unknown as { _handle?: TlsWrap | null })._handle;
  if (!wrap || typeof wrap.oncertcb !== 'function' || typeof wrap.certCbDone !== 'function') return false;
  wrap.oncertcb = onCertificate;
  (wrap as Picking)[PICK] = pick;
  if (staple) (wrap as Picking)[STAPLE] = staple;
  return true;
}

/** The OCSP response (DER) to staple with the chosen context, if any. */
export type Staple = (context: SecureContext) => Buffer | undefined;

const PICK = Symbol('hitless.pickCertificate');
const STAPLE = Symbol('hitless.stapleOcsp');
type Picking = TlsWrap & { [PICK]?: (servername: string | undefined) => SecureContext; [STAPLE]?: Staple };

/** One function for every connection (no closure per handshake). */
function onCertificate(this: Picking, info: CertInfo): void {
  const pick = this[PICK];
  if (pick) {
    try {
      const context = pick(info.servername || undefined);
      this.sni_context = nativeOf(context);
      // Only when the client asked (status_request), as Node's own OCSPRequest event does.
      const response = info.OCSPRequest ? this[STAPLE]?.(context) : undefined;
      if (response && typeof this.setOCSPResponse === 'function') this.setOCSPResponse(response);
    } catch {
      // Leaves the initial context: the handshake fails for want of a certificate, counted.
    }
  }
  this.certCbDone!();
}
