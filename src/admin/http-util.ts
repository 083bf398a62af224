// Small helpers for the admin API's JSON answers and bounded request bodies.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCodes, HitlessError } from '../errors.js';

export const MAX_BODY_BYTES = 4 * 1024 * 1024;

/**
 * A JSON answer, indented for people; `compact` for the large documents programs read (GET
 * /status and /dashboard/data at 10,000 endpoints: indentation doubles their size and the time
 * to make them).
 */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}, compact = false): void {
  // Encoded once: a string would be measured, then encoded again by the socket write.
  const bytes = Buffer.from((compact ? JSON.stringify(body) : JSON.stringify(body, null, 2)) + '\n');
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': bytes.length, ...headers });
  res.end(bytes);
}

export function sendError(res: ServerResponse, status: number, code: HitlessError['code'], message: string, details?: unknown): void {
  sendJson(res, status, { error: { code, message, ...(details === undefined ? {} : { details }) } });
}

/** Reads the whole body, refusing (413) beyond `limit` bytes without buffering the excess. */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > limit) {
      reject(tooLarge(limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(tooLarge(limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function tooLarge(limit: number): HitlessError {
  return new HitlessError(ErrorCodes.BODY_TOO_LARGE, `request body is larger than the ${limit} byte limit`);
}
