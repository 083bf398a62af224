#!/usr/bin/env node
// The `hitless` command line. Each subcommand lives in its own file and registers itself here.
import { Command } from 'commander';
import { registerRunCommand } from './run-command.js';
import { registerConfigCommands } from './config-commands.js';
import { registerStatusCommand } from './status-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerBenchCommand } from './bench-command.js';

const program = new Command()
  .name('hitless')
  .description('A TCP/HTTP load balancer whose configuration changes and upgrades never cost a connection.')
  .showHelpAfterError();

registerRunCommand(program);
registerConfigCommands(program);
registerStatusCommand(program);
registerDemoCommand(program);
registerBenchCommand(program);

await program.parseAsync(process.argv);
