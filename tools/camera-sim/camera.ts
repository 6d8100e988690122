// One simulated ONVIF camera: its state, its events, its HTTP port and the switches tests pull on it.
import { EventEmitter } from 'node:events';
import { IncomingMessage, ServerResponse } from 'node:http';
import { DigestAuthority, UsernameTokenVerifier } from './auth';
import { CameraContext, DeviceInfo, cameraNow } from './context';
import { SimControl, handleControl } from './control';
import { MAX_SUBSCRIPTIONS, QUEUE_LIMIT } from './events-service';
import { PullPointManager } from './events';
import { CameraHttpServer } from './http-server';
import { RenderedMessage, renderNotification } from './messages';
import { PERSONALITIES, Personality, ProfileName, SimAction, topicSpec } from './personalities';
import { PUSH_SUPPORT, PushCounters, PushManager, PushSupport, attachPush } from './push';
import { handleSnapshot, snapshotProfile, SnapshotAuthMode } from './snapshot-endpoint';
import { SoapAuthMode, handleSoap } from './soap-endpoint';
import { SimStreamProfile } from './stream-profiles';
import { SimEvent, SimHost, SimStats, Vendor } from './types';
import { urlHost } from '../../src/util/address';

export const DOORBELL_PULSE_MS = 1000;   // LogicalState true, then false after this
const RESTART_DOWNTIME_MS = 300;         // how long a reboot keeps the port closed
const RELISTEN_ATTEMPTS = 20;            // coming back online: bounded retries if the port is briefly busy
const RELISTEN_DELAY_MS = 250;

/** Everything a camera needs from the simulator that hosts it. */
export interface SimCameraSetup {
  index: number;
  name: string;
  vendor: Vendor;
  username: string;
  password: string;
  clockSkewMs: number;
  soapAuth: SoapAuthMode;
  snapshotAuth: SnapshotAuthMode;
  audio: boolean;
  port: number;
  host: SimHost;
  streams: Record<ProfileName, SimStreamProfile>;
  streamUri: (profile: ProfileName) => string;
  snapshot: (profile: ProfileName) => Buffer;
  rtspPaths: string[];
  rtspSessions?: () => Promise<Record<string, number>>;
}

function macFor(p: Personality, index: number): string {
  const n = (index + 1) * 2654435761 % 0xffffff; // spread indexes over the NIC part
  const hex = n.toString(16).padStart(6, '0');
  return `${p.macPrefix}:${hex.slice(0, 2)}:${hex.slice(2, 4)}:${hex.slice(4, 6)}`;
}

export class SimCamera extends EventEmitter implements SimControl {
  readonly index: number;
  readonly name: string;
  readonly vendor: Vendor;
  readonly host: SimHost;
  readonly username: string;
  readonly password: string;
  readonly info: DeviceInfo;

  private readonly personality: Personality;
  private readonly pullPoints = new PullPointManager(MAX_SUBSCRIPTIONS, QUEUE_LIMIT);
  private readonly push: PushManager;
  private readonly http: CameraHttpServer;
  private readonly states = new Map<string, boolean>();   // property topic -> current state
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly faults = new Set<string>();
  private readonly context: CameraContext;
  private skewMs: number;
  private seq = 0;
  private occurrences = 0;     // stateless events so far (LineDetector ObjectId)
  private authFailures = 0;
  private lastRtspSessions: Record<string, number> | undefined;
  private doorbellTimer: NodeJS.Timeout | undefined;
  private readonly sleepers = new Set<() => void>();
  private listening: Promise<void> = Promise.resolve();
  private relistening = false;
  private wantOffline = false;
  private stopped = false;

  private constructor(private readonly setup: SimCameraSetup) {
    super();
    this.index = setup.index;
    this.name = setup.name;
    this.vendor = setup.vendor;
    this.host = setup.host;
    this.username = setup.username;
    this.password = setup.password;
    this.skewMs = setup.clockSkewMs;
    this.personality = PERSONALITIES[setup.vendor];
    const p = this.personality;
    this.push = new PushManager(PUSH_SUPPORT[setup.vendor], p.envelope);
    const mac = macFor(p, setup.index);
    const serial = p.serial(setup.index, mac);
    this.info = { manufacturer: p.manufacturer, model: p.model, firmware: p.firmware, serial, hardwareId: p.hardwareId, mac };
    for (const t of p.topics) {
      if (t.property) {
        this.states.set(t.topic, false);
      }
    }
    const digest = new DigestAuthority(p.realm(serial), setup.username, setup.password);
    const usernameToken = new UsernameTokenVerifier(setup.username, setup.password);
    const skew = (): number => this.skewMs;
    const port = (): number => this.http.port;
    this.context = {
      personality: p,
      name: setup.name,
      info: this.info,
      audio: setup.audio,
      get clockSkewMs(): number { return skew(); },
      setClock: (utcMs: number) => this.setClockSkew(utcMs - Date.now()),
      get baseUrl(): string { return `http://${urlHost(setup.host)}:${port()}`; },
      streams: setup.streams,
      pullPoints: this.pullPoints,
      streamUri: setup.streamUri,
      initializedStates: () => this.initializedStates(),
      faults: this.faults,
    };
    attachPush(this.context, this.push);
    const onAuthFailure = (): void => {
      this.authFailures++;
    };
    const soapOptions = { camera: this.context, mode: setup.soapAuth, usernameToken, digest, onAuthFailure };
    const snapshotOptions = { personality: p, mode: setup.snapshotAuth, username: setup.username,
      password: setup.password, digest, jpeg: setup.snapshot, onAuthFailure };
    this.http = new CameraHttpServer(async (req, res, body, signal) => {
      await this.route(req, res, body, signal, soapOptions, snapshotOptions);
    });
  }

  static async create(setup: SimCameraSetup): Promise<SimCamera> {
    const camera = new SimCamera(setup);
    await camera.http.listen(setup.port, setup.host);
    return camera;
  }

  get port(): number {
    return this.http.port;
  }

  get deviceUrl(): string {
    return `${this.context.baseUrl}${this.personality.paths.device}`;
  }

  /** Camera clock (real clock plus skew). */
  now(): number {
    return cameraNow(this.context);
  }

  motion(on: boolean): SimEvent {
    return this.act('motion', on);
  }

  /** A doorbell press: the input goes active now and back to idle DOORBELL_PULSE_MS later. */
  doorbell(): SimEvent {
    if (this.doorbellTimer) {
      this.clearTimer(this.doorbellTimer);
      this.act('doorbell', false); // a press during a press: finish the first pulse so the edge is seen
    }
    const event = this.act('doorbell', true);
    this.doorbellTimer = this.later(DOORBELL_PULSE_MS, () => {
      this.doorbellTimer = undefined;
      this.act('doorbell', false);
    });
    return event;
  }

  lineCrossing(): SimEvent {
    return this.act('line', true);
  }

  person(on: boolean): SimEvent {
    return this.act('person', on);
  }

  tamper(on: boolean): SimEvent {
    return this.act('tamper', on);
  }

  /** Offline: the port refuses connections and open ones are cut, like a camera whose network dropped. */
  setOffline(offline: boolean): void {
    if (this.stopped) {
      return;
    }
    this.wantOffline = offline;
    if (offline) {
      void this.http.close();
    } else if (!this.relistening && !this.http.listening) {
      this.relistening = true;
      this.listening = this.relisten().catch((err: Error) => {
        process.stderr.write(`camera-sim: ${err.message}\n`);
      }).finally(() => {
        this.relistening = false;
      });
    }
  }

  /** Resolves once the port accepts connections again (after setOffline(false)). */
  whenOnline(): Promise<void> {
    return this.listening;
  }

  offlineFor(ms: number): void {
    this.setOffline(true);
    this.later(ms, () => this.setOffline(false));
  }

  /** A reboot: offline, every subscription and state forgotten, back online. */
  async restart(): Promise<void> {
    this.setOffline(true);
    this.pullPoints.clear();
    this.push.clear();
    if (this.doorbellTimer) {
      this.clearTimer(this.doorbellTimer);
      this.doorbellTimer = undefined;
    }
    for (const topic of this.states.keys()) {
      this.states.set(topic, false);
    }
    await this.sleep(RESTART_DOWNTIME_MS);
    this.setOffline(false);
    await this.listening;
  }

  /** Forgets subscriptions: pending and later pulls/renews get the vendor's unknown-subscription fault. */
  dropSubscriptions(): void {
    this.pullPoints.clear();
    this.push.clear();
  }

  /** Push (WS-BaseNotification) subscriptions and deliveries; see push.ts for what each counter means. */
  pushStats(): PushCounters & { subscriptions: number } {
    return { ...this.push.counters, subscriptions: this.push.size };
  }

  /** Overrides the vendor's push behaviour: 'refuse' Subscribe, or accept it and stay 'silent'. */
  setPushSupport(mode: PushSupport): void {
    this.push.support = mode;
  }

  /**
   * Answers these SOAP operations (local names: GetStreamUri, PullMessages, Renew, ...) with a Receiver fault, after
   * authentication, until called again with others; none by default. For tests of how a client copes with faults.
   */
  setFaults(operations: string[]): void {
    this.faults.clear();
    operations.forEach((op) => this.faults.add(op));
  }

  setClockSkew(ms: number): void {
    this.skewMs = ms;
  }

  stats(): SimStats {
    const c = this.pullPoints.counters;
    return {
      subscriptions: this.pullPoints.size, maxSubscriptions: this.pullPoints.maxSubscriptions,
      created: c.created, refused: c.refused, expired: c.expired, pulls: c.pulls, renews: c.renews,
      unsubscribes: c.unsubscribes, authFailures: this.authFailures,
      ...(this.lastRtspSessions ? { rtspSessions: this.lastRtspSessions } : {}),
    };
  }

  /** stats() plus the media server's current RTSP sessions on this camera's paths. */
  async fullStats(): Promise<SimStats> {
    if (this.setup.rtspSessions) {
      const all = await this.setup.rtspSessions();
      this.lastRtspSessions = Object.fromEntries(this.setup.rtspPaths.map((p) => [p, all[p] ?? 0]));
    }
    return this.stats();
  }

  /** Closes the port, ends every pending pull and clears every timer. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) {
      return;
    }
    this.stopped = true;
    for (const t of this.timers) {
      clearTimeout(t);
    }
    this.timers.clear();
    for (const wake of [...this.sleepers]) {
      wake();
    }
    this.doorbellTimer = undefined;
    await this.http.close();
    this.pullPoints.clear();
    this.push.clear();
    await this.listening;
    await this.http.close(); // a relisten that raced stop() is closed too
  }

  private initializedStates(): RenderedMessage[] {
    const now = this.now();
    return this.personality.topics.filter((t) => t.property).map((t) =>
      renderNotification(this.personality, t, t.value(this.states.get(t.topic) ?? false, 0), 'Initialized', now));
  }

  /** Sets the topics of an action and queues what changed; real cameras only report changes of a property. */
  private act(action: SimAction, on: boolean): SimEvent {
    const p = this.personality;
    const topics = p.actions[action];
    const now = this.now();
    let messages = 0;
    for (const topic of topics) {
      const spec = topicSpec(p, topic);
      let message: RenderedMessage | undefined;
      if (spec.property) {
        if (this.states.get(topic) !== on) {
          this.states.set(topic, on);
          message = renderNotification(p, spec, spec.value(on, 0), 'Changed', now);
        }
      } else if (on) {
        message = renderNotification(p, spec, spec.value(true, ++this.occurrences), undefined, now);
      }
      if (message) {
        this.pullPoints.publish(message);
        this.push.publish(message);
        messages++;
      }
    }
    const event: SimEvent = { topic: topics[0] ?? '', at: Date.now(), seq: ++this.seq, messages };
    if (messages > 0) {
      this.emit('event', event);
    }
    return event;
  }

  private async route(req: IncomingMessage, res: ServerResponse, body: Buffer, signal: AbortSignal,
    soap: Parameters<typeof handleSoap>[0], snapshot: Parameters<typeof handleSnapshot>[0]): Promise<void> {
    const url = new URL(req.url ?? '/', this.context.baseUrl);
    if (url.pathname.startsWith('/sim/')) {
      await handleControl(this, req, res, url);
      return;
    }
    const profile = req.method === 'GET' || req.method === 'HEAD'
      ? snapshotProfile(this.personality, url.pathname + url.search) : undefined;
    if (profile) {
      handleSnapshot(snapshot, profile, req, res);
      return;
    }
    if (url.pathname.startsWith('/onvif/')) {
      await handleSoap(soap, req, res, body, signal);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  }

  private async relisten(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (this.stopped || this.wantOffline || this.http.listening) {
        return;
      }
      try {
        await this.http.listen(this.port, this.host);
        if (this.stopped || this.wantOffline) {
          await this.http.close(); // switched off again while the port was opening
        }
        return;
      } catch (err) {
        if (attempt >= RELISTEN_ATTEMPTS) {
          throw new Error(`camera ${this.name}: cannot listen on ${this.port} again: ${(err as Error).message}`);
        }
        await this.sleep(RELISTEN_DELAY_MS);
      }
    }
  }

  /** A delay that stop() cuts short, so nothing awaits a cleared timer forever. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        this.sleepers.delete(wake);
        this.clearTimer(timer);
        resolve();
      };
      const timer = this.later(ms, wake);
      this.sleepers.add(wake);
    });
  }

  private later(ms: number, fn: () => void): NodeJS.Timeout {
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    return t;
  }

  private clearTimer(t: NodeJS.Timeout): void {
    clearTimeout(t);
    this.timers.delete(t);
  }
}
