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

  it('shows ports and hour-long second counts as number fields, not sliders', () => {
    // The Homebridge UI (ajsf) draws an integer with both minimum and maximum as a range slider unless its layout entry
    // says otherwise: a slider from 1 to 65535 cannot pick a port. Narrow ranges (viewers 1–6, prebuffer 4–8 s) may slide.
    const layoutTypes = new Map<string, string | undefined>();
    const walk = (items: unknown[]): void => {
      for (const item of items) {
        if (typeof item === 'string') {
          layoutTypes.set(item, undefined);
        } else if (typeof item === 'object' && item !== null) {
          const node = item as { key?: string; type?: string; items?: unknown[] };
          if (node.key !== undefined) {
            layoutTypes.set(node.key, node.type);
          }
          walk(node.items ?? []);
        }
      }
    };
    walk(schema.layout as unknown[]);
    const wide: string[] = [];
    const visit = (props: Record<string, { type?: string; minimum?: number; maximum?: number; properties?: object; items?: { properties?: object } }>,
      prefix: string): void => {
      for (const [key, prop] of Object.entries(props)) {
        const path = `${prefix}${key}`;
        if (prop.type === 'integer' && prop.minimum !== undefined && prop.maximum !== undefined && prop.maximum - prop.minimum > 100) {
          wide.push(path);
        }
        if (prop.properties) {
          visit(prop.properties as typeof props, `${path}.`);
        }
        if (prop.items?.properties) {
          visit(prop.items.properties as typeof props, `${path}[].`);
        }
      }
    };
    visit(schema.schema.properties, '');
    assert.ok(wide.includes('cameras[].port') && wide.includes('triggers.port'), `found ${wide.join(', ')}`);
    for (const path of wide) {
      assert.equal(layoutTypes.get(path), 'number', `${path}: layout entry {"key": "${path}", "type": "number"}`);
    }
  });
});
