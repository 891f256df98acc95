// serve_child.mjs - tools/serve.mjs in a child process, for the browser tests
// and benchmarks:
//   const [proc, url] = serveChild(DIR, ...flags);  // flags: serve.mjs's, e.g. '--no-isolation'
//   const base = await url;                         // the URL it printed
//   ...
//   proc.kill();
// The promise rejects if the server exits before printing its URL.
import { spawn } from 'node:child_process';
import path from 'node:path';

const here = path.dirname(new URL(import.meta.url).pathname);

export function serveChild(root, ...flags) {
  const p = spawn(process.execPath, [path.join(here, 'serve.mjs'), ...flags, root, '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return [p, new Promise((resolve, reject) => {
    p.stdout.once('data', (d) => resolve(String(d).trim()));
    p.once('exit', (c) => reject(new Error(`server exited ${c}`)));
  })];
}
