// Push events: the camera calls us (WS-BaseNotification Subscribe + Notify, ONVIF Core "Basic Notification Interface").
// Optional and self-checking: it is used only while Notify messages verifiably arrive, otherwise it reports 'fallback'
// and the caller runs PullPointEvents instead. Home Assistant does the same (homeassistant/components/onvif/event.py,
// WebHookManager: the webhook replaces PullPoint only once a notification has actually been received).
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { isIPv6, Socket } from 'node:net';
import {
  PUSH_MAX_BODY_BYTES, PUSH_MAX_CONNECTIONS, PUSH_RENEW_INTERVAL_MS,
  PUSH_REQUEST_TIMEOUT_MS, PUSH_ROUTE_LOOKUP_TIMEOUT_MS, PUSH_VERIFY_MS, SUBSCRIPTION_REFRESH_MS, SUBSCRIPTION_S,
  UNSUBSCRIBE_TIMEOUT_MS,
} from '../settings';
import { unbracket, urlHost } from '../util/address';
import { closeServer } from '../util/close-server';
import type { OnvifDevice } from './device';
import { CameraEventSource, endFrom, EventsLog, RetryOptions, subscriptionFrom, WSN } from './event-source';
import { parseNotifications } from './notifications';
import { SoapError } from './soap';
import { child, escapeXml, parseXml, XmlElement } from './xml';

/** Where cameras POST their Notify messages: NOTIFY_PATH + an unguessable id per subscription. */
export const NOTIFY_PATH = '/onvif/notify/';
// 12 random bytes: unguessable on a LAN, yet a short URL (HA shortened its webhook id because some cameras limit its length).
const ID_BYTES = 12;
const WILDCARD_HOSTS = new Set(['', '0.0.0.0', '::', '[::]']);

/** Gets a parsed Notify element; its own namespace declarations include those of the envelope around it. */
export type NotifyHandler = (notify: XmlElement) => void;

export interface NotificationReceiverOptions {
  /** The address cameras should call; default: the listen address, or when that is a wildcard, our address on the route to each camera. */
  advertiseHost?: string;
  maxBodyBytes?: number;
  /** How long a request may take to arrive whole (ms); default PUSH_REQUEST_TIMEOUT_MS (tests shorten it). */
  requestTimeoutMs?: number;
}

/** Counts of what the receiver saw, for diagnostics and tests. */
export interface ReceiverCounters {
  delivered: number;
  refused: number;
}

/**
 * Our source address on the route to `host`: the address a camera there can reach us on. A connected UDP socket
 * sends nothing; connect() only makes the kernel choose the route and the local address for it.
 */
export function localAddressToward(host: string, timeoutMs = PUSH_ROUTE_LOOKUP_TIMEOUT_MS): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(isIPv6(host) ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err: Error | undefined, address?: string): void => {
      if (settled) {
        return;
      }
      settled = true;
      clearTimeout(timer);
      try {
        socket.close();
      } catch {
        // never bound: nothing to close
      }
      if (err) {
        reject(err);
      } else {
        resolve(address!);
      }
    };
    const timer = setTimeout(() => finish(new Error(`no route to ${host} found within ${timeoutMs} ms`)), timeoutMs);
    socket.on('error', (err) => finish(err));
    socket.connect(9, host, () => finish(undefined, socket.address().address));
  });
}

/** The Notify element of a SOAP envelope, carrying the envelope's and body's namespace declarations (for topic prefixes). */
function notifyOf(envelope: XmlElement): XmlElement | undefined {
  const body = child(envelope, 'Body');
  const notify = child(body, 'Notify');
  if (envelope.name !== 'Envelope' || !notify) {
    return undefined;
  }
  const declared = (el: XmlElement | undefined): Record<string, string> =>
    Object.fromEntries(Object.entries(el?.attrs ?? {}).filter(([k]) => k.startsWith('xmlns:')));
  // The nearest declaration wins, as in XML: the Notify's own attributes are spread last.
  return { ...notify, attrs: { ...declared(envelope), ...declared(body), ...notify.attrs } };
}

/**
 * One HTTP server per plugin that cameras POST their Notify messages to. Each PushEvents registers a handler under a
 * random id per subscription, so a LAN peer cannot inject events without the URL, and a stale subscription we failed
 * to cancel meets a 404 instead of delivering duplicates. Bodies are capped and requests bounded in time; a Notify is
 * answered 202 at once (a one-way SOAP operation: WS-I Basic Profile allows 200 or 202 with no envelope).
 */
export class NotificationReceiver {
  readonly counters: ReceiverCounters = { delivered: 0, refused: 0 };
  private readonly server: Server;
  private readonly handlers = new Map<string, NotifyHandler>();
  private readonly sockets = new Set<Socket>();
  private readonly maxBodyBytes: number;
  private boundHost = '';
  private boundPort = 0;

  constructor(private readonly log: EventsLog, private readonly opts: NotificationReceiverOptions = {}) {
    this.maxBodyBytes = opts.maxBodyBytes ?? PUSH_MAX_BODY_BYTES;
    const requestTimeout = opts.requestTimeoutMs ?? PUSH_REQUEST_TIMEOUT_MS;
    this.server = createServer({
      requestTimeout,
      headersTimeout: requestTimeout,
      // How often Node checks the two timeouts above (default 30 s would let a stuck peer hold a slot that long).
      connectionsCheckingInterval: Math.min(requestTimeout, 5_000),
    }, (req, res) => this.onRequest(req, res));
    this.server.maxConnections = PUSH_MAX_CONNECTIONS;
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** The bound port (0 before listen). */
  get port(): number {
    return this.boundPort;
  }

  /** Listens on host:port (port 0 = any free port; cameras are told the real one with each Subscribe). */
  listen(port: number, host = '0.0.0.0'): Promise<number> {
    if (this.server.listening) {
      return Promise.resolve(this.boundPort);
    }
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address();
        this.boundPort = typeof addr === 'object' && addr ? addr.port : port;
        this.boundHost = host;
        resolve(this.boundPort);
      });
    });
  }

  /** Routes Notify POSTs on a fresh id to `handler`; returns the id. */
  register(handler: NotifyHandler): string {
    let id: string;
    do {
      id = randomBytes(ID_BYTES).toString('hex');
    } while (this.handlers.has(id));
    this.handlers.set(id, handler);
    return id;
  }

  unregister(id: string): void {
    this.handlers.delete(id);
  }

  /** The consumer address for a subscription id, as a camera at `cameraHost` must call it. */
  async urlFor(id: string, cameraHost: string): Promise<string> {
    if (!this.server.listening) {
      throw new Error('the notification receiver is not listening');
    }
    const camera = unbracket(cameraHost);
    // Our IPv6 address on the route to an IPv6 camera is no use while we listen on IPv4 only: the camera would accept
    // the subscription and then fail every Notify. Said now, instead of as "no Notify arrived" some seconds later.
    if (!this.opts.advertiseHost && this.boundHost === '0.0.0.0' && isIPv6(camera)) {
      throw new Error(`the camera is reached over IPv6 (${camera}) and the push receiver listens on IPv4 only; ` +
        'set "push"."advertiseHost" to an IPv4 address of this machine that the camera can reach');
    }
    const host = this.opts.advertiseHost
      ?? (WILDCARD_HOSTS.has(this.boundHost) ? await localAddressToward(camera) : this.boundHost);
    return `http://${urlHost(host)}:${this.boundPort}${NOTIFY_PATH}${id}`;
  }

  /**
   * Listens on every address of this machine: dual-stack `::` so cameras on IPv6 can deliver too, else (IPv6 off in the
   * kernel) 0.0.0.0, and then IPv6 cameras are told at subscription time to use PullPoint. Resolves with the port.
   */
  async listenEverywhere(port: number): Promise<number> {
    try {
      return await this.listen(port, '::');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') {
        throw err;
      }
      return this.listen(port, '0.0.0.0');
    }
  }

  /** Stops listening and cuts open connections. Idempotent. */
  close(): Promise<void> {
    return closeServer(this.server, this.sockets);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '';
    const id = url.startsWith(NOTIFY_PATH) ? url.slice(NOTIFY_PATH.length).split(/[?#]/)[0] : '';
    const handler = id ? this.handlers.get(id) : undefined;
    if (!handler) {
      this.refuse(req, res, 404, 'no such subscription');
      return;
    }
    if (req.method !== 'POST') {
      this.refuse(req, res, 405, 'Notify takes POST', { Allow: 'POST' });
      return;
    }
    if (Number(req.headers['content-length'] ?? '0') > this.maxBodyBytes) {
      this.refuse(req, res, 413, 'body too large');
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    req.on('data', (chunk: Buffer) => {
      if (refused) {
        return;
      }
      size += chunk.length;
      if (size > this.maxBodyBytes) {
        refused = true;
        this.refuse(req, res, 413, 'body too large');
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => req.socket.destroy());
    req.on('end', () => {
      if (!refused) {
        this.accept(req, res, handler, Buffer.concat(chunks));
      }
    });
  }

  private accept(req: IncomingMessage, res: ServerResponse, handler: NotifyHandler, body: Buffer): void {
    let notify: XmlElement | undefined;
    let problem = 'not a SOAP Notify';
    try {
      notify = notifyOf(parseXml(body.toString('utf8')));
    } catch (err) {
      problem = (err as Error).message;
    }
    if (!notify) {
      this.counters.refused++;
      this.log.debug(`push: ignored a POST from ${req.socket.remoteAddress ?? '?'} (${problem})`);
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end('expected a SOAP envelope with a wsnt:Notify body');
      return;
    }
    this.counters.delivered++;
    res.writeHead(202);
    res.end();
    try {
      handler(notify);
    } catch (err) {
      // A listener bug must not take the receiver (and every other camera's events) down with it.
      this.log.debug(`push: a Notify handler failed: ${(err as Error).message}`);
    }
  }

  // The rest of a refused body is not read: answer, then close the connection once the answer is out.
  private refuse(req: IncomingMessage, res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
    this.counters.refused++;
    res.writeHead(status, { 'Content-Type': 'text/plain', Connection: 'close', ...extra });
    res.end(text, () => req.socket.destroy());
  }
}

/** Tunables of one PushEvents, defaulting to settings.ts (tests shorten them). */
export interface PushEventsOptions extends RetryOptions {
  /** How long the first Notify may take after Subscribe before we give up on push (ms). */
  verifyMs?: number;
  /** Renew period (ms); also how soon a vanished or rebooted camera is noticed. */
  renewIntervalMs?: number;
}


/** Push cannot work with this camera here: the caller should use PullPoint. */
class PushUnavailable extends Error {}


/**
 * Events of one camera by WS-BaseNotification push. Subscribes with the receiver's URL as ConsumerReference, requires
 * a Notify within `verifyMs` (cameras send the current property states, PropertyOperation="Initialized", after
 * subscribing; we also ask for them with SetSynchronizationPoint, ONVIF Core "Synchronization Point"), renews every
 * `renewIntervalMs`, subscribes afresh after faults with capped jittered backoff, and unsubscribes on stop.
 *
 * Emits what PullPointEvents emits — 'notification' (RawNotification), 'subscribed' (here: once the first Notify of a
 * new subscription arrived), 'offline' (reason), 'online' — plus 'renewed', and 'fallback' (reason) once when push
 * does not work: the camera refused Subscribe, or no Notify arrived in time (a firewall, NAT, or a firmware that
 * accepts and never calls). After 'fallback' this object has released its subscription and stopped; the caller
 * switches to PullPointEvents. After an outage the existing subscription is renewed first (no slot leaked).
 */
export class PushEvents extends CameraEventSource {
  protected readonly label = 'push events';
  private receiverId?: string;
  private delivered = false;
  private awaitingDelivery = false;
  /** After the camera stopped answering: try the subscription we have at once, it may have survived the outage. */
  private renewAtOnce = false;
  private readonly verifyMs: number;
  private readonly renewIntervalMs: number;

  constructor(device: OnvifDevice, private readonly receiver: NotificationReceiver, log: EventsLog, opts: PushEventsOptions = {}) {
    super(device, log, opts);
    this.verifyMs = opts.verifyMs ?? PUSH_VERIFY_MS;
    this.renewIntervalMs = opts.renewIntervalMs ?? PUSH_RENEW_INTERVAL_MS;
  }

  protected async loop(): Promise<void> {
    while (this.running) {
      this.abort = new AbortController();
      try {
        const sub = this.subscription;
        const now = Date.now();
        // Replaced now and then, like the pull point: each new subscription must prove again that Notify arrives.
        if (!sub || sub.terminatesAt <= now || now - sub.createdAt > SUBSCRIPTION_REFRESH_MS) {
          await this.release(sub !== undefined && sub.terminatesAt > now);
          await this.subscribe();
          this.markOnline();
          if (!(await this.verify())) {
            if (this.running) {
              await this.fallBack(`no Notify arrived within ${Math.round(this.verifyMs / 1000)} s of subscribing ` +
                '(the camera cannot reach us, or does not call)');
            }
            break;
          }
          // Only now: 'subscribed' means events are flowing, not merely that the camera said yes.
          this.emit('subscribed');
        } else {
          if (!this.renewAtOnce) {
            await this.wait(this.renewDelay());
          }
          this.renewAtOnce = false;
          if (!this.running) {
            break;
          }
          await this.renew();
          this.markOnline();
        }
        this.failures = 0;
      } catch (err) {
        if (!this.running) {
          break;
        }
        if (err instanceof PushUnavailable) {
          await this.fallBack(err.message);
          break;
        }
        await this.recover(err);
      }
    }
  }

  private async subscribe(): Promise<void> {
    const id = this.receiver.register((notify) => this.onNotify(id, notify));
    this.receiverId = id;
    this.delivered = false;
    let consumer: string;
    try {
      consumer = await this.receiver.urlFor(id, new URL(this.device.urls.device).hostname);
    } catch (err) {
      throw new PushUnavailable(`no address the camera could call us on (${(err as Error).message})`);
    }
    const url = this.device.urls.events ?? this.device.sameHost('http://x/onvif/event_service')!;
    let r: XmlElement;
    try {
      r = await this.device.request(url, '<wsnt:Subscribe><wsnt:ConsumerReference>' +
        `<wsa:Address>${escapeXml(consumer)}</wsa:Address></wsnt:ConsumerReference>` +
        `<wsnt:InitialTerminationTime>PT${SUBSCRIPTION_S}S</wsnt:InitialTerminationTime></wsnt:Subscribe>`,
      { signal: this.abort?.signal, header: `<wsa:Action>${WSN}/NotificationProducer/SubscribeRequest</wsa:Action>` });
    } catch (err) {
      // A camera that answers Subscribe with a fault (typically ter:ActionNotSupported) or non-SOAP does not push.
      if (err instanceof SoapError && (err.kind === 'fault' || err.kind === 'http' || err.kind === 'bad-reply')) {
        throw new PushUnavailable(`the camera refused Subscribe: ${err.message}`);
      }
      throw err;
    }
    const subscription = subscriptionFrom(r, this.device);
    if (!subscription) {
      throw new PushUnavailable('Subscribe answered no subscription address');
    }
    this.subscription = subscription;
    this.log.debug(`push events: subscribed (${this.subscription.address})`);
    await this.call('<tev:SetSynchronizationPoint/>',
      'http://www.onvif.org/ver10/events/wsdl/PullPointSubscription/SetSynchronizationPointRequest')
      .catch((err: Error) => this.log.debug(`push events: SetSynchronizationPoint refused (${err.message}); continuing`));
  }

  /** True once a Notify for the current subscription arrived, waiting at most verifyMs for it. */
  private async verify(): Promise<boolean> {
    if (!this.delivered && this.running) {
      this.awaitingDelivery = true;
      await this.wait(this.verifyMs);
      this.awaitingDelivery = false;
    }
    return this.delivered;
  }

  private onNotify(id: string, notify: XmlElement): void {
    if (id !== this.receiverId) {
      return; // a subscription we already let go of
    }
    this.delivered = true;
    if (this.awaitingDelivery) {
      this.wake?.();
    }
    for (const n of parseNotifications(notify)) {
      this.emit('notification', n);
    }
  }

  /** Half the remaining lifetime when the camera granted less than we asked, else the renew interval; never a spin. */
  private renewDelay(): number {
    const left = (this.subscription?.terminatesAt ?? 0) - Date.now();
    return Math.max(Math.min(this.renewIntervalMs, 1_000), Math.min(this.renewIntervalMs, left / 2));
  }

  private async renew(): Promise<void> {
    const r = await this.call(`<wsnt:Renew><wsnt:TerminationTime>PT${SUBSCRIPTION_S}S</wsnt:TerminationTime></wsnt:Renew>`,
      `${WSN}/SubscriptionManager/RenewRequest`);
    if (this.subscription) {
      this.subscription.terminatesAt = endFrom(r);
    }
    this.emit('renewed');
  }

  /** Unsubscribes (bounded) so the camera frees its slot and stops calling; `tellCamera` false only forgets it. */
  protected async release(tellCamera = true): Promise<void> {
    if (this.receiverId) {
      this.receiver.unregister(this.receiverId);
      this.receiverId = undefined;
    }
    const sub = this.subscription;
    if (!sub) {
      return;
    }
    if (tellCamera) {
      // A fresh signal: the loop's may already be aborted by stop(), and the camera should still free its slot.
      await this.call('<wsnt:Unsubscribe/>', `${WSN}/SubscriptionManager/UnsubscribeRequest`, UNSUBSCRIBE_TIMEOUT_MS,
        new AbortController().signal).catch(() => undefined);
    }
    this.subscription = undefined;
  }

  private async fallBack(reason: string): Promise<void> {
    this.running = false;
    await this.release(true);
    this.log.info(`push events unavailable (${reason}); using PullPoint instead`);
    this.emit('fallback', reason);
  }

  protected keepThroughOutage(): void {
    // Keep the subscription: after a network blip the camera still has it (and no slot is leaked); after a reboot
    // the renewal fails with a fault and we subscribe afresh.
    this.renewAtOnce = this.subscription !== undefined;
  }

  protected async dropAfterFailure(err: unknown): Promise<void> {
    await this.relearnClockAfter(err);
    await this.release(true);
  }
}
