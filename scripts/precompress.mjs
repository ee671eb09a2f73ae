// Writes a brotli (.br, quality 11) and a gzip (.gz, level 9) copy beside
// every compressible file of the built site, once per build, so the server
// sends them as they are (tower-http's ServeDir picks the copy the browser
// accepts) instead of compressing the same WASM on every request. Files
// whose copies are newer than they are skipped. Usage:
//   node scripts/precompress.mjs target/site
import * as fs from "node:fs";
import * as path from "node:path";
import * as zlib from "node:zlib";

const root = process.argv[2] ?? "target/site";
const compressible = new Set([".wasm", ".js", ".css", ".svg", ".html", ".json", ".webmanifest", ".txt"]);
// Below this a compressed copy saves less than its own headers cost.
const MIN_BYTES = 1024;

function* files(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else if (compressible.has(path.extname(entry.name))) yield full;
  }
}

const fresh = (copy, source) => fs.existsSync(copy) && fs.statSync(copy).mtimeMs >= fs.statSync(source).mtimeMs;
let raw = 0, brotli = 0, gzip = 0, written = 0;
for (const file of files(root)) {
  const data = fs.readFileSync(file);
  if (data.length < MIN_BYTES) continue;
  raw += data.length;
  if (!fresh(`${file}.br`, file)) {
    fs.writeFileSync(`${file}.br`, zlib.brotliCompressSync(data, {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: 11,
        [zlib.constants.BROTLI_PARAM_SIZE_HINT]: data.length,
      },
    }));
    written += 1;
  }
  if (!fresh(`${file}.gz`, file)) {
    fs.writeFileSync(`${file}.gz`, zlib.gzipSync(data, { level: 9 }));
    written += 1;
  }
  brotli += fs.statSync(`${file}.br`).size;
  gzip += fs.statSync(`${file}.gz`).size;
}
console.log(`precompress: ${root}: ${raw} B raw, ${brotli} B brotli, ${gzip} B gzip (${written} copies written)`);
