import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from '../../src/cli/args';
import { runEvents } from '../../src/cli/events';
import { EventHistory } from '../../src/store/history';

describe('events command and the event history', () => {
  let storage: string;
  before(async () => {
    storage = mkdtempSync(join(tmpdir(), 'courtyard-history-'));
    const history = await EventHistory.open(join(storage, 'courtyard'));
    for (let i = 0; i < 105; i++) {
      history.record('SN1', 'Entrance A', { at: 1_700_000_000_000 + i * 1000, kind: 'motion', active: i % 2 === 0, topic: 'tns1:VideoSource/MotionAlarm' });
    }
    history.record('SN2', 'Courtyard', { at: 1_700_000_500_000, kind: 'ring', active: true, topic: 'manual', source: 'http' });
    await history.flush();
  });
  after(() => rmSync(storage, { recursive: true, force: true }));

  const run = async (argv: string[]): Promise<{ code: number; lines: string[]; errors: string[] }> => {
    const lines: string[] = [];
    const errors: string[] = [];
    const args = parseArgs(['events', '--storage', storage, ...argv]);
    assert.equal(args.command, 'events');
    const code = await runEvents(args as Parameters<typeof runEvents>[0], { line: (t) => lines.push(t), error: (t) => errors.push(t) });
    return { code, lines, errors };
  };

  it('keeps only the newest 100 events per camera, across a reopen', async () => {
    const { code, lines } = await run(['--camera', 'entrance a', '--json', '--limit', '1000']);
    assert.equal(code, 0);
    const doc = JSON.parse(lines.join('\n')) as { cameras: { name: string; events: { at: number }[] }[] };
    assert.equal(doc.cameras.length, 1);
    assert.equal(doc.cameras[0].events.length, 100);
    assert.equal(doc.cameras[0].events[0].at, 1_700_000_005_000, 'the oldest five were dropped');
  });

  it('prints one timeline across cameras, oldest first, newest N per camera', async () => {
    const { lines } = await run(['--limit', '2']);
    assert.equal(lines.length, 3);
    assert.match(lines[0], /^2023-11-14 \d\d:\d\d:\d\d {2}Entrance A {2}motion off {2}tns1:VideoSource\/MotionAlarm$/);
    assert.match(lines[2], /Courtyard {2}ring rang {2}manual {2}\(http\)$/);
  });

  it('names the cameras it has when asked for another', async () => {
    const { code, errors } = await run(['--camera', 'Garage']);
    assert.equal(code, 1);
    assert.match(errors[0], /no history for a camera named "Garage"; cameras with history: Courtyard, Entrance A/);
  });
});
