import type { TelemetryCounts } from '../counts.ts';

/** One sample line of the Prometheus text exposition format. */
export interface MetricLine {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*/;
/** A Go ParseFloat-style value as Prometheus prints it, or NaN / +Inf / -Inf. */
const VALUE = /^(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|NaN|[+-]Inf)$/;

/**
 * Parses Prometheus text exposition format 0.0.4 (prometheus.io/docs/instrumenting/exposition_formats):
 * `name{label="value",...} value [timestamp]`, `#` comments, label values with \\, \" and \n
 * escapes. Never throws: a line that does not parse is counted as bad-metric-line.
 * At most `maxLines` sample lines are returned.
 */
export function parsePrometheusText(text: string, counts: TelemetryCounts, maxLines = 100_000): MetricLine[] {
  const out: MetricLine[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (out.length >= maxLines) {
      counts.add('too-large');
      break;
    }
    const m = parseLine(line);
    if (m === undefined) counts.add('bad-metric-line');
    else out.push(m);
  }
  return out;
}

function parseLine(line: string): MetricLine | undefined {
  const n = NAME.exec(line);
  if (n === null) return undefined;
  let i = n[0].length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    for (;;) {
      while (line[i] === ' ') i++;
      if (line[i] === '}') {
        i++;
        break;
      }
      const l = LABEL.exec(line.slice(i));
      if (l === null) return undefined;
      i += l[0].length;
      if (line[i] !== '=' || line[i + 1] !== '"') return undefined;
      i += 2;
      let v = '';
      for (;;) {
        const c = line[i];
        if (c === undefined) return undefined;
        i++;
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          if (e === 'n') v += '\n';
          else if (e === '\\' || e === '"') v += e;
          else return undefined;
        } else v += c;
      }
      labels[l[0]] = v;
      while (line[i] === ' ') i++;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') return undefined;
    }
  }
  if (line[i] !== ' ' && line[i] !== '\t') return undefined;
  const rest = line
    .slice(i)
    .trim()
    .split(/[ \t]+/);
  if (rest.length < 1 || rest.length > 2) return undefined;
  const vs = rest[0]!;
  if (!VALUE.test(vs)) return undefined;
  const value = vs === 'NaN' ? Number.NaN : vs === '+Inf' ? Infinity : vs === '-Inf' ? -Infinity : Number(vs);
  return { name: n[0], labels, value };
}
