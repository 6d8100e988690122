// What a learned event writes into the camera's config, checked against the plugin's own config rules.
import assert from 'node:assert/strict';
import { parseConfig } from '../../src/config';
import { UiError } from '../../src/ui/bounded';
import { applyLearned } from '../../src/ui/config-edit';

const camera = { name: 'Entrance A', host: '192.168.1.20', username: 'onvif', password: 'Edit-Secret-12' };
const input = { topic: 'tns1:Device/Trigger/DigitalInput', kinds: ['input'], mapping: { item: 'LogicalState', value: 'true' } };
const unknown = { topic: 'tns1:VideoSource/Alarm', kinds: [], mapping: { item: 'Alarm', value: 'Ring' } };

describe('settings page: what a learned event changes', () => {
  it('a known button becomes the only doorbell trigger, without a mapping', () => {
    const { changes, text } = applyLearned(camera, { action: 'doorbell', topic: { ...input, kinds: ['motion', 'input'] } });
    assert.deepEqual(changes, { doorbell: true, doorbellEvents: ['input'] });
    assert.equal(text, 'Entrance A is now a doorbell that rings on input events (tns1:Device/Trigger/DigitalInput).');
    assert.ok(!JSON.stringify(changes).includes(camera.password));
  });

  it('an unknown topic as the doorbell is mapped to "visitor", and the result is a valid config', () => {
    const { changes } = applyLearned(camera, { action: 'doorbell', topic: unknown });
    assert.deepEqual(changes, { doorbell: true, doorbellEvents: ['visitor'],
      events: [{ topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', means: 'visitor' }] });
    const { config, errors } = parseConfig({ cameras: [{ ...camera, ...changes }] });
    assert.deepEqual(errors, []);
    assert.deepEqual(config.cameras[0].events, [{ topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', kind: 'visitor' }]);
  });

  it('a sensor is added once; mapping the same topic again replaces its meaning', () => {
    const first = applyLearned({ ...camera, sensors: ['line'] }, { action: 'sensor', topic: { ...input, kinds: ['person'] } });
    assert.deepEqual(first.changes, { sensors: ['line', 'person'] });
    const mapped = applyLearned({ ...camera, events: [{ topic: unknown.topic, item: 'Alarm', value: 'Ring', means: 'visitor' }] },
      { action: 'map', topic: unknown, kind: 'tamper' });
    assert.deepEqual(mapped.changes.events, [{ topic: unknown.topic, item: 'Alarm', value: 'Ring', means: 'tamper' }]);
  });

  it('an unknown topic as a sensor needs a kind', () => {
    assert.throws(() => applyLearned(camera, { action: 'sensor', topic: unknown }), (err: unknown) => err instanceof UiError && /^Pick what this event means/.test(err.message));
    assert.throws(() => applyLearned(camera, { action: 'map', topic: unknown, kind: 'nonsense' }), UiError);
  });
});
