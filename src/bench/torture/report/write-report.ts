// `--report DIR`: a Markdown report with its charts (SVG and PNG side by side) and the raw JSON.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import type { MachineInfo } from '../machine-info.js';
import type { SuiteResult } from '../suite.js';
import { failuresChart, latencyChart, processChart } from './charts.js';
import { reportMarkdown } from './markdown.js';
import { renderSvg, svgToPng } from './render.js';

export interface WrittenReport {
  readonly markdown: string;
  readonly files: readonly string[];
}

export async function writeReport(dir: string, suite: SuiteResult, machine: MachineInfo, command: string): Promise<WrittenReport> {
  await mkdir(dir, { recursive: true });
  const charts: Record<string, TopLevelSpec> = {
    failures: failuresChart(suite.targets),
    latency: latencyChart(suite.targets),
    processes: processChart(suite.targets),
  };
  const files: string[] = [];
  for (const [name, spec] of Object.entries(charts)) {
    const svg = await renderSvg(spec);
    await writeFile(join(dir, `${name}.svg`), svg);
    await writeFile(join(dir, `${name}.png`), await svgToPng(svg));
    files.push(`${name}.svg`, `${name}.png`);
  }
  const markdown = join(dir, 'README.md');
  await writeFile(markdown, reportMarkdown(suite, machine, command));
  await writeFile(join(dir, 'results.json'), `${JSON.stringify({ machine, ...suite }, null, 2)}\n`);
  files.push('README.md', 'results.json');
  return { markdown, files };
}
