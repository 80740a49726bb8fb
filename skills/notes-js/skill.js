// A first-party Chitin skill in JavaScript (componentize-js, SpiderMonkey):
// notes in the granted directory through wasi:filesystem (JS in a component
// has no `fs` module), and a web fetch through the standard fetch(), which
// the runtime maps to wasi:http, so the host's allow-list, address checks
// and secret rules apply exactly as they do to Rust skills.
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

const ROOT = '/workspace';

const fail = (tag, val) => {
  throw { tag, val };
};

const schema = (props, required = Object.keys(props)) =>
  JSON.stringify({ type: 'object', required, properties: props });

// wasi:filesystem error codes that mean "the grant does not allow this".
const DENIED = new Set(['access', 'not-permitted', 'read-only']);

function root() {
  const mount = getDirectories().find(([, guest]) => guest === ROOT);
  if (!mount) fail('denied', `no directory is granted at ${ROOT}`);
  return mount[0];
}

function open(path, flags, openFlags) {
  try {
    return root().openAt({}, path, openFlags, flags);
  } catch (e) {
    if (e?.tag) throw e;
    const code = e?.payload ?? String(e);
    fail(DENIED.has(code) ? 'denied' : 'failed', `${path}: ${code}`);
  }
}

function readNote(path) {
  const file = open(path, { read: true }, {});
  const chunks = [];
  let offset = 0n;
  for (;;) {
    const [bytes, eof] = file.read(65536n, offset);
    chunks.push(bytes);
    offset += BigInt(bytes.length);
    if (eof || bytes.length === 0) break;
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  return new TextDecoder().decode(all);
}

function writeNote(path, content) {
  const file = open(path, { write: true }, { create: true, truncate: true });
  const bytes = new TextEncoder().encode(content);
  let offset = 0;
  while (offset < bytes.length) {
    offset += Number(file.write(bytes.subarray(offset), BigInt(offset)));
  }
  return JSON.stringify({ written: bytes.length });
}

async function request(url, method, headers, body) {
  let resp;
  try {
    resp = await fetch(url, {
      method,
      headers: { 'user-agent': 'chitin-notes-js', ...headers },
      body,
    });
  } catch (e) {
    // The runtime reports every refusal as a plain network error; the host's
    // audit log records which rule refused it.
    fail('failed', `fetch ${url}: ${e}`);
  }
  return `${resp.status} ${await resp.text()}`;
}

export const tools = {
  listTools() {
    return [
      {
        name: 'read',
        description: 'Read a note (a UTF-8 file) from the notes directory.',
        inputSchema: schema({ path: { type: 'string' } }),
        effects: [{ tag: 'reads-files' }],
      },
      {
        name: 'write',
        description: 'Write a note to the notes directory.',
        inputSchema: schema({ path: { type: 'string' }, content: { type: 'string' } }),
        effects: [{ tag: 'writes-files' }],
      },
      {
        name: 'fetch',
        description:
          'Send an HTTP request (only to hosts the user granted); returns the status and the body.',
        inputSchema: schema(
          {
            url: { type: 'string' },
            method: { type: 'string', default: 'GET' },
            headers: { type: 'object' },
            body: { type: 'string' },
          },
          ['url'],
        ),
        effects: [{ tag: 'network' }],
      },
      {
        name: 'spin',
        description: 'Loop forever (used to test the CPU limit).',
        inputSchema: schema({}),
        effects: [],
      },
    ];
  },

  async call(name, input) {
    let args;
    try {
      args = JSON.parse(input);
    } catch (e) {
      fail('invalid-input', String(e));
    }
    if (typeof args !== 'object' || args === null || Array.isArray(args)) {
      fail('invalid-input', 'expected a JSON object');
    }
    const str = (key) => {
      if (typeof args[key] !== 'string') fail('invalid-input', `\`${key}\` must be a string`);
      return args[key];
    };
    try {
      switch (name) {
        case 'read':
          return readNote(str('path'));
        case 'write':
          return writeNote(str('path'), str('content'));
        case 'fetch':
          return await request(str('url'), args.method ?? 'GET', args.headers ?? {}, args.body);
        case 'spin':
          for (let n = 0; ; n++);
        default:
          fail('unknown-tool', name);
      }
    } catch (e) {
      if (e?.tag) throw e;
      // An uncaught exception would crash the call: report it instead.
      fail('failed', `${e?.name ?? 'Error'}: ${e?.message ?? e}`);
    }
  },
};
