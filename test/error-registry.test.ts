// One error registry (issue 16): every HITLESS_ERR_* code is defined once in src/errors.ts, with
// its HTTP status, listed in docs/errors.md, and written nowhere else in src/ as a literal.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
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

  it('every error class derives from HitlessError, but for internal signals that never reach a user', () => {
    // Signals caught where they are thrown (or, for NeedFullConfig, turned into a protocol field
    // between two hitless processes): none of them is ever answered, logged as an error to a user,
    // or printed. Anything else that can end up in an answer or a log needs a registered code.
    const SIGNALS: Record<string, string> = {
      // worker-main.ts: a worker refuses a patch of a config it does not run; the reply says
      // `wants: 'full-config'` and the supervisor sends the whole config instead.
      NeedFullConfig: 'src/process/worker-main.ts',
      // config-patch.ts: applyPatch meets a service it does not have; the worker's caller turns
      // it into NeedFullConfig.
      PatchMismatch: 'src/process/config-patch.ts',
      // etcd-members.ts: thrown inside the etcd3 client's fault policy so that it tries the next
      // member; the client catches it.
      NotPinned: 'src/discovery/etcd-members.ts',
      // ocsp-response.ts: why an OCSP response must not be stapled; tls-certificate.ts catches it
      // and reports its message as a config problem (HITLESS_ERR_CONFIG_INVALID).
      OcspResponseError: 'src/config/ocsp-response.ts',
    };
    // Node's own error classes, the roots a class can derive from.
    const ROOTS = new Set(['Error', 'TypeError', 'RangeError', 'SyntaxError', 'AggregateError']);
    const parent = new Map<string, { base: string; file: string }>();
    // src/bench is not the product (lint: nothing in the product imports it): its errors classify
    // the bench's own traffic in its report.
    for (const file of sources(join(ROOT, 'src')).filter((f) => !f.includes(join('src', 'bench')))) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\bclass\s+(\w+)(?:<[^>{]*>)?\s+extends\s+([\w.]+)/g)) parent.set(m[1], { base: m[2], file: relative(ROOT, file) });
    }
    const isError = (name: string): boolean => {
      for (let n: string | undefined = name, hops = 0; n !== undefined && hops < 20; n = parent.get(n)?.base, hops++) if (ROOTS.has(n) || n.endsWith('Error')) return true;
      return false;
    };
    const derivesFromHitless = (name: string): boolean => {
      for (let n: string | undefined = parent.get(name)?.base, hops = 0; n !== undefined && hops < 20; n = parent.get(n)?.base, hops++) if (n === 'HitlessError') return true;
      return false;
    };
    const offenders = [...parent.keys()].filter((name) => name !== 'HitlessError' && isError(name) && !derivesFromHitless(name) && SIGNALS[name] !== parent.get(name)!.file);
    assert.deepEqual(offenders, [], 'derive these from HitlessError (src/errors.ts), or list them above with why they never reach a user');
    // Control: the scan does see the error classes (a broken pattern would find none and pass).
    for (const name of ['BindError', 'WorkerRefusal', 'ConfigError', 'NodeInternalsError']) assert.ok(derivesFromHitless(name), `${name} is found and derives from HitlessError`);
    for (const name of Object.keys(SIGNALS)) assert.equal(parent.get(name)?.file, SIGNALS[name], `${name} is still where the allow-list says (remove it from the list if it is gone)`);
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
