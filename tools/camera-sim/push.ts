// WS-BaseNotification push subscriptions of one simulated camera (ONVIF Core "Basic Notification Interface"):
// Subscribe with a ConsumerReference, then the camera POSTs wsnt:Notify envelopes to it, starting with the current
// property states (Initialized), until the subscription is cancelled or expires. Renew, Unsubscribe and
// SetSynchronizationPoint are served on the subscription address (the manager returned in SubscribeResponse).
import http from 'node:http';
import { child, escapeXml, find } from '../../src/onvif/xml';
import { isoUtc } from './clock';
import { CameraContext, SoapCall, SoapReply, cameraNow } from './context';
import { RenderedMessage, TopicFilter, parseTopicFilter } from './messages';
import { terminationFrom } from './termination';
import { EnvelopeStyle, SoapFault, actionNotSupported, envelope } from './soap';
import { Vendor } from './types';

/**
 * 'deliver': a working camera. 'refuse': Subscribe answers ter:ActionNotSupported, as firmwares that implement only
 * PullPoint do. 'silent': Subscribe, Renew and Unsubscribe work but no Notify is ever sent, as when the camera cannot
 * reach the consumer (NAT, firewall) or its firmware never calls: only a client that checks delivery notices.
 */
export type PushSupport = 'deliver' | 'refuse' | 'silent';

/**
 * The 'generic' camera stands for the cheap no-brand firmware that implements only what Profile S conformance tests
 * press hardest (PullPoint), so it refuses Subscribe and the fallback path always has a camera to run against.
 * Hikvision, Dahua, Axis and Reolink deliver (Home Assistant's ONVIF webhooks and reolink_aio's ONVIF push use them).
 */
export const PUSH_SUPPORT: Record<Vendor, PushSupport> = {
  hikvision: 'deliver', dahua: 'deliver', axis: 'deliver', reolink: 'deliver', generic: 'refuse',
};

export const PUSH_MAX_SUBSCRIPTIONS = 10;
export const PUSH_QUEUE_LIMIT = 100;          // per subscription; the oldest are dropped beyond it
export const PUSH_POST_TIMEOUT_MS = 2_000;    // one Notify POST, connect to last byte of the answer
const PUSH_BATCH = 16;                        // messages per Notify
const MAX_REPLY_BYTES = 16 * 1024;            // a consumer's answer is read and discarded up to this
const MAX_TIMER_MS = 2 ** 31 - 1;
const BW2 = 'http://docs.oasis-open.org/wsn/bw-2';
const TEV = 'http://www.onvif.org/ver10/events/wsdl';

export interface PushCounters {
  subscribed: number;
  refused: number;        // Subscribe refused: push unsupported, cap reached, or a consumer we will not call
  renews: number;
  unsubscribes: number;
  expired: number;
  syncs: number;          // SetSynchronizationPoint on a push subscription
  notifies: number;       // Notify POSTs the consumer answered with 2xx
  failures: number;       // Notify POSTs that failed (refused, error status, timeout)
  dropped: number;        // messages never sent: queue overflow, or a 'silent' camera
}

interface PushSubscription {
  readonly id: number;
  readonly path: string;
  readonly consumer: URL;
  readonly filter: TopicFilter | undefined;
  terminationAt: number;             // real-clock ms
  readonly queue: RenderedMessage[];
  sending: boolean;
  kick: NodeJS.Immediate | undefined;
  expiryTimer: NodeJS.Timeout | undefined;
}

/** Push subscriptions of one camera: bounded queues, one Notify in flight per subscription, expiry. */
export class PushManager {
  readonly counters: PushCounters = {
    subscribed: 0, refused: 0, renews: 0, unsubscribes: 0, expired: 0, syncs: 0, notifies: 0, failures: 0, dropped: 0,
  };
  private readonly subs = new Map<number, PushSubscription>();
  private readonly inFlight = new Set<http.ClientRequest>();
  private nextId = 1;

  constructor(public support: PushSupport, private readonly style: EnvelopeStyle, readonly maxSubscriptions = PUSH_MAX_SUBSCRIPTIONS,
    private readonly queueLimit = PUSH_QUEUE_LIMIT, private readonly postTimeoutMs = PUSH_POST_TIMEOUT_MS) {}

  get size(): number {
    return this.subs.size;
  }

  /** Undefined when the cap is reached. The initial messages go out right after the caller has answered. */
  create(pathFor: (id: number) => string, consumer: URL, terminationAt: number, filter: TopicFilter | undefined,
    initial: RenderedMessage[]): PushSubscription | undefined {
    if (this.subs.size >= this.maxSubscriptions) {
      this.counters.refused++;
      return undefined;
    }
    const id = this.nextId++;
    const sub: PushSubscription = { id, path: pathFor(id), consumer, filter, terminationAt, queue: [], sending: false,
      kick: undefined, expiryTimer: undefined };
    this.subs.set(id, sub);
    this.counters.subscribed++;
    this.requeue(sub, initial);
    this.armExpiry(sub);
    return sub;
  }

  byPath(path: string): PushSubscription | undefined {
    for (const s of this.subs.values()) {
      if (s.path === path) {
        return s;
      }
    }
    return undefined;
  }

  publish(message: RenderedMessage): void {
    for (const sub of this.subs.values()) {
      this.requeue(sub, [message]);
    }
  }

  requeue(sub: PushSubscription, messages: RenderedMessage[]): void {
    for (const m of messages) {
      if (sub.filter && !sub.filter(m.topic)) {
        continue;
      }
      if (this.support !== 'deliver') {
        this.counters.dropped++;
        continue;
      }
      sub.queue.push(m);
      if (sub.queue.length > this.queueLimit) {
        sub.queue.shift();
        this.counters.dropped++;
      }
    }
    if (sub.queue.length > 0 && !sub.sending && !sub.kick) {
      // Deferred so the SubscribeResponse goes out first, as on a camera (the consumer must cope with either order).
      sub.kick = setImmediate(() => {
        sub.kick = undefined;
        void this.pump(sub);
      });
    }
  }

  renew(sub: PushSubscription, terminationAt: number): void {
    this.counters.renews++;
    sub.terminationAt = terminationAt;
    this.armExpiry(sub);
  }

  unsubscribe(sub: PushSubscription): void {
    this.counters.unsubscribes++;
    this.remove(sub);
  }

  /** Forgets every subscription and cuts Notify POSTs in flight (a reboot, or the simulator stopping). */
  clear(): void {
    for (const sub of [...this.subs.values()]) {
      this.remove(sub);
    }
    for (const req of this.inFlight) {
      req.destroy();
    }
    this.inFlight.clear();
  }

  private remove(sub: PushSubscription): void {
    if (!this.subs.delete(sub.id)) {
      return;
    }
    clearTimeout(sub.expiryTimer);
    sub.expiryTimer = undefined;
    if (sub.kick) {
      clearImmediate(sub.kick);
      sub.kick = undefined;
    }
    sub.queue.length = 0;
  }

  private armExpiry(sub: PushSubscription): void {
    clearTimeout(sub.expiryTimer);
    const delay = Math.min(Math.max(0, sub.terminationAt - Date.now()), MAX_TIMER_MS);
    sub.expiryTimer = setTimeout(() => {
      sub.expiryTimer = undefined;
      if (this.subs.get(sub.id) !== sub) {
        return;
      }
      if (Date.now() >= sub.terminationAt) {
        this.counters.expired++;
        this.remove(sub);
      } else {
        this.armExpiry(sub);
      }
    }, delay + 1);
  }

  /** Sends the queue in order, one Notify at a time; each POST is bounded, a failed one is counted and not retried. */
  private async pump(sub: PushSubscription): Promise<void> {
    if (sub.sending) {
      return;
    }
    sub.sending = true;
    try {
      while (sub.queue.length > 0 && this.subs.get(sub.id) === sub && this.support === 'deliver') {
        const batch = sub.queue.splice(0, PUSH_BATCH);
        if (await this.post(sub, batch)) {
          this.counters.notifies++;
        } else {
          this.counters.failures++;
        }
      }
    } finally {
      sub.sending = false;
    }
  }

  private post(sub: PushSubscription, batch: RenderedMessage[]): Promise<boolean> {
    const payload = Buffer.from(envelope(this.style, `<wsnt:Notify>${batch.map((m) => m.xml).join('')}</wsnt:Notify>`,
      `${BW2}/NotificationConsumer/Notify`), 'utf8');
    return new Promise((resolve) => {
      let settled = false;
      const finish = (ok: boolean): void => {
        if (settled) {
          return;
        }
        settled = true;
        clearTimeout(timer);
        this.inFlight.delete(req);
        if (!ok) {
          req.destroy();
        }
        resolve(ok);
      };
      // A fresh connection per Notify (agent: false): nothing lingers once the consumer or the camera goes away.
      const req = http.request(sub.consumer, { method: 'POST', agent: false, headers: {
        'Content-Type': 'application/soap+xml; charset=utf-8', 'Content-Length': payload.length, Connection: 'close',
      } });
      this.inFlight.add(req);
      const timer = setTimeout(() => finish(false), this.postTimeoutMs);
      req.on('error', () => finish(false));
      req.on('close', () => finish(false));
      req.on('response', (res) => {
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_REPLY_BYTES) {
            finish(false);
          }
        });
        res.on('error', () => finish(false));
        res.on('end', () => finish((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
      });
      req.end(payload);
    });
  }
}

// The manager of each camera, looked up by the SOAP handlers (kept here so CameraContext needs no new member).
const managers = new WeakMap<CameraContext, PushManager>();

export function attachPush(camera: CameraContext, push: PushManager): void {
  managers.set(camera, push);
}

function pushOf(camera: CameraContext): PushManager {
  const push = managers.get(camera);
  if (!push) {
    throw actionNotSupported();
  }
  return push;
}

const creationFailed = (reason: string): SoapFault => new SoapFault('Receiver', ['wsnt:SubscribeCreationFailedFault'], reason);

/** wsnt:Subscribe on the events service. */
export function subscribe({ camera, request }: SoapCall): SoapReply {
  const push = pushOf(camera);
  if (push.support === 'refuse') {
    push.counters.refused++;
    throw actionNotSupported();
  }
  const op = request.operation;
  const address = find(child(op, 'ConsumerReference'), 'Address')?.text.trim() ?? '';
  let consumer: URL | undefined;
  try {
    consumer = new URL(address);
  } catch {
    consumer = undefined;
  }
  // The simulator never calls beyond this machine, whatever a client asks.
  if (!consumer || consumer.protocol !== 'http:' || consumer.hostname !== '127.0.0.1') {
    push.counters.refused++;
    throw new SoapFault('Sender', ['wsnt:SubscribeCreationFailedFault'], 'ConsumerReference must be an http://127.0.0.1 address');
  }
  const terminationAt = terminationFrom(camera, child(op, 'InitialTerminationTime')?.text, 'UnacceptableInitialTerminationTimeFault');
  const expression = find(child(op, 'Filter'), 'TopicExpression')?.text;
  const filter = expression ? parseTopicFilter(expression) : undefined;
  const sub = push.create((id) => `/onvif/NotificationSubscription/${id}`, consumer, terminationAt, filter,
    camera.initializedStates());
  if (!sub) {
    throw creationFailed(`Maximum number of subscriptions (${push.maxSubscriptions}) reached`);
  }
  return {
    body: '<wsnt:SubscribeResponse><wsnt:SubscriptionReference>' +
      `<wsa:Address>${escapeXml(camera.baseUrl + sub.path)}</wsa:Address></wsnt:SubscriptionReference>` +
      `<wsnt:CurrentTime>${isoUtc(cameraNow(camera))}</wsnt:CurrentTime>` +
      `<wsnt:TerminationTime>${isoUtc(sub.terminationAt + camera.clockSkewMs)}</wsnt:TerminationTime></wsnt:SubscribeResponse>`,
    action: `${BW2}/NotificationProducer/SubscribeResponse`,
  };
}

/** The push subscription a request addresses, if any (pull points are looked up by the caller otherwise). */
export function pushSubscriptionOf({ camera, url }: SoapCall): PushSubscription | undefined {
  return managers.get(camera)?.byPath(url.pathname + url.search);
}

export function renewPush({ camera, request }: SoapCall, sub: PushSubscription): SoapReply {
  const at = terminationFrom(camera, child(request.operation, 'TerminationTime')?.text, 'UnacceptableTerminationTimeFault');
  pushOf(camera).renew(sub, at);
  return {
    body: `<wsnt:RenewResponse><wsnt:TerminationTime>${isoUtc(sub.terminationAt + camera.clockSkewMs)}</wsnt:TerminationTime>` +
      `<wsnt:CurrentTime>${isoUtc(cameraNow(camera))}</wsnt:CurrentTime></wsnt:RenewResponse>`,
    action: `${BW2}/SubscriptionManager/RenewResponse`,
  };
}

export function unsubscribePush({ camera }: SoapCall, sub: PushSubscription): SoapReply {
  pushOf(camera).unsubscribe(sub);
  return { body: '<wsnt:UnsubscribeResponse/>', action: `${BW2}/SubscriptionManager/UnsubscribeResponse` };
}

/** ONVIF Core "Synchronization Point": every subscription manager sends the current property states again. */
export function synchronizePush({ camera }: SoapCall, sub: PushSubscription): SoapReply {
  const push = pushOf(camera);
  push.counters.syncs++;
  push.requeue(sub, camera.initializedStates());
  return { body: '<tev:SetSynchronizationPointResponse/>', action: `${TEV}/PullPointSubscription/SetSynchronizationPointResponse` };
}
