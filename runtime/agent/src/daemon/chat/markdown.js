// The web chat's Markdown: a small subset (headings, emphasis, code, fenced
// blocks, lists, quotes, links) built as DOM nodes from the model's text,
// which is hostile: nothing is parsed as HTML (textContent and createElement
// only), markup the model writes stays text, links go only to http(s) in a
// new tab without opener or referrer, and nothing (no image) is loaded.
// Concatenated before chat/app.js into the page's one script (see api.rs).
const ChitinMarkdown = (() => {
  'use strict';
  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function safeUrl(raw) {
    let u;
    try { u = new URL(raw); } catch (_) { return null; }
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.href : null;
  }
  const INLINE = [
    { re: /`([^`\n]+)`/g, make: (m) => el('code', null, m[1]) },
    // Images are not loaded: their markup stays text.
    // (Bounded repetitions: a hostile line cannot make the scan quadratic.)
    { re: /!\[[^\]\n]{0,500}\]\([^)\n]{0,2000}\)/g, make: (m) => document.createTextNode(m[0]) },
    {
      re: /\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)/g,
      make: (m, depth) => {
        const href = safeUrl(m[2]);
        if (!href) return document.createTextNode(m[0]);
        const a = el('a');
        a.href = href;
        a.target = '_blank';
        a.rel = 'noopener noreferrer';
        a.referrerPolicy = 'no-referrer';
        a.title = href;
        inline(m[1], a, depth + 1);
        // Text that names another address than the link's (a "trusted" URL
        // over an untrusted one) is followed by the real host.
        const shown = safeUrl(/^[a-z][a-z0-9+.-]*:\/\//i.test(m[1]) ? m[1] : 'https://' + m[1]);
        const real = new URL(href).host;
        if (/[.:]/.test(m[1]) && !/\s/.test(m[1].trim()) && (!shown || new URL(shown).host !== real)) {
          const span = el('span');
          span.append(a, el('span', 'link-host', ' (' + real + ')'));
          return span;
        }
        return a;
      },
    },
    { re: /\*\*(?=\S)([^*\n]*?\S)\*\*/g, make: (m, depth) => inline(m[1], el('strong'), depth + 1) },
    { re: /(?<!\w)__(?=\S)([^_\n]*?\S)__(?!\w)/g, make: (m, depth) => inline(m[1], el('strong'), depth + 1) },
    { re: /\*(?=[^\s*])([^*\n]*?[^\s*])\*/g, make: (m, depth) => inline(m[1], el('em'), depth + 1) },
    { re: /(?<!\w)_(?=[^\s_])([^_\n]*?[^\s_])_(?!\w)/g, make: (m, depth) => inline(m[1], el('em'), depth + 1) },
  ];
  function inline(text, parent, depth) {
    depth = depth || 0;
    if (depth > 6) { parent.append(document.createTextNode(text)); return parent; }
    const found = INLINE.map(() => undefined);
    let pos = 0;
    for (;;) {
      let best = -1;
      for (let k = 0; k < INLINE.length; k++) {
        if (found[k] === undefined || (found[k] !== null && found[k].index < pos)) {
          const re = INLINE[k].re;
          re.lastIndex = pos;
          found[k] = re.exec(text);
        }
        if (found[k] && (best < 0 || found[k].index < found[best].index)) best = k;
      }
      if (best < 0) break;
      const m = found[best];
      if (m.index > pos) parent.append(document.createTextNode(text.slice(pos, m.index)));
      parent.append(INLINE[best].make(m, depth));
      pos = m.index + m[0].length;
    }
    if (pos < text.length) parent.append(document.createTextNode(text.slice(pos)));
    return parent;
  }
  // Lines are split on every line terminator JavaScript knows (U+2028 and
  // U+2029 too), and `.` matches anything (`s`): `(.*)$` can never stop
  // short inside a line and make the scan backtrack quadratically.
  const ITEM = /^\s{0,3}([-*+]|\d{1,9}[.)])\s+(.*)$/s;
  function markdown(text, box, depth) {
    depth = depth || 0;
    const lines = String(text).split(/\r\n|\r|\n|\u2028|\u2029/);
    let para = [];
    const flush = () => {
      if (para.length) box.append(inline(para.join('\n'), el('p')));
      para = [];
    };
    let i = 0;
    while (i < lines.length) {
      const line = lines[i];
      let m;
      if ((m = /^\s{0,3}(`{3,}|~{3,})\s*([\w+#.-]*)/.exec(line))) {
        flush();
        const fence = m[1];
        const body = [];
        for (i++; i < lines.length && !lines[i].trim().startsWith(fence); i++) body.push(lines[i]);
        i++;
        const code = el('code', null, body.join('\n'));
        if (m[2]) code.dataset.lang = m[2];
        const pre = el('pre');
        pre.append(code);
        box.append(pre);
        continue;
      }
      if ((m = /^\s{0,3}(#{1,6})\s+(.*)$/s.exec(line))) {
        flush();
        // A closing run of #s is not part of the heading.
        let t = m[2].trimEnd();
        let k = t.length;
        while (k > 0 && t[k - 1] === '#') k--;
        if (k === 0 || /\s/.test(t[k - 1])) t = t.slice(0, k).trimEnd();
        box.append(inline(t, el('h' + m[1].length)));
        i++;
        continue;
      }
      if (/^\s{0,3}([-*_])(\s*\1){2,}\s*$/.test(line)) {
        flush();
        box.append(el('hr'));
        i++;
        continue;
      }
      if ((m = ITEM.exec(line))) {
        flush();
        const ordered = /\d/.test(m[1][0]);
        const list = el(ordered ? 'ol' : 'ul');
        if (ordered && parseInt(m[1], 10) !== 1) list.start = parseInt(m[1], 10);
        while (i < lines.length && (m = ITEM.exec(lines[i])) && /\d/.test(m[1][0]) === ordered) {
          const li = inline(m[2], el('li'));
          for (i++; i < lines.length && /^\s{2,}\S/.test(lines[i]) && !ITEM.exec(lines[i]); i++) {
            li.append(document.createTextNode('\n'));
            inline(lines[i].trim(), li);
          }
          list.append(li);
        }
        box.append(list);
        continue;
      }
      if (depth < 4 && /^\s{0,3}>/.test(line)) {
        flush();
        const inner = [];
        for (; i < lines.length && (m = /^\s{0,3}>\s?(.*)$/s.exec(lines[i])); i++) inner.push(m[1]);
        box.append(markdown(inner.join('\n'), el('blockquote'), depth + 1));
        continue;
      }
      if (line.trim() === '') { flush(); i++; continue; }
      para.push(line);
      i++;
    }
    flush();
    return box;
  }
  function setMarkdown(bubble, text) {
    bubble.replaceChildren();
    bubble.classList.add('md');
    markdown(text, bubble);
  }
  return { markdown, setMarkdown };
})();
