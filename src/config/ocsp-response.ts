// An OCSP response (RFC 6960) checked before it may be stapled: parsed with @peculiar/asn1-ocsp
// (no hand-written ASN.1), and accepted only when it is a successful basic response that says
// "good" for exactly this certificate (serial, and the issuer's name and key hashes), is signed by
// the issuer or by a responder the issuer delegated to (id-kp-OCSPSigning), and is current. A
// response that fails any of these is never stapled: a client would reject it, or worse, trust it.
import { createHash, verify, X509Certificate, type KeyObject } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import { BasicOCSPResponse, id_kp_OCSPSigning, id_pkix_ocsp_basic, OCSPResponse, OCSPResponseStatus, type SingleResponse } from '@peculiar/asn1-ocsp';

/** How far a responder's clock may run ahead of ours (thisUpdate in the future). */
const CLOCK_SKEW_MS = 5 * 60_000;

/** Hash algorithms a CertID may name (RFC 6960 uses SHA-1; SHA-2 is allowed). */
const CERT_ID_HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** Signature algorithms: the digest node:crypto verifies with (RSA PKCS#1 v1.5, ECDSA), or null (Ed25519). */
const SIGNATURE_DIGESTS: Readonly<Record<string, string | null>> = {
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
  '1.3.101.112': null,
};

export interface VerifiedOcspResponse {
  readonly der: Buffer;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly producedAt: Date;
  /** "issuer", or the subject of the delegated responder certificate that signed it. */
  readonly signer: string;
}

export class OcspResponseError extends Error {
  /** 'stale': right response, no longer current (or not yet); 'invalid': never to be stapled. */
  constructor(
    message: string,
    readonly kind: 'invalid' | 'stale' = 'invalid',
  ) {
    super(message);
  }
}

/**
 * `der` checked for `leaf` issued by `issuer` at `now`; throws OcspResponseError saying why it
 * must not be stapled (not parsable, not successful, another certificate, revoked or unknown,
 * bad signature, not yet valid, stale, no nextUpdate).
 */
export function verifyOcspResponse(der: Buffer, leaf: X509Certificate, issuer: X509Certificate, now = Date.now()): VerifiedOcspResponse {
  let basic: BasicOCSPResponse;
  try {
    const outer = AsnConvert.parse(der, OCSPResponse);
    if (outer.responseStatus !== OCSPResponseStatus.successful) throw new OcspResponseError(`the responder answered ${OCSPResponseStatus[outer.responseStatus] ?? outer.responseStatus}, not successful`);
    if (!outer.responseBytes || outer.responseBytes.responseType !== id_pkix_ocsp_basic) throw new OcspResponseError('it is not a basic OCSP response (id-pkix-ocsp-basic)');
    basic = AsnConvert.parse(outer.responseBytes.response.buffer, BasicOCSPResponse);
  } catch (err) {
    if (err instanceof OcspResponseError) throw err;
    throw new OcspResponseError(`it is not a DER-encoded OCSP response (${(err as Error).message})`);
  }
  const single = basic.tbsResponseData.responses.find((r) => isFor(r, leaf, issuer));
  if (!single) throw new OcspResponseError(`it holds no answer for this certificate (serial ${leaf.serialNumber}, issuer ${oneLine(issuer.subject)})`);
  if (single.certStatus.revoked) throw new OcspResponseError(`the certificate is REVOKED (since ${single.certStatus.revoked.revocationTime.toISOString()})`);
  if (single.certStatus.good === undefined) throw new OcspResponseError('the responder does not know the certificate (status unknown)');
  const signer = signerOf(basic, issuer, now);
  if (single.thisUpdate.getTime() > now + CLOCK_SKEW_MS) throw new OcspResponseError(`it is not valid yet (thisUpdate ${single.thisUpdate.toISOString()})`, 'stale');
  if (!single.nextUpdate) throw new OcspResponseError('it has no nextUpdate: nothing says when it goes stale');
  if (single.nextUpdate.getTime() <= now) throw new OcspResponseError(`it is stale (nextUpdate ${single.nextUpdate.toISOString()} has passed)`, 'stale');
  return { der, thisUpdate: single.thisUpdate, nextUpdate: single.nextUpdate, producedAt: basic.tbsResponseData.producedAt, signer };
}

/** Whether `r` answers for `leaf`: same serial, and the issuer's name and key hashed as the CertID says. */
function isFor(r: SingleResponse, leaf: X509Certificate, issuer: X509Certificate): boolean {
  const hash = CERT_ID_HASHES[r.certID.hashAlgorithm.algorithm];
  if (!hash) return false;
  const parsedLeaf = AsnConvert.parse(leaf.raw, Certificate);
  if (!sameInteger(Buffer.from(r.certID.serialNumber), Buffer.from(parsedLeaf.tbsCertificate.serialNumber))) return false;
  const parsedIssuer = AsnConvert.parse(issuer.raw, Certificate);
  const nameHash = createHash(hash).update(Buffer.from(AsnConvert.serialize(parsedIssuer.tbsCertificate.subject))).digest();
  const keyHash = createHash(hash).update(Buffer.from(parsedIssuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest();
  return nameHash.equals(Buffer.from(r.certID.issuerNameHash.buffer)) && keyHash.equals(Buffer.from(r.certID.issuerKeyHash.buffer));
}

/** Two INTEGER contents equal as numbers (a leading 0x00 only keeps a positive number positive). */
function sameInteger(a: Buffer, b: Buffer): boolean {
  const strip = (x: Buffer) => {
    let i = 0;
    while (i < x.length - 1 && x[i] === 0) i++;
    return x.subarray(i);
  };
  return strip(a).equals(strip(b));
}

/** Who signed it: the issuer, or a delegated responder in `certs`; throws when neither did. */
function signerOf(basic: BasicOCSPResponse, issuer: X509Certificate, now: number): string {
  const tbs = basic.tbsResponseDataRaw;
  if (!tbs) throw new OcspResponseError('its signed part could not be read');
  const algorithm = basic.signatureAlgorithm.algorithm;
  if (!(algorithm in SIGNATURE_DIGESTS)) throw new OcspResponseError(`it is signed with an algorithm hitless does not check (${algorithm})`);
  const digest = SIGNATURE_DIGESTS[algorithm];
  const signedBy = (key: KeyObject): boolean => {
    try {
      return verify(digest, Buffer.from(tbs), key, Buffer.from(basic.signature));
    } catch {
      return false;
    }
  };
  if (signedBy(issuer.publicKey)) return 'issuer';
  for (const c of basic.certs ?? []) {
    const responder = new X509Certificate(Buffer.from(AsnConvert.serialize(c)));
    const delegated = responder.checkIssued(issuer) && responder.verify(issuer.publicKey) && Array.isArray(responder.keyUsage) && responder.keyUsage.includes(id_kp_OCSPSigning);
    const current = Date.parse(responder.validFrom) <= now && now < Date.parse(responder.validTo);
    if (delegated && current && signedBy(responder.publicKey)) return oneLine(responder.subject);
  }
  throw new OcspResponseError('it is not signed by the certificate\'s issuer nor by a responder the issuer delegated to (id-kp-OCSPSigning)');
}

function oneLine(subject: string): string {
  return subject.replace(/\n/g, ', ');
}
