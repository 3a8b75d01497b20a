import { readFileSync } from 'node:fs';
let t = performance.now();
const m = await WebAssembly.compile(readFileSync('node_modules/@electric-sql/pglite/dist/pglite.wasm'));
console.log('compile', performance.now() - t);
const { PGlite } = await import('@electric-sql/pglite');
t = performance.now();
const db = await PGlite.create({ dataDir: '/tmp/emb1/postgres', wasmModule: m });
console.log('create with module', performance.now() - t);
await db.close();
