// The event part of `probe`: subscribe through the plugin's own PullPoint loop for a while and show every
// notification with the meaning the plugin's topic table gives it, so a user sees at once what a camera's events do.
import type { OnvifDevice } from '../onvif/device';
import { PullPointEvents } from '../onvif/events';
import type { RawNotification } from '../onvif/notifications';
import { CameraEvent, interpret } from '../onvif/topics';
import { sleep } from '../util/abort';
import { PROBE_MAX_KEPT_NOTIFICATIONS } from '../settings';


export interface NotificationReport {
  /** When we received it (ISO), by this computer's clock. */
  receivedAt: string;
  topic: string;
  operation?: string;
  utcTime?: string;
  source: Record<string, string>;
  data: Record<string, string>;
  meanings: Array<Pick<CameraEvent, 'kind' | 'active' | 'momentary' | 'initial'>>;
}

export interface EventsReport {
  seconds: number;
  subscribed: boolean;
  notifications: number;
  kept: NotificationReport[];
  /** Why the subscription failed or broke (each reason once). */
  problems: string[];
}

const items = (r: Record<string, string>): string => Object.entries(r).map(([k, v]) => `${k}=${v}`).join(', ');

const clockTime = (d: Date): string =>
  [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');

/** The meaning as a short label: "motion on", "line event" (momentary), "unknown". */
export function meaningLabel(e: Pick<CameraEvent, 'kind' | 'active' | 'momentary'>): string {
  return `${e.kind} ${e.momentary ? 'event' : e.active ? 'on' : 'off'}`;
}

/**
 * The lines for one notification: one per meaning (a TP-Link smart event can be a person and a vehicle), or one
 * "unknown" line with the data items so the user can map the topic in the config.
 * e.g. `12:00:01 motion on  tns1:RuleEngine/CellMotionDetector/Motion (VideoSourceConfigurationToken=1)`.
 */
export function notificationLines(n: RawNotification, meanings: CameraEvent[], at: Date): string[] {
  const time = clockTime(at);
  const source = Object.keys(n.source).length ? ` (${items(n.source)})` : '';
  if (meanings.length === 0) {
    const data = Object.keys(n.data).length ? ` data: ${items(n.data)}` : '';
    return [`${time} ${'unknown'.padEnd(10)} ${n.topic}${source}${data}`];
  }
  return meanings.map((e) => `${time} ${meaningLabel(e).padEnd(10)} ${n.topic}${source}${e.initial ? ' [state at subscription]' : ''}`);
}

/**
 * Listens for `seconds` (or until the signal aborts), printing lines as they come through `print` (null in JSON mode).
 * Always stops the loop and unsubscribes before resolving, so the camera's subscription slot is freed.
 */
export async function listenForEvents(device: OnvifDevice, seconds: number, print: ((text: string) => void) | null,
  signal?: AbortSignal): Promise<EventsReport> {
  const report: EventsReport = { seconds, subscribed: false, notifications: 0, kept: [], problems: [] };
  const problem = (reason: string): void => {
    if (!report.problems.includes(reason)) {
      report.problems.push(reason);
      print?.(`Events      problem: ${reason}`);
    }
  };
  const events = new PullPointEvents(device, {
    info: () => undefined,
    warn: (msg) => problem(msg),
    // The loop explains each failed attempt at debug level ("events: <reason>; subscribing again").
    debug: (msg) => {
      const m = /^events: (.*); subscribing again$/.exec(msg);
      if (m) {
        problem(m[1]);
      }
    },
  });
  events.on('subscribed', () => {
    if (!report.subscribed) {
      print?.(`Events      subscribed; listening for ${seconds} s (Ctrl-C to stop early)`);
    }
    report.subscribed = true;
  });
  events.on('notification', (n: RawNotification) => {
    const at = new Date();
    const meanings = interpret(n);
    report.notifications++;
    if (report.kept.length < PROBE_MAX_KEPT_NOTIFICATIONS) {
      report.kept.push({
        receivedAt: at.toISOString(), topic: n.topic, operation: n.operation, utcTime: n.utcTime, source: n.source, data: n.data,
        meanings: meanings.map(({ kind, active, momentary, initial }) => ({ kind, active, momentary, initial })),
      });
    }
    for (const line of notificationLines(n, meanings, at)) {
      print?.(line);
    }
  });
  print?.(`Events      subscribing (${seconds} s)...`);
  events.start();
  try {
    await sleep(seconds * 1000, signal);
  } finally {
    await events.stop();
  }
  print?.(`Events      ${report.notifications} notification${report.notifications === 1 ? '' : 's'}` +
    `${report.subscribed ? '' : '; never subscribed'}`);
  return report;
}
