#!/usr/bin/env node
// The facteur command. `npm ci` (prepare) and `npm start` compile src/ to dist/.
// Durable delivery is fsync-bound: give libuv's thread pool room for many fsyncs in
// flight (DESIGN.md performance notes). It must be set before the pool is first used,
// hence here, before any of facteur's modules is imported.
process.env.UV_THREADPOOL_SIZE ??= '32';
const { main } = await import('../dist/cli/main.js');
process.exitCode = await main(process.argv.slice(2));
