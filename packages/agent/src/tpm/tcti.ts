/**
 * Where the TPM is (a TCTI of tpm2-tss):
 * - `device`: a hardware TPM through the kernel's resource manager, `/dev/tpmrm0` by default;
 * - `swtpm`: an swtpm over TCP (`swtpm socket --server type=tcp,port=P --ctrl type=tcp,port=P+1`);
 * - `unix`: an swtpm on a Unix socket; its control socket must be at `PATH.ctrl` (tpm2-tss 3.2).
 */
export type TctiConfig =
  | { kind: 'device'; path?: string }
  | { kind: 'swtpm'; host?: string; port: number }
  | { kind: 'unix'; path: string };

/** The `TPM2TOOLS_TCTI` string for a configuration. */
export function tctiString(t: TctiConfig): string {
  switch (t.kind) {
    case 'device':
      return `device:${t.path ?? '/dev/tpmrm0'}`;
    case 'swtpm':
      return `swtpm:host=${t.host ?? '127.0.0.1'},port=${t.port}`;
    case 'unix':
      return `swtpm:path=${t.path}`;
  }
}

/**
 * Parses a TCTI as written in configuration: `device[:PATH]`, `swtpm:host=H,port=P` or
 * `unix:PATH`. Returns undefined when it is none of these.
 */
export function parseTcti(text: string): TctiConfig | undefined {
  if (text === 'device') return { kind: 'device' };
  if (text.startsWith('device:')) return { kind: 'device', path: text.slice(7) };
  if (text.startsWith('unix:') && text.length > 5) return { kind: 'unix', path: text.slice(5) };
  const m = /^swtpm:(?:host=([A-Za-z0-9.:-]+),)?port=(\d{1,5})$/.exec(text);
  if (m !== null && Number(m[2]) >= 1 && Number(m[2]) <= 65535)
    return { kind: 'swtpm', host: m[1] ?? '127.0.0.1', port: Number(m[2]) };
  return undefined;
}
