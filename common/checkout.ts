/**
 * Where this copy of nightshift lives (package.json, tasks/recordings, its git history),
 * whether it runs as TypeScript from the source tree or compiled into dist/ (`npm run
 * build`), where every file sits one directory deeper.
 */
import * as path from 'node:path';

const compiled = path.extname(__filename) === '.js';

export const NIGHTSHIFT_CHECKOUT = path.resolve(__dirname, ...(compiled ? ['..', '..'] : ['..']));
