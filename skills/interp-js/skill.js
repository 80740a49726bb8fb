// Chitin's JavaScript interpreter component: one tool, `run`, that
// evaluates untrusted JavaScript with SpiderMonkey (bundled by
// componentize-js) inside the sandbox. What the code can reach is what the
// host grants for the call: files under the mounts (/scratch, /skill)
// through a small `fs` (below), HTTP through the standard `fetch`
// (wasi:http, checked by the host), nothing else. The host makes a fresh
// instance per call, so nothing the code does outlives it.
//
// The code's mistakes (exceptions, process.exit, syntax errors) are results
// with exit_code != 0, never tool errors: only malformed input is.
import { getDirectories } from 'wasi:filesystem/preopens@0.2.12';

// Most bytes kept of each stream (and of `result`); the rest is dropped.
const CAP = 64 * 1024;
const DEFAULT_CWD = '/scratch';
const FIELDS = ['code', 'filename', 'args', 'stdin', 'cwd'];

const SCHEMA = JSON.stringify({
  type: 'object',
  required: ['code'],
  additionalProperties: false,
  properties: {
    code: { type: 'string', description: 'JavaScript source (a script, evaluated like eval)' },
    filename: { type: 'string', description: 'shown in stack traces' },
    args: { type: 'array', items: { type: 'string' }, description: 'process.argv.slice(2)' },
    stdin: { type: 'string', description: 'what process.stdin.read() returns' },
    cwd: { type: 'string', description: 'directory relative paths start from (default /scratch)' },
  },
});

const DESCRIPTION =
  'Run JavaScript in a sandbox and return JSON {stdout, stderr, exit_code, result, truncated}; ' +
  '`result` is the completion value (a returned Promise is awaited). No processes or sockets; ' +
  "require('fs') reads and writes only under /scratch (and /skill, read-only) when granted; " +
  'fetch() reaches granted hosts only.';

const fail = (tag, val) => {
  throw { tag, val };
};

/** A stream that keeps its first CAP bytes (UTF-8) and notes the rest. */
class Capped {
  constructor() {
    this.parts = [];
    this.bytes = 0;
    this.cut = false;
  }
  write(s) {
    s = String(s);
    if (this.bytes >= CAP) {
      if (s.length) this.cut = true;
      return;
    }
    const data = new TextEncoder().encode(s);
    const room = CAP - this.bytes;
    this.parts.push(data.length > room ? data.subarray(0, room) : data);
    this.bytes += Math.min(room, data.length);
    if (data.length > room) this.cut = true;
  }
  text() {
    const all = new Uint8Array(this.bytes);
    let at = 0;
    for (const p of this.parts) {
      all.set(p, at);
      at += p.length;
    }
    // A cut inside a character leaves a replacement mark; drop it.
    return new TextDecoder().decode(all).replace(/\uFFFD$/, '');
  }
}

/** `v` as text, roughly as a REPL shows it. */
function show(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'symbol' || typeof v === 'function') return String(v);
  if (v instanceof Error) {
    // The code's own frames only: not this file's nor the bindings'.
    const stack = String(v.stack ?? '')
      .split('\n')
      .filter((l) => l && !/@skill\.js:|initializer\.js:/.test(l));
    return [`${v.name}: ${v.message}`, ...stack].join('\n');
  }
  if (v === null || typeof v !== 'object') return String(v);
  try {
    return JSON.stringify(v, (_, x) => (typeof x === 'bigint' ? `${x}n` : x)) ?? String(v);
  } catch {
    return String(v);
  }
}

/** The completion value as `result`: strings quoted, undefined as null. */
function render(v) {
  if (v === undefined) return null;
  if (typeof v === 'string') return JSON.stringify(v);
  return show(v);
}

class Exit {
  constructor(code) {
    this.code = code;
  }
}

function parse(input) {
  let req;
  try {
    req = JSON.parse(input);
  } catch (e) {
    fail('invalid-input', `input is not JSON: ${e}`);
  }
  if (typeof req !== 'object' || req === null || Array.isArray(req)) {
    fail('invalid-input', 'input must be a JSON object with a `code` string');
  }
  const unknown = Object.keys(req).filter((k) => !FIELDS.includes(k));
  if (unknown.length) {
    fail('invalid-input', `unknown field(s) ${unknown.join(', ')}: expected ${FIELDS.join(', ')}`);
  }
  if (typeof req.code !== 'string') {
    fail('invalid-input', '`code` (a string of JavaScript source) is required');
  }
  for (const key of ['filename', 'stdin', 'cwd']) {
    if (req[key] != null && typeof req[key] !== 'string') fail('invalid-input', `\`${key}\` must be a string`);
  }
  const args = req.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === 'string')) {
    fail('invalid-input', '`args` must be an array of strings');
  }
  return { code: req.code, filename: req.filename || '<eval>', args, stdin: req.stdin ?? '', cwd: req.cwd };
}

/** What the code sees as `console`, `process` and `require`. */
function environment({ filename, args, stdin, cwd }, out, err) {
  const line = (stream) => (...xs) => stream.write(xs.map((x) => show(x)).join(' ') + '\n');
  const fs = makeFs(() => cwd);
  let input = stdin;
  const process = {
    argv: ['js', filename, ...args],
    env: {},
    platform: 'wasi',
    exitCode: undefined,
    cwd: () => cwd,
    chdir: (dir) => {
      const next = fs.resolve(dir);
      if (!isDir(next)) throw new Error(`ENOENT: no such directory, chdir '${dir}'`);
      cwd = next;
    },
    exit: (code) => {
      throw new Exit(code ?? process.exitCode ?? 0);
    },
    stdout: { write: (s) => (out.write(s), true) },
    stderr: { write: (s) => (err.write(s), true) },
    // The whole of `stdin`, once (there is no terminal to read from).
    stdin: {
      read: () => {
        const s = input;
        input = '';
        return s;
      },
    },
  };
  const require = (name) => {
    const bare = String(name).replace(/^node:/, '');
    if (bare === 'fs' || bare === 'fs/promises') return bare === 'fs' ? fs : fs.promises;
    if (bare === 'path') return fs.path;
    throw new Error(
      `Cannot find module '${name}': the sandbox offers only 'fs' and 'path' (no processes, sockets or native modules)`,
    );
  };
  const console = {
    log: line(out),
    info: line(out),
    debug: line(out),
    warn: line(err),
    error: line(err),
    trace: line(err),
  };
  return { console, process, require };
}

async function run(req) {
  const out = new Capped();
  const err = new Capped();
  let exitCode = 0;
  let result = null;
  const given = req.cwd != null;
  if (!given) req.cwd = isDir(DEFAULT_CWD) ? DEFAULT_CWD : '/';
  const env = environment(req, out, err);
  const saved = Object.fromEntries(Object.keys(env).map((k) => [k, globalThis[k]]));
  Object.assign(globalThis, env);
  try {
    if (given && (!req.cwd.startsWith('/') || !isDir(req.cwd))) {
      throw new Error(`cwd ${req.cwd}: no such directory (is it granted?)`);
    }
    // Indirect eval: global scope, and the script's completion value.
    const source = `\n//# sourceURL=${req.filename.replace(/\s/g, '_')}`;
    let value;
    try {
      value = (0, eval)(req.code + source);
    } catch (e) {
      // Scripts written as modules use top-level await, which a script
      // cannot: run those in an async function (no completion value then).
      if (!(e instanceof SyntaxError) || !/\bawait\b/.test(req.code)) throw e;
      value = (0, eval)(`(async () => {\n${req.code}\n})()` + source);
    }
    if (value && typeof value.then === 'function') value = await value;
    result = render(value);
    if (env.process.exitCode) exitCode = Number(env.process.exitCode) | 0;
  } catch (e) {
    if (e instanceof Exit) {
      exitCode = Number(e.code) | 0;
    } else {
      exitCode = 1;
      err.write(`Uncaught ${show(e)}\n`);
    }
  } finally {
    Object.assign(globalThis, saved);
  }
  let truncated = out.cut || err.cut;
  if (result !== null) {
    const r = new Capped();
    r.write(result);
    result = r.text();
    truncated = truncated || r.cut;
  }
  return JSON.stringify({ stdout: out.text(), stderr: err.text(), exit_code: exitCode, result, truncated });
}

// ---- fs: a small synchronous subset of Node's `fs` over wasi:filesystem.

/** `p` made absolute against `cwd`, with `.` and `..` resolved. */
function normalize(p, cwd) {
  const parts = [];
  for (const seg of (p.startsWith('/') ? p : `${cwd}/${p}`).split('/')) {
    if (seg === '..') parts.pop();
    else if (seg && seg !== '.') parts.push(seg);
  }
  return `/${parts.join('/')}`;
}

/** The granted mount holding absolute `abs`, and the path inside it. */
function locate(abs) {
  let best = null;
  for (const [dir, guest] of getDirectories()) {
    const g = guest.replace(/\/+$/, '') || '/';
    const inside = g === '/' || abs === g || abs.startsWith(`${g}/`);
    if (inside && (!best || g.length > best.g.length)) best = { dir, g };
  }
  if (!best) return null;
  const rel = abs.slice(best.g === '/' ? 1 : best.g.length).replace(/^\/+/, '');
  return { dir: best.dir, rel: rel || '.' };
}

const CODES = {
  access: 'EACCES',
  'not-permitted': 'EPERM',
  'read-only': 'EROFS',
  'no-entry': 'ENOENT',
  exist: 'EEXIST',
  'is-directory': 'EISDIR',
  'not-directory': 'ENOTDIR',
  'insufficient-space': 'ENOSPC',
  quota: 'EDQUOT',
};

function fsError(e, op, path) {
  const wasi = e?.payload ?? String(e);
  const code = CODES[wasi] ?? String(wasi).toUpperCase();
  const error = new Error(`${code}: ${wasi}, ${op} '${path}'`);
  error.code = code;
  return error;
}

function withMount(op, path, cwd, f) {
  const abs = normalize(String(path), cwd);
  const at = locate(abs);
  if (!at) {
    const e = new Error(`ENOENT: no granted directory holds ${abs}, ${op} '${path}'`);
    e.code = 'ENOENT';
    throw e;
  }
  try {
    return f(at.dir, at.rel);
  } catch (e) {
    if (e instanceof Error) throw e;
    throw fsError(e, op, path);
  }
}

function isDir(path) {
  try {
    return withMount('stat', path, '/', (d, rel) => d.statAt({}, rel).type === 'directory');
  } catch {
    return false;
  }
}

function readAll(file) {
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
  return all;
}

function makeFs(cwd) {
  const encoding = (opts) => (typeof opts === 'string' ? opts : opts?.encoding);
  const fs = {
    resolve: (p) => normalize(String(p), cwd()),
    readFileSync(path, opts) {
      const bytes = withMount('open', path, cwd(), (d, rel) => readAll(d.openAt({}, rel, {}, { read: true })));
      return encoding(opts) ? new TextDecoder().decode(bytes) : bytes;
    },
    writeFileSync(path, data, opts) {
      const flags = opts?.flag === 'a' ? { create: true } : { create: true, truncate: true };
      withMount('open', path, cwd(), (d, rel) => {
        const file = d.openAt({}, rel, flags, { write: true });
        const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : new Uint8Array(data);
        let offset = opts?.flag === 'a' ? file.stat().size : 0n;
        let done = 0;
        while (done < bytes.length) {
          const n = Number(file.write(bytes.subarray(done), offset));
          done += n;
          offset += BigInt(n);
        }
      });
    },
    appendFileSync: (path, data) => fs.writeFileSync(path, data, { flag: 'a' }),
    existsSync(path) {
      try {
        withMount('stat', path, cwd(), (d, rel) => d.statAt({}, rel));
        return true;
      } catch {
        return false;
      }
    },
    readdirSync(path) {
      return withMount('scandir', path, cwd(), (d, rel) => {
        const stream = d.openAt({}, rel, { directory: true }, { read: true }).readDirectory();
        const names = [];
        for (let e = stream.readDirectoryEntry(); e; e = stream.readDirectoryEntry()) names.push(e.name);
        return names.sort();
      });
    },
    mkdirSync(path) {
      withMount('mkdir', path, cwd(), (d, rel) => d.createDirectoryAt(rel));
    },
    unlinkSync(path) {
      withMount('unlink', path, cwd(), (d, rel) => d.unlinkFileAt(rel));
    },
  };
  fs.promises = Object.fromEntries(
    ['readFile', 'writeFile', 'appendFile', 'readdir', 'mkdir', 'unlink'].map((n) => [
      n,
      async (...a) => fs[`${n}Sync`](...a),
    ]),
  );
  fs.path = {
    sep: '/',
    join: (...xs) => normalize(xs.join('/'), '/').slice(xs[0]?.startsWith('/') ? 0 : 1) || '.',
    resolve: (...xs) => xs.reduce((acc, x) => normalize(x, acc), cwd()),
    dirname: (p) => p.replace(/\/+[^/]*$/, '') || (p.startsWith('/') ? '/' : '.'),
    basename: (p) => p.replace(/\/+$/, '').split('/').pop(),
    extname: (p) => /\.[^./]*$/.exec(p.split('/').pop())?.[0] ?? '',
  };
  return fs;
}

export const tools = {
  listTools() {
    return [
      {
        name: 'run',
        description: DESCRIPTION,
        inputSchema: SCHEMA,
        effects: [{ tag: 'reads-files' }, { tag: 'writes-files' }, { tag: 'network' }],
      },
    ];
  },

  async call(name, input) {
    if (name !== 'run') fail('unknown-tool', name);
    return await run(parse(input));
  },
};
