// One error registry (issue 16): every HITLESS_ERR_* code is defined once in src/errors.ts, with
// its HTTP status, listed in docs/errors.md, and written nowhere else in src/ as a literal.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ERROR_STATUS, ErrorCodes, PROXY_CODES, httpStatusOf } from '../src/errors.js';
import { HTTP_ERRORS } from '../src/dataplane/builtin/http/errors.js';
import { ROOT } from './helpers/paths.js';

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

describe('error registry', () => {
  const all = [...Object.values(ErrorCodes), ...Object.values(PROXY_CODES)];

  it('every admin code has its HTTP status, and the admin API answers with it', () => {
    for (const code of Object.values(ErrorCodes)) assert.ok(ERROR_STATUS[code] >= 400 && ERROR_STATUS[code] < 600, code);
    assert.equal(httpStatusOf(ErrorCodes.BIND_FAILED), 409);
    assert.equal(httpStatusOf(ErrorCodes.DATAPLANE_REJECTED), 422);
    assert.equal(httpStatusOf('HITLESS_ERR_NO_SUCH_THING'), 500);
    assert.equal(new Set(Object.values(ErrorCodes)).size, Object.values(ErrorCodes).length, 'no code twice');
  });

  it('the data plane answers clients only with registered codes', () => {
    for (const e of Object.values(HTTP_ERRORS)) assert.ok((Object.values(PROXY_CODES) as string[]).includes(e.code), e.code);
  });

  it('docs/errors.md lists every code', () => {
    const doc = readFileSync(join(ROOT, 'docs/errors.md'), 'utf8');
    for (const code of all) assert.ok(doc.includes(`\`${code}\``), `${code} is not in docs/errors.md`);
  });

  it('no code is written as a literal outside the registry (comments aside)', () => {
    const offenders: string[] = [];
    for (const file of sources(join(ROOT, 'src'))) {
      if (file.endsWith(join('src', 'errors.ts'))) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          const code = line.replace(/\/\/.*$|^\s*\*.*$|\/\*\*.*$/, '');
          if (/['"`]HITLESS_ERR_[A-Z_]+/.test(code)) offenders.push(`${file.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
        });
    }
    assert.deepEqual(offenders, []);
  });
});
