import { createHash } from 'node:crypto';
import { type FileHandle, open } from 'node:fs/promises';

/** Weights a sample server "loaded": their digest, and the open file it holds like an engine. */
export interface LoadedWeights {
  path: string;
  /** `sha256:<hex>` of the file's bytes as read at load. */
  digest: string;
  /** Releases the file (the server's close does it). */
  release(): Promise<void>;
}

/**
 * Reads a weights file the way a real engine does before it serves: every byte, through one
 * open file that stays open while the server runs (llama.cpp keeps its GGUF mapped, vLLM its
 * safetensors open while loading). On a host with IMA (or the simulated kernel) that read is
 * what puts the weights' digest in the kernel's measurement log, so the verifier learns which
 * weights the engine loaded from the kernel rather than from the agent's flags.
 * @throws the open or read error (a missing file refuses the start)
 */
export async function loadWeights(path: string): Promise<LoadedWeights> {
  const handle: FileHandle = await open(path, 'r');
  try {
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let at = 0; ; ) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      at += bytesRead;
    }
    return { path, digest: `sha256:${hash.digest('hex')}`, release: () => handle.close() };
  } catch (err) {
    await handle.close();
    throw err;
  }
}
