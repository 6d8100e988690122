// What "Learn an event" writes into a camera's config when the user picks an event: the doorbell trigger, a sensor, or
// their own "events" mapping. Worked out here (not in the page) so the result is checked by the plugin's own config rules.
import { parseConfig } from '../config';
import { EVENT_KINDS, EventKind } from '../onvif/topics';
import { UiError } from './bounded';

export type LearnAction = 'doorbell' | 'sensor' | 'map';

export interface LearnChoice {
  action: LearnAction;
  /** The learned topic: its meanings (kinds) and the mapping that matches it. */
  topic: { topic: string; kinds?: unknown; mapping?: { item?: unknown; value?: unknown } };
  /** The kind the user picked (needed for "map", and for a sensor or doorbell on a topic the plugin does not know). */
  kind?: unknown;
}

/** Only these fields change; the page merges them into the camera entry (the password never travels back). */
export interface CameraChanges {
  doorbell?: boolean;
  doorbellEvents?: EventKind[];
  sensors?: EventKind[];
  events?: Array<{ topic: string; item?: string; value?: string; means: EventKind }>;
}

const isKind = (k: unknown): k is EventKind => typeof k === 'string' && (EVENT_KINDS as readonly string[]).includes(k);

/** The kind a known topic means; a doorbell prefers what a button or visitor is over motion seen at the same time. */
function knownKind(kinds: unknown, action: LearnAction): EventKind | undefined {
  const list = Array.isArray(kinds) ? kinds.filter(isKind) : [];
  const preferred: EventKind[] = action === 'doorbell' ? ['input', 'visitor', 'line', 'person', 'field'] : [];
  return preferred.find((k) => list.includes(k)) ?? list[0];
}

/** The config changes for one choice, and the sentence saying what they do. Throws a UiError when the choice cannot apply. */
export function applyLearned(camera: Record<string, unknown>, choice: LearnChoice): { changes: CameraChanges; text: string } {
  const name = typeof camera.name === 'string' && camera.name.trim() ? camera.name.trim() : 'This camera';
  const topic = typeof choice.topic?.topic === 'string' ? choice.topic.topic.trim() : '';
  if (!topic) {
    throw new UiError('Pick an event from the list first.');
  }
  const picked = isKind(choice.kind) ? choice.kind : undefined;
  const known = choice.action === 'map' ? undefined : knownKind(choice.topic.kinds, choice.action);
  // A topic the plugin does not know needs a mapping: for a doorbell it means "visitor" unless the user said otherwise.
  const kind = known ?? picked ?? (choice.action === 'doorbell' ? 'visitor' : undefined);
  if (!kind) {
    throw new UiError(`Pick what this event means (${EVENT_KINDS.join(', ')}).`);
  }
  const changes: CameraChanges = {};
  const mapped = !known;
  if (mapped) {
    const item = typeof choice.topic.mapping?.item === 'string' ? choice.topic.mapping.item : undefined;
    const value = typeof choice.topic.mapping?.value === 'string' ? choice.topic.mapping.value : undefined;
    const existing = (Array.isArray(camera.events) ? camera.events : []) as CameraChanges['events'] & object;
    // One mapping per topic and item: learning it again replaces the old meaning instead of adding a contradicting one.
    changes.events = [...existing.filter((e) => !(e.topic === topic && e.item === item)), { topic, ...(item ? { item } : {}),
      ...(value !== undefined ? { value } : {}), means: kind }];
  }
  let text: string;
  if (choice.action === 'doorbell') {
    changes.doorbell = true;
    changes.doorbellEvents = [kind];
    text = `${name} is now a doorbell that rings on ${kind} events (${topic}).`;
  } else if (choice.action === 'sensor') {
    const sensors = (Array.isArray(camera.sensors) ? camera.sensors : []).filter(isKind);
    if (kind !== 'motion') {
      changes.sensors = [...new Set([...sensors, kind])];
    }
    text = kind === 'motion' ? `${name}'s motion sensor already shows motion events (${topic}).`
      : `${name} gets a ${kind} sensor, fed by ${topic}.`;
  } else {
    text = `${name} reads ${topic} as ${kind} events.`;
  }
  const { errors } = parseConfig({ cameras: [{ ...camera, name, host: camera.host || 'placeholder', ...changes }] });
  if (errors.length) {
    throw new UiError(`${errors[0]}.`);
  }
  return { changes, text };
}
