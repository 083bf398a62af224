// What a config parse rejects, as the lines a user reads: one "file:line:col path: reason" per
// problem. Shared by the config test files so each asserts messages, not parsing plumbing.
import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig, parseConfigLocated } from '../../src/config/load.js';

/** Parses `text` (named `file`) expecting a rejection; returns the message lines (one per problem). */
export function configProblems(text: string, file: string): string[] {
  let error: unknown;
  try {
    parseConfig(text, file);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${error === undefined ? 'a valid config' : String(error)}`);
  assert.equal(error.code, 'HITLESS_ERR_CONFIG_INVALID');
  assert.equal(error.problems.length, error.message.split('\n').length);
  // The fast path and the located parse agree (the fast path hands doubtful text to the other).
  assert.throws(() => parseConfigLocated(text, file), ConfigError);
  return error.message.split('\n');
}
