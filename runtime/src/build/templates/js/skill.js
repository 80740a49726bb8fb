// A Chitin skill in JavaScript, built with componentize-js (SpiderMonkey).
// Files: wasi:filesystem (`import { getDirectories } from
// 'wasi:filesystem/preopens@0.2.12'`), there is no `fs` module. The web:
// plain fetch(), for the hosts the user grants. Errors are thrown as
// `{ tag: 'invalid-input' | 'denied' | 'failed' | 'unknown-tool', val: '…' }`.

const fail = (tag, val) => {
  throw { tag, val };
};

export const tools = {
  listTools() {
    return [
      {
        name: 'greet',
        description: 'Say hello to someone.',
        inputSchema: JSON.stringify({
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' } },
        }),
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
    switch (name) {
      case 'greet':
        if (typeof args?.name !== 'string') fail('invalid-input', '`name` must be a string');
        return `hello, ${args.name}`;
      default:
        fail('unknown-tool', name);
    }
  },
};
