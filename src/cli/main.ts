#!/usr/bin/env node
// The `hitless` command line. Each subcommand lives in its own file and registers itself here.
// Those files hold definitions (options, help) and import only what defining needs; an action
// imports its implementation when it runs. So `--version` loads little, and the supervisor of
// `hitless run` holds only what it serves (no benchmark, demo or register code).
import { Command } from 'commander';
import { VERSION } from '../version.js';
import { registerRunCommand } from './run-command.js';
import { registerConfigCommands } from './config-commands.js';
import { registerStatusCommand } from './status-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerBenchCommand } from './bench-command.js';
import { registerUpgradeCommand } from './upgrade-command.js';
import { registerTopCommand } from './top-command.js';
import { registerRegisterCommand } from './register-command.js';
import { registerEndpointCommand } from './endpoint-command.js';
import { registerImportCommand } from './import-command.js';

const program = new Command()
  .name('hitless')
  .description('A TCP/HTTP load balancer whose configuration changes and upgrades never cost a connection.')
  .version(VERSION, '-V, --version')
  .showHelpAfterError()
  // Usage errors (unknown command or option, missing argument) exit 2, as docs/operations.md says.
  .exitOverride((err) => process.exit(err.code.startsWith('commander.') && err.exitCode === 1 ? 2 : err.exitCode));

registerRunCommand(program);
registerConfigCommands(program);
registerStatusCommand(program);
registerDemoCommand(program);
registerBenchCommand(program);
registerUpgradeCommand(program);
registerTopCommand(program);
registerRegisterCommand(program);
registerEndpointCommand(program);
registerImportCommand(program);

await program.parseAsync(process.argv);
