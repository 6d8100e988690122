import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CAMERA_KEYS, parseConfig } from '../src/config';
import { EVENT_KINDS } from '../src/onvif/topics';

const ROOT = join(__dirname, '..', '..');
const schema = JSON.parse(readFileSync(join(ROOT, 'config.schema.json'), 'utf8'));

describe('config.schema.json', () => {
  const cameraProps = schema.schema.properties.cameras.items.properties as Record<string, { default?: unknown; items?: { oneOf?: { enum: string[] }[] } }>;

  it('is a singular platform form with the plugin alias', () => {
    assert.equal(schema.pluginAlias, 'Courtyard');
    assert.equal(schema.pluginType, 'platform');
    assert.equal(schema.singular, true);
    assert.equal(schema.customUi, true);
  });

  it('offers exactly the camera options the plugin reads', () => {
    assert.deepEqual(Object.keys(cameraProps).sort(), [...CAMERA_KEYS].sort());
  });

  it('states the same defaults the plugin applies', () => {
    const applied = parseConfig({ cameras: [{ name: 'a', host: 'b' }] }).config.cameras[0] as unknown as Record<string, unknown>;
    for (const [key, prop] of Object.entries(cameraProps)) {
      if (prop.default !== undefined) {
        assert.deepEqual(applied[key], prop.default, key);
      }
    }
  });

  it('lists every event kind for the doorbell, and all but motion as extra sensors', () => {
    const kinds = (p: string): string[] => cameraProps[p].items!.oneOf!.map((o) => o.enum[0]);
    assert.deepEqual(kinds('doorbellEvents'), [...EVENT_KINDS]);
    assert.deepEqual(kinds('sensors'), EVENT_KINDS.filter((k) => k !== 'motion'));
  });
});
