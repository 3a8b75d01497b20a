/** `npm run docs`: writes the options reference (options-reference.ts) into README.md between its markers. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../package-paths.js';
import { withReference } from './options-reference.js';

const readme = join(packageRoot, 'README.md');
writeFileSync(readme, withReference(readFileSync(readme, 'utf8')));
