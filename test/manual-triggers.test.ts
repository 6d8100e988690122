import assert from 'node:assert/strict';
import { ManualTriggers, TriggerTarget } from '../src/manual-triggers';
import { exchange, silentConnections } from './hostile-peer';

/** A camera stand-in that records what the endpoint asked of it (the endpoint is what is under test). */
function camera(name: string, doorbell: boolean): TriggerTarget & { calls: string[] } {
  const calls: string[] = [];
  let rang = false;
  return {
    name, calls,
    triggerMotion: (active) => {
      calls.push(`motion ${active}`);
      return true;
    },
    ringDoorbell: () => {
      calls.push('ring');
      if (!doorbell) {
        return 'not a doorbell';
      }
      const first = !rang;
      rang = true;
      return first ? 'rang' : 'cooldown';
    },
  };
}

describe('ManualTriggers', () => {
  const entrance = camera('Entrance A', true);
  const yard = camera('Courtyard', false);
  const triggers = new ManualTriggers(() => [entrance, yard], 'a-very-secret-token-for-tests-0001', { info: () => undefined, warn: () => undefined });
  let base = '';
  before(async () => {
    base = `http://127.0.0.1:${await triggers.listen(0, '127.0.0.1')}`;
  });
  after(() => triggers.close());

  const post = (path: string, token?: string): Promise<Response> =>
    fetch(`${base}${path}`, { method: 'POST', headers: token ? { Authorization: `Bearer ${token}` } : {} });

  it('refuses requests without the right token and touches no camera', async () => {
    assert.equal((await post('/motion?camera=Courtyard')).status, 401);
    assert.equal((await post('/motion?camera=Courtyard', 'wrong')).status, 401);
    assert.deepEqual(yard.calls, []);
  });

  it('sets and clears motion on the named camera, name matched without case', async () => {
    assert.equal((await post('/motion?camera=courtyard&state=on', 'a-very-secret-token-for-tests-0001')).status, 200);
    assert.equal((await post('/motion?camera=Courtyard&state=off&token=a-very-secret-token-for-tests-0001')).status, 200);
    assert.deepEqual(yard.calls, ['motion true', 'motion false']);
  });

  it('rings a doorbell and reports the cooldown and non-doorbell cameras', async () => {
    const first = await post('/doorbell?camera=Entrance%20A', 'a-very-secret-token-for-tests-0001');
    assert.deepEqual(await first.json(), { camera: 'Entrance A', doorbell: 'rang' });
    const second = await post('/doorbell?camera=Entrance%20A', 'a-very-secret-token-for-tests-0001');
    assert.deepEqual(await second.json(), { camera: 'Entrance A', doorbell: 'cooldown' });
    assert.equal((await post('/doorbell?camera=Courtyard', 'a-very-secret-token-for-tests-0001')).status, 409);
  });

  it('names the cameras it knows when asked for another', async () => {
    const r = await post('/motion?camera=Garage', 'a-very-secret-token-for-tests-0001');
    assert.equal(r.status, 404);
    assert.deepEqual((await r.json() as { cameras: string[] }).cameras, ['Entrance A', 'Courtyard']);
  });

  it('rejects a bad state', async () => {
    assert.equal((await post('/motion?camera=Courtyard&state=maybe', 'a-very-secret-token-for-tests-0001')).status, 400);
  });
});

describe('ManualTriggers hit by a stranger', () => {
  const TOKEN = 'a-very-secret-token-for-tests-0002';
  const yard = camera('Courtyard', false);
  const triggers = new ManualTriggers(() => [yard], TOKEN, { info: () => undefined, warn: () => undefined }, 400);
  let port = 0;
  before(async () => {
    port = await triggers.listen(0, '127.0.0.1');
  });
  afterEach(() => {
    yard.calls.length = 0;
  });
  after(() => triggers.close());

  const request = (line: string, headers: string[], body = ''): string => `${line}\r\n${[...headers, ''].join('\r\n')}\r\n${body}`;
  const works = async (): Promise<void> => {
    const r = await exchange(port, request('POST /motion?camera=Courtyard HTTP/1.1', ['Host: x', `Authorization: Bearer ${TOKEN}`,
      'Connection: close']));
    assert.equal(r.status, 200, r.text);
  };

  it('refuses a missing or wrong token before reading a body, and closes the connection', async () => {
    const big = 'x'.repeat(1024 * 1024);
    for (const auth of [[], ['Authorization: Bearer wrong'], [`Authorization: Bearer ${TOKEN}x`], ['Authorization: Basic Zm9vOmJhcg==']]) {
      const r = await exchange(port, request('POST /motion?camera=Courtyard HTTP/1.1', ['Host: x', ...auth, `Content-Length: ${big.length}`], big));
      assert.equal(r.status, 401, r.text);
      assert.doesNotMatch(r.text, new RegExp(TOKEN));
    }
    assert.deepEqual(yard.calls, []);
    await works();
  });

  it('refuses an oversized body, declared or chunked, with 413, and touches no camera', async () => {
    const auth = `Authorization: Bearer ${TOKEN}`;
    const declared = await exchange(port, request('POST /motion?camera=Courtyard HTTP/1.1', ['Host: x', auth, 'Content-Length: 500000000']));
    assert.equal(declared.status, 413);
    const chunk = 'x'.repeat(64 * 1024);
    const chunked = await exchange(port, request('POST /motion?camera=Courtyard HTTP/1.1', ['Host: x', auth, 'Transfer-Encoding: chunked'],
      `${chunk.length.toString(16)}\r\n${chunk}\r\n`));
    assert.equal(chunked.status, 413);
    assert.deepEqual(yard.calls, []);
    await works();
  });

  it('answers an unreadable request target with 400 instead of throwing (Homebridge would have crashed)', async () => {
    for (const target of ['http://[', '//[x', 'http://%zz/', 'http://a:b']) {
      const r = await exchange(port, request(`POST ${target} HTTP/1.1`, ['Host: x', `Authorization: Bearer ${TOKEN}`]));
      assert.equal(r.status, 400, `${target}: ${r.text}`);
    }
    await works();
  });

  it('refuses other methods', async () => {
    const r = await exchange(port, request('DELETE /motion?camera=Courtyard HTTP/1.1', ['Host: x', `Authorization: Bearer ${TOKEN}`]));
    assert.equal(r.status, 405);
  });

  it('cuts off slowloris peers (silent, half a header, a trickled body) within the request bound', async () => {
    const silent = await silentConnections(port, 3);
    const halfHeader = await silentConnections(port, 3, 'POST /motion?camera=Courtyard HTTP/1.1\r\nHost: x\r\n');
    const halfBody = await silentConnections(port, 3, request('POST /motion?camera=Courtyard HTTP/1.1',
      ['Host: x', `Authorization: Bearer ${TOKEN}`, 'Content-Length: 100'], 'ab'));
    try {
      for (const peers of [silent, halfHeader, halfBody]) {
        assert.ok(await peers.allClosed(3_000) < 3_000);
      }
      assert.deepEqual(yard.calls, []);
    } finally {
      [silent, halfHeader, halfBody].forEach((p) => p.destroy());
    }
    await works();
  });

  it('holds a bounded number of connections: a peer opening many cannot pile them up, and the endpoint works after', async () => {
    const many = await silentConnections(port, 60);
    try {
      await new Promise((r) => setTimeout(r, 100));
      assert.ok(many.open() <= 32, `${many.open()} connections held`);
      await many.allClosed(3_000);
    } finally {
      many.destroy();
    }
    await works();
  });
});
