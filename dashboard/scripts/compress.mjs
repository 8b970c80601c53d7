// After `vite build`: a .gz beside every text file of dist/ (csocks serves
// it when the browser accepts gzip) and the gzipped JS size on stdout.
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const dir = process.argv[2] || 'dist';
let js = 0;
let jsRaw = 0;
function walk(d) {
  for (const name of readdirSync(d)) {
    const p = join(d, name);
    if (statSync(p).isDirectory()) { walk(p); continue; }
    if (!/\.(html|js|css|svg|json)$/.test(name)) continue;
    const raw = readFileSync(p);
    const gz = gzipSync(raw, { level: 9 });
    writeFileSync(p + '.gz', gz);
    if (name.endsWith('.js')) { js += gz.length; jsRaw += raw.length; }
  }
}
walk(dir);
console.log(`dashboard: JavaScript ${(jsRaw / 1024).toFixed(1)} KiB, ${(js / 1024).toFixed(1)} KiB gzipped`);
