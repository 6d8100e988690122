import { join } from 'node:path';
import type { API, DynamicPlatformPlugin, Logging, PlatformAccessory, PlatformConfig } from 'homebridge';
import { CourtyardCamera } from './camera';
import { CameraConfig, CourtyardConfig, parseConfig } from './config';
import { findFfmpeg } from './media/ffmpeg-path';
import type { KnownStream } from './media/camera-media';
import type { DeviceInfo } from './onvif/device';
import { DEFAULT_VIDEO_ENCODER, PLATFORM_NAME, PLUGIN_NAME } from './settings';
import { ManualTriggers } from './manual-triggers';
import { NotificationReceiver } from './onvif/push';
import { EventHistory } from './store/history';
import { hostKey, hostPort } from './util/address';
import { triggerToken } from './store/trigger-token';

/** What we keep in Homebridge's accessory cache to recognise a camera across restarts and config edits. */
interface CameraContext {
  id: string;
  name: string;
  address: string;
  /** The streams the camera described (no credentials): it is whole in Home at the next start, before it answers. */
  media?: KnownStream[];
}

/** HomeKit accepts versions as x[.y[.z]] only; cameras write "V5.5.82 build 190220", so keep the numbers. */
export function homekitVersion(firmware: string): string {
  return /\d+(?:\.\d+){0,2}/.exec(firmware)?.[0] ?? '0';
}

/** One spelling per camera address (`[FD00::20]` and `fd00::20` are one camera), as the config's duplicate check. */
function addressOf(camera: CameraConfig): string {
  return `${hostKey(camera.host)}:${camera.port}`;
}

/** The Courtyard platform: validates the config, starts one CourtyardCamera per camera, keeps the accessory cache tidy. */
export class CourtyardPlatform implements DynamicPlatformPlugin {
  private readonly cached = new Map<string, PlatformAccessory>();
  private readonly cameras: CourtyardCamera[] = [];
  private config: CourtyardConfig = { name: PLATFORM_NAME, cameras: [], videoEncoder: DEFAULT_VIDEO_ENCODER };
  private eventHistory?: EventHistory;
  private triggers?: ManualTriggers;
  private receiver?: NotificationReceiver;
  readonly hap: API['hap'];

  constructor(private readonly log: Logging, rawConfig: PlatformConfig, private readonly api: API) {
    this.hap = api.hap;
    // Homebridge must survive whatever is in the config: nothing may escape this constructor.
    try {
      const { config, errors, warnings } = parseConfig(rawConfig);
      this.config = config;
      errors.forEach((e) => this.log.error(`${e}; this camera is skipped, the others start`));
      warnings.forEach((w) => this.log.warn(w));
    } catch (err) {
      this.log.error(`could not read the configuration: ${(err as Error).message}`);
    }
    api.on('didFinishLaunching', () => this.guarded('start-up', () => {
      this.restoreCameras();
      this.launch().catch((err: Error) => this.log.error(`unexpected error during start-up: ${err.stack ?? err}`));
    }));
    api.on('shutdown', () => this.guarded('shut-down', () => {
      this.cameras.forEach((c) => void c.stop());
      void this.triggers?.close();
      void this.receiver?.close();
      void this.eventHistory?.flush();
    }));
  }

  /** Homebridge hands back every cached accessory before didFinishLaunching. */
  configureAccessory(accessory: PlatformAccessory): void {
    this.cached.set(accessory.UUID, accessory);
  }

  private guarded(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error(`unexpected error during ${what}: ${(err as Error).stack ?? err}`);
    }
  }

  get videoEncoder(): string {
    return this.config.videoEncoder;
  }

  history(): EventHistory | undefined {
    return this.eventHistory;
  }

  notificationReceiver(): NotificationReceiver | undefined {
    return this.receiver;
  }

  /**
   * Makes every camera and puts those Home already has back whole, synchronously: Homebridge publishes the bridge right
   * after didFinishLaunching without waiting for anything asynchronous, so a camera restored later would be there
   * without its camera controller for a moment, and a hub's data stream setup or a viewer in that moment would fail.
   */
  private restoreCameras(): void {
    this.pruneRemovedCameras();
    const ffmpeg = findFfmpeg(this.config.videoProcessor);
    for (const camera of this.config.cameras) {
      const c = new CourtyardCamera(this, camera, this.log, ffmpeg);
      this.cameras.push(c);
      this.guarded(`restoring ${camera.name}`, () => c.restore());
    }
  }

  private async launch(): Promise<void> {
    if (this.config.push) {
      await this.startReceiver(this.config.push);
    }
    // Opened before the cameras start, so the states they report right after subscribing are kept too; a storage
    // problem is one warning and the cameras run without history.
    const stateDir = join(this.api.user.storagePath(), 'courtyard');
    this.eventHistory = await EventHistory.open(stateDir)
      .catch((err: Error) => {
        this.log.warn(`event history is off: cannot open its storage (${err.message})`);
        return undefined;
      });
    if (this.config.triggers) {
      void this.startTriggers(stateDir, this.config.triggers);
    }
    this.cameras.forEach((c) => c.start());
    if (this.config.cameras.length === 0) {
      this.log.info('no cameras to start');
    }
  }

  /** One HTTP receiver for every camera's push events; when it cannot listen, cameras simply use PullPoint. */
  private async startReceiver(where: { port: number; advertiseHost?: string }): Promise<void> {
    const receiver = new NotificationReceiver(this.log, { advertiseHost: where.advertiseHost });
    try {
      await receiver.listenEverywhere(where.port);
      this.receiver = receiver;
      this.log.info(`push events: cameras deliver to port ${where.port}; any camera that does not falls back to PullPoint`);
    } catch (err) {
      this.log.error(`push events are off: cannot listen on port ${where.port} (${(err as Error).message}); choose another "push"."port"`);
    }
  }

  private async startTriggers(stateDir: string, where: { port: number; bind: string }): Promise<void> {
    try {
      const triggers = new ManualTriggers(() => this.cameras, await triggerToken(stateDir), this.log);
      const port = await triggers.listen(where.port, where.bind);
      this.triggers = triggers;
      this.log.info(`manual triggers listen on http://${hostPort(where.bind, port)} (POST /motion?camera=NAME&state=on, /doorbell?camera=NAME; ` +
        'the token is on the plugin\'s settings page)');
    } catch (err) {
      this.log.error(`manual triggers are off: cannot listen on ${hostPort(where.bind, where.port)} (${(err as Error).message}); ` +
        'choose another "triggers"."port"');
    }
  }

  /** Removes cached cameras that are no longer in the config (by name or address: an offline camera still in config stays). */
  private pruneRemovedCameras(): void {
    const names = new Set(this.config.cameras.map((c) => c.name.toLowerCase()));
    const addresses = new Set(this.config.cameras.map(addressOf));
    const gone = [...this.cached.values()].filter((acc) => {
      const ctx = acc.context as Partial<CameraContext>;
      return !(ctx.name && names.has(ctx.name.toLowerCase())) && !(ctx.address && addresses.has(ctx.address));
    });
    this.unregister(gone, 'it is no longer in the config');
  }

  private unregister(accessories: PlatformAccessory[], why: string): void {
    if (accessories.length === 0) {
      return;
    }
    for (const acc of accessories) {
      this.cached.delete(acc.UUID);
      this.log.info(`${acc.displayName}: removed from Home, ${why}`);
    }
    this.api.unregisterPlatformAccessories(PLUGIN_NAME, PLATFORM_NAME, accessories);
  }

  cachedAccessory(camera: CameraConfig): PlatformAccessory | undefined {
    const address = addressOf(camera);
    return [...this.cached.values()].find((acc) => {
      const ctx = acc.context as Partial<CameraContext>;
      return ctx.name?.toLowerCase() === camera.name.toLowerCase() || ctx.address === address;
    });
  }

  /** The accessory for a camera identified by serial or MAC: from the cache when known, otherwise created and registered. */
  rememberMedia(accessory: PlatformAccessory, media: KnownStream[]): void {
    (accessory.context as CameraContext).media = media;
    this.api.updatePlatformAccessories([accessory]);
  }

  accessoryFor(camera: CameraConfig, id: string, info: DeviceInfo, media?: KnownStream[]): PlatformAccessory {
    const { hap } = this.api;
    const uuid = hap.uuid.generate(`${PLUGIN_NAME}:${id}`);
    const context: CameraContext = { id, name: camera.name, address: addressOf(camera) };

    // A different device now answers at this camera's name or address (a replaced camera): drop the old accessory.
    const replaced = [...this.cached.values()].filter((acc) => {
      const ctx = acc.context as Partial<CameraContext>;
      return acc.UUID !== uuid && (ctx.name?.toLowerCase() === camera.name.toLowerCase() || ctx.address === context.address);
    });
    this.unregister(replaced, `camera ${context.address} now reports another device`);

    let accessory = this.cached.get(uuid);
    const isNew = !accessory;
    if (!accessory) {
      const category = camera.doorbell ? hap.Categories.VIDEO_DOORBELL : hap.Categories.CAMERA;
      accessory = new this.api.platformAccessory(camera.name, uuid, category);
      this.cached.set(uuid, accessory);
    }
    // Streams not read this time (the camera's media service failed) stay as they were known.
    context.media = media ?? (accessory.context as Partial<CameraContext>).media;
    accessory.context = context;
    const C = hap.Characteristic;
    accessory.getService(hap.Service.AccessoryInformation)!
      .setCharacteristic(C.Name, camera.name)
      .setCharacteristic(C.Manufacturer, info.manufacturer || 'ONVIF')
      .setCharacteristic(C.Model, info.model || 'IP camera')
      .setCharacteristic(C.SerialNumber, info.serial || id)
      .setCharacteristic(C.FirmwareRevision, homekitVersion(info.firmware));
    if (isNew) {
      this.api.registerPlatformAccessories(PLUGIN_NAME, PLATFORM_NAME, [accessory]);
    } else {
      this.api.updatePlatformAccessories([accessory]);
    }
    return accessory;
  }
}
