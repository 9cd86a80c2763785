import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

/** SHA-256 of a file, streamed: weights files are tens of GB and are never read into memory. */
export async function hashFile(path: string): Promise<Uint8Array> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return new Uint8Array(h.digest());
}

/**
 * Every regular file under `dir`, sorted by path relative to it (bytewise, `/`-separated), so
 * one directory always lists the same way. Symbolic links to files are followed (a Hugging
 * Face snapshot links every shard to a blob); links to directories are not, so no cycle.
 */
export async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    for (const ent of await readdir(d, { withFileTypes: true })) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) await walk(p);
      else if (ent.isFile()) out.push(p);
      else if (ent.isSymbolicLink() && (await stat(p).catch(() => null))?.isFile() === true) out.push(p);
    }
  };
  await walk(dir);
  const rel = (p: string) => relative(dir, p).split(sep).join('/');
  return out.sort((a, b) => (rel(a) < rel(b) ? -1 : rel(a) > rel(b) ? 1 : 0));
}

/**
 * A directory's manifest, in `sha256sum` format: one `<hex>  <relative path>\n` line per file,
 * sorted by relative path. Its SHA-256 is the directory's digest (docs/ima.md, "Directory
 * manifests"), the value a registry lists for sharded weights.
 */
export function manifest(files: readonly { rel: string; hex: string }[]): Uint8Array {
  const sorted = [...files].sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return new TextEncoder().encode(sorted.map((f) => `${f.hex}  ${f.rel}\n`).join(''));
}

/** What changes when a file is rewritten, cheaply, to avoid re-hashing weights that did not change. */
export async function fileStamp(path: string): Promise<string> {
  const s = await stat(path, { bigint: true });
  return `${s.dev}:${s.ino}:${s.size}:${s.mtimeNs}:${s.ctimeNs}`;
}
