// A typed, read-only view of a HAP accessory database (GET /accessories), with lookups by short type ('85', '3E')
// or full UUID, so tests read like "accessory 'Front Door' has a MotionSensor whose MotionDetected is false".
import type { AccessoryObject } from 'hap-controller/lib/model/accessory';
import type { CharacteristicObject } from 'hap-controller/lib/model/characteristic';
import type { ServiceObject } from 'hap-controller/lib/model/service';

const APPLE_UUID_SUFFIX = '-0000-1000-8000-0026BB765291';

/** Apple-defined services the tests look for, by short type. */
export const ServiceType = {
  AccessoryInformation: '3E',
  ProtocolInformation: 'A2',
  MotionSensor: '85',
  Doorbell: '121',
  CameraRTPStreamManagement: '110',
  CameraOperatingMode: '21A',
  CameraRecordingManagement: '204',
  DataStreamTransportManagement: '129',
  Microphone: '112',
  Speaker: '113',
} as const;

/** Apple-defined characteristics the tests look for, by short type. */
export const CharacteristicType = {
  Identify: '14',
  Manufacturer: '20',
  Model: '21',
  MotionDetected: '22',
  Name: '23',
  SerialNumber: '30',
  FirmwareRevision: '52',
  HardwareRevision: '53',
  ProgrammableSwitchEvent: '73',
  StatusActive: '75',
  StreamingStatus: '120',
  SupportedVideoStreamConfiguration: '114',
  SetupEndpoints: '118',
  SelectedRTPStreamConfiguration: '117',
} as const;

/** '85' or '00000085-0000-1000-8000-0026BB765291' (any case) → the canonical upper-case full UUID. */
export function longUuid(type: string): string {
  const upper = type.toUpperCase();
  return upper.length <= 8 ? `${upper.padStart(8, '0')}${APPLE_UUID_SUFFIX}` : upper;
}

/** The short form for Apple UUIDs ('00000085-…' → '85'); custom UUIDs stay full. */
export function shortUuid(type: string): string {
  const long = longUuid(type);
  return long.endsWith(APPLE_UUID_SUFFIX) ? long.slice(0, 8).replace(/^0+/, '') || '0' : long;
}

/** aid/iid may arrive as BigNumber (json-bigint) for huge ids; they are small integers in practice. */
function toId(value: unknown): number {
  return Number(String(value));
}

export interface CharacteristicView {
  aid: number;
  iid: number;
  /** Full upper-case UUID. */
  type: string;
  value: unknown;
  perms: string[];
  format?: string;
  description?: string;
}

export class ServiceView {
  readonly iid: number;
  /** Full upper-case UUID. */
  readonly type: string;
  readonly primary: boolean;
  readonly hidden: boolean;
  readonly linked: number[];
  readonly characteristics: CharacteristicView[];

  constructor(readonly aid: number, raw: ServiceObject) {
    this.iid = toId(raw.iid);
    this.type = longUuid(raw.type);
    this.primary = raw.primary === true;
    this.hidden = raw.hidden === true;
    this.linked = (raw.linked ?? []).map(toId);
    this.characteristics = raw.characteristics.map((c: CharacteristicObject) => ({
      aid,
      iid: toId(c.iid),
      type: longUuid(c.type ?? ''),
      value: c.value,
      perms: c.perms ?? [],
      format: c.format,
      description: c.description,
    }));
  }

  is(type: string): boolean {
    return this.type === longUuid(type);
  }

  characteristic(type: string): CharacteristicView | undefined {
    const wanted = longUuid(type);
    return this.characteristics.find((c) => c.type === wanted);
  }

  /** Like characteristic(), but a missing characteristic is an error naming what was expected. */
  requireCharacteristic(type: string): CharacteristicView {
    const found = this.characteristic(type);
    if (!found) {
      throw new Error(`service ${shortUuid(this.type)} (aid ${this.aid}, iid ${this.iid}) has no characteristic `
        + `${shortUuid(type)}; it has ${this.characteristics.map((c) => shortUuid(c.type)).join(', ')}`);
    }
    return found;
  }

  /** Value of a characteristic as listed in the accessory database (undefined if absent or not readable). */
  value(type: string): unknown {
    return this.characteristic(type)?.value;
  }
}

export interface AccessoryInformation {
  name: unknown;
  manufacturer: unknown;
  model: unknown;
  serialNumber: unknown;
  firmwareRevision: unknown;
}

export class AccessoryView {
  readonly aid: number;
  readonly services: ServiceView[];

  constructor(raw: AccessoryObject) {
    this.aid = toId(raw.aid);
    this.services = raw.services.map((s) => new ServiceView(this.aid, s));
  }

  service(type: string): ServiceView | undefined {
    return this.services.find((s) => s.is(type));
  }

  servicesOfType(type: string): ServiceView[] {
    return this.services.filter((s) => s.is(type));
  }

  requireService(type: string): ServiceView {
    const found = this.service(type);
    if (!found) {
      throw new Error(`accessory ${this.aid} (${String(this.name)}) has no service ${shortUuid(type)}; `
        + `it has ${this.services.map((s) => shortUuid(s.type)).join(', ')}`);
    }
    return found;
  }

  /** AccessoryInformation.Name. */
  get name(): unknown {
    return this.service(ServiceType.AccessoryInformation)?.value(CharacteristicType.Name);
  }

  info(): AccessoryInformation {
    const info = this.requireService(ServiceType.AccessoryInformation);
    return {
      name: info.value(CharacteristicType.Name),
      manufacturer: info.value(CharacteristicType.Manufacturer),
      model: info.value(CharacteristicType.Model),
      serialNumber: info.value(CharacteristicType.SerialNumber),
      firmwareRevision: info.value(CharacteristicType.FirmwareRevision),
    };
  }
}

/** The whole database of a bridge: aid 1 is the bridge itself, the rest are the bridged accessories. */
export class AccessoryList {
  readonly all: AccessoryView[];

  constructor(raw: AccessoryObject[]) {
    this.all = raw.map((a) => new AccessoryView(a));
  }

  get bridge(): AccessoryView | undefined {
    return this.all.find((a) => a.aid === 1);
  }

  get bridged(): AccessoryView[] {
    return this.all.filter((a) => a.aid !== 1);
  }

  /** Bridged accessory names, sorted (handy for deep-equal assertions). */
  bridgedNames(): string[] {
    return this.bridged.map((a) => String(a.name)).sort();
  }

  byName(name: string): AccessoryView | undefined {
    return this.bridged.find((a) => a.name === name);
  }

  requireByName(name: string): AccessoryView {
    const found = this.byName(name);
    if (!found) {
      throw new Error(`no bridged accessory named "${name}"; there are: ${JSON.stringify(this.bridgedNames())}`);
    }
    return found;
  }

  byAid(aid: number): AccessoryView | undefined {
    return this.all.find((a) => a.aid === aid);
  }
}
