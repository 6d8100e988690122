import type { HAP, Logging, PlatformAccessory } from 'homebridge';
import type { CameraConfig } from './config';
import { cameraRecordingOptions, cameraStreamingOptions } from './homekit/camera-options';
import { Doorbell } from './homekit/doorbell';
import { MotionSensor, sensorsNotResponding } from './homekit/motion';
import { CameraMedia, KnownStream, knownStreamsOf } from './media/camera-media';
import type { FfmpegChoice } from './media/ffmpeg-path';
import { DeviceInfo, OnvifDevice } from './onvif/device';
import { EventsLog, PullPointEvents } from './onvif/events';
import type { RawNotification } from './onvif/notifications';
import { NotificationReceiver, PushEvents } from './onvif/push';
import { SoapError } from './onvif/soap';
import { CameraEvent, EventKind, interpret, kindsOffered } from './onvif/topics';
import type { EventHistory, HistoryEntry } from './store/history';
import { CLOCK_OFFSET_REPORT_MS, CONNECT_RETRY_MAX_MS, CONNECT_RETRY_MIN_MS, HISTORY_DUPLICATE_MS } from './settings';
import { hostPort } from './util/address';
import { backoffMs, humanDuration } from './util/backoff';
import { CameraLog } from './util/log';
import { registerSecret } from './util/redact';

/** What a camera needs from the platform: the HAP accessory for its identity, kept in Homebridge's cache, and the history. */
export interface AccessoryHost {
  readonly hap: HAP;
  accessoryFor(camera: CameraConfig, id: string, info: DeviceInfo, media?: KnownStream[]): PlatformAccessory;
  /** The accessory Homebridge kept for this camera from an earlier run (by name or address), before it answers. */
  cachedAccessory(camera: CameraConfig): PlatformAccessory | undefined;
  /** Keeps the camera's streams in its accessory's context (Homebridge's cache) for the next start. */
  rememberMedia(accessory: PlatformAccessory, media: KnownStream[]): void;
  history(): EventHistory | undefined;
  /** The plugin's push receiver when the user turned push on; cameras without push fall back to PullPoint. */
  notificationReceiver(): NotificationReceiver | undefined;
  /** The ffmpeg encoder for video that cannot be copied. */
  readonly videoEncoder: string;
}

/** How extra sensors are called in Home. */
const SENSOR_NAMES: Record<EventKind, string> = {
  motion: 'Motion', person: 'Person', vehicle: 'Vehicle', animal: 'Animal', face: 'Face', field: 'Intrusion',
  line: 'Line crossing', input: 'Input', visitor: 'Visitor', relay: 'Relay', tamper: 'Tamper',
};

/** One camera's life: connect over ONVIF (retrying until it answers), then publish it with its identity and information. */
export class CourtyardCamera {
  readonly log: CameraLog;
  readonly device: OnvifDevice;
  accessory?: PlatformAccessory;
  private id = '';
  private events?: PullPointEvents | PushEvents;
  private motion?: MotionSensor;
  private readonly sensors = new Map<EventKind, MotionSensor>();
  private doorbell?: Doorbell;
  private media?: CameraMedia;
  private readonly unknownTopics = new Set<string>();
  private readonly abort = new AbortController();
  private retryTimer?: NodeJS.Timeout;
  private mediaTimer?: NodeJS.Timeout;
  private mediaAttempt = 0;
  private attempt = 0;
  private lastProblem = '';
  /** Home already has this camera from an earlier run (its accessory was cached). */
  private known = false;
  private restoreTried = false;
  /** Restored from the last run and not answered yet: its sensors show "not responding". */
  private awaitingAnswer = false;

  constructor(private readonly host: AccessoryHost, readonly config: CameraConfig, homebridgeLog: Logging,
    private readonly ffmpeg: FfmpegChoice) {
    this.log = new CameraLog(homebridgeLog, config.name);
    registerSecret(config.password);
    this.device = new OnvifDevice(config);
  }

  start(): void {
    for (const problem of this.ffmpeg.problems) {
      this.log.error(problem);
    }
    if (this.ffmpeg.path) {
      this.log.debug(`using ffmpeg ${this.ffmpeg.path} (from ${this.ffmpeg.source})`);
    }
    void this.begin();
  }

  /**
   * A camera Home already has (from Homebridge's cache) is put back whole at once, from what it described in its last
   * run: HAP's recording state is claimed by its controller in every run (HAP drops what no controller claims at the
   * next start), the hub's data streams are answered, and live view works the moment the camera answers. Until then
   * its sensors show "not responding", not the state from before the restart.
   */
  private async begin(): Promise<void> {
    this.restore();
    await this.connect();
  }

  /**
   * Puts a camera Home already has back whole (see begin), synchronously: the platform calls it while Homebridge is
   * still launching, because Homebridge publishes the bridge without waiting for anything asynchronous, and a hub or a
   * viewer that reconnects right after a restart must find the camera's controller already there. Idempotent.
   */
  restore(): void {
    if (this.restoreTried) {
      return;
    }
    this.restoreTried = true;
    const cached = this.host.cachedAccessory(this.config);
    if (!cached) {
      return;
    }
    this.known = true;
    sensorsNotResponding(this.host.hap, cached); // at once; again below, after the sensors are set up
    try {
      this.restoreFromLastRun(cached);
    } catch (err) {
      this.log.debug(`could not restore the camera from its last run (${(err as Error).message}); it is set up when it answers`);
    }
    sensorsNotResponding(this.host.hap, cached);
    this.holdNotResponding(cached);
    this.log.debug('shown as not responding in Home until the camera answers');
  }

  /**
   * Until the camera answers, its sensors stay "not responding" whatever else sets them: HAP makes a camera's motion
   * sensor active whenever HomeKitCameraActive changes, and it restores that (from the hub's earlier settings) as the
   * bridge is published, i.e. right after this camera was restored.
   */
  private holdNotResponding(accessory: PlatformAccessory): void {
    const { hap } = this.host;
    this.awaitingAnswer = true;
    for (const service of accessory.services.filter((s) => s.UUID === hap.Service.MotionSensor.UUID)) {
      service.getCharacteristic(hap.Characteristic.StatusActive).on('change', (change: { newValue: unknown }) => {
        if (this.awaitingAnswer && change.newValue) {
          setImmediate(() => {
            if (this.awaitingAnswer) {
              sensorsNotResponding(hap, accessory);
            }
          });
        }
      });
    }
  }

  private restoreFromLastRun(accessory: PlatformAccessory): void {
    const context = accessory.context as { id?: unknown; media?: unknown };
    const known = knownStreamsOf(context.media);
    if (typeof context.id !== 'string' || !known || !this.ffmpeg.path || this.abort.signal.aborted) {
      return;
    }
    const media = CameraMedia.create(this.host.hap, this.device, this.config, this.log, this.ffmpeg.path,
      this.host.videoEncoder, known);
    this.id = context.id;
    this.media = media;
    this.accessory = accessory;
    this.setUpServices(accessory);
    this.publishMedia(accessory, media);
  }

  /** Stops retries, timers and the event subscription (released on the camera, bounded in time). */
  async stop(): Promise<void> {
    this.abort.abort();
    clearTimeout(this.retryTimer);
    clearTimeout(this.mediaTimer);
    this.motion?.dispose();
    this.sensors.forEach((s) => s.dispose());
    await Promise.all([this.events?.stop(), this.media?.stop()]);
  }

  private async connect(): Promise<void> {
    try {
      await this.device.connect(this.abort.signal);
      await this.reportClock();
      const info = await this.deviceInformation();
      const id = info.serial || await this.device.getMacAddress(this.abort.signal).catch(() => undefined);
      if (!id) {
        throw new Error('the camera reports neither a serial number nor a MAC address, so it cannot be given a stable identity in Home');
      }
      if (this.media && this.id !== id) {
        // Another device answers at this camera's address than the one restored from the last run: start afresh.
        this.log.info('another camera answers at this address than before the restart; setting it up anew');
        const old = this.media;
        this.media = undefined;
        this.accessory = undefined;
        await old.stop();
      }
      this.id = id;
      // Video before the accessory goes to Home, so it appears complete; a camera without usable video still gives events.
      const restored = this.media !== undefined;
      const media = restored ? this.media : await this.openMedia();
      const known = restored ? await this.refreshMedia() : media?.known;
      this.accessory = this.host.accessoryFor(this.config, id, info, known);
      this.attempt = 0;
      this.lastProblem = '';
      this.awaitingAnswer = false;
      this.setUpServices(this.accessory);
      if (!restored && media) {
        this.publishMedia(this.accessory, media);
      }
      this.log.info(`connected (${[info.manufacturer, info.model].filter(Boolean).join(' ') || 'ONVIF camera'}, firmware ` +
        `${info.firmware || 'unknown'}) and published in Home`);
      void this.checkSensorsOffered();
      // Events start last: some cameras are slow for a while after a subscription starts (Home Assistant's experience).
      this.startEvents();
    } catch (err) {
      if (this.abort.signal.aborted) {
        return;
      }
      this.retryLater(err);
    }
  }

  /**
   * The camera's name plate. A camera that answers GetDeviceInformation with a SOAP fault (some firmwares restrict it or
   * leave it out) is still set up, identified by its MAC address; a refused password or an unreachable camera is not
   * worked around here (connect() retries and says why).
   */
  private async deviceInformation(): Promise<DeviceInfo> {
    try {
      return await this.device.getDeviceInformation(this.abort.signal);
    } catch (err) {
      if (!(err instanceof SoapError) || err.kind !== 'fault') {
        throw err;
      }
      this.log.warn(`the camera refused GetDeviceInformation (${err.message}); using its MAC address as its identity, ` +
        'without manufacturer, model or firmware in Home');
      return { manufacturer: '', model: '', firmware: '', serial: '', hardwareId: '' };
    }
  }

  private async openMedia(): Promise<CameraMedia | undefined> {
    if (!this.ffmpeg.path) {
      return undefined; // said at start: no ffmpeg, no video
    }
    clearTimeout(this.mediaTimer);
    try {
      this.media = await CameraMedia.open(this.host.hap, this.device, this.config, this.log, this.ffmpeg.path, this.host.videoEncoder,
        this.abort.signal);
      const names = this.media.streams.map((s) => `${s.name} ${s.profile.width}x${s.profile.height} ${s.profile.encoding}`);
      this.log.debug(`video streams: ${names.join(', ')}`);
      this.mediaAttempt = 0;
      return this.media;
    } catch (err) {
      if (this.abort.signal.aborted) {
        throw err;
      }
      // A camera still booting may answer device calls before its media service: try again rather than stay tile-less.
      const wait = backoffMs(this.mediaAttempt++, CONNECT_RETRY_MIN_MS, CONNECT_RETRY_MAX_MS);
      const line = `no live view yet: ${(err as Error).message}; motion and doorbell events work; trying again in ${humanDuration(wait)}`;
      if (this.mediaAttempt === 1) {
        this.log.error(line);
      } else {
        this.log.debug(line);
      }
      this.mediaTimer = setTimeout(() => void this.retryMedia(), wait);
      return undefined;
    }
  }

  private async retryMedia(): Promise<void> {
    const media = await this.openMedia().catch(() => undefined);
    if (media && this.accessory && !this.abort.signal.aborted) {
      this.publishMedia(this.accessory, media);
      this.host.rememberMedia(this.accessory, media.known);
      this.log.info('live view ready');
    }
  }

  /**
   * Adds the camera's video to its accessory: HAP's CameraController on the media's delegates, HKSV recording on the
   * motion sensor. What HomeKit changes (camera on/off, "Record audio", motion) is passed down to the delegates, and a
   * stream the plugin ends is told to HomeKit.
   */
  private publishMedia(accessory: PlatformAccessory, media: CameraMedia): void {
    const { hap } = this.host;
    const { live, recording } = media;
    const motion = this.motion?.service;
    const widest = media.streams[0].profile;
    const controller = new hap.CameraController({
      cameraStreamCount: this.config.maxStreams,
      delegate: live,
      streamingOptions: cameraStreamingOptions(hap, widest.width, widest.height, media.audioCodec),
      recording: recording && {
        options: cameraRecordingOptions(hap, widest.width, widest.height, this.config.prebufferSeconds), delegate: recording,
      },
      // HKSV records on this sensor: the camera's own motion sensor (a doorbell ring sets it too).
      sensors: recording && motion ? { motion } : undefined,
    });
    live.on('ended', (sessionId: string) => controller.forceStopStreamingSession(sessionId));
    if (recording && motion) {
      motion.getCharacteristic(hap.Characteristic.MotionDetected).on('change', (change: { newValue: unknown }) => {
        if (change.newValue) {
          recording.motionDetected();
        }
      });
    }
    accessory.configureController(controller);
    const management = controller.recordingManagement;
    if (!recording || !management) {
      return;
    }
    const audioActive = management.recordingManagementService.getCharacteristic(hap.Characteristic.RecordingAudioActive);
    recording.setAudioActive(Boolean(audioActive.value));
    audioActive.on('change', (change: { newValue: unknown }) => recording.setAudioActive(Boolean(change.newValue)));
    const cameraActive = management.operatingModeService.getCharacteristic(hap.Characteristic.HomeKitCameraActive);
    recording.setCameraActive(Boolean(cameraActive.value ?? true));
    cameraActive.on('change', (change: { newValue: unknown }) => {
      const on = Boolean(change.newValue);
      recording.setCameraActive(on);
      // HAP refuses new streams of a camera turned off in Home; the ones running end too, as residents would expect.
      if (!on) {
        void live.endAll('the camera was turned off in Home');
      }
    });
  }

  /** The restored streams, checked against what the camera says now (new URIs are used from the next read). */
  private async refreshMedia(): Promise<KnownStream[] | undefined> {
    const media = this.media;
    if (!media) {
      return undefined;
    }
    try {
      const known = await CameraMedia.describe(this.device, this.abort.signal);
      if (!media.refresh(known)) {
        const sizes = known.map((k) => `${k.name} ${k.profile.width}x${k.profile.height} ${k.profile.encoding}`).join(', ');
        this.log.warn(`the camera's video streams changed since its last run (now ${sizes}); Home is offered them after ` +
          'Homebridge restarts');
      }
      return known;
    } catch (err) {
      this.log.debug(`could not read the camera's streams again (${(err as Error).message}); using those from its last run`);
      return media.known;
    }
  }

  /** The motion sensor, extra sensors and doorbell this camera's config asks for; services no longer asked for are removed. */
  private setUpServices(accessory: PlatformAccessory): void {
    const { hap } = this.host;
    const name = this.config.name;
    // Set up again when a camera restored from its last run answers: the sensors start afresh, online.
    this.motion?.dispose();
    this.sensors.forEach((sensor) => sensor.dispose());
    this.sensors.clear();
    this.motion = new MotionSensor(hap, accessory, `${name} Motion`, 'motion', this.config.motionHoldSeconds);
    for (const kind of this.config.sensors) {
      this.sensors.set(kind, new MotionSensor(hap, accessory, `${name} ${SENSOR_NAMES[kind]}`, kind, this.config.motionHoldSeconds));
    }
    const keep = new Set(['motion', ...this.config.sensors]);
    for (const service of accessory.services.filter((s) => s.UUID === hap.Service.MotionSensor.UUID && !keep.has(s.subtype ?? ''))) {
      accessory.removeService(service);
    }
    if (this.config.doorbell) {
      this.doorbell = new Doorbell(hap, accessory, name, this.config.doorbellCooldownSeconds * 1000, this.config.doorbellSwitch);
    } else {
      [hap.Service.Doorbell, hap.Service.StatelessProgrammableSwitch].forEach((type) => {
        const service = accessory.getService(type);
        if (service) {
          accessory.removeService(service);
        }
      });
    }
  }

  /** Says which configured sensors or doorbell events the camera does not list, so a sensor that never fires is explained. */
  private async checkSensorsOffered(): Promise<void> {
    const mapped = (k: EventKind): boolean => this.config.events.some((m) => m.kind === k);
    const sensors = this.config.sensors.filter((k) => !mapped(k));
    const bell = this.config.doorbell && !this.config.doorbellEvents.some(mapped) ? this.config.doorbellEvents : [];
    if (sensors.length === 0 && bell.length === 0) {
      return;
    }
    try {
      const offered = kindsOffered(await this.device.getEventTopics(this.abort.signal));
      if (offered.size === 0) {
        return;
      }
      const names = (kinds: EventKind[]): string => kinds.map((k) => SENSOR_NAMES[k].toLowerCase()).join(', ');
      const missing = sensors.filter((k) => !offered.has(k));
      if (missing.length) {
        this.log.warn(`"sensors": the camera lists no ${names(missing)} event; turn that detection on in the camera, or map its ` +
          'event with "events" (unknown topics are shown with -D)');
      }
      // Any one of the doorbell kinds is enough to ring.
      if (bell.length && !bell.some((k) => offered.has(k))) {
        this.log.warn(`"doorbellEvents": the camera lists no ${names(bell)} event, so nothing will ring the doorbell; choose ` +
          'another event (e.g. "line" or "person") or map the bell\'s event with "events"');
      }
    } catch (err) {
      this.log.debug(`could not read the camera's event list: ${(err as Error).message}`);
    }
  }

  /** Push when the user turned it on and the camera verifiably delivers; PullPoint otherwise (and after any push failure). */
  private startEvents(): void {
    const log: EventsLog = { info: (m) => this.log.info(m), warn: (m) => this.log.warn(m), debug: (m) => this.log.debug(m) };
    const receiver = this.host.notificationReceiver();
    if (!receiver) {
      this.listen(new PullPointEvents(this.device, log));
      return;
    }
    const push = this.listen(new PushEvents(this.device, receiver, log));
    push.once('fallback', (reason: string) => {
      this.log.info(`events: push is not working with this camera (${reason}); using PullPoint`);
      void push.stop().then(() => {
        if (!this.abort.signal.aborted) {
          this.listen(new PullPointEvents(this.device, log));
        }
      });
    });
  }

  private listen<T extends PullPointEvents | PushEvents>(events: T): T {
    events.on('notification', (n: RawNotification) => this.onNotification(n));
    events.on('offline', (reason: string) => this.setOnline(false, reason));
    events.on('online', () => {
      this.setOnline(true);
      this.media?.cameraBack();
    });
    this.events = events;
    events.start();
    return events;
  }

  private setOnline(online: boolean, reason?: string): void {
    this.motion?.setOnline(online);
    this.sensors.forEach((s) => s.setOnline(online));
    this.remember({ at: Date.now(), kind: online ? 'online' : 'offline', active: !online, source: reason });
  }

  private onNotification(n: RawNotification): void {
    const meanings = interpret(n, this.config.events);
    if (meanings.length === 0) {
      // Logged once per topic, whole, so a user can map it in the config ("events") from the debug log.
      if (!this.unknownTopics.has(n.topic)) {
        this.unknownTopics.add(n.topic);
        this.log.debug(`event topic not known, ignored (map it in "events" to use it): ${n.topic} ` +
          `source ${JSON.stringify(n.source)} data ${JSON.stringify(n.data)}`);
      }
      return;
    }
    meanings.forEach((e) => this.onEvent(e));
  }

  /** Four hops from the camera end here: the event reaches the HomeKit services it means something to. */
  private onEvent(e: CameraEvent): void {
    // The states a camera reports right after subscribing are news only when something is going on now.
    if (e.initial && !e.active) {
      return;
    }
    this.log.debug(`${e.kind} ${e.active ? 'on' : 'off'} (${e.topic}${e.source ? ` ${e.source}` : ''})`);
    this.remember({ at: Date.now(), kind: e.kind, active: e.active, topic: e.topic, source: e.source });
    if (e.kind === 'motion') {
      this.motion?.update(e.active, e.momentary);
    }
    this.sensors.get(e.kind)?.update(e.active, e.momentary);
    // An initial "pressed" is a state, not a visitor: ringing on every re-subscription would be a false alarm.
    if (this.doorbell && e.active && !e.initial && this.config.doorbellEvents.includes(e.kind) && this.doorbell.ring()) {
      this.log.info(`doorbell rang (${e.kind})`);
      this.remember({ at: Date.now(), kind: 'ring', active: true, topic: e.topic, source: e.source });
      // Hubs never enable HomeKit Secure Video's doorbell trigger, only motion: the ring sets motion so the visitor is recorded.
      this.motion?.update(true, true);
    }
  }

  /** Motion from the manual trigger endpoint; false when the camera is not in Home yet. */
  triggerMotion(active: boolean): boolean {
    if (!this.motion) {
      return false;
    }
    this.onEvent({ kind: 'motion', active, momentary: false, topic: 'manual', source: 'http', initial: false });
    return true;
  }

  /** A ring from the manual trigger endpoint, whatever doorbellEvents says (the user asked for exactly this). */
  ringDoorbell(): 'rang' | 'cooldown' | 'not a doorbell' {
    if (!this.doorbell) {
      return 'not a doorbell';
    }
    if (!this.doorbell.ring()) {
      return 'cooldown';
    }
    this.log.info('doorbell rang (manual trigger)');
    this.remember({ at: Date.now(), kind: 'ring', active: true, topic: 'manual', source: 'http' });
    this.motion?.update(true, true);
    return 'rang';
  }

  get name(): string {
    return this.config.name;
  }

  private lastRemembered?: HistoryEntry;

  private remember(entry: HistoryEntry): void {
    // Cameras often report one motion on two topics (Hikvision, Reolink): keep one line, not two.
    const last = this.lastRemembered;
    if (last && last.kind === entry.kind && last.active === entry.active && entry.at - last.at < HISTORY_DUPLICATE_MS) {
      return;
    }
    this.lastRemembered = entry;
    if (this.id) {
      this.host.history()?.record(this.id, this.config.name, entry);
    }
  }

  private async reportClock(): Promise<void> {
    const offset = this.device.clockOffsetMs;
    if (Math.abs(offset) < CLOCK_OFFSET_REPORT_MS) {
      return;
    }
    // Only a camera on manual time is ours to set: one on NTP would be fought by its own NTP client.
    if (this.config.setClock && this.device.dateTimeType === 'Manual') {
      try {
        await this.device.setClockToOurs(this.abort.signal);
        this.log.info(`set the camera's clock, which was ${humanDuration(offset)} ${offset > 0 ? 'ahead' : 'behind'} ("setClock" is on)`);
        return;
      } catch (err) {
        this.log.warn(`could not set the camera's clock (${(err as Error).message}); signing requests with its time instead`);
        return;
      }
    }
    this.log.warn(`the camera's clock is ${humanDuration(offset)} ${offset > 0 ? 'ahead of' : 'behind'} this server; requests are ` +
      'signed with the camera\'s time so it still works; turn on NTP in the camera (or "setClock") so its event times are right');
  }

  private retryLater(err: unknown): void {
    const wait = backoffMs(this.attempt++, CONNECT_RETRY_MIN_MS, CONNECT_RETRY_MAX_MS);
    const where = hostPort(this.config.host, this.config.port);
    let problem = err instanceof Error ? err.message : String(err);
    if (err instanceof SoapError && err.kind === 'auth') {
      problem = `authentication failed for user "${this.config.username}": check "username" and "password"` +
        (Math.abs(this.device.clockOffsetMs) >= CLOCK_OFFSET_REPORT_MS
          ? ` (the camera's clock is ${humanDuration(this.device.clockOffsetMs)} off)` : '');
    }
    const line = `cannot connect to ${where}: ${problem}; retrying in ${humanDuration(wait)}`;
    // The same problem again is news only for the debug log; a new one is said out loud.
    if (problem !== this.lastProblem) {
      if (err instanceof SoapError && err.kind === 'auth') {
        this.log.error(line);
      } else {
        this.log.warn(`${line}${this.known ? ' (shown in Home as not responding until it answers)'
          : this.accessory ? '' : ' (it appears in Home once it answers)'}`);
      }
      this.lastProblem = problem;
    } else {
      this.log.debug(line);
    }
    this.retryTimer = setTimeout(() => void this.connect(), wait);
  }
}
