import assert from 'node:assert/strict';
import { ManualTriggers, TriggerTarget } from '../src/manual-triggers';

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
