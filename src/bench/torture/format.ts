// Plain-text formatting shared by the summary table, the progress line and the Markdown report.

export function ms(value: number): string {
  if (value === 0) return '-';
  return value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2);
}

export function mb(bytes: number): string {
  return (bytes / (1 << 20)).toFixed(0);
}

export function ratio(after: number, before: number): string {
  return before > 0 && after > 0 ? `${(after / before).toFixed(2)}x` : '-';
}

/** Columns padded to their widest cell; numeric-looking cells right-aligned. */
export function textTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((row) => row.map(String));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const numeric = (text: string) => /^[-\d.,x%→ ]+$/.test(text);
  const line = (row: readonly string[]) =>
    row.map((cell, i) => (numeric(cell) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n');
}

/** A GitHub-flavoured Markdown table. */
export function markdownTable(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const escape = (cell: string | number) => String(cell).replace(/\|/g, '\\|');
  return [
    `| ${headers.join(' | ')} |`,
    `| ${headers.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}
