// serve.mjs - a static file server for the page (make demo), loopback only.
//   node tools/serve.mjs [--no-isolation] DIR [PORT]     (PORT 0 or absent: a free port)
// Prints the page's URL on one line, then serves until killed. No
// dependencies. It sends COOP/COEP, which make the page cross-origin isolated,
// so that it may run the threaded module (relp_engine_mt); --no-isolation
// leaves them out, as most static hosts do: the page then runs on one thread.
// Cross-Origin-Resource-Policy lets pages elsewhere embed or fetch from it.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';

const args = process.argv.slice(2);
const isolate = !args.includes('--no-isolation');
const [dir, portArg] = args.filter((a) => a !== '--no-isolation');
const root = path.resolve(dir || '.');
const port = Number(portArg || process.env.RELP_PORT || 0);
const ISOLATION = isolate ? { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' } : {};
const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css',
  '.wasm': 'application/wasm', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.txt': 'text/plain' };

const server = http.createServer((req, res) => {
  let rel;
  try { rel = decodeURIComponent(new URL(req.url, 'http://x').pathname); } catch { res.writeHead(400, { "access-control-allow-origin": "*" }).end('bad path'); return; }
  const file = path.join(root, path.normalize(rel).replace(/^(\.\.[/\\])+/, ''));
  if (!file.startsWith(root)) { res.writeHead(403, { "access-control-allow-origin": "*" }).end('forbidden'); return; }
  fs.stat(file, (err, st) => {
    const target = !err && st.isDirectory() ? path.join(file, 'index.html') : file;
    fs.stat(target, (err2, st2) => {
      if (err2 || !st2.isFile()) { res.writeHead(404, { "content-type": "text/plain", "access-control-allow-origin": "*" }).end(`not found: ${rel}`); return; }
      res.writeHead(200, { 'content-type': TYPES[path.extname(target)] || 'application/octet-stream', 'content-length': st2.size,
        'access-control-allow-origin': '*', 'cross-origin-resource-policy': 'cross-origin', 'cache-control': 'no-cache', ...ISOLATION });
      if (req.method === 'HEAD') { res.end(); return; }
      fs.createReadStream(target).pipe(res);
    });
  });
});
server.on('error', (e) => {
  if (e.code === 'EADDRINUSE' && port !== 0) { // taken: any free port will do
    console.error(`serve: port ${port} is in use; taking a free one`);
    server.listen(0, '127.0.0.1');
  } else {
    console.error(`serve: ${e.message}`);
    process.exit(1);
  }
});
server.on('listening', () => {
  console.log(`http://127.0.0.1:${server.address().port}/`);
});
server.listen(port, '127.0.0.1');
