/** The CLI's operations endpoint (--metrics-port) from a test: a free port, GETs, and samples out of /metrics. */
import { createServer } from 'node:net';

/** A port nothing listens on now (the system's choice, released again). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** GET http://127.0.0.1:port/path; undefined while nothing listens there. */
export async function probe(port: number, path: string): Promise<{ status: number; body: string } | undefined> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(5_000) });
    return { status: response.status, body: await response.text() };
  } catch (error) {
    if ((error as { cause?: { code?: string } }).cause?.code === 'ECONNREFUSED') return undefined;
    throw error;
  }
}

/** The /metrics text (throws when it does not answer 200). */
export async function scrape(port: number): Promise<string> {
  const response = await probe(port, '/metrics');
  if (response?.status !== 200) throw new Error(`/metrics on port ${port} answered ${response?.status ?? 'nothing'}`);
  return response.body;
}

const SAMPLE_LINE = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /(\w+)="((?:[^"\\]|\\.)*)"/g;

/** Every sample of `name`, with its labels. */
export function samples(exposition: string, name: string): { labels: Record<string, string>; value: number }[] {
  return exposition
    .split('\n')
    .map((line) => SAMPLE_LINE.exec(line))
    .filter((m): m is RegExpExecArray => m !== null && m[1] === name)
    .map((m) => ({ labels: Object.fromEntries([...(m[2] ?? '').matchAll(LABEL)].map((l) => [l[1]!, l[2]!])), value: Number(m[3]) }));
}

/** The value of the sample `name` whose labels include `labels`; undefined when there is none. */
export function sample(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return samples(exposition, name).find((s) => Object.entries(labels).every(([key, value]) => s.labels[key] === value))?.value;
}
