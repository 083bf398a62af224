// String fields parsed by functions of ours (durations, addresses), for every config schema: one
// place, so that every such error reads "expected X, found Y".
import { z } from 'zod';
import type { ParseResult } from './address.js';

/** A string field parsed by a function of ours, so every such error reads "expected X, found Y". */
export function parsedString<T>(parse: (text: string) => ParseResult<T>, expected: string) {
  return z.unknown().transform((raw, ctx): T => {
    const input = raw === 0 ? '0' : raw; // a bare 0 is unambiguous for durations ("never")
    if (typeof input !== 'string') {
      ctx.addIssue({ code: 'custom', message: `expected ${expected}, found ${describe(input)}` });
      return z.NEVER;
    }
    const result = parse(input);
    if (!result.ok) {
      ctx.addIssue({ code: 'custom', message: `${result.reason}, found ${describe(input)}` });
      return z.NEVER;
    }
    return result.value;
  });
}

/** What a value is, for "found ..." in error messages. */
export function describe(value: unknown): string {
  if (value === null || value === undefined) return 'nothing';
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  return `${typeof value} ${String(value)}`;
}
