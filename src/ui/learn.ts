// "Learn an event" on the settings page: watch one camera's events for a while through the plugin's own PullPoint loop
// and show each topic as it fires, with the meaning the plugin gives it, so a committee member can press the entrance
// button and pick the event that appeared as the doorbell trigger, a sensor, or their own mapping.
import { PullPointEvents } from '../onvif/events';
import type { RawNotification } from '../onvif/notifications';
import { OnvifDevice } from '../onvif/device';
import { EventKind, interpret } from '../onvif/topics';
import { meaningLabel } from '../cli/probe-events';
import { hostPort } from '../util/address';
import { redact } from '../util/redact';
import { UiError } from './bounded';
import { cameraFrom, fatalSentence } from './check';
import { LEARN_MAX_S, LEARN_MAX_TOPICS, LEARN_SUBSCRIBE_MS } from '../settings';


const TRUE = /^(true|1|active|on|yes)$/i;

/** One topic (and source) seen while learning, as the page lists it. */
export interface LearnedTopic {
  /** topic + source: the same topic from input 1 and input 2 are two rows. */
  key: string;
  topic: string;
  source: string;
  /** The data items of its latest message, e.g. "LogicalState=true". */
  data: string;
  /** The plugin's meanings, e.g. ["input on"]; empty when the plugin does not know the topic. */
  meanings: string[];
  kinds: EventKind[];
  /** Only seen as the state reported at subscription, never as a change: probably not what was pressed. */
  initialOnly: boolean;
  count: number;
  lastAt: number;
  /** What an "events" mapping for it would match: this item at its active value. */
  mapping: { topic: string; item?: string; value?: string };
}

export interface LearnEnd {
  reason: 'time' | 'stopped' | 'failed';
  text: string;
  topics: LearnedTopic[];
}

const items = (r: Record<string, string>): string => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(', ');

/** The data item and value that mark this topic as "happening": the first item whose value reads as on, else the first. */
export function mappingFor(n: RawNotification): LearnedTopic['mapping'] {
  const entries = Object.entries(n.data);
  const [item, value] = entries.find(([, v]) => TRUE.test(v)) ?? entries[0] ?? [];
  return item === undefined ? { topic: n.topic } : { topic: n.topic, item, value };
}

/**
 * One watch at a time per settings page (the UI server runs while one page is open). Updates go to the page as pushed
 * events: 'learn-topic' with a LearnedTopic, and 'learn-end' with a LearnEnd.
 */
export class Learner {
  private events?: PullPointEvents;
  private timer?: NodeJS.Timeout;
  private topics = new Map<string, LearnedTopic>();
  private ending?: Promise<LearnEnd>;

  constructor(private readonly push: (event: string, data: unknown) => void) {}

  /** Subscribes to the camera's events; resolves once the camera granted the subscription, rejects with a sentence otherwise. */
  async start(body: Record<string, unknown>, signal: AbortSignal): Promise<{ seconds: number; camera: string }> {
    await this.stop('stopped');
    const cam = cameraFrom(body.camera);
    const wanted = Number(body.seconds ?? LEARN_MAX_S);
    const seconds = Number.isFinite(wanted) ? Math.min(Math.max(Math.round(wanted), 5), LEARN_MAX_S) : LEARN_MAX_S;
    const device = new OnvifDevice(cam);
    try {
      await device.connect(signal);
      // connect() uses the calls ONVIF allows before login: this one tells a wrong password at once, not after a failed subscribe.
      await device.getDeviceInformation(signal);
    } catch (err) {
      throw new UiError(fatalSentence({ error: { kind: (err as { kind?: string }).kind ?? 'error', message: redact((err as Error).message) } }, cam));
    }
    if (!device.urls.events) {
      throw new UiError(`The camera at ${hostPort(cam.host, cam.port)} lists no ONVIF event service: turn on ONVIF events in the ` +
        'camera, or use manual triggers.');
    }
    this.topics = new Map();
    this.ending = undefined;
    const problems: string[] = [];
    const events = new PullPointEvents(device, {
      info: () => undefined,
      warn: (m) => problems.push(redact(m)),
      debug: (m) => {
        const why = /^events: (.*); subscribing again$/.exec(m);
        if (why) {
          problems.push(redact(why[1]));
        }
      },
    });
    this.events = events;
    events.on('notification', (n: RawNotification) => this.onNotification(n, cam.events));
    const subscribed = new Promise<void>((resolve, reject) => {
      const fail = (): void => reject(new UiError(`The camera at ${hostPort(cam.host, cam.port)} did not let the plugin watch its events` +
        `${problems.length ? ` (${problems.at(-1)})` : ''}: check that this user may use ONVIF events, then try again.`));
      const timer = setTimeout(fail, LEARN_SUBSCRIBE_MS);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        fail();
      }, { once: true });
      events.once('subscribed', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    events.start();
    try {
      await subscribed;
    } catch (err) {
      await this.stop('failed');
      throw err;
    }
    this.timer = setTimeout(() => void this.stop('time'), seconds * 1000);
    return { seconds, camera: cam.name };
  }

  private onNotification(n: RawNotification, mappings: Parameters<typeof interpret>[1]): void {
    const meanings = interpret(n, mappings);
    const source = items(n.source);
    const key = `${n.topic}|${source}`;
    const initial = n.operation === 'Initialized';
    let entry = this.topics.get(key);
    if (!entry) {
      if (this.topics.size >= LEARN_MAX_TOPICS) {
        return;
      }
      entry = { key, topic: n.topic, source, data: '', meanings: [], kinds: [], initialOnly: true, count: 0, lastAt: 0, mapping: { topic: n.topic } };
      this.topics.set(key, entry);
    }
    entry.data = items(n.data);
    entry.meanings = meanings.map(meaningLabel);
    entry.kinds = [...new Set([...entry.kinds, ...meanings.map((m) => m.kind)])];
    entry.count++;
    entry.lastAt = Date.now();
    entry.initialOnly &&= initial;
    // The mapping is taken from a message that reads as "on" when there is one, so the mapping fires on the press.
    const candidate = mappingFor(n);
    if (!entry.mapping.item || (candidate.value !== undefined && TRUE.test(candidate.value))) {
      entry.mapping = candidate;
    }
    this.push('learn-topic', { ...entry });
  }

  /** Ends the watch (idempotent) and unsubscribes; tells the page once. */
  stop(reason: LearnEnd['reason']): Promise<LearnEnd> {
    if (!this.events) {
      return Promise.resolve({ reason, text: 'Not watching.', topics: [] });
    }
    this.ending ??= (async () => {
      clearTimeout(this.timer);
      const events = this.events!;
      await events.stop();
      const topics = [...this.topics.values()];
      const text = reason === 'time' ? `Stopped watching after the time was up; ${topics.length} event topic${topics.length === 1 ? '' : 's'} seen.`
        : reason === 'stopped' ? `Stopped watching; ${topics.length} event topic${topics.length === 1 ? '' : 's'} seen.`
          : 'Could not watch the camera\'s events.';
      const end: LearnEnd = { reason, text, topics };
      if (reason !== 'failed') {
        this.push('learn-end', end);
      }
      this.events = undefined;
      return end;
    })();
    return this.ending;
  }
}
