// `hitless demo` (what `npm start` runs): three demo backends and hitless in front of them,
// from the bundled examples/demo.yaml plus an https service on a certificate made at first run
// (demo/demo-certificate.ts), with a printed tour of what to try.
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';

const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url));

/** A bundled example with the demo's https service added (services: is the last section there). */
function withTls(example: string, dir: string, cert: string, key: string): string {
  const text = `${readFileSync(`${EXAMPLES}${example}`, 'utf8').trimEnd()}
  # Added by hitless demo: TLS termination on a certificate made at first run (${dir}).
  demo-tls:
    mode: http
    listen: 127.0.0.1:7443
    endpoints: [127.0.0.1:7101, 127.0.0.1:7102, 127.0.0.1:7103]
    tls: { certificates: [{ cert: ${JSON.stringify(cert)}, key: ${JSON.stringify(key)} }] }
`;
  const path = join(dir, example);
  writeFileSync(path, text);
  return path;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run hitless on the bundled example config in front of bundled demo backends')
    .option('--renew-certificate', "replace the demo's TLS certificate with a new one (as a renewal would) and exit")
    .action(async (options: { renewCertificate?: boolean }) => {
      const cert = await import('../demo/demo-certificate.js');
      if (options.renewCertificate) {
        process.stdout.write(`new certificate ${cert.DEMO_CERT}: sha256 ${await cert.renewDemoCertificate()}\n`);
        return;
      }
      const [{ startDemoBackends }, { createLogger }, { installSignals, startOrExit }] = await Promise.all([
        import('../demo/demo-backends.js'),
        import('../observability/log.js'),
        import('./serve.js'),
      ]);
      const fingerprint = await cert.ensureDemoCertificate();
      const config = withTls('demo.yaml', cert.DEMO_TLS_DIR, cert.DEMO_CERT, cert.DEMO_KEY);
      const changed = withTls('demo-changed.yaml', cert.DEMO_TLS_DIR, cert.DEMO_CERT, cert.DEMO_KEY);
      const log = createLogger();
      try {
        await startDemoBackends('127.0.0.1', [7101, 7102, 7103]);
      } catch (err) {
        process.stderr.write(`hitless demo: ${(err as Error).message}; stop what uses ports 7101-7103 and retry\n`);
        process.exit(1);
      }
      // Not next to the bundled example (a package folder); a restarted demo finds them here.
      const hitless = await startOrExit(config, log, undefined, join(tmpdir(), 'hitless-demo-overrides.json'));
      installSignals(hitless, log, 2_000);
      const admin = hitless.adminAddress;
      process.stdout.write(`
hitless demo is running: 127.0.0.1:7000 balances over three demo backends (7101, 7102, 7103 with weight 2);
https://localhost:7443 terminates TLS in front of them (certificate ${cert.DEMO_CERT}, sha256 ${fingerprint.slice(0, 23)}...).

Try, in another terminal:
  curl -s http://127.0.0.1:7000/                         # repeat: backends take turns, 7103 twice as often
  npx hitless status --admin ${admin}             # services, endpoints, listeners, applies
  npx hitless apply ${changed} --admin ${admin}
                                                         # drains 7101, adds a sticky service on :7001,
                                                         # without closing a connection
  curl -s http://127.0.0.1:7001/                         # the new service, right after the apply
  npx hitless apply ${config} --admin ${admin}    # and back
  kill -HUP ${process.pid}                                  # re-reads ${config}
  curl -s --cacert ${cert.DEMO_CERT} https://localhost:7443/
  npx hitless demo --renew-certificate                   # a renewal: new files by rename; hitless
                                                         # watches them and rotates in place, open
                                                         # TLS connections continue
  npx hitless status --admin ${admin}             # the certificate in use and when it ends

Ctrl-C stops it (open connections get 2s to finish).
`);
    });
}
