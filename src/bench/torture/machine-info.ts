// What the report says about where it ran: numbers from a shared 2-core VM and from a 64-core
// server are not comparable, so every report carries its machine and versions.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { TargetDefinition } from './targets/target.js';

export interface MachineInfo {
  readonly date: string;
  readonly hostname: string;
  readonly nproc: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly kernel: string;
  readonly versions: Readonly<Record<string, string>>;
}

export async function machineInfo(targets: readonly TargetDefinition[]): Promise<MachineInfo> {
  const versions: Record<string, string> = { node: process.version };
  for (const target of targets) {
    const version = await target.version().catch(() => undefined);
    if (version) versions[target.name] = version;
  }
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    nproc: os.availableParallelism(),
    cpuModel: await cpuModel(),
    memoryBytes: os.totalmem(),
    kernel: `${os.type()} ${os.release()}`,
    versions,
  };
}

async function cpuModel(): Promise<string> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  return /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
}
