// The courtyard day (issue 12, item 1): eight simulated cameras of mixed vendors behind one real Homebridge, HKSV on for
// all with a hub recording every motion over HDS, a HAP controller subscribed to every motion sensor and doorbell, five
// viewers coming and going, a doorbell ring every minute, motion bursts at random entrances, and faults on a schedule.
// Prints a table and writes docs/soak.md (and bench/results/soak.json).
//
// Run: npm run soak [-- --minutes 10] [--seed 12] [--line 1|2] [--small]
//   (= npx tsc -p tsconfig.build.json && npx tsc -p tsconfig.json && node .build/bench/soak.js ...)
//   --small: hubs select 640x360 (the cameras' sub-streams) instead of 1920x1080, for machines that cannot take eight.
//
// Everything is on 127.0.0.1. Homebridge reaches each camera through a CameraLink (bench/camera-link.ts) so a camera can
// be made to refuse connections or to black-hole them, ONVIF and RTSP alike. Every wait is bounded, every loop ends at
// the deadline, the whole run is bounded (runBounded), and everything started is stopped on success, failure or signal.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CameraSim, SimCamera } from '../tools/camera-sim';
import type { GopOption } from '../tools/camera-sim/media';
import {
  CameraStreamClient, CharacteristicRef, CharacteristicType, descendantsOf, HapClient, HapEvent, HdsCloseReason, HomebridgeProcess,
  pairWith, platformConfigFor, probe, RecordingHub, RecordingStream, ServiceType, sleep, startHomebridge, startRecordingHub,
  startSim, StreamSession, streamNow, summarizeVideo, track, withTimeout,
} from '../test/e2e/rig';
import { CameraLink, LinkMode } from './camera-link';
import { isFfmpeg, mb, percentile, Rng, sampleTree, TreeCpu, TreeSample } from './proc-sample';
import { runBounded } from './run-bounded';
import { gitDescribe, machine } from './run-info';

// ---------------------------------------------------------------------------------------------------------------
// The courtyard

interface CameraPlan {
  name: string;
  vendor: 'hikvision' | 'dahua' | 'axis' | 'reolink' | 'generic';
  doorbell?: boolean;
  clockSkewMs?: number;
  soapAuth?: 'wsse' | 'digest';
  gop?: GopOption;
  what: string;
}

const CAMERAS: CameraPlan[] = [
  { name: 'Entrance A', vendor: 'hikvision', doorbell: true, what: 'Hikvision, doorbell (digital input)' },
  { name: 'Entrance B', vendor: 'dahua', doorbell: true, clockSkewMs: 2 * 3600_000, what: 'Dahua, doorbell, clock 2 h ahead' },
  { name: 'Courtyard', vendor: 'axis', soapAuth: 'digest', what: 'Axis, HTTP Digest only (no WS-Security)' },
  { name: 'Bike Shed', vendor: 'reolink', gop: 1, what: 'Reolink, keyframe every 1 s' },
  { name: 'Car Park', vendor: 'generic', gop: 8, what: 'generic ONVIF, keyframe every 8 s (recording transcoded)' },
  { name: 'Bins', vendor: 'hikvision', what: 'Hikvision' },
  { name: 'Garden', vendor: 'dahua', what: 'Dahua' },
  { name: 'Side Gate', vendor: 'axis', what: 'Axis' },
];
const OFFLINE_CAMERA = 'Bins';
const BLACKHOLE_CAMERA = 'Garden';
const REBOOT_CAMERA = 'Courtyard';

const LINE_DEFAULT = 1;
const HOLD_S = 5;                 // motionHoldSeconds
const MAX_STREAMS = 3;
const VIEWERS = 5;
const PREBUFFER_S = 4;
const SETTLE_MS = 20_000;         // prebuffers fill before the start figures
const END_QUIET_MS = 15_000;      // sources of departed viewers stop 10 s after the last one
const EVENT_TIMEOUT_MS = 15_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
const RECOVERY_TIMEOUT_MS = 150_000;
const OFFLINE_MS = 30_000;
const REBOOT_MS = 20_000;
const DOORBELL_EVERY_MS = 60_000;
const START_TIMEOUT_MS = 120_000;

interface Options { minutes: number; seed: number; line: 1 | 2; small: boolean }

function parse(argv: string[]): Options {
  const o: Options = { minutes: 10, seed: 12, line: LINE_DEFAULT, small: false };
  for (let i = 0; i < argv.length; i++) {
    const next = (): string => argv[++i] ?? '';
    switch (argv[i]) {
      case '--minutes': o.minutes = Number(next()); break;
      case '--seed': o.seed = Number(next()); break;
      case '--line': o.line = Number(next()) === 2 ? 2 : 1; break;
      case '--small': o.small = true; break;
      default: throw new Error(`unknown option ${argv[i]} (use --minutes N, --seed N, --line 1|2, --small)`);
    }
  }
  if (!(o.minutes >= 2 && o.minutes <= 24 * 60)) {
    throw new Error('--minutes must be from 2 to 1440');
  }
  return o;
}

// ---------------------------------------------------------------------------------------------------------------
// What is counted

interface EventRecord { kind: 'motion' | 'doorbell'; camera: string; at: number; latencyMs?: number; lost?: boolean; why: string }
interface RecordingRecord {
  camera: string;
  why: string;
  requestedAt: number;
  opened: boolean;
  openError?: string;
  fragments: number;
  complete: boolean;
  valid: boolean;
  problem?: string;
  durationMs?: number;
  /** From the hub's request to the first whole fragment. */
  firstFragmentMs?: number;
  /** From the hub's request to its close. */
  openMs?: number;
  judged?: boolean;
}
interface StreamRecord { camera: string; size: string; ok: boolean; decoded: boolean; keyframeMs?: number; error?: string; why: string }
interface FaultRecord { at: number; name: string; ok: boolean; outcome: string }

const events: EventRecord[] = [];
/** This process's own event-loop lag (the simulator, the links and the controller run here): worst per second. */
const lags: { at: number; ms: number }[] = [];
function watchLag(): NodeJS.Timeout {
  let expected = Date.now() + 100;
  let worst = 0;
  let second = Math.floor(Date.now() / 1000);
  return setInterval(() => {
    const now = Date.now();
    worst = Math.max(worst, now - expected);
    expected = now + 100;
    if (Math.floor(now / 1000) !== second) {
      lags.push({ at: now, ms: worst });
      worst = 0;
      second = Math.floor(now / 1000);
    }
  }, 100);
}
/** The worst lag of this process in the 3 s after `at` (while the event was on its way). */
const lagAfter = (at: number): number => Math.max(0, ...lags.filter((l) => l.at >= at && l.at <= at + 3_000).map((l) => l.ms));
const recordings: RecordingRecord[] = [];
const streams: StreamRecord[] = [];
const faults: FaultRecord[] = [];
const notes: string[] = [];
const t0 = Date.now();
const clock = (): string => `${((Date.now() - t0) / 1000).toFixed(0).padStart(4)} s`;
const say = (line: string): void => console.log(`[${clock()}] ${line}`);

// ---------------------------------------------------------------------------------------------------------------
// One camera as the soak sees it

interface Cam {
  plan: CameraPlan;
  sim: SimCamera;
  link: CameraLink;
  aid: number;
  motion: CharacteristicRef;
  bell?: CharacteristicRef;
  statusActive?: CharacteristicRef;
  streamServices: number;
  viewing: Set<number>;
  busy: boolean;
  /** In a fault or recovering from one: nothing is injected or watched. */
  faulted: boolean;
  hub?: Hub;
}

/** A home hub for one camera: its own HAP connection subscribed to the camera's motion, recording while it is on. */
class Hub {
  private current: { record: RecordingRecord; stream?: RecordingStream; opening: Promise<void> } | undefined;
  private motionOn = false;
  private readonly finishing = new Set<Promise<void>>();
  /** Recordings between motion off and the hub's close (judging after that does not keep the camera busy). */
  private closing = 0;
  private readonly unlisten: () => void;
  tag = 'motion';

  private constructor(readonly cam: Cam, readonly hub: RecordingHub) {
    this.unlisten = hub.hap.onEvent((e: HapEvent) => {
      if (e.aid === cam.motion.aid && e.iid === cam.motion.iid) {
        this.onMotion(e.value === true || e.value === 1);
      }
    });
  }

  static async start(hap: HapClient, cam: Cam, configure: boolean, small: boolean): Promise<Hub> {
    const hub = await startRecordingHub(hap, cam.aid, {
      configure,
      preferences: { prebufferLengthMs: PREBUFFER_S * 1000, ...(small ? { resolution: { width: 640, height: 360, fps: 15 } } : {}) },
    });
    const h = new Hub(cam, hub);
    await hub.hap.subscribe([cam.motion]);
    return h;
  }

  get recording(): RecordingStream | undefined {
    return this.current?.stream;
  }

  get idle(): boolean {
    return this.current === undefined && this.closing === 0;
  }

  private onMotion(on: boolean): void {
    this.motionOn = on;
    if (on && !this.current) {
      const record: RecordingRecord = { camera: this.cam.plan.name, why: this.tag, requestedAt: Date.now(), opened: false, fragments: 0, complete: false, valid: false };
      recordings.push(record);
      const current: NonNullable<Hub['current']> = { record, opening: Promise.resolve() };
      this.current = current;
      current.opening = (async () => {
        try {
          current.stream = await this.hub.openRecording();
          record.opened = true;
        } catch (err) {
          record.openError = (err as Error).message;
        }
        if (!this.motionOn || !current.stream) {
          this.finish();
        }
      })();
    } else if (!on && this.current?.stream) {
      this.finish();
    }
  }

  /** Motion is over: close like a hub (NORMAL), then judge what arrived. */
  private finish(): void {
    const current = this.current;
    if (!current) {
      return;
    }
    this.current = undefined;
    const done = (async () => {
      const { record, stream } = current;
      if (!stream) {
        record.problem = `open failed: ${record.openError ?? '?'}`;
        return;
      }
      this.closing++;
      try {
        await sleep(1000);
        stream.close(HdsCloseReason.NORMAL);
        record.openMs = Date.now() - record.requestedAt;
        await sleep(1500);
      } finally {
        this.closing--;
      }
      await judge(record, stream);
    })().catch((err: Error) => {
      current.record.problem = `judging failed: ${err.message}`;
    }).finally(() => {
      current.record.judged = true;
    });
    this.finishing.add(done);
    void done.finally(() => this.finishing.delete(done));
  }

  async drain(timeoutMs: number): Promise<void> {
    await withTimeout(Promise.all([...this.finishing]), timeoutMs, 'recordings to finish').catch(() => undefined);
  }

  async close(): Promise<void> {
    this.unlisten();
    await this.drain(20_000);
    await withTimeout(this.hub.close(), 10_000, 'hub close').catch(() => undefined);
  }
}

let probes = Promise.resolve();

/** The last recording of a camera requested for `why`, once judged (bounded). */
async function verdict(camera: string, why: string, timeoutMs = 40_000): Promise<RecordingRecord | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rec = recordings.filter((r) => r.camera === camera && r.why === why).pop();
    if ((rec && rec.judged) || Date.now() > until) {
      return rec;
    }
    await sleep(250);
  }
}

/** Complete: init then fragments, no protocol violation, not cut by the accessory or a lost connection. Valid: ffprobe decodes it from a keyframe. */
async function judge(record: RecordingRecord, stream: RecordingStream): Promise<void> {
  const packets = stream.packets();
  record.fragments = stream.fragments().length;
  const first = stream.fragments()[0];
  if (first) {
    record.firstFragmentMs = first.receivedAt - record.requestedAt;
  }
  const cutByAccessory = stream.closedByAccessory && (stream.closedByAccessory.reason ?? 0) !== HdsCloseReason.NORMAL
    && (!stream.closedByHub || stream.closedByAccessory.at < stream.closedByHub.at);
  const problems: string[] = [];
  if (packets[0]?.kind !== 'init') {
    problems.push('no init segment first');
  }
  if (record.fragments < 1) {
    problems.push('no fragment');
  }
  if (stream.violations().length) {
    problems.push(`violations: ${stream.violations().join('; ')}`);
  }
  if (cutByAccessory) {
    problems.push(`closed by the accessory with reason ${stream.closedByAccessory?.reason}`);
  }
  if (stream.lost) {
    problems.push(`connection lost: ${stream.lost}`);
  }
  record.complete = problems.length === 0;
  if (packets.length >= 2) {
    const job = probes.then(async () => {
      try {
        const dir = mkdtempSync(join(tmpdir(), 'soak-clip-'));
        const file = join(dir, 'clip.mp4');
        writeFileSync(file, Buffer.concat(packets.map((p) => p.data)));
        const v = summarizeVideo(await probe(file, { frames: true, timeoutMs: 30_000 }).finally(() => rmSync(dir, { recursive: true, force: true })));
        record.valid = v.codec === 'h264' && v.frames > 0 && v.firstFrameIsKey;
        record.durationMs = Math.round(v.frames * 1000 / 15);
        if (!record.valid) {
          problems.push(`ffprobe: ${JSON.stringify(v)}`);
        }
      } catch (err) {
        problems.push(`ffprobe failed: ${(err as Error).message.slice(0, 200)}`);
      }
    });
    probes = job;
    await job;
  }
  if (problems.length) {
    record.problem = problems.join('; ');
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The run

class Soak {
  /** One PRNG per loop, so each loop's choices repeat with the seed whatever the others do. */
  readonly rng: Rng;
  readonly motionRng: Rng;
  readonly viewerRngs: Rng[];
  readonly cams: Cam[] = [];
  ctl!: HapClient;
  viewerHap!: HapClient;
  hb!: HomebridgeProcess;
  sim!: CameraSim;
  private readonly arrivals = new Map<number, number>();
  paused = false;
  stopping = false;
  deadline = 0;
  readonly samples: TreeSample[] = [];
  readonly cpu = new TreeCpu();
  private readonly bursts = new Set<Promise<void>>();
  activeViewers = 0;

  constructor(readonly o: Options) {
    this.rng = new Rng(o.seed);
    this.motionRng = new Rng(o.seed * 31 + 1);
    this.viewerRngs = Array.from({ length: VIEWERS }, (_, i) => new Rng(o.seed * 31 + 2 + i));
  }

  cam(name: string): Cam {
    return this.cams.find((c) => c.plan.name === name) as Cam;
  }

  async setUp(): Promise<void> {
    this.sim = await startSim({
      cameras: CAMERAS.map((c) => ({ name: c.name, vendor: c.vendor, clockSkewMs: c.clockSkewMs, soapAuth: c.soapAuth, gop: c.gop })),
    });
    const links: CameraLink[] = [];
    for (const simCam of this.sim.cameras) {
      const link = new CameraLink(simCam.port);
      await link.start();
      track({ label: `camera link for ${simCam.name}`, stop: () => link.stop() });
      links.push(link);
    }
    this.hb = await startHomebridge({
      line: this.o.line,
      startupTimeoutMs: START_TIMEOUT_MS,
      platforms: [platformConfigFor(this.sim, {
        cameras: CAMERAS.map((c, i) => ({ port: links[i].onvifPort, motionHoldSeconds: HOLD_S, maxStreams: MAX_STREAMS, prebufferSeconds: PREBUFFER_S, doorbell: c.doorbell ?? false })),
      })],
    });
    this.ctl = await pairWith(this.hb);
    this.ctl.onEvent((e) => this.arrivals.set(e.seq, Date.now()));
    this.viewerHap = this.ctl.fork();
    const list = await this.ctl.waitForAccessories((l) => CAMERAS.every((c) => l.byName(c.name)?.service(ServiceType.CameraRecordingManagement) !== undefined),
      { timeoutMs: START_TIMEOUT_MS, what: 'all eight cameras with HKSV' });
    for (const [i, plan] of CAMERAS.entries()) {
      const a = list.requireByName(plan.name);
      const sensor = a.servicesOfType(ServiceType.MotionSensor)[0];
      const motion = sensor.requireCharacteristic(CharacteristicType.MotionDetected);
      const status = sensor.characteristic(CharacteristicType.StatusActive);
      const bell = plan.doorbell ? a.service(ServiceType.Doorbell)?.requireCharacteristic(CharacteristicType.ProgrammableSwitchEvent) : undefined;
      this.cams.push({
        plan, sim: this.sim.cameras[i], link: links[i], aid: a.aid,
        motion: { aid: a.aid, iid: motion.iid },
        bell: bell ? { aid: a.aid, iid: bell.iid } : undefined,
        statusActive: status ? { aid: a.aid, iid: status.iid } : undefined,
        streamServices: a.servicesOfType(ServiceType.CameraRTPStreamManagement).length,
        viewing: new Set(), busy: false, faulted: false,
      });
    }
    await this.subscribeAll();
    for (const cam of this.cams) {
      cam.hub = await Hub.start(this.ctl, cam, true, this.o.small);
    }
    say(`set up: ${this.cams.length} cameras, ${this.cams.map((c) => c.streamServices).join('/')} stream services; hubs recording; settling ${SETTLE_MS / 1000} s`);
  }

  async subscribeAll(): Promise<void> {
    await this.ctl.subscribe(this.cams.flatMap((c) => [c.motion, ...(c.bell ? [c.bell] : []), ...(c.statusActive ? [c.statusActive] : [])]));
  }

  sample(): void {
    this.samples.push(sampleTree(this.hb.pid));
    this.cpu.sample(this.hb.pid);
  }

  eligible(): Cam[] {
    return this.cams.filter((c) => !c.busy && !c.faulted && c.hub?.idle);
  }

  /** Waits for a HAP event at the controller after `afterSeq`; the arrival time, or undefined on timeout. */
  async hapEvent(ref: CharacteristicRef, accept: (v: unknown) => boolean, afterSeq: number, timeoutMs = EVENT_TIMEOUT_MS): Promise<number | undefined> {
    try {
      const e = await this.ctl.waitForEvent((ev) => ev.aid === ref.aid && ev.iid === ref.iid && accept(ev.value), timeoutMs, afterSeq);
      return this.arrivals.get(e.seq) ?? Date.now();
    } catch {
      return undefined;
    }
  }

  /** Motion on, held, off, and the sensor back to off: one event injected, one expected at the controller. */
  async motionBurst(cam: Cam, holdMs: number, why: string): Promise<EventRecord> {
    cam.busy = true;
    try {
      if (cam.hub) {
        cam.hub.tag = why;
      }
      const seq = this.ctl.lastEventSeq();
      const ev = cam.sim.motion(true);
      const record: EventRecord = { kind: 'motion', camera: cam.plan.name, at: ev.at, why };
      events.push(record);
      const arrived = await this.hapEvent(cam.motion, (v) => v === true || v === 1, seq);
      if (arrived === undefined) {
        record.lost = true;
      } else {
        record.latencyMs = arrived - ev.at;
      }
      await sleep(holdMs);
      const offSeq = this.ctl.lastEventSeq();
      cam.sim.motion(false);
      await this.hapEvent(cam.motion, (v) => v === false || v === 0, offSeq, HOLD_S * 1000 + EVENT_TIMEOUT_MS);
      return record;
    } finally {
      cam.busy = false;
      if (cam.hub) {
        cam.hub.tag = 'motion';
      }
    }
  }

  async ring(cam: Cam): Promise<void> {
    cam.busy = true;
    if (cam.hub) {
      cam.hub.tag = 'doorbell';
    }
    try {
      const seq = this.ctl.lastEventSeq();
      const ev = cam.sim.doorbell();
      const record: EventRecord = { kind: 'doorbell', camera: cam.plan.name, at: ev.at, why: 'doorbell' };
      events.push(record);
      const arrived = await this.hapEvent(cam.bell as CharacteristicRef, (v) => v === 0, seq);
      if (arrived === undefined) {
        record.lost = true;
      } else {
        record.latencyMs = arrived - ev.at;
      }
      // The ring sets motion too (so the hub records): wait for it to be over before the camera takes more.
      const on = await this.hapEvent(cam.motion, (v) => v === true || v === 1, seq, 5_000);
      if (on !== undefined) {
        await this.hapEvent(cam.motion, (v) => v === false || v === 0, seq, HOLD_S * 1000 + EVENT_TIMEOUT_MS);
      }
    } finally {
      cam.busy = false;
      if (cam.hub) {
        cam.hub.tag = 'motion';
      }
    }
  }

  running(): boolean {
    return !this.stopping && Date.now() < this.deadline;
  }

  async motionLoop(): Promise<void> {
    while (this.running()) {
      await sleep(this.motionRng.int(2_000, 9_000));
      if (this.paused || !this.running()) {
        continue;
      }
      const free = this.eligible();
      if (free.length === 0) {
        continue;
      }
      const cam = this.motionRng.pick(free);
      const burst = this.motionBurst(cam, this.motionRng.int(1_000, 6_000), 'motion').then(() => undefined);
      this.bursts.add(burst);
      void burst.finally(() => this.bursts.delete(burst));
    }
    await Promise.all([...this.bursts]);
  }

  async doorbellLoop(): Promise<void> {
    const bells = this.cams.filter((c) => c.plan.doorbell);
    let n = 0;
    let next = Date.now() + DOORBELL_EVERY_MS / 2;
    while (this.running()) {
      await sleep(Math.max(0, Math.min(next, this.deadline) - Date.now()));
      if (!this.running()) {
        break;
      }
      next += DOORBELL_EVERY_MS;
      const cam = bells[n++ % bells.length];
      // The camera may be in a motion burst: wait for it (bounded), as a visitor would ring anyway after it.
      const until = Date.now() + 20_000;
      while ((cam.busy || this.paused || !cam.hub?.idle) && Date.now() < until) {
        await sleep(250);
      }
      if (cam.busy || this.paused || cam.faulted) {
        notes.push(`a ring at ${cam.plan.name} was skipped at ${clock()}: the camera was busy for 20 s`);
        continue;
      }
      await this.ring(cam);
    }
  }

  async viewerLoop(index: number): Promise<void> {
    const sizes = [{ width: 1280, height: 720, fps: 15 }, { width: 640, height: 360, fps: 15 }, { width: 1920, height: 1080, fps: 15 }];
    const rng = this.viewerRngs[index];
    await sleep(rng.int(0, 8_000));
    while (this.running()) {
      if (this.paused) {
        await sleep(500);
        continue;
      }
      const free = this.cams.filter((c) => !c.faulted && c.viewing.size < c.streamServices);
      if (free.length === 0) {
        await sleep(1000);
        continue;
      }
      const cam = rng.pick(free);
      const size = rng.pick(sizes);
      await this.view(cam, size, rng.int(4_000, 30_000), `viewer ${index + 1}`);
      await sleep(rng.int(1_000, 8_000));
    }
  }

  /** One viewer: setup, start, first decodable keyframe, watch, end. */
  async view(cam: Cam, size: { width: number; height: number; fps: number }, watchMs: number, why: string,
    during?: (session: StreamSession) => Promise<void>): Promise<StreamRecord> {
    const slot = [...Array(cam.streamServices).keys()].find((i) => !cam.viewing.has(i)) ?? 0;
    cam.viewing.add(slot);
    this.activeViewers++;
    const record: StreamRecord = { camera: cam.plan.name, size: `${size.width}x${size.height}`, ok: false, decoded: false, why };
    streams.push(record);
    let session: StreamSession | undefined;
    try {
      const client = await CameraStreamClient.open(this.viewerHap, cam.aid, { streamIndex: slot });
      session = await client.setup();
      if (!session.ok) {
        record.error = `SetupEndpoints status ${session.answer.status}`;
        return record;
      }
      const started = Date.now();
      await session.start({ video: size });
      record.ok = true;
      await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
      record.decoded = true;
      record.keyframeMs = Date.now() - started;
      if (during) {
        await during(session);
      } else {
        const until = Date.now() + watchMs;
        while (Date.now() < until && this.running() && !this.paused && !cam.faulted) {
          await sleep(500);
        }
      }
    } catch (err) {
      record.error = (err as Error).message.slice(0, 300);
    } finally {
      await withTimeout(session?.close() ?? Promise.resolve(), 10_000, 'viewer close').catch(() => undefined);
      cam.viewing.delete(slot);
      this.activeViewers--;
    }
    return record;
  }

  // ---- faults ------------------------------------------------------------------------------------------------

  async takeCamera(cam: Cam): Promise<void> {
    cam.faulted = true;
    const until = Date.now() + 30_000;
    while ((cam.busy || !cam.hub?.idle || cam.viewing.size > 0) && Date.now() < until) {
      await sleep(250);
    }
  }

  /**
   * Until the plugin pulls events from the camera again: a PullMessages that arrived after `since` (counted from the
   * simulator's figures read at that moment, `pullsAt`), on a subscription created after `createdBefore` if given. A
   * pull is a long-poll (30 s), so the first new one is the moment the plugin is back.
   */
  async recovered(cam: Cam, since: number, pullsAt: number, createdBefore?: number): Promise<number | undefined> {
    const deadline = Date.now() + RECOVERY_TIMEOUT_MS;
    while (Date.now() < deadline && !this.stopping) {
      const s = cam.sim.stats();
      if (s.subscriptions >= 1 && s.pulls > pullsAt && (createdBefore === undefined || s.created > createdBefore)) {
        return Date.now() - since;
      }
      await sleep(250);
    }
    return undefined;
  }

  async statusActive(cam: Cam): Promise<unknown> {
    return cam.statusActive ? this.ctl.readValue(cam.statusActive).catch((err: Error) => `read failed: ${err.message}`) : 'n/a';
  }

  async linkDown(cam: Cam, mode: LinkMode, name: string): Promise<FaultRecord> {
    await this.takeCamera(cam);
    const at = Date.now();
    await cam.link.setMode(mode);
    await sleep(OFFLINE_MS - 5_000);
    const status = await this.statusActive(cam);
    await sleep(5_000);
    const pullsAt = cam.sim.stats().pulls;
    await cam.link.setMode('up');
    const back = Date.now();
    const recoveryMs = await this.recovered(cam, back, pullsAt);
    const statusAfter = await this.statusActive(cam);
    const check = recoveryMs === undefined ? undefined : await this.motionBurst(cam, 1_000, `after ${name}`);
    await verdict(cam.plan.name, `after ${name}`);
    cam.faulted = false;
    const ok = recoveryMs !== undefined && (status === false || status === 0) && (statusAfter === true || statusAfter === 1) && check?.latencyMs !== undefined;
    return { at, name, ok, outcome: `StatusActive ${String(status)} while down, ${String(statusAfter)} after; events pulled again ${recoveryMs === undefined ? 'NEVER (bound ' + RECOVERY_TIMEOUT_MS / 1000 + ' s)' : (recoveryMs / 1000).toFixed(1) + ' s'} after it came back; next motion ${check?.latencyMs === undefined ? 'NOT delivered' : 'delivered in ' + check.latencyMs + ' ms'}` };
  }

  async reboot(cam: Cam): Promise<FaultRecord> {
    await this.takeCamera(cam);
    const at = Date.now();
    const createdBefore = cam.sim.stats().created;
    const rtspBefore = cam.link.rtspConnections;
    await cam.link.setMode('refuse');
    await cam.sim.restart(); // subscriptions and states forgotten
    await sleep(REBOOT_MS);
    const pullsAt = cam.sim.stats().pulls;
    await cam.link.setMode('up');
    const back = Date.now();
    const recoveryMs = await this.recovered(cam, back, pullsAt, createdBefore);
    // The hub's prebuffer reads the camera again: a new RTSP session.
    const until = Date.now() + 60_000;
    while (cam.link.rtspConnections === rtspBefore && Date.now() < until) {
      await sleep(250);
    }
    const rtspAgain = cam.link.rtspConnections > rtspBefore;
    const check = recoveryMs === undefined ? undefined : await this.motionBurst(cam, 1_000, 'after reboot');
    const rec = await verdict(cam.plan.name, 'after reboot');
    cam.faulted = false;
    return {
      at, name: `camera reboot (${cam.plan.name}: ${REBOOT_MS / 1000} s down, subscriptions gone)`,
      ok: recoveryMs !== undefined && rtspAgain && check?.latencyMs !== undefined && rec?.valid === true,
      outcome: `new subscription and pulls ${recoveryMs === undefined ? 'NEVER' : (recoveryMs / 1000).toFixed(1) + ' s'} after it was back; new RTSP session: ${rtspAgain ? 'yes' : 'NO'}; `
        + `next motion ${check?.latencyMs === undefined ? 'NOT delivered' : check.latencyMs + ' ms'}, its recording ${rec ? (rec.valid ? 'valid' : 'INVALID: ' + rec.problem) : 'NOT requested'}`,
    };
  }

  private ffmpegs(filter: (cmd: string) => boolean): { pid: number; cmdline: string }[] {
    return this.hb.pid === undefined ? [] : descendantsOf(this.hb.pid).filter((p) => isFfmpeg(p) && filter(p.cmdline));
  }

  /**
   * Copied live view is sent by the plugin itself; the one process a viewer depends on is its camera's live sound
   * encoder (live-audio.ts, shared by every listener of that camera). Killed, the picture must go on and the sound come
   * back from a restarted encoder.
   */
  async killViewerFfmpeg(): Promise<FaultRecord> {
    const cam = this.rng.pick(this.cams.filter((c) => !c.faulted && c.viewing.size < c.streamServices));
    const at = Date.now();
    let outcome = '';
    let ok = false;
    const encoders = (): Set<number> => new Set(this.ffmpegs((c) => c.includes(' rtp://') && !c.includes('srtp')).map((p) => p.pid));
    const before = encoders();
    const rec = await this.view(cam, { width: 1280, height: 720, fps: 15 }, 0, 'fault: its sound encoder killed', async (session) => {
      await session.waitForPackets(10, 10_000, 'audio').catch(() => undefined);
      const now = encoders();
      const mine = [...now].filter((pid) => !before.has(pid));
      const victims = mine.length ? mine : [...now]; // the camera's encoder was already running for another listener
      if (victims.length === 0) {
        outcome = 'no live sound encoder found for the viewer';
        return;
      }
      victims.forEach((pid) => process.kill(pid, 'SIGKILL'));
      const killedAt = streamNow();
      await sleep(2_000);
      const videoAfter = session.packetsSince(killedAt + 1_000, 'video');
      const audioBack = await session.waitForPackets(1, 10_000, 'audio', killedAt + 1_000).then(() => true, () => false);
      outcome = `${victims.length} encoder(s) killed; video ${videoAfter > 0 ? 'went on' : 'STOPPED'}, sound ` +
        `${audioBack ? 'came back from a restarted encoder' : 'did NOT come back within 10 s'}`;
      ok = videoAfter > 0 && audioBack;
    });
    const after = await this.view(cam, { width: 1280, height: 720, fps: 15 }, 3_000, 'after a killed sound encoder');
    ok = ok && rec.decoded && after.decoded;
    return { at, name: `live sound encoder killed (${cam.plan.name})`, ok, outcome: `${outcome}; next viewer ${after.decoded ? 'decoded in ' + after.keyframeMs + ' ms' : 'FAILED: ' + after.error}` };
  }

  async killRecordingFfmpeg(): Promise<FaultRecord> {
    const cam = this.rng.pick(this.cams.filter((c) => !c.faulted && !c.plan.doorbell && c.plan.gop === undefined));
    await this.takeCamera(cam);
    const at = Date.now();
    let outcome = '';
    const before = new Set(this.ffmpegs(() => true).map((p) => p.pid));
    const burst = this.motionBurst(cam, 12_000, 'fault: recording ffmpeg killed');
    const stream = await (async () => {
      const until = Date.now() + 15_000;
      while (Date.now() < until) {
        const s = cam.hub?.recording;
        if (s && s.fragments().length >= 1) {
          return s;
        }
        await sleep(100);
      }
      return undefined;
    })();
    if (!stream) {
      outcome = 'no recording fragment within 15 s of the motion';
    } else {
      const fresh = this.ffmpegs(() => true).filter((p) => !before.has(p.pid));
      const remux = fresh.filter((p) => p.cmdline.includes('frag_keyframe') || p.cmdline.includes('-f adts'));
      const source = this.ffmpegs((c) => c.includes(`:${cam.link.rtspPort}/`));
      const victim = remux[0] ?? source[0];
      const fragmentsAtKill = stream.fragments().length;
      let which = '';
      if (victim) {
        which = remux[0] ? "the recording's own ffmpeg" : "the camera read's ffmpeg (the copied recording has none of its own)";
        process.kill(victim.pid, 'SIGKILL');
      } else {
        // Read and muxed in the plugin without a process: the nearest fault is the camera dropping the stream.
        which = `no ffmpeg serves it, so the camera dropped its stream instead (${cam.link.cutRtsp()} RTSP connection(s) cut)`;
      }
      await sleep(8_000);
      outcome = `${victim ? 'killed ' : ''}${which} after ${fragmentsAtKill} fragment(s); 8 s later: ${stream.fragments().length} fragments, `
        + (stream.closedByAccessory ? `closed by the accessory (reason ${stream.closedByAccessory.reason})` : 'still open')
        + (stream.ended ? ', ended with isLast' : '');
    }
    await burst;
    const rec = await verdict(cam.plan.name, 'fault: recording ffmpeg killed');
    const next = await this.motionBurst(cam, 2_000, 'after a killed recording ffmpeg');
    const nextRec = await verdict(cam.plan.name, 'after a killed recording ffmpeg');
    cam.faulted = false;
    const ok = next.latencyMs !== undefined && nextRec?.valid === true;
    return { at, name: `ffmpeg killed under a running recording (${cam.plan.name})`, ok,
      outcome: `${outcome}; that clip ${rec ? (rec.complete ? 'complete' : 'incomplete') + (rec.valid ? ', valid' : ', not valid') + (rec.problem ? ` (${rec.problem})` : '') : 'not requested'}; `
        + `next clip ${nextRec ? (nextRec.valid ? 'valid' : 'INVALID: ' + nextRec.problem) : 'NOT requested'}` };
  }

  /**
   * The camera read's ffmpeg dies under a viewer (and the prebuffer): by design the viewer's stream is ended cleanly and
   * HomeKit told (as when the camera drops the stream), and the read starts again (backoff from 1 s): a new viewer decodes.
   */
  async killSourceFfmpeg(): Promise<FaultRecord> {
    const cam = this.rng.pick(this.cams.filter((c) => !c.faulted && c.viewing.size < c.streamServices));
    await this.takeCamera(cam);
    const at = Date.now();
    let outcome = '';
    let stopped = false;
    const rtspBefore = cam.link.rtspConnections;
    await this.view(cam, { width: 1280, height: 720, fps: 15 }, 0, 'fault: camera read ffmpeg killed', async (session) => {
      const source = this.ffmpegs((c) => c.includes(`:${cam.link.rtspPort}/`));
      for (const p of source) {
        process.kill(p.pid, 'SIGKILL');
      }
      // Read in the plugin there is no process to kill: the camera drops the stream instead.
      const what = source.length ? `killed ${source.length} camera-read ffmpeg(s)` : `the camera dropped its stream (${cam.link.cutRtsp()} RTSP connection(s) cut; read in the plugin)`;
      const killedAt = performance.now();
      const quietAt = await session.waitForSilence(1_000, 10_000).catch(() => undefined);
      stopped = quietAt !== undefined;
      outcome = `${what} under a viewer and the prebuffer; the viewer's stream `
        + (stopped ? `ended ${Math.max(0, Math.round((quietAt as number) - killedAt))} ms later` : 'did NOT end within 10 s');
    });
    const until = Date.now() + 30_000;
    while (cam.link.rtspConnections === rtspBefore && Date.now() < until) {
      await sleep(250);
    }
    const again = await this.view(cam, { width: 1280, height: 720, fps: 15 }, 2_000, 'after a killed camera-read ffmpeg');
    cam.faulted = false;
    return {
      at, name: `camera-read ffmpeg killed under a live stream (${cam.plan.name})`, ok: stopped && again.decoded,
      outcome: `${outcome}; camera read again: ${cam.link.rtspConnections > rtspBefore ? 'yes' : 'NO'}; next viewer ${again.decoded ? `decoded in ${again.keyframeMs} ms` : `FAILED: ${again.error}`}`,
    };
  }

  async vanishingViewer(): Promise<FaultRecord> {
    const cam = this.rng.pick(this.cams.filter((c) => !c.faulted && c.viewing.size < c.streamServices));
    const at = Date.now();
    const gone = this.ctl.fork();
    const slot = [...Array(cam.streamServices).keys()].find((i) => !cam.viewing.has(i)) ?? 0;
    cam.viewing.add(slot);
    let outcome = '';
    let ok = false;
    try {
      const client = await CameraStreamClient.open(gone, cam.aid, { streamIndex: slot });
      const session = await client.setup();
      await session.start({ video: { width: 1280, height: 720, fps: 15 } });
      await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
      const mine = this.ffmpegs((c) => c.includes('srtp') && c.includes(`:${session.video.port}`));
      // Gone without a word (out of Wi-Fi range): no more RTCP, no END; its HAP connection is left as it is (a phone that
      // vanished sends no FIN), so only the plugin's RTCP watch can notice.
      session.pauseRtcp();
      const goneAt = performance.now();
      const quietAt = await session.waitForSilence(1_000, 20_000).catch(() => undefined);
      await sleep(1_000);
      const left = mine.filter((p) => this.ffmpegs(() => true).some((q) => q.pid === p.pid));
      ok = quietAt !== undefined && left.length === 0;
      outcome = `${quietAt === undefined ? 'video still sent 20 s later' : `stream stopped ${Math.round(quietAt - goneAt)} ms after the viewer's RTCP stopped`}; its ffmpeg ${left.length === 0 ? 'gone' : 'STILL RUNNING'}`;
      await gone.close();
      await session.close();
    } catch (err) {
      outcome = `failed: ${(err as Error).message}`;
    } finally {
      cam.viewing.delete(slot);
    }
    return { at, name: `a viewer vanishing without stop (${cam.plan.name})`, ok, outcome };
  }

  async restartHomebridge(): Promise<FaultRecord> {
    this.paused = true;
    const until = Date.now() + 40_000;
    while ((this.cams.some((c) => c.busy || !c.hub?.idle) || this.activeViewers > 0) && Date.now() < until) {
      await sleep(250);
    }
    for (const cam of this.cams) {
      cam.faulted = true;
    }
    const at = Date.now();
    const createdBefore = this.cams.map((c) => c.sim.stats().created);
    const report = await this.hb.stop();
    const subsLeft = this.cams.reduce((n, c) => n + c.sim.stats().subscriptions, 0);
    this.sample();
    const restartedAt = Date.now();
    const pullsAtRestart = this.cams.map((c) => c.sim.stats().pulls);
    const recovering = Promise.all(this.cams.map((c, i) => this.recovered(c, restartedAt, pullsAtRestart[i], createdBefore[i])));
    await this.hb.restart();
    const upMs = Date.now() - restartedAt;
    await this.ctl.reconnect();
    await this.viewerHap.reconnect();
    await this.ctl.waitForAccessories((l) => CAMERAS.every((c) => l.byName(c.name)?.service(ServiceType.CameraRecordingManagement) !== undefined),
      { timeoutMs: START_TIMEOUT_MS, what: 'all cameras after the restart' });
    await this.subscribeAll();
    const kept: string[] = [];
    let hubFailures = 0;
    for (const cam of this.cams) {
      await cam.hub?.close();
      cam.hub = undefined;
    }
    for (const cam of this.cams) {
      // A hub reconnects; it does not configure the camera again: recording must still be on from before the restart.
      // A hub retries a data stream setup that failed; each failure is reported.
      for (let attempt = 1; !cam.hub; attempt++) {
        try {
          cam.hub = await Hub.start(this.ctl, cam, false, this.o.small);
        } catch (err) {
          const line = `after the Homebridge restart, ${cam.plan.name}: the hub's attempt ${attempt} (${((Date.now() - restartedAt) / 1000).toFixed(1)} s after the restart) failed: ${(err as Error).message}`;
          notes.push(line);
          say(line);
          hubFailures++;
          if (attempt >= 5) {
            throw err;
          }
          await sleep(2_000);
        }
      }
      const active = await cam.hub.hub.hap.readValue(cam.hub.hub.characteristics.recordingActive).catch(() => undefined);
      const selected = await cam.hub.hub.readSelectedConfiguration().then(() => true, () => false);
      if (!(active === 1 || active === true) || !selected) {
        kept.push(`${cam.plan.name}: RecordingActive ${String(active)}, configuration ${selected ? 'kept' : 'LOST'}`);
      }
    }
    const recoveries = await recovering;
    for (const cam of this.cams) {
      cam.faulted = false;
    }
    this.paused = false;
    const slowest = Math.max(...recoveries.map((r) => r ?? Infinity));
    const ok = report.leftovers.length === 0 && kept.length === 0 && Number.isFinite(slowest) && subsLeft === 0 && hubFailures === 0;
    return {
      at, name: 'Homebridge restart', ok,
      outcome: `stopped ${report.forced ? 'only with SIGKILL' : 'on SIGTERM'}, ${report.leftovers.length} process(es) left behind, `
        + `${subsLeft} ONVIF subscription(s) left at the cameras; HAP up ${(upMs / 1000).toFixed(1)} s after start; `
        + `${hubFailures} data stream setup(s) by the reconnecting hubs failed; `
        + `${kept.length === 0 ? 'recording on and configuration kept on all 8' : kept.join('; ')}; events pulled from every camera `
        + `${Number.isFinite(slowest) ? 'within ' + (slowest / 1000).toFixed(1) + ' s of the restart' : 'NOT from all'} `
        + `(${this.cams.map((c, i) => `${c.plan.name} ${recoveries[i] === undefined ? 'never' : ((recoveries[i] as number) / 1000).toFixed(1) + ' s'}`).join(', ')})`,
    };
  }

  async faultSchedule(): Promise<void> {
    const D = this.deadline - Date.now();
    const plan: [number, string, () => Promise<FaultRecord>][] = [
      [0.08, 'camera offline, refusing', () => this.linkDown(this.cam(OFFLINE_CAMERA), 'refuse', `camera offline ${OFFLINE_MS / 1000} s, refusing (${OFFLINE_CAMERA})`)],
      [0.17, 'live sound encoder killed', () => this.killViewerFfmpeg()],
      [0.25, 'camera reboot', () => this.reboot(this.cam(REBOOT_CAMERA))],
      [0.34, 'recording ffmpeg killed', () => this.killRecordingFfmpeg()],
      [0.42, 'viewer vanishes', () => this.vanishingViewer()],
      [0.50, 'Homebridge restart', () => this.restartHomebridge()],
      [0.62, 'camera black-holed', () => this.linkDown(this.cam(BLACKHOLE_CAMERA), 'blackhole', `camera offline ${OFFLINE_MS / 1000} s, black-holed (${BLACKHOLE_CAMERA})`)],
      [0.74, 'camera read ffmpeg killed', () => this.killSourceFfmpeg()],
    ];
    const start = Date.now();
    for (const [at, label, run] of plan) {
      await sleep(Math.max(0, start + at * D - Date.now()));
      if (!this.running()) {
        notes.push(`fault "${label}" not reached before the deadline`);
        continue;
      }
      say(`fault: ${label}`);
      const record = await run().catch((err: Error): FaultRecord => ({ at: Date.now(), name: label, ok: false, outcome: `failed: ${err.message}` }));
      faults.push(record);
      say(`  ${record.ok ? 'ok' : 'NOT OK'}: ${record.name}: ${record.outcome}`);
    }
  }

  async run(): Promise<void> {
    this.deadline = Date.now() + this.o.minutes * 60_000;
    await Promise.all([
      this.motionLoop(),
      this.doorbellLoop(),
      this.faultSchedule(),
      ...Array.from({ length: VIEWERS }, (_, i) => this.viewerLoop(i)),
    ]);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report

const options = parse(process.argv.slice(2));

async function main(): Promise<void> {
  const o = options;
  const command = `npm run soak -- ${process.argv.slice(2).join(' ')}`.replace(/ -- $/, '');
  const soak = new Soak(o);
  await soak.setUp();
  await sleep(SETTLE_MS);
  const startSample = sampleTree(soak.hb.pid);
  soak.sample();
  const cpuStart = soak.cpu.seconds;
  const runStart = Date.now();
  const sampler = setInterval(() => soak.sample(), 2_000);
  const lagWatch = watchLag();
  say(`start: Homebridge tree ${mb(startSample.treeRssKb)} MB RSS (node ${mb(startSample.nodeRssKb)}), ${startSample.ffmpegs} ffmpeg, ${startSample.nodeFds} fds (tree ${startSample.treeFds}); running ${o.minutes} min, seed ${o.seed}`);
  try {
    await soak.run();
  } finally {
    soak.stopping = true;
  }
  say('run over: waiting for recordings to finish and sources to go idle');
  await Promise.all(soak.cams.map((c) => c.hub?.drain(30_000)));
  await probes;
  await sleep(END_QUIET_MS);
  soak.sample();
  clearInterval(sampler);
  clearInterval(lagWatch);
  const runSeconds = (Date.now() - runStart) / 1000;
  const cpuSeconds = soak.cpu.seconds - cpuStart;
  const endSample = sampleTree(soak.hb.pid);
  const crashLines = soak.hb.log.matchingLines(/uncaught|unhandled|TypeError|ReferenceError|RangeError|programming error|still awaiting generator|without setting RecordingPacket/i);
  const errorLines = soak.hb.log.matchingLines(/\berror\b/i).length;
  const subsBeforeStop = soak.cams.map((c) => c.sim.stats().subscriptions);
  const created = soak.cams.map((c) => c.sim.stats().created);
  for (const cam of soak.cams) {
    await cam.hub?.close();
  }
  const stopReport = await soak.hb.stop();
  // Homebridge's log (passwords redacted by the plugin) for post-mortem; its storage, with the config, is removed.
  const keptLog = join(tmpdir(), `courtyard-soak-homebridge-${process.pid}.log`);
  copyFileSync(soak.hb.logFile, keptLog);
  console.log(`Homebridge's log: ${keptLog}`);
  const subsLeft = soak.cams.map((c) => c.sim.stats().subscriptions);
  const leftover = descendantsOf(process.pid).filter((p) => isFfmpeg(p) || /homebridge/.test(p.cmdline));

  // ---- figures
  const delivered = events.filter((e) => e.latencyMs !== undefined);
  const lat = delivered.map((e) => e.latencyMs as number);
  const motion = events.filter((e) => e.kind === 'motion');
  const bells = events.filter((e) => e.kind === 'doorbell');
  const complete = recordings.filter((r) => r.complete);
  const valid = recordings.filter((r) => r.valid);
  const decoded = streams.filter((s) => s.decoded);
  const kf = decoded.map((s) => s.keyframeMs as number);
  const peak = soak.samples.reduce((m, s) => (s.treeRssKb > m.treeRssKb ? s : m), startSample);
  const peakNode = Math.max(...soak.samples.map((s) => s.nodeRssKb));
  const rows: [string, string][] = [
    ['events injected → delivered to the HAP controller', `${events.length} → ${delivered.length} (motion ${motion.length} → ${motion.filter((e) => e.latencyMs !== undefined).length}, doorbell rings ${bells.length} → ${bells.filter((e) => e.latencyMs !== undefined).length})`],
    ['event latency camera → HAP controller, p50 / p95 / max', `${percentile(lat, 50)} / ${percentile(lat, 95)} / ${Math.max(...lat)} ms`],
    ['recordings requested by the hubs → complete → valid', `${recordings.length} → ${complete.length} → ${valid.length}`],
    ['live stream starts attempted → first keyframe decodable', `${streams.length} → ${decoded.length} (START → keyframe p50 ${percentile(kf, 50)} ms, p95 ${percentile(kf, 95)} ms)`],
    ['faults injected → handled', `${faults.length} → ${faults.filter((f) => f.ok).length}`],
    ['Homebridge tree RSS: start / peak / final', `${mb(startSample.treeRssKb)} / ${mb(peak.treeRssKb)} / ${mb(endSample.treeRssKb)} MB (Homebridge's node alone: ${mb(startSample.nodeRssKb)} / ${mb(peakNode)} / ${mb(endSample.nodeRssKb)} MB)`],
    ['CPU of the Homebridge tree over the run', `${(cpuSeconds / runSeconds * 100).toFixed(1)} % of one core (${cpuSeconds.toFixed(0)} s in ${runSeconds.toFixed(0)} s)`],
    ['ffmpeg processes: start / end / after stop', `${startSample.ffmpegs} / ${endSample.ffmpegs} / ${stopReport.leftovers.filter(isFfmpeg).length}`],
    ['open fds of Homebridge (node / whole tree): start / end', `${startSample.nodeFds} / ${endSample.nodeFds} (tree ${startSample.treeFds} / ${endSample.treeFds})`],
    ['ONVIF subscriptions at the cameras before stop (one per camera is right) / after stop', `${subsBeforeStop.reduce((a, b) => a + b, 0)} (${subsBeforeStop.join(', ')}) / ${subsLeft.reduce((a, b) => a + b, 0)} (${subsLeft.join(', ')}); created over the run: ${created.join(', ')}`],
    ['processes left after stop', `${stopReport.leftovers.length + leftover.length}${stopReport.forced ? ' (Homebridge needed SIGKILL)' : ''}`],
    ['Homebridge log: crash-class lines / lines with "error"', `${crashLines.length} / ${errorLines}`],
  ];
  const perCamera = CAMERAS.map((c) => {
    const l = events.filter((e) => e.camera === c.name && e.latencyMs !== undefined).map((e) => e.latencyMs as number);
    return `${c.name} ${percentile(l, 50)}/${percentile(l, 95)}/${l.length ? Math.max(...l) : NaN} ms (n ${l.length})`;
  });
  notes.push(`event latency p50/p95/max per camera: ${perCamera.join('; ')}`);
  const slow = delivered.filter((e) => (e.latencyMs as number) > 250);
  if (slow.length) {
    notes.push(`events slower than 250 ms: ${slow.map((e) => `${e.camera} ${e.latencyMs} ms at ${((e.at - runStart) / 1000).toFixed(0)} s (this process's own loop lag then: ${lagAfter(e.at)} ms)`).join('; ')}`);
  }
  const lagMs = lags.map((l) => l.ms);
  notes.push(`this process (simulator, camera links, HAP controller, hubs, viewers) event-loop lag per second: p50 ${percentile(lagMs, 50)} ms, p99 ${percentile(lagMs, 99)} ms, max ${Math.max(0, ...lagMs)} ms`);
  const recPerCamera = CAMERAS.map((c) => {
    const r = recordings.filter((x) => x.camera === c.name && x.firstFragmentMs !== undefined).map((x) => x.firstFragmentMs as number);
    return `${c.name} ${percentile(r, 50)}/${r.length ? Math.max(...r) : NaN} ms (n ${r.length})`;
  });
  notes.push(`hub's request → first whole fragment p50/max per camera: ${recPerCamera.join('; ')}`);
  const table = ['| figure | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
  const faultTable = ['| at | fault | handled | what happened |', '|---:|---|---|---|',
    ...faults.map((f) => `| ${((f.at - runStart) / 1000).toFixed(0)} s | ${f.name} | ${f.ok ? 'yes' : '**no**'} | ${f.outcome.replace(/\|/g, '/')} |`)].join('\n');
  const bad = [
    ...events.filter((e) => e.lost).map((e) => `- event lost: ${e.kind} at ${e.camera} (${e.why}) ${((e.at - runStart) / 1000).toFixed(0)} s into the run`),
    ...recordings.filter((r) => !r.valid || !r.complete).map((r) => `- recording ${r.complete ? 'complete' : 'incomplete'}${r.valid ? '' : ', not valid'}: ${r.camera} (${r.why}) ${((r.requestedAt - runStart) / 1000).toFixed(0)} s: ${r.problem ?? '?'}`),
    ...streams.filter((s) => !s.decoded).map((s) => `- stream start not decoded: ${s.camera} ${s.size} (${s.why}): ${s.error ?? '?'}`),
    ...crashLines.slice(0, 10).map((l) => `- log: ${l.slice(0, 300)}`),
  ];
  console.log(`\n${table}\n\n${faultTable}\n`);
  if (bad.length) {
    console.log(`What went wrong:\n${bad.join('\n')}\n`);
  }
  console.log(`command: ${command}`);

  const date = new Date().toISOString().replace(/\.\d+Z$/, ' UTC').replace('T', ' ');
  const md = `# The courtyard day (soak)

Issue 12, item 1. Eight simulated cameras behind one real Homebridge ${soak.hb.launch.version}, for ${o.minutes} minutes, with
HKSV on for all, a hub-like HDS client recording every motion, a HAP controller subscribed to every motion sensor and
doorbell, ${VIEWERS} viewers coming and going, a doorbell ring every minute, motion bursts at random entrances and the faults below.

- Command: \`nice -n 10 ${command}\` (seed ${o.seed}: the same seed gives the same schedule and choices)
- Machine: ${machine()}; load average at the end ${loadavg().map((l) => l.toFixed(2)).join(' ')}
- Date: ${date}; code: ${gitDescribe()}
- Recording resolution the hubs select: ${o.small ? '640x360 (the cameras\' sub-streams; --small)' : '1920x1080 (the cameras\' main streams, 1080p15 H.264 2 Mbps + AAC)'}

| camera | what |
|---|---|
${CAMERAS.map((c) => `| ${c.name} | ${c.what} |`).join('\n')}

## Result

${table}

## Faults

${faultTable}

${bad.length ? `## What went wrong\n\n${bad.join('\n')}\n` : ''}What earlier runs found and what became of it: [soak-findings.md](soak-findings.md).

${notes.length ? `## Notes\n\n${notes.map((n) => `- ${n}`).join('\n')}\n` : ''}
## How it is measured

- **Events**: each motion burst is injected only at a camera whose motion sensor is off and that is not in a fault, so every
  injected event must become one MotionDetected=true at the controller (within ${EVENT_TIMEOUT_MS / 1000} s); a ring must become one
  ProgrammableSwitchEvent. Latency: the simulator publishing the event (PullPoint, long-poll) → the HAP EVENT at the controller.
  Events are not injected at a camera while it is offline, rebooting or recovering, nor during the Homebridge restart.
- **Recordings**: each hub (own HAP connection, HDS) opens a recording on every MotionDetected=true and closes it (NORMAL) 1 s after
  MotionDetected=false. Complete: init segment first, at least one fragment, no HDS protocol violation, not closed by the accessory
  with an error, connection not lost. Valid: ffprobe decodes H.264 from a keyframe.
- **Streams**: SetupEndpoints + START as the Home app, 1280x720 / 640x360 / 1920x1080 at 15 fps; decoded = a whole IDR access unit
  after SPS and PPS arrived over SRTP within ${KEYFRAME_TIMEOUT_MS / 1000} s.
- **Offline**: Homebridge reaches each camera through a link (bench/camera-link.ts) that rewrites the camera's URLs to itself;
  "refusing" closes its ONVIF and RTSP ports and cuts open connections, "black-holed" accepts connections and never answers and
  stalls open ones. A reboot: ports refused for ${REBOOT_MS / 1000} s, the camera forgets its subscriptions, RTSP sessions cut.
- **Memory, CPU, fds**: /proc of Homebridge's node process and every process under it (its ffmpegs), every 2 s; start = after
  ${SETTLE_MS / 1000} s of settling with all prebuffers running; end = ${END_QUIET_MS / 1000} s after the last viewer left and the last clip closed.
`;
  mkdirSync(join(__dirname, '..', '..', 'docs'), { recursive: true });
  // One page per Homebridge line: docs/soak.md (1.x) and docs/soak-hb2.md (2.x).
  const suffix = o.line === 2 ? '-hb2' : '';
  writeFileSync(join(__dirname, '..', '..', 'docs', `soak${suffix}.md`), md);
  mkdirSync(join(__dirname, '..', '..', 'bench', 'results'), { recursive: true });
  writeFileSync(join(__dirname, '..', '..', 'bench', 'results', `soak${suffix}.json`),
    `${JSON.stringify({ command, options: o, rows, faults, events, recordings, streams, notes, samples: soak.samples, startSample, endSample }, null, 1)}\n`);
  console.log(`wrote docs/soak${suffix}.md and bench/results/soak${suffix}.json`);
}

// Set-up, the run, the drain and the stop together stay well within the run plus 12 minutes.
runBounded(main, (options.minutes + 12) * 60_000);
