// npm run docs: regenerate docs/configuration.md from the parameter table.
import { mkdirSync, writeFileSync } from 'node:fs';
import { configurationReference } from '../src/config/reference.js';

mkdirSync('docs', { recursive: true });
writeFileSync('docs/configuration.md', configurationReference());
console.log('wrote docs/configuration.md');
