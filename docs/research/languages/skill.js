import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';
import { log } from 'chitin:skill/log@0.1.0';

const err = (tag, val) => { throw { tag, val }; };

function readFile(rel) {
  const mount = getDirectories().find(([, guest]) => guest === '/workspace');
  if (!mount) err('denied', 'no directory is mounted at /workspace');
  const [dir] = mount;
  let fd;
  try {
    fd = dir.openAt({}, rel, {}, { read: true });
  } catch (e) {
    err('failed', `open ${rel}: ${e?.payload ?? e}`);
  }
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [bytes, eof] = fd.read(65536n, offset);
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (eof || bytes.length === 0) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) { all.set(c, at); at += c.length; }
  return new TextDecoder().decode(all);
}

export const tools = {
  listTools() {
    return [
      { name: 'echo', description: 'Return the input unchanged.',
        inputSchema: '{"type":"object"}', effects: [] },
      { name: 'read', description: 'Read a file under /workspace.',
        inputSchema: '{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}',
        effects: [{ tag: 'reads-files' }] },
      { name: 'fetch', description: 'GET a URL with fetch().',
        inputSchema: '{"type":"object","properties":{"url":{"type":"string"}},"required":["url"]}',
        effects: [{ tag: 'network' }] },
    ];
  },
  async call(name, input) {
    let args;
    try { args = JSON.parse(input); } catch (e) { err('invalid-input', String(e)); }
    switch (name) {
      case 'echo':
        log('info', 'echo called');
        return JSON.stringify(args);
      case 'read':
        if (typeof args?.path !== 'string') err('invalid-input', '`path` must be a string');
        return readFile(args.path);
      case 'fetch': {
        let resp;
        try {
          resp = await fetch(args.url);
        } catch (e) {
          err('failed', `fetch ${args.url}: ${e}`);
        }
        return `${resp.status} ${await resp.text()}`;
      }
      default:
        err('unknown-tool', name);
    }
  },
};
