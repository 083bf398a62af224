// How soon a served certificate expires, as one verdict shared by `hitless status` and the
// dashboard, so the two never disagree on what "soon" means.

/** Fewer whole days left than this: renew soon (status says SOON, the dashboard shows it amber). */
export const CERT_EXPIRY_WARN_DAYS = 14;
/** Fewer whole days left than this: renew now (the dashboard shows it red). */
export const CERT_EXPIRY_CRITICAL_DAYS = 3;

export type CertificateExpiry = 'ok' | 'soon' | 'critical' | 'expired';

/** The verdict for a certificate with `daysLeft` whole days until its notAfter (negative once expired). */
export function certificateExpiry(daysLeft: number): CertificateExpiry {
  if (daysLeft < 0) return 'expired';
  if (daysLeft < CERT_EXPIRY_CRITICAL_DAYS) return 'critical';
  if (daysLeft < CERT_EXPIRY_WARN_DAYS) return 'soon';
  return 'ok';
}
