import * as fsPromises from 'node:fs/promises';

/**
 * The filesystem calls the file store makes, injectable so a test can make the disk fail in ways
 * a real one rarely does on demand (ENOSPC part-way through a write).
 */
export type FileStoreFs = Pick<
  typeof fsPromises,
  | 'mkdir'
  | 'open'
  | 'readdir'
  | 'readFile'
  | 'rename'
  | 'rm'
  | 'rmdir'
  | 'stat'
  | 'unlink'
  | 'writeFile'
>;

export const nodeFs: FileStoreFs = fsPromises;
