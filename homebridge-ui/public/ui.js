'use strict';
// The settings page's script (runs in the Homebridge UI's iframe, with its `homebridge` object). Everything shown from
// the server or a camera goes in as text, never as HTML; no password is ever put on the page.
/* global homebridge, document, window, setTimeout, clearTimeout, setInterval, clearInterval */

(() => {
  /** The page's own bound on each request: the server's bound plus a margin, so a dead server is reported too. */
  const BOUNDS_MS = {
    '/discover': 50000, '/check': 55000, '/snapshot': 25000, '/learn/start': 35000, '/learn/stop': 15000,
    '/learn/apply': 10000, '/history': 20000, '/triggers-token': 15000,
  };
  const KINDS = ['motion', 'person', 'vehicle', 'animal', 'face', 'field', 'line', 'input', 'visitor', 'relay', 'tamper'];

  /** homebridge.request, bounded: rejects with a sentence when the settings server does not answer in time. */
  function call(path, body) {
    const ms = BOUNDS_MS[path] || 15000;
    let timer;
    const late = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`The plugin's settings server did not answer within ${ms / 1000} s; close ` +
        'the settings and open them again.')), ms);
    });
    return Promise.race([homebridge.request(path, body), late]).finally(() => clearTimeout(timer));
  }

  const messageOf = (err) => (err && err.message) || String(err);

  /** A DOM element: h('td', { class: 'x' }, 'text', child). Strings become text nodes. */
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) {
        continue;
      }
      if (k === 'class') {
        el.className = v;
      } else if (k.startsWith('on')) {
        el.addEventListener(k.slice(2), v);
      } else {
        el.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c !== undefined && c !== null && c !== false) {
        el.append(c instanceof window.Node ? c : String(c));
      }
    }
    return el;
  }
  const $ = (id) => document.getElementById(id);
  const badge = (text, colour) => h('span', { class: `badge bg-${colour} me-1` }, text);
  const when = (ms) => new Date(ms).toLocaleString([], { dateStyle: 'short', timeStyle: 'medium' });

  function status(id, text, kind) {
    const el = $(id);
    el.className = `small mb-2${kind === 'error' ? ' text-danger' : kind === 'busy' ? ' text-muted' : ''}`;
    el.textContent = text || '';
  }

  let config = { platform: 'Courtyard', name: 'Courtyard', cameras: [] };
  const cameras = () => (Array.isArray(config.cameras) ? config.cameras : []);

  async function saveConfig(changed) {
    config = changed;
    await homebridge.updatePluginConfig([config]);
    fillSelects();
  }

  // ---- tabs ----------------------------------------------------------------------------------------------------
  let current = 'cameras';
  async function showTab(name) {
    if (current === 'cameras' && name !== 'cameras') {
      await reloadConfig().catch(() => undefined);
    }
    current = name;
    document.querySelectorAll('#courtyard [data-tab]').forEach((b) => {
      b.classList.toggle('active', b.dataset.tab === name);
      b.setAttribute('aria-selected', String(b.dataset.tab === name));
    });
    document.querySelectorAll('#courtyard [data-panel]').forEach((p) => {
      p.hidden = p.dataset.panel !== name;
    });
    // The form is the Cameras tab; the tools get the whole page. Showing it again renders the config as it is now.
    if (name === 'cameras') {
      homebridge.showSchemaForm();
    } else {
      homebridge.hideSchemaForm();
    }
    if (name === 'history') {
      void loadHistory();
    }
  }
  document.querySelectorAll('#courtyard [data-tab]').forEach((b) => b.addEventListener('click', () => void showTab(b.dataset.tab)));

  const isBlank = (c) => !c || (!String(c.host || '').trim() && !String(c.name || '').trim());

  function fillSelects() {
    for (const id of ['check-camera', 'learn-camera']) {
      const select = $(id);
      const keep = select.value;
      // The form starts a new list with one blank camera: it is nothing to check or watch yet.
      const usable = cameras().map((c, i) => [c, i]).filter(([c]) => !isBlank(c));
      select.replaceChildren(...usable.map(([c, i]) => h('option', { value: String(i) }, c.name || c.host)));
      if (keep && usable.some(([, i]) => String(i) === keep)) {
        select.value = keep;
      }
      const none = usable.length === 0;
      $(id === 'check-camera' ? 'check-run' : 'learn-start').disabled = none || (id === 'learn-camera' && learning);
    }
  }

  // The camera picked on one tool is the one the other tools start with.
  for (const [from, to] of [['check-camera', 'learn-camera'], ['learn-camera', 'check-camera']]) {
    $(from).addEventListener('change', () => {
      $(to).value = $(from).value;
    });
  }

  // ---- discover --------------------------------------------------------------------------------------------------
  /** A name for a found camera that no configured camera has yet ("Entrance", "Entrance 2"). */
  function freeName(wanted) {
    const taken = new Set(cameras().map((c) => String(c.name || '').toLowerCase()));
    let name = wanted;
    for (let i = 2; taken.has(name.toLowerCase()) && i < 1000; i++) {
      name = `${wanted} ${i}`;
    }
    return name;
  }

  function addFound(cam, login) {
    const entry = { name: freeName(cam.name || cam.hardware || cam.host), host: cam.host, port: cam.port };
    if (login.user) {
      entry.username = login.user;
      entry.password = login.password;
    }
    // It takes the place of the form's blank camera, if there is one, so the config holds no half-filled entry.
    const list = cameras().filter((c) => !isBlank(c));
    const changed = { ...config, cameras: [...list, entry] };
    void saveConfig(changed).then(() => {
      homebridge.toast.success(`${entry.name} added. Check it next, then press Save.`, 'Courtyard');
      for (const id of ['check-camera', 'learn-camera']) {
        $(id).value = String(cameras().length - 1);
      }
      void showTab('check');
    });
  }

  function renderFound(answer, login) {
    const list = $('discover-list');
    list.replaceChildren();
    if (answer.hint) {
      status('discover-status', answer.hint);
      return;
    }
    status('discover-status', `${answer.cameras.length} camera${answer.cameras.length === 1 ? '' : 's'} found.`);
    for (const cam of answer.cameras) {
      const loginColour = { ok: 'success', refused: 'danger', 'no answer': 'warning' }[cam.login];
      list.append(h('li', { class: 'list-group-item d-flex align-items-start gap-2', 'data-address': cam.address },
        h('div', { class: 'flex-grow-1', style: 'min-width: 0' },
          h('div', { class: 'fw-semibold' }, cam.name || '(no name)', ' ',
            cam.configured ? badge(`added as ${cam.configured}`, 'secondary') : null),
          h('div', { class: 'small text-muted' }, [cam.hardware, cam.address].filter(Boolean).join(' · ')),
          loginColour ? h('div', { class: `small text-${loginColour}` }, cam.loginText) : null),
        cam.configured ? null : h('button', { class: 'btn btn-outline-primary btn-sm flex-shrink-0', type: 'button',
          onclick: () => addFound(cam, login) }, 'Add')));
    }
  }

  $('discover-form').addEventListener('submit', async (event) => {
    event.preventDefault();
    const user = $('discover-user').value.trim();
    const password = $('discover-password').value;
    const button = $('discover-run');
    button.disabled = true;
    status('discover-status', user ? 'Searching, then trying the login on each camera…' : 'Searching (3 s)…', 'busy');
    $('discover-list').replaceChildren();
    try {
      const configured = cameras().map((c) => ({ name: c.name, host: c.host, port: c.port }));
      renderFound(await call('/discover', { username: user, password, configured }), { user, password: user ? password : '' });
    } catch (err) {
      status('discover-status', messageOf(err), 'error');
    } finally {
      button.disabled = false;
    }
  });

  // ---- check -----------------------------------------------------------------------------------------------------
  const verdictBadge = (v) => (v ? badge(v.copy ? 'copied' : 'transcoded', v.copy ? 'success' : 'warning') : badge('not read', 'secondary'));

  function renderCheck(r) {
    const out = $('check-result');
    const problems = r.findings.filter((f) => f.level !== 'info');
    const head = r.verdict === 'ok'
      ? h('div', { class: 'cy-verdict cy-ok', role: 'alert' }, `${r.camera.name} works: nothing to change.`)
      : h('div', { class: 'cy-verdict cy-warn', role: 'alert' },
        `${r.camera.name} works, with ${problems.length} thing${problems.length === 1 ? '' : 's'} worth changing.`);
    const findings = h('ul', { class: 'list-unstyled small mb-3' }, r.findings.map((f) =>
      h('li', { class: `mb-1 ${f.level === 'error' ? 'text-danger' : f.level === 'warning' ? 'text-warning' : 'text-muted'}` }, f.text)));
    const kv = (k, ...v) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, ...v));
    const device = h('table', { class: 'table table-sm small cy-kv mb-3' }, h('tbody', {},
      kv('Camera', `${r.device.manufacturer} ${r.device.model}`.trim(), h('div', { class: 'text-muted' }, r.camera.address)),
      kv('Firmware', r.device.firmware || '(not given)'),
      kv('Serial', r.device.serial || '(not given)'),
      kv('Clock', r.clock.text, r.clock.fix ? h('div', { class: 'text-warning' }, r.clock.fix) : null),
      kv('Events', r.events.service ? (r.events.kinds.length ? r.events.kinds.map((k) => badge(k, 'info')) : 'none the plugin knows yet; use Learn an event')
        : h('span', { class: 'text-danger' }, 'no event service')),
      kv('Profiles', r.profiles.map((p) => h('div', {}, `${p.name}: ${p.summary}`, p.transcode ? badge('not H.264', 'warning') : null)))));
    const streams = r.streams.length === 0 ? null : h('div', { class: 'table-responsive' }, h('table', { class: 'table table-sm small mb-3' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Stream'), h('th', {}, 'Live view'), h('th', {}, 'Recording (HomeKit Secure Video)'))),
      h('tbody', {}, r.streams.map((s) => h('tr', { 'data-stream': s.stream },
        h('td', {}, h('div', { class: 'fw-semibold' }, s.stream), h('div', { class: 'text-muted' }, s.summary || s.error || '')),
        h('td', {}, verdictBadge(s.live), s.live && !s.live.copy ? h('div', {}, s.live.text) : null),
        h('td', {}, verdictBadge(s.recording), s.recording && !s.recording.copy ? h('div', {}, s.recording.text) : null))))));
    const snapshot = h('div', { class: 'mb-2' },
      h('div', { class: 'd-flex align-items-center gap-2 mb-1' }, h('span', { class: 'small fw-semibold' }, 'Snapshot'),
        h('button', { class: 'btn btn-link btn-sm p-0', type: 'button', onclick: () => void loadSnapshot(r.camera.index) }, 'refresh'),
        h('span', { id: 'snapshot-status', class: 'small text-muted' })),
      h('img', { id: 'snapshot', class: 'cy-snapshot rounded border', alt: `Snapshot from ${r.camera.name}`, hidden: true }));
    out.replaceChildren(head, findings, device, streams || '', snapshot);
  }

  async function loadSnapshot(index) {
    const cam = cameras()[index];
    if (!cam) {
      return;
    }
    $('snapshot-status').textContent = 'fetching…';
    try {
      const s = await call('/snapshot', { camera: cam });
      const img = $('snapshot');
      img.src = s.dataUrl;
      img.hidden = false;
      $('snapshot-status').textContent = `${s.width}×${s.height}, ${new Date(s.at).toLocaleTimeString()}`;
    } catch (err) {
      $('snapshot-status').textContent = messageOf(err);
    }
  }

  $('check-run').addEventListener('click', async () => {
    const index = Number($('check-camera').value);
    const cam = cameras()[index];
    if (!cam) {
      return;
    }
    const button = $('check-run');
    button.disabled = true;
    $('check-result').replaceChildren();
    status('check-status', `Checking ${cam.name || cam.host}: logging in, reading its profiles and watching its streams (up to 30 s)…`, 'busy');
    try {
      const r = await call('/check', { camera: cam, video: true });
      r.camera.index = index;
      status('check-status', '');
      renderCheck(r);
      void loadSnapshot(index);
    } catch (err) {
      status('check-status', '');
      $('check-result').replaceChildren(h('div', { class: 'cy-verdict cy-fail', role: 'alert' }, messageOf(err)));
    } finally {
      button.disabled = false;
    }
  });

  // ---- learn an event --------------------------------------------------------------------------------------------
  let learning = false;
  let learnIndex = -1;
  let countdown;
  const learned = new Map();

  function learnRow(t) {
    const kindSelect = h('select', { class: 'form-select form-select-sm d-inline-block w-auto', 'aria-label': 'Means' },
      KINDS.map((k) => h('option', { value: k, selected: t.kinds[0] === k || (!t.kinds.length && k === 'visitor') }, k)));
    const apply = (action) => void applyChoice(t, action, kindSelect.value);
    return h('li', { class: 'list-group-item', 'data-topic': t.topic },
      h('div', { class: 'd-flex flex-wrap align-items-center gap-1 mb-1' },
        t.meanings.length ? t.meanings.map((m) => badge(m, 'primary')) : badge('not known to the plugin', 'secondary'),
        t.initialOnly ? badge('state when watching began', 'light text-dark') : null,
        h('span', { class: 'small text-muted ms-auto' }, `${t.count}× · ${new Date(t.lastAt).toLocaleTimeString()}`)),
      h('div', { class: 'cy-mono' }, t.topic),
      h('div', { class: 'small text-muted cy-mono mb-2' }, [t.source, t.data].filter(Boolean).join(' · ')),
      h('div', { class: 'd-flex flex-wrap gap-2 align-items-center' },
        h('button', { class: 'btn btn-primary btn-sm', type: 'button', 'data-action': 'doorbell', onclick: () => apply('doorbell') }, 'Ring the doorbell'),
        h('button', { class: 'btn btn-outline-primary btn-sm', type: 'button', 'data-action': 'sensor', onclick: () => apply('sensor') }, 'Add a sensor'),
        h('span', { class: 'small' }, 'or it means'), kindSelect,
        h('button', { class: 'btn btn-outline-secondary btn-sm', type: 'button', 'data-action': 'map', onclick: () => apply('map') }, 'Save meaning')));
  }

  function renderLearned() {
    const rows = [...learned.values()];
    const changes = rows.filter((t) => !t.initialOnly).sort((a, b) => b.lastAt - a.lastAt);
    // States the camera reports when watching begins are not what was pressed: listed apart, folded, for reference.
    const states = rows.filter((t) => t.initialOnly);
    const folded = states.length === 0 ? [] : [h('li', { class: 'list-group-item px-0' },
      h('details', {}, h('summary', { class: 'small text-muted' },
        `${states.length} state${states.length === 1 ? '' : 's'} the camera reported when watching began (not events)`),
      h('ul', { class: 'list-unstyled small mt-2 mb-0' }, states.map((t) => h('li', { class: 'mb-1' },
        t.meanings.length ? t.meanings.map((m) => badge(m, 'secondary')) : badge('not known', 'secondary'),
        h('span', { class: 'cy-mono' }, t.topic))))))];
    const waiting = changes.length ? [] : [h('li', { class: 'list-group-item px-0 small text-muted' },
      learning ? 'No event yet: press the entrance button or walk past the camera.' : 'No event seen.')];
    $('learn-list').replaceChildren(...changes.map(learnRow), ...waiting, ...folded);
  }

  async function applyChoice(topic, action, kind) {
    const cam = cameras()[learnIndex];
    if (!cam) {
      return;
    }
    try {
      const { changes, text } = await call('/learn/apply', { camera: cam, action, topic, kind });
      const list = cameras().map((c, i) => (i === learnIndex ? { ...c, ...changes } : c));
      await saveConfig({ ...config, cameras: list });
      await homebridge.savePluginConfig();
      status('learn-status', `${text} Saved; restart Homebridge to use it.`);
      homebridge.toast.success(`${text} Saved.`, 'Courtyard');
    } catch (err) {
      status('learn-status', messageOf(err), 'error');
      homebridge.toast.error(messageOf(err), 'Courtyard');
    }
  }

  function learnEnded(text) {
    learning = false;
    clearInterval(countdown);
    $('learn-progress-box').hidden = true;
    $('learn-stop').disabled = true;
    fillSelects();
    if (text) {
      status('learn-status', learned.size ? `${text} Pick the event that should ring the doorbell or become a sensor.` : text);
    }
  }

  homebridge.addEventListener('learn-topic', (event) => {
    if (learning) {
      learned.set(event.data.key, event.data);
      renderLearned();
    }
  });
  homebridge.addEventListener('learn-end', (event) => learnEnded(event.data.text));

  $('learn-start').addEventListener('click', async () => {
    learnIndex = Number($('learn-camera').value);
    const cam = cameras()[learnIndex];
    if (!cam) {
      return;
    }
    learned.clear();
    renderLearned();
    learning = true;
    fillSelects();
    status('learn-status', `Connecting to ${cam.name || cam.host}…`, 'busy');
    try {
      const { seconds } = await call('/learn/start', { camera: cam, seconds: 60 });
      $('learn-stop').disabled = false;
      $('learn-progress-box').hidden = false;
      const started = Date.now();
      status('learn-status', `Watching ${cam.name || cam.host} for ${seconds} s: press the entrance button or walk past the camera now.`);
      countdown = setInterval(() => {
        const done = Math.min(1, (Date.now() - started) / (seconds * 1000));
        $('learn-progress').style.width = `${Math.round(done * 100)}%`;
      }, 250);
    } catch (err) {
      learnEnded();
      status('learn-status', messageOf(err), 'error');
    }
  });

  $('learn-stop').addEventListener('click', async () => {
    try {
      const end = await call('/learn/stop', {});
      learnEnded(end.text);
    } catch (err) {
      learnEnded(messageOf(err));
    }
  });

  // ---- history ---------------------------------------------------------------------------------------------------
  function healthCard(c) {
    const state = { online: badge('online', 'success'), offline: badge('offline', 'danger'), unknown: badge('no events yet', 'secondary') }[c.status];
    const now = c.answers === undefined ? null : c.answers ? h('span', { class: 'small text-success' }, 'answers now')
      : h('span', { class: 'small text-danger' }, `does not answer now: ${c.answerError}`);
    const facts = [c.address, c.lastEventAt ? `last event ${when(c.lastEventAt)}` : 'no event recorded',
      c.status === 'offline' && c.since ? `offline since ${when(c.since)}` : null].filter(Boolean).join(' · ');
    return h('div', { class: 'card mb-3', 'data-camera': c.name },
      h('div', { class: 'card-body py-2' },
        h('div', { class: 'd-flex flex-wrap align-items-center gap-2' }, h('span', { class: 'fw-semibold' }, c.name), state, now),
        h('div', { class: 'small text-muted mb-1' }, facts),
        c.events.length === 0 ? null : h('ul', { class: 'list-group list-group-flush small' }, c.events.map((e) =>
          h('li', { class: 'list-group-item px-0 py-1 d-flex flex-wrap gap-2' },
            h('span', { class: 'text-muted', style: 'min-width: 9.5rem' }, when(e.at)),
            h('span', { class: e.kind === 'ring' ? 'fw-semibold' : e.kind === 'offline' ? 'text-danger' : '' }, e.text),
            e.topic ? h('span', { class: 'text-muted cy-mono' }, e.topic) : null)))));
  }

  async function loadHistory() {
    const list = cameras().map((c) => ({ name: c.name, host: c.host, port: c.port }));
    if (list.length === 0) {
      status('history-status', 'No cameras yet: add them on the Cameras or Discover tab.');
      $('history-list').replaceChildren();
      return;
    }
    status('history-status', 'Reading…', 'busy');
    try {
      const r = await call('/history', { cameras: list });
      status('history-status', '');
      $('history-list').replaceChildren(...r.cameras.map(healthCard));
    } catch (err) {
      status('history-status', messageOf(err), 'error');
    }
  }
  $('history-run').addEventListener('click', () => void loadHistory());

  // ---- start -----------------------------------------------------------------------------------------------------
  async function showTriggers() {
    const on = Boolean(config.triggers && config.triggers.port);
    $('triggers').hidden = !on;
    if (on && !$('token').textContent) {
      try {
        $('token').textContent = (await call('/triggers-token', {})).token;
      } catch (err) {
        $('token').textContent = messageOf(err);
      }
    }
  }

  /** The config as the form has it now: the schema form edits the Homebridge UI's copy, which the page reads back. */
  async function reloadConfig() {
    const blocks = await homebridge.getPluginConfig();
    config = blocks[0] || config;
    fillSelects();
    void showTriggers();
    return blocks;
  }

  (async () => {
    const blocks = await reloadConfig();
    if (!blocks[0]) {
      await homebridge.updatePluginConfig([config]);
    }
    homebridge.showSchemaForm();
  })().catch((err) => homebridge.toast.error(messageOf(err), 'Courtyard'));
})();
