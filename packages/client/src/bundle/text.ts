/** A signed or untrusted value for a check's detail: strings as they are, anything else as JSON. Never throws. */
export function text(v: unknown): string {
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v) ?? typeof v;
  } catch {
    return typeof v;
  }
}

/** An ISO date for a detail from milliseconds, or the value as text when it is no valid time. Never throws. */
export function iso(ms: unknown): string {
  const d = typeof ms === 'number' ? new Date(ms) : null;
  return d !== null && Number.isFinite(d.getTime()) ? d.toISOString() : text(ms);
}
