import { IMA_LIMITS, ImaParseError, parseBinaryColumns } from '@tmb/core/ima';
import { AgentError } from '../../errors.ts';

// Entry framing of the kernel's binary measurement list (docs/ima.md "Binary form"; the kernel's
// security/integrity/ima/ima_fs.c), every integer little-endian (the host's order on x86 and
// arm64):
//   u32 pcr | u8[20] template hash | u32 name length | name
//   | u32 template data length | template data            (every template but "ima")
//   | u8[20] digest | u32 name length | name               (the legacy "ima" template)
// Only the lengths are read here, to find where complete entries end in bytes read so far from
// a file that grows; core's parser then checks each complete entry's fields.

const HEADER = 4 + 20 + 4;
const IMA = [0x69, 0x6d, 0x61]; // "ima"

/** Complete entries found in a prefix of the binary list. */
export interface Framed {
  /** End offset (exclusive, relative to the input) of each complete entry, in order. */
  ends: number[];
  /** The error at the first entry that can never be complete or parse, or null. */
  error: AgentError | null;
}

/**
 * Finds the complete entries at the start of `bytes` (the list from entry `firstIndex` on) and
 * checks them with core's parser (`byteOffset`: where `bytes` starts in the file, for messages): a truncated last entry is left out (the caller keeps its
 * bytes for the next read); a length field over its cap (attacker-controlled: a 4 GiB name
 * would otherwise make a reader wait, and buffer, forever) or an entry core's parser refuses
 * ends the framing there with `error` set. Never throws for bad bytes.
 */
export function frameEntries(bytes: Uint8Array, firstIndex: number, byteOffset = 0): Framed {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const ends: number[] = [];
  let at = 0;
  let error: AgentError | null = null;
  const malformed = (field: string, offset: number, detail: string) =>
    new AgentError(
      'KERNEL_LOG_MALFORMED',
      `kernel IMA log entry ${firstIndex + ends.length} at byte ${byteOffset + at}: ${field} at byte ${byteOffset + offset}: ${detail}`,
    );
  while (bytes.length - at >= HEADER) {
    const nameLen = view.getUint32(at + 24, true); // attacker-controlled
    if (nameLen > IMA_LIMITS.templateName) {
      error = malformed(
        'template name length',
        at + 24,
        `${nameLen} over the cap of ${IMA_LIMITS.templateName}`,
      );
      break;
    }
    const nameAt = at + HEADER;
    const ima = nameLen === 3 && IMA.every((c, i) => bytes[nameAt + i] === c);
    let end: number;
    if (ima) {
      const lenAt = nameAt + 3 + 20;
      if (bytes.length < lenAt + 4) break;
      const n = view.getUint32(lenAt, true); // attacker-controlled
      if (n > IMA_LIMITS.imaName) {
        error = malformed('n length', lenAt, `${n} over the cap of ${IMA_LIMITS.imaName}`);
        break;
      }
      end = lenAt + 4 + n;
    } else {
      const lenAt = nameAt + nameLen;
      if (bytes.length < lenAt + 4) break;
      const n = view.getUint32(lenAt, true); // attacker-controlled
      if (n > IMA_LIMITS.templateData) {
        error = malformed('template data length', lenAt, `${n} over the cap of ${IMA_LIMITS.templateData}`);
        break;
      }
      end = lenAt + 4 + n;
    }
    if (end > bytes.length) break; // the rest of this entry is not written (or read) yet
    ends.push(end);
    at = end;
  }
  if (ends.length === 0) return { ends, error };
  // Fields inside the complete entries: core's parser, which names the entry and offset.
  try {
    parseBinaryColumns(bytes.subarray(0, ends.at(-1)), { firstIndex });
  } catch (err) {
    if (!(err instanceof ImaParseError)) throw err;
    const bad = err.entryIndex - firstIndex;
    return {
      ends: ends.slice(0, bad),
      error: new AgentError(
        'KERNEL_LOG_MALFORMED',
        `kernel IMA log entry ${err.entryIndex} at byte ${byteOffset + err.entryOffset}: ${err.code}: ${err.message} (offsets from byte ${byteOffset})`,
        { cause: err },
      ),
    };
  }
  return { ends, error };
}

/**
 * The decimal count of `<securityfs>/ima/runtime_measurements_count` (the kernel prints
 * `%ld\n`; leading and trailing white space is allowed, nothing else).
 * @throws AgentError KERNEL_LOG_MALFORMED when it is not a decimal count below 2^53
 */
export function parseMeasurementCount(bytes: Uint8Array): number {
  const text = Buffer.from(bytes).toString('latin1').trim();
  const n = Number(text);
  if (!/^[0-9]{1,15}$/.test(text) || !Number.isSafeInteger(n))
    throw new AgentError(
      'KERNEL_LOG_MALFORMED',
      `runtime_measurements_count holds ${JSON.stringify(text.slice(0, 40))}, not a decimal count`,
    );
  return n;
}
