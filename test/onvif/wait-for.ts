// Bounded waits on the event sources under test: a test that waits forever is a test that cannot fail.
import { EventEmitter } from 'node:events';
import type { OnvifDevice } from '../../src/onvif/device';
import { PullPointEvents } from '../../src/onvif/events';
import type { RawNotification } from '../../src/onvif/notifications';

export const quiet = { info: () => undefined, warn: () => undefined, debug: () => undefined };
export const BOUND_MS = 10_000;

/** Resolves with the first `event` whose value matches, or rejects after the bound. */
export function nextEvent<T = unknown>(emitter: EventEmitter, event: string, match: (value: T) => boolean = () => true,
  ms = BOUND_MS): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no matching '${event}' within the bound`));
    }, ms);
    const on = (value: T): void => {
      if (match(value)) {
        clearTimeout(timer);
        emitter.off(event, on);
        resolve(value);
      }
    };
    emitter.on(event, on);
  });
}

/** Resolves with the first notification that matches, or rejects after the bound. */
export function nextNotification(events: EventEmitter, match: (n: RawNotification) => boolean, ms = BOUND_MS): Promise<RawNotification> {
  return nextEvent<RawNotification>(events, 'notification', match, ms);
}

/** Records whether the source ever reported 'offline' from now on (read `seen` later). */
export function watchOffline(events: EventEmitter): { seen: boolean } {
  const seen = { seen: false };
  events.on('offline', () => (seen.seen = true));
  return seen;
}

/** Connects, starts a PullPoint loop and waits (bounded) until the camera granted its subscription. Stop it when done. */
export async function subscribedEvents(device: OnvifDevice): Promise<PullPointEvents> {
  await device.connect();
  const events = new PullPointEvents(device, quiet);
  const subscribed = nextEvent(events, 'subscribed');
  events.start();
  try {
    await subscribed;
  } catch (err) {
    await events.stop();
    throw err;
  }
  return events;
}
