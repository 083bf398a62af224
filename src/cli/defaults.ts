// Defaults the command definitions show in --help. DEFAULT_ADMIN is config/schema.ts's
// DEFAULTS.adminListen, repeated here so that defining the commands does not load the config
// schema (zod) into every process; test/cli-startup.test.ts checks that the two agree.
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const DEFAULT_ADMIN = `unix:${join(tmpdir(), 'hitless-admin.sock')}`;
