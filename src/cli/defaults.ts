// Defaults the command definitions show in --help. The admin default comes from
// config/admin-default.ts, which loads nothing but Node's own modules, so that defining the
// commands does not load the config schema (zod) into every process. It is the server's default
// (config/schema.ts's DEFAULTS.adminListen) in the same environment, or the packaged systemd
// unit's socket when that exists; test/cli-startup.test.ts checks that they agree.
import { clientAdminDefault } from '../config/admin-default.js';

export const DEFAULT_ADMIN = clientAdminDefault();
