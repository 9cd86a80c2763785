/**
 * A TPM 2.0 response (Part 1, 18.10) for parser tests: `tag` 0x8002 (sessions) puts the
 * parameter size first and an empty session area after; 0x8001 just the parameters.
 */
export function tpmResponse(rc: number, params: number[], tag = 0x8002): Uint8Array {
  const body = tag === 0x8002 ? [0, 0, (params.length >> 8) & 255, params.length & 255, ...params] : params;
  const size = 10 + body.length;
  const u32 = (v: number) => [(v >>> 24) & 255, (v >> 16) & 255, (v >> 8) & 255, v & 255];
  return new Uint8Array([tag >> 8, tag & 255, ...u32(size), ...u32(rc), ...body]);
}
