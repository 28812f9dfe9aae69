/** Whether a program is found on a search path, as a shell would find it (executable by this process). */
import { accessSync, constants } from 'node:fs';
import * as path from 'node:path';

export function onPath(program: string, searchPath: readonly string[]): boolean {
  for (const dir of searchPath) {
    try {
      accessSync(path.join(dir, program), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}
