// `hitless reload --config FILE`: the admin address and token of the hitless that runs from FILE,
// read from the file's `admin:` section, so that the unit's ExecReload= names only the file (as
// ExecStart= does) whatever admin.listen and admin.token say. Read leniently: a file that does not
// parse gives nothing here (the defaults apply), and the running hitless, asked to re-read it,
// answers with its problems.
import { readFile } from 'node:fs/promises';

export interface AdminOfConfig {
  readonly listen?: string;
  readonly token?: string;
}

export async function adminOfConfigFile(file: string): Promise<AdminOfConfig> {
  const text = await readFile(file, 'utf8').catch(() => undefined);
  if (text === undefined) return {};
  const { parse } = await import('yaml');
  let data: unknown;
  try {
    data = parse(text, { uniqueKeys: true });
  } catch {
    return {};
  }
  const admin = typeof data === 'object' && data !== null && !Array.isArray(data) ? (data as { admin?: unknown }).admin : undefined;
  if (typeof admin !== 'object' || admin === null) return {};
  const { listen, token } = admin as { listen?: unknown; token?: unknown };
  return { ...(typeof listen === 'string' ? { listen } : {}), ...(typeof token === 'string' ? { token } : {}) };
}
