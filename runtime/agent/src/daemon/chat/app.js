(() => {
  'use strict';
  // Everything the daemon, the model or a tool says is untrusted: it only ever
  // reaches the page through textContent and createElement, never innerHTML.
  const TOKEN_KEY = 'chitin.token';
  // The chat open in this tab, so a reload comes back to it (and to its
  // running turn); a new tab starts a new chat.
  const SESSION_KEY = 'chitin.session';
  const PAGE = 50;
  const POLL_MS = 1000;
  const $ = (sel) => document.querySelector(sel);
  const transcript = $('#transcript');
  const input = $('#message-input');
  const sendButton = $('#send-button');
  const stopButton = $('#stop-button');
  const newButton = $('#new-session');
  const search = $('#session-search');
  const state = {
    token: null, sessionId: null, sessions: [], next: null, query: '',
    running: false, attached: null, editing: null, confirming: null, timers: new Set(),
  };

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function button(cls, text, title) {
    const b = el('button', cls, text);
    b.type = 'button';
    if (title) { b.title = title; b.setAttribute('aria-label', title); }
    return b;
  }
  function pretty(value) {
    if (typeof value !== 'string') return JSON.stringify(value, null, 2);
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
  }
  function fmtTime(ms) {
    if (typeof ms !== 'number') return '';
    return new Date(ms).toLocaleString([], { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
  }
  const enc = encodeURIComponent;
  function store(key, value) {
    try { if (value) sessionStorage.setItem(key, value); else sessionStorage.removeItem(key); } catch (_) { /* storage disabled */ }
  }
  function stored(key) {
    try { return sessionStorage.getItem(key); } catch (_) { return null; }
  }

  // ---- token -------------------------------------------------------------
  function readToken() {
    const hash = location.hash.replace(/^#/, '');
    if (hash) {
      const t = new URLSearchParams(hash).get('token');
      if (t !== null) {
        if (t) {
          state.token = t;
          store(TOKEN_KEY, t);
        }
        history.replaceState(null, '', location.pathname + location.search);
      }
    }
    if (!state.token) state.token = stored(TOKEN_KEY);
  }
  function showTokenBox(rejected) {
    $('#token-error').hidden = !rejected;
    $('#token-box').hidden = false;
    $('#token-input').focus();
  }
  function tokenRejected() {
    state.token = null;
    store(TOKEN_KEY, null);
    showTokenBox(true);
  }
  function saveToken() {
    const t = $('#token-input').value.trim();
    if (!t) return;
    state.token = t;
    store(TOKEN_KEY, t);
    $('#token-input').value = '';
    $('#token-box').hidden = true;
    start();
  }

  // ---- HTTP --------------------------------------------------------------
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(method, path, body) {
    if (!state.token) { showTokenBox(false); throw new ApiError(0, 'no token: open the link printed by `chitin daemon`'); }
    const opts = { method, headers: { Authorization: 'Bearer ' + state.token }, cache: 'no-store', credentials: 'omit' };
    if (body !== undefined) {
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new ApiError(0, 'cannot reach the daemon (is `chitin daemon` running?): ' + e.message);
    }
    if (res.status === 401) { tokenRejected(); throw new ApiError(401, 'token rejected'); }
    if (!res.ok) {
      let msg = res.status + ' ' + res.statusText;
      try { const j = await res.json(); if (j && typeof j.error === 'string') msg = j.error; } catch (_) { /* not JSON */ }
      throw new ApiError(res.status, msg);
    }
    return res;
  }
  async function apiJson(method, path, body) {
    const res = await api(method, path, body);
    const text = await res.text();
    return text ? JSON.parse(text) : null;
  }

  // ---- transcript --------------------------------------------------------
  function nearBottom() { return transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 80; }
  function add(node) {
    const stick = nearBottom();
    const empty = transcript.querySelector('.empty-state');
    if (empty) empty.remove();
    transcript.append(node);
    if (stick) transcript.scrollTop = transcript.scrollHeight;
    return node;
  }
  function touched(fn) {
    const stick = nearBottom();
    fn();
    if (stick) transcript.scrollTop = transcript.scrollHeight;
  }
  // Empties the transcript; the approval cards in `keep` (and their
  // countdowns) survive to be put back.
  function clearTranscript(keep) {
    const kept = new Set((keep || []).map((c) => c.timer));
    for (const t of state.timers) if (!kept.has(t)) { clearInterval(t); state.timers.delete(t); }
    transcript.replaceChildren(el('div', 'empty-state', 'Ask something. Tools run in a sandbox; the ones that need your approval will ask here.'));
  }
  function addMsg(role, text) {
    const m = el('div', 'msg ' + role, role === 'assistant' ? null : text);
    if (role === 'assistant') ChitinMarkdown.setMarkdown(m, text);
    return add(m);
  }
  function notice(kind, text) { return add(el('div', 'notice ' + kind, text)); }
  // The model's reasoning: collapsed, plain text (never rendered as Markdown).
  function reasoningBlock(text) {
    const d = el('details', 'reasoning');
    d.append(el('summary', null, 'Reasoning'), el('div', 'reasoning-text', text));
    return d;
  }
  function reasoningText(list) {
    return (Array.isArray(list) ? list : []).map((r) => (r && r.kind === 'redacted_thinking') ? '[redacted by the provider]' : String((r && r.text) || '')).filter(Boolean).join('\n\n');
  }
  function badges(list, cls) {
    const box = el('div', 'badges ' + cls);
    for (const e of list || []) box.append(el('span', 'badge', e));
    return box;
  }

  function toolCard(callId, tool, inputText, effects) {
    const card = el('div', 'card tool-card');
    card.dataset.callId = callId;
    card.dataset.status = 'running';
    const head = el('div', 'card-head');
    head.append(el('span', 'label', 'tool'), el('span', 'tool-name', tool), el('span', 'spacer'),
      el('span', 'tool-status', 'running'), el('span', 'elapsed', ''));
    card.append(head);
    if (effects && effects.length) card.append(badges(effects, 'effects'));
    if (inputText !== null && inputText !== undefined && inputText !== '') card.append(el('pre', 'tool-input', pretty(inputText)));
    return card;
  }
  function setToolStatus(card, status, label) {
    card.dataset.status = status;
    card.querySelector('.tool-status').textContent = label || status;
  }
  // How a call that did not succeed is labelled: the approval it was
  // refused (`{approved, by}`), if one was asked.
  function failure(approval) {
    if (approval && approval.approved === false) {
      if (approval.by === 'cancelled') return ['failed', 'cancelled'];
      return ['denied', approval.by === 'timeout' ? 'denied (timeout)' : 'denied'];
    }
    return ['failed', 'failed'];
  }
  function finishCard(card, ok, output, elapsedMs, caps, approval) {
    if (ok) setToolStatus(card, 'ok');
    else { const [status, label] = failure(approval); setToolStatus(card, status, label); }
    if (typeof elapsedMs === 'number') card.querySelector('.elapsed').textContent = elapsedMs + ' ms';
    if (caps && caps.length) {
      const box = el('div', 'badges caps');
      for (const c of caps) {
        let text = [c.capability, c.decision, c.target].filter((s) => s !== undefined && s !== null && s !== '').join(' ');
        if (c.reason) text += ' \u2014 ' + c.reason;
        const b = el('span', 'cap-badge', text);
        b.dataset.decision = String(c.decision || '');
        if (c.reason) b.title = String(c.reason);
        box.append(b);
      }
      card.append(box);
    }
    const out = String(output === undefined || output === null ? '' : output);
    const details = el('details', 'tool-output');
    details.append(el('summary', null, 'output \u00b7 ' + out.length + ' chars'), el('pre', null, out));
    if (!ok && card.dataset.status === 'failed') details.open = true;
    card.append(details);
  }

  function approvalCard(ev, sessionId) {
    const card = el('div', 'card approval-card');
    card.dataset.approvalId = ev.approval_id;
    card.dataset.callId = ev.call_id || '';
    card.dataset.state = 'pending';
    const head = el('div', 'card-head');
    head.append(el('span', 'label', 'approval needed'), el('span', 'tool-name', ev.tool));
    card.append(head);
    if (ev.effects && ev.effects.length) card.append(badges(ev.effects, 'effects'));
    card.append(el('pre', 'tool-input', pretty(ev.input)));
    const actions = el('div', 'actions');
    const approve = button('approve', 'Approve');
    const deny = button('deny', 'Deny');
    const countdown = el('span', 'countdown');
    const resolution = el('span', 'resolution');
    actions.append(approve, deny, countdown, resolution);
    card.append(actions);

    const end = Date.now() + Math.max(0, Number(ev.timeout_secs) || 0) * 1000;
    const tick = () => {
      if (card.dataset.state !== 'pending') { stopTimer(); return; }
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      countdown.textContent = left > 0 ? 'denied automatically in ' + left + ' s' : 'timing out\u2026';
      if (left <= 0) stopTimer();
    };
    card.timer = setInterval(tick, 1000);
    state.timers.add(card.timer);
    function stopTimer() { clearInterval(card.timer); state.timers.delete(card.timer); }
    tick();

    card.resolve = (approved, by) => {
      card.dataset.state = approved ? 'approved' : 'denied';
      approve.disabled = deny.disabled = true;
      stopTimer();
      countdown.textContent = '';
      const who = by === 'user' ? 'by you' : by === 'timeout' ? 'by timeout' : by === 'cancelled' ? '(turn cancelled)' : by ? 'by ' + by : '';
      resolution.textContent = (approved ? 'approved' : 'denied') + (who ? ' ' + who : '');
    };
    card.gone = () => {
      stopTimer();
      approve.disabled = deny.disabled = true;
      countdown.textContent = '';
      if (card.dataset.state === 'pending') { card.dataset.state = 'gone'; resolution.textContent = 'no longer pending'; }
    };
    const answer = async (yes) => {
      approve.disabled = deny.disabled = true;
      try {
        await api('POST', '/api/sessions/' + enc(sessionId) + '/approvals/' + enc(ev.approval_id), { approve: yes });
        if (card.dataset.state === 'pending') card.resolve(yes, 'user');
      } catch (e) {
        if (e.status === 404) card.gone();
        else {
          resolution.textContent = 'could not send: ' + e.message;
          if (card.dataset.state === 'pending') approve.disabled = deny.disabled = false;
        }
      }
    };
    approve.addEventListener('click', () => answer(true));
    deny.addEventListener('click', () => answer(false));
    return card;
  }

  // The recorded history; `approvals` are the answered ones (`{call_id,
  // approved, by}`); while `running`, calls without a result are still
  // pending, not lost.
  function renderHistory(messages, approvals, running) {
    const answers = new Map();
    for (const a of approvals || []) if (a && a.call_id) answers.set(a.call_id, a);
    const cards = new Map();
    for (const m of messages || []) {
      if (!m || typeof m !== 'object') continue;
      if (m.role === 'user') {
        addMsg('user', m.text);
      } else if (m.role === 'assistant') {
        const thought = reasoningText(m.reasoning);
        if (thought) add(reasoningBlock(thought));
        if (m.text) addMsg('assistant', m.text);
        for (const c of m.tool_calls || []) cards.set(c.id, add(toolCard(c.id, c.name, c.arguments, [])));
      } else if (m.role === 'tool') {
        let card = cards.get(m.call_id);
        if (!card) card = add(toolCard(m.call_id, m.name, null, []));
        finishCard(card, !m.is_error, m.output, null, [], answers.get(m.call_id));
        cards.delete(m.call_id);
      }
    }
    for (const card of cards.values()) {
      if (running) setToolStatus(card, 'running', 'waiting');
      else setToolStatus(card, 'failed', 'no result');
    }
  }

  // ---- sessions ----------------------------------------------------------
  function sessionRow(s) {
    const li = el('li', 'session');
    li.dataset.id = s.id;
    const title = s.title || 'New chat';
    if (state.confirming === s.id) {
      li.classList.add('confirming');
      const yes = button('confirm-delete', 'Delete');
      const no = button('cancel-delete', 'Cancel');
      yes.addEventListener('click', () => { deleteSession(s.id).catch(showError); });
      no.addEventListener('click', () => { state.confirming = null; renderSessions(); });
      li.append(el('span', 'confirm-text', 'Delete \u201c' + title + '\u201d and its history?'), yes, no);
      return li;
    }
    if (state.editing === s.id) {
      li.classList.add('editing');
      const field = el('input', 'rename-input');
      field.type = 'text';
      field.value = s.title || '';
      field.maxLength = 200;
      field.setAttribute('aria-label', 'New title');
      const save = button('save-rename', 'Save');
      const cancel = button('cancel-rename', 'Cancel');
      const go = () => { renameSession(s.id, field.value).catch(showError); };
      save.addEventListener('click', go);
      cancel.addEventListener('click', () => { state.editing = null; renderSessions(); });
      field.addEventListener('keydown', (e) => {
        if (e.key === 'Enter') { e.preventDefault(); go(); }
        if (e.key === 'Escape') { e.preventDefault(); state.editing = null; renderSessions(); }
      });
      li.append(field, save, cancel);
      setTimeout(() => field.focus(), 0);
      return li;
    }
    const b = button('session-item');
    b.dataset.id = s.id;
    b.title = s.title || s.id;
    const t = el('span', 'title', title);
    if (s.running) t.append(el('span', 'running-mark', '\u25cf running'));
    b.append(t, el('span', 'when', fmtTime(s.updated_ms || s.created_ms)));
    if (s.id === state.sessionId) { b.classList.add('active'); b.setAttribute('aria-current', 'true'); }
    b.disabled = state.running && s.id !== state.sessionId;
    b.addEventListener('click', () => { selectSession(s.id).catch(showError); });
    const actions = el('span', 'session-actions');
    const rename = button('rename', '\u270e', 'Rename');
    const del = button('delete', '\u2715', 'Delete');
    rename.addEventListener('click', () => { state.editing = s.id; state.confirming = null; renderSessions(); });
    del.addEventListener('click', () => { state.confirming = s.id; state.editing = null; renderSessions(); });
    actions.append(rename, del);
    li.append(b, actions);
    return li;
  }
  function renderSessions() {
    const list = $('#sessions');
    list.replaceChildren();
    if (!state.sessions.length) list.append(el('li', 'empty', state.query ? 'No chat matches' : 'No chats yet'));
    for (const s of state.sessions) list.append(sessionRow(s));
    if (state.next) {
      const li = el('li', 'more');
      const more = button(null, 'More');
      more.id = 'more-sessions';
      more.addEventListener('click', () => { loadMore().catch(showError); });
      li.append(more);
      list.append(li);
    }
  }
  function listPath(before) {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (state.query) q.set('q', state.query);
    if (before) q.set('before', before);
    return '/api/sessions?' + q.toString();
  }
  function page(data) {
    // An older daemon answered a bare array of every session.
    if (Array.isArray(data)) return { sessions: data, next: null };
    return { sessions: Array.isArray(data && data.sessions) ? data.sessions : [], next: (data && data.next) || null };
  }
  async function loadSessions() {
    const query = state.query;
    const p = page(await apiJson('GET', listPath(null)));
    if (query !== state.query) return; // a newer search is on its way
    state.sessions = p.sessions;
    state.next = p.next;
    renderSessions();
  }
  async function loadMore() {
    if (!state.next) return;
    const query = state.query;
    const before = state.next;
    const p = page(await apiJson('GET', listPath(before)));
    if (query !== state.query || before !== state.next) return;
    const have = new Set(state.sessions.map((s) => s.id));
    state.sessions = state.sessions.concat(p.sessions.filter((s) => !have.has(s.id)));
    state.next = p.next;
    renderSessions();
  }
  function refreshSessions() {
    if (state.token) loadSessions().catch(() => { /* the sidebar refresh is best effort */ });
  }
  async function renameSession(id, title) {
    if (!title.trim()) { notice('error', 'A title cannot be empty.'); return; }
    const s = await apiJson('PATCH', '/api/sessions/' + enc(id), { title });
    state.editing = null;
    state.sessions = state.sessions.map((x) => (x.id === id ? Object.assign({}, x, s) : x));
    renderSessions();
  }
  async function deleteSession(id) {
    try {
      await api('DELETE', '/api/sessions/' + enc(id));
    } catch (e) {
      state.confirming = null;
      renderSessions();
      if (e.status === 404) { refreshSessions(); return; }
      throw e;
    }
    state.confirming = null;
    state.sessions = state.sessions.filter((x) => x.id !== id);
    if (state.sessionId === id) openNew();
    renderSessions();
  }
  function openNew() {
    if (state.running) return;
    detach();
    state.sessionId = null;
    store(SESSION_KEY, null);
    clearTranscript();
    $('#usage').textContent = '';
    renderSessions();
    updateControls();
  }
  async function selectSession(id) {
    if (state.running) return;
    detach();
    state.sessionId = id;
    store(SESSION_KEY, id);
    renderSessions();
    clearTranscript();
    $('#usage').textContent = '';
    updateControls();
    let data;
    try {
      data = await apiJson('GET', '/api/sessions/' + enc(id));
    } catch (e) {
      if (e.status === 404 && state.sessionId === id) { openNew(); refreshSessions(); return; }
      throw e;
    }
    if (state.sessionId !== id || state.running) return;
    renderHistory(data && data.messages, data && data.approvals, data && data.running);
    transcript.scrollTop = transcript.scrollHeight;
    if (data && data.running) attach(id, data);
  }
  async function newSession(title) {
    const s = await apiJson('POST', '/api/sessions', title ? { title } : {});
    state.sessions = [s].concat(state.sessions.filter((x) => x.id !== s.id));
    state.sessionId = s.id;
    store(SESSION_KEY, s.id);
    renderSessions();
    return s.id;
  }

  // ---- a turn running without our stream (after a reload, or started
  // elsewhere): its approvals are answered here and the session is read
  // again until the turn ends --------------------------------------------
  function attach(id, data) {
    const a = { id, count: (data.messages || []).length, cards: new Map(), timer: null };
    state.attached = a;
    syncApprovals(a, data.pending_approvals);
    updateControls();
    a.timer = setTimeout(() => poll(a), POLL_MS);
  }
  function detach() {
    const a = state.attached;
    if (!a) return;
    clearTimeout(a.timer);
    for (const card of a.cards.values()) card.gone();
    state.attached = null;
    updateControls();
  }
  function syncApprovals(a, pending) {
    const now = new Set();
    for (const p of pending || []) {
      if (!p || !p.approval_id) continue;
      now.add(p.approval_id);
      if (!a.cards.has(p.approval_id)) a.cards.set(p.approval_id, add(approvalCard(p, a.id)));
    }
    for (const [aid, card] of a.cards) {
      // Answered or gone: left as it is until the history shows the result.
      if (!now.has(aid)) { card.gone(); a.cards.delete(aid); }
    }
  }
  async function poll(a) {
    if (state.attached !== a) return;
    let data;
    try {
      data = await apiJson('GET', '/api/sessions/' + enc(a.id));
    } catch (e) {
      if (state.attached !== a) return;
      if (e.status === 404) { detach(); notice('error', 'This chat was deleted.'); refreshSessions(); return; }
      if (e.status === 401) { detach(); return; }
      a.timer = setTimeout(() => poll(a), POLL_MS * 3);
      return;
    }
    if (state.attached !== a) return;
    const messages = (data && data.messages) || [];
    if (!data.running) for (const card of a.cards.values()) card.gone();
    if (messages.length !== a.count || !data.running) {
      const keep = data.running ? [...a.cards.values()].filter((c) => c.dataset.state === 'pending') : [];
      const stick = nearBottom();
      clearTranscript(keep);
      renderHistory(messages, data.approvals, data.running);
      for (const c of keep) transcript.append(c);
      if (stick) transcript.scrollTop = transcript.scrollHeight;
      a.count = messages.length;
    }
    if (!data.running) {
      state.attached = null;
      updateControls();
      refreshSessions();
      return;
    }
    syncApprovals(a, data.pending_approvals);
    a.timer = setTimeout(() => poll(a), POLL_MS);
  }

  // ---- a turn ------------------------------------------------------------
  function updateControls() {
    const busy = state.running || !!state.attached;
    const status = $('#status');
    status.textContent = busy ? 'running' : 'idle';
    status.dataset.state = busy ? 'running' : 'idle';
    sendButton.disabled = busy;
    sendButton.title = busy ? 'A turn is running in this chat; wait for it or stop it' : '';
    stopButton.hidden = !busy;
    stopButton.disabled = false;
    newButton.disabled = state.running;
  }
  function setRunning(running) {
    state.running = running;
    updateControls();
    renderSessions();
  }
  function showError(e) { notice('error', e && e.message ? e.message : String(e)); }

  const STOPS = {
    step_limit: 'Stopped: the step limit was reached.',
    budget: 'Stopped: the token budget was reached.',
    cancelled: 'Cancelled.',
    error: 'The turn ended with an error.',
    cut: 'The answer reached the model\'s output limit and may be incomplete.',
    refused: 'The model refused to answer.',
    filtered: 'The provider\'s content filter stopped the answer.',
  };

  function handleEvent(ev, turn) {
    switch (ev.type) {
      case 'turn_started':
        turn.turnId = ev.turn_id;
        break;
      case 'reasoning_delta':
        if (!turn.reasoning) turn.reasoning = add(reasoningBlock(''));
        touched(() => turn.reasoning.lastChild.append(document.createTextNode(String(ev.text))));
        break;
      case 'failover':
        endBubble(turn);
        notice('warn', String(ev.from) + ' failed: ' + String(ev.reason) + '\nContinuing with ' + String(ev.to) + '.');
        break;
      case 'notice':
        notice('info', ev.message);
        break;
      case 'text_delta':
        turn.reasoning = null;
        if (!turn.bubble) { turn.bubble = add(el('div', 'msg assistant')); turn.bubble.classList.add('streaming'); }
        touched(() => turn.bubble.append(document.createTextNode(String(ev.text))));
        break;
      case 'approval_requested': {
        endBubble(turn);
        turn.approvals.set(ev.approval_id, add(approvalCard(ev, turn.sessionId)));
        break;
      }
      case 'approval_resolved': {
        const card = turn.approvals.get(ev.approval_id);
        if (card) {
          card.resolve(!!ev.approved, ev.by);
          if (card.dataset.callId) turn.answers.set(card.dataset.callId, { approved: !!ev.approved, by: ev.by });
        }
        break;
      }
      case 'tool_call_started':
        endBubble(turn);
        turn.tools.set(ev.call_id, add(toolCard(ev.call_id, ev.tool, ev.input, ev.effects)));
        break;
      case 'tool_call_finished': {
        endBubble(turn);
        let card = turn.tools.get(ev.call_id);
        if (!card) { card = add(toolCard(ev.call_id, ev.tool, null, [])); turn.tools.set(ev.call_id, card); }
        touched(() => finishCard(card, !!ev.ok, ev.output, ev.elapsed_ms, ev.capabilities, turn.answers.get(ev.call_id)));
        break;
      }
      case 'usage': {
        const u = ev.usage || {};
        const cached = u.cache_read_tokens ? ' (' + u.cache_read_tokens + ' cached)' : '';
        $('#usage').textContent = 'tokens \u2014 last call: ' + (u.input_tokens || 0) + ' in' + cached + ', ' + (u.output_tokens || 0) +
          ' out \u00b7 this turn: ' + ev.turn_total + ' \u00b7 today: ' + ev.day_total;
        break;
      }
      case 'error':
        endBubble(turn);
        notice('error', ev.message);
        break;
      case 'done': {
        const hadText = turn.bubble && turn.bubble.textContent;
        endBubble(turn);
        if (!hadText && ev.text) addMsg('assistant', ev.text);
        if (ev.stop && ev.stop !== 'answer') notice(ev.stop === 'cancelled' ? 'info' : 'warn', STOPS[ev.stop] || 'Stopped: ' + ev.stop);
        turn.done = true;
        break;
      }
      default:
        break; // newer daemon: ignore unknown events
    }
  }
  // The streamed text is shown as it comes; once complete it is rendered.
  function endBubble(turn) {
    turn.reasoning = null;
    const b = turn.bubble;
    turn.bubble = null;
    if (!b) return;
    b.classList.remove('streaming');
    touched(() => ChitinMarkdown.setMarkdown(b, b.textContent));
  }

  // Reads a text/event-stream body; events are `data:` lines ended by a blank
  // line, and chunks may split them (or a CRLF) anywhere. Stops when onEvent
  // returns true.
  async function readEvents(res, onEvent) {
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let data = [];
    let finished = false;
    const line = (l) => {
      if (finished) return;
      if (l === '') {
        if (data.length) {
          const text = data.join('\n');
          data = [];
          let ev;
          try { ev = JSON.parse(text); } catch (_) { notice('error', 'unreadable event from the daemon'); return; }
          if (ev && typeof ev === 'object' && onEvent(ev)) finished = true;
        }
        return;
      }
      if (l[0] === ':') return;
      const i = l.indexOf(':');
      const field = i < 0 ? l : l.slice(0, i);
      let value = i < 0 ? '' : l.slice(i + 1);
      if (value[0] === ' ') value = value.slice(1);
      if (field === 'data') data.push(value);
    };
    const drain = (final) => {
      for (;;) {
        const m = /\r\n|\r|\n/.exec(buf);
        if (!m) break;
        if (!final && m[0] === '\r' && m.index === buf.length - 1) break; // maybe half a CRLF
        line(buf.slice(0, m.index));
        buf = buf.slice(m.index + m[0].length);
      }
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      drain(false);
      if (finished) { reader.cancel().catch(() => { /* already closed */ }); return; }
    }
    buf += decoder.decode();
    drain(true);
    if (buf) line(buf);
    line('');
  }

  async function send() {
    const text = input.value;
    if (!text.trim() || state.running || state.attached) return;
    setRunning(true);
    const turn = { sessionId: state.sessionId, bubble: null, tools: new Map(), approvals: new Map(), answers: new Map(), done: false };
    let started = false;
    let busy = false;
    try {
      if (!turn.sessionId) turn.sessionId = await newSession(text.trim().slice(0, 60));
      input.value = '';
      autosize();
      addMsg('user', text);
      const res = await api('POST', '/api/sessions/' + enc(turn.sessionId) + '/messages', { text });
      started = true;
      await readEvents(res, (ev) => { handleEvent(ev, turn); return turn.done; });
      if (!turn.done) {
        endBubble(turn);
        notice('error', 'The connection closed before the turn ended; the turn goes on in the daemon. Select the chat again to see it.');
      }
    } catch (e) {
      endBubble(turn);
      if (!started && !input.value) input.value = text;
      if (e.status === 409) busy = true;
      else showError(e);
    } finally {
      setRunning(false);
      input.focus();
      refreshSessions();
    }
    if (busy && state.sessionId === turn.sessionId) {
      // Another client's turn runs here: show it, and keep the message.
      await selectSession(turn.sessionId).catch(showError);
      notice('warn', 'A turn is already running in this chat; your message was not sent. Send it again when the turn ends.');
    }
  }
  async function stop() {
    const id = state.attached ? state.attached.id : state.sessionId;
    if (!(state.running || state.attached) || !id) return;
    stopButton.disabled = true;
    try {
      await api('POST', '/api/sessions/' + enc(id) + '/cancel');
    } catch (e) {
      if (e.status !== 404) { stopButton.disabled = false; showError(e); }
    }
  }

  function autosize() {
    input.style.height = 'auto';
    input.style.height = Math.min(input.scrollHeight + 2, 200) + 'px';
  }

  // ---- start -------------------------------------------------------------
  async function start() {
    try {
      const h = await apiJson('GET', '/api/health');
      const p = $('#provider');
      if (h && h.provider) { p.textContent = h.provider; p.classList.remove('warn'); }
      else { p.textContent = 'no model provider configured'; p.classList.add('warn'); }
      if (h && typeof h.skills === 'number') p.textContent += ' \u00b7 ' + h.skills + ' skill' + (h.skills === 1 ? '' : 's');
      await loadSessions();
      // A new chat, unless this tab had one open (a reload).
      const open = stored(SESSION_KEY);
      if (open && !state.sessionId) await selectSession(open);
    } catch (e) {
      if (e.status !== 401 && e.status !== 0) showError(e);
      else if (e.status === 0 && state.token) showError(e);
    }
  }

  let searchTimer = null;
  search.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.query = search.value.trim();
      state.next = null;
      loadSessions().catch(showError);
    }, 250);
  });
  sendButton.addEventListener('click', () => { send(); });
  stopButton.addEventListener('click', () => { stop(); });
  newButton.addEventListener('click', () => { openNew(); input.focus(); });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); send(); }
  });
  input.addEventListener('input', autosize);
  $('#token-save').addEventListener('click', saveToken);
  $('#token-input').addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); saveToken(); } });
  window.addEventListener('hashchange', () => {
    const before = state.token;
    readToken();
    if (state.token && state.token !== before) { $('#token-box').hidden = true; start(); }
  });

  clearTranscript();
  updateControls();
  readToken();
  if (state.token) start(); else showTokenBox(false);
})();
