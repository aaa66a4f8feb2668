#!/usr/bin/env node
// The facteur command. `npm ci` (prepare) and `npm start` compile src/ to dist/.
import { main } from '../dist/cli/main.js';
main(process.argv.slice(2)).then((code) => { if (typeof code === 'number') process.exitCode = code; });
