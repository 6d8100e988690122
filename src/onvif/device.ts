import { MediaProfile, parseMedia1Profiles, parseMedia2Profiles } from './profiles';
import { soapRequest, SoapCredentials, SoapError, SoapRequestOptions } from './soap';
import { normaliseTopic } from './notifications';
import { child, children, escapeXml, find, namespaces, path, textAt, XmlElement } from './xml';
import { redact } from '../util/redact';
import { hostPort, isLoopback, isSameHost, isUnspecified, unbracket, unmapIPv4, urlHost } from '../util/address';

/** What AccessoryInformation shows, read from GetDeviceInformation. */
export interface DeviceInfo {
  manufacturer: string;
  model: string;
  firmware: string;
  serial: string;
  hardwareId: string;
}

export interface OnvifDeviceOptions {
  host: string;
  port: number;
  username: string;
  password: string;
}

/** The camera's service endpoints, found through GetCapabilities. */
export interface ServiceUrls {
  device: string;
  media?: string;
  /** Media2 (ver20): present on cameras that can describe H.265 profiles. */
  media2?: string;
  events?: string;
}

/** Reads the camera's UTC clock from a GetSystemDateAndTime reply, or undefined when it gives none. */
export function cameraUtcMs(reply: XmlElement): number | undefined {
  const utc = find(reply, 'UTCDateTime');
  const date = child(utc, 'Date');
  const time = child(utc, 'Time');
  if (!date || !time) {
    return undefined;
  }
  const n = (el: XmlElement | undefined, name: string): number => Number(textAt(el, name));
  const ms = Date.UTC(n(date, 'Year'), n(date, 'Month') - 1, n(date, 'Day'), n(time, 'Hour'), n(time, 'Minute'), n(time, 'Second'));
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * One ONVIF device over SOAP. We speak SOAP ourselves rather than through the `onvif` package's Cam: it runs a fixed
 * chain of calls on connect with no per-call bound on reply size and retries events in a tight loop, and here every call
 * must fail with a bounded, explained error (see README, "Why our own SOAP client").
 */
export class OnvifDevice {
  /** Camera clock minus ours, learned at connect; WS-Security signs with the camera's time so a skewed camera still authenticates. */
  clockOffsetMs = 0;
  /** Whether the camera told us its time (some never do; then we sign with ours). */
  clockKnown = false;
  /** NTP or Manual, as the camera reports its time source. */
  dateTimeType?: string;
  readonly urls: ServiceUrls;

  constructor(private readonly opts: OnvifDeviceOptions) {
    this.urls = { device: `http://${this.hostPort()}/onvif/device_service` };
  }

  private hostPort(): string {
    return hostPort(this.opts.host, this.opts.port);
  }

  private get credentials(): SoapCredentials {
    return { username: this.opts.username, password: this.opts.password, clockOffsetMs: this.clockOffsetMs };
  }

  /** One signed request to any of the camera's services (events use it with their subscription's address). */
  request(url: string, body: string, opts: Omit<SoapRequestOptions, 'auth'> = {}): Promise<XmlElement> {
    return soapRequest(url, body, { ...opts, auth: this.credentials });
  }

  /**
   * Keeps the path of an XAddr but the host and port we were configured with: cameras behind NAT or with several
   * interfaces often advertise an address we cannot reach, while the configured one demonstrably answered. When the
   * XAddr names the configured host itself (in any spelling: [fd00::20], ::ffff:10.0.0.5), its port is believed too:
   * that is a camera serving media or events on another port than its device service, not an unreachable address.
   * Except on loopback: there the configured port is usually a tunnel or proxy's, and the camera's own port is not ours.
   */
  sameHost(xaddr: string | undefined): string | undefined {
    if (!xaddr) {
      return undefined;
    }
    try {
      const u = new URL(xaddr.trim().split(/\s+/)[0]);
      const ownPort = u.protocol === 'http:' && !isLoopback(this.opts.host) && isSameHost(unbracket(u.hostname), this.opts.host);
      return `http://${ownPort ? hostPort(this.opts.host, Number(u.port || 80)) : this.hostPort()}${u.pathname}${u.search}`;
    } catch {
      return undefined;
    }
  }

  /**
   * A media URI (RTSP stream, HTTP snapshot) with a host we can use. Cameras in containers, behind NAT or with a
   * half-configured network write 0.0.0.0 or :: ("any address": whichever you reached me on) or 127.0.0.1 (themselves);
   * taken literally those reach this machine, not the camera, and hand it the camera's password. Such a host becomes
   * the configured one, keeping scheme, port and path. Any other host is kept as the camera gives it: ONVIF lets a
   * camera's media come from another device (an NVR, a streaming proxy), and a real address is the camera saying
   * where that is. Deliberately, the camera's login goes there with it (withCredentials, camera-media.ts): such a
   * device serves the camera's stream under the camera's login. Whoever can make the camera name another host can
   * equally answer its plain-HTTP ONVIF calls in its place, so refusing foreign hosts would protect nothing and would
   * break NVR-fronted cameras. An IPv4-mapped host is written as the IPv4 address it is.
   */
  private usable(uri: string): string {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return uri; // the consumer (ffmpeg, the snapshot fetch) says what is wrong with it, in context
    }
    const host = unbracket(u.hostname);
    if (isUnspecified(host) || (isLoopback(host) && !isLoopback(this.opts.host))) {
      u.hostname = urlHost(this.opts.host);
    } else if (unmapIPv4(host) !== host) {
      u.hostname = unmapIPv4(host);
    } else {
      return uri;
    }
    return u.href;
  }

  /** Learns the clock offset and the service endpoints. Both calls are pre-auth in ONVIF Core, so a wrong password fails later, clearly. */
  async connect(signal?: AbortSignal): Promise<void> {
    const sent = Date.now();
    // A camera that refuses to tell its time (a fault, or a login demanded against ONVIF Core) is still usable: we sign
    // with our own clock, and a skewed one fails as a login error later. A camera that does not answer at all is not.
    const time = await soapRequest(this.urls.device, '<tds:GetSystemDateAndTime/>', { signal }).catch((err: unknown) => {
      if (err instanceof SoapError && (err.kind === 'fault' || err.kind === 'auth')) {
        return undefined;
      }
      throw err;
    });
    this.clockKnown = false;
    const camera = time && cameraUtcMs(time);
    if (camera !== undefined) {
      // The reply's seconds were read halfway through the round trip.
      this.clockOffsetMs = camera - (sent + Date.now()) / 2;
      this.clockKnown = true;
    }
    this.dateTimeType = time && textAt(find(time, 'SystemDateAndTime'), 'DateTimeType')?.trim();
    const caps = await soapRequest(this.urls.device, '<tds:GetCapabilities><tds:Category>All</tds:Category></tds:GetCapabilities>', {
      signal, auth: this.credentials,
    });
    const c = child(caps, 'Capabilities');
    this.urls.media = this.sameHost(textAt(c, 'Media', 'XAddr'));
    this.urls.events = this.sameHost(textAt(c, 'Events', 'XAddr'));
    // Media2 is listed only by GetServices; cameras without it answer a fault, which just means "Media (ver10) only".
    const services = await soapRequest(this.urls.device, '<tds:GetServices><tds:IncludeCapability>false</tds:IncludeCapability></tds:GetServices>', {
      signal, auth: this.credentials,
    }).catch(() => undefined);
    const media2 = children(services, 'Service').find((svc) => textAt(svc, 'Namespace') === 'http://www.onvif.org/ver20/media/wsdl');
    this.urls.media2 = this.sameHost(textAt(media2, 'XAddr'));
  }

  /** The camera's video profiles, from Media2 when it has it (so H.265 is recognised), else Media. */
  async getProfiles(signal?: AbortSignal): Promise<MediaProfile[]> {
    if (this.urls.media2) {
      const r = await soapRequest(this.urls.media2, '<tr2:GetProfiles><tr2:Type>All</tr2:Type></tr2:GetProfiles>', {
        signal, auth: this.credentials,
      }).catch(() => undefined);
      const profiles = r ? parseMedia2Profiles(r) : [];
      if (profiles.length) {
        return profiles;
      }
    }
    const r = await soapRequest(this.mediaUrl(), '<trt:GetProfiles/>', { signal, auth: this.credentials });
    return parseMedia1Profiles(r);
  }

  /** The RTSP URL of a profile (RTP over RTSP, unicast), without credentials, its host made usable (see usable()). */
  async getStreamUri(profileToken: string, signal?: AbortSignal): Promise<string> {
    const token = escapeXml(profileToken);
    const r = await soapRequest(this.mediaUrl(), '<trt:GetStreamUri><trt:StreamSetup><tt:Stream>RTP-Unicast</tt:Stream>' +
      `<tt:Transport><tt:Protocol>RTSP</tt:Protocol></tt:Transport></trt:StreamSetup><trt:ProfileToken>${token}</trt:ProfileToken></trt:GetStreamUri>`,
    { signal, auth: this.credentials });
    const uri = this.usable(this.required(textAt(r, 'MediaUri', 'Uri'), 'GetStreamUri'));
    // The URI goes to ffmpeg as its input: anything but RTSP (file:, concat:, a bare path, an option-like "-...") would
    // have ffmpeg read what the camera names on this machine instead of a stream, so it is refused here.
    if (!/^rtsps?:\/\//i.test(uri)) {
      throw new SoapError('bad-reply', `GetStreamUri answered "${redact(uri).slice(0, 80)}", which is not an rtsp:// URL`);
    }
    return uri;
  }

  /** The HTTP URL of a profile's JPEG snapshot. */
  async getSnapshotUri(profileToken: string, signal?: AbortSignal): Promise<string> {
    const r = await soapRequest(this.mediaUrl(), `<trt:GetSnapshotUri><trt:ProfileToken>${escapeXml(profileToken)}</trt:ProfileToken></trt:GetSnapshotUri>`,
      { signal, auth: this.credentials });
    return this.usable(this.required(textAt(r, 'MediaUri', 'Uri'), 'GetSnapshotUri'));
  }

  private mediaUrl(): string {
    return this.urls.media ?? `http://${this.hostPort()}/onvif/media_service`;
  }

  private required(value: string | undefined, call: string): string {
    if (!value?.trim()) {
      throw new SoapError('bad-reply', `${call} answered no URI`);
    }
    return value.trim();
  }

  /** Sets the camera's clock to ours, in UTC, keeping manual time (ONVIF Core SetSystemDateAndTime). Then measures again. */
  async setClockToOurs(signal?: AbortSignal): Promise<void> {
    const d = new Date(Date.now() + 500); // the request arrives about half a second later on a slow camera
    const el = (tag: string, v: number): string => `<tt:${tag}>${v}</tt:${tag}>`;
    await this.request(this.urls.device, '<tds:SetSystemDateAndTime><tds:DateTimeType>Manual</tds:DateTimeType>' +
      '<tds:DaylightSavings>false</tds:DaylightSavings><tds:UTCDateTime><tt:Time>' +
      el('Hour', d.getUTCHours()) + el('Minute', d.getUTCMinutes()) + el('Second', d.getUTCSeconds()) + '</tt:Time><tt:Date>' +
      el('Year', d.getUTCFullYear()) + el('Month', d.getUTCMonth() + 1) + el('Day', d.getUTCDate()) +
      '</tt:Date></tds:UTCDateTime></tds:SetSystemDateAndTime>', { signal });
    await this.connect(signal);
  }

  async getDeviceInformation(signal?: AbortSignal): Promise<DeviceInfo> {
    const r = await soapRequest(this.urls.device, '<tds:GetDeviceInformation/>', { signal, auth: this.credentials });
    const t = (name: string): string => (textAt(r, name) ?? '').trim();
    return {
      manufacturer: t('Manufacturer'),
      model: t('Model'),
      firmware: t('FirmwareVersion'),
      serial: t('SerialNumber'),
      hardwareId: t('HardwareId'),
    };
  }

  /** The event topics the camera lists in GetEventProperties' TopicSet, normalised like incoming notifications. */
  async getEventTopics(signal?: AbortSignal): Promise<string[]> {
    const url = this.urls.events ?? this.sameHost('http://x/onvif/event_service')!;
    const r = await this.request(url, '<tev:GetEventProperties/>', { signal });
    const set = child(r, 'TopicSet');
    if (!set) {
      return [];
    }
    const ns = namespaces(r);
    const topics: string[] = [];
    // Each element is one topic segment; a leaf (or any element marked wstop:topic="true") is a topic.
    const walk = (el: XmlElement, trail: string[]): void => {
      if (el.name === 'MessageDescription') {
        return;
      }
      const segment = el.prefix ? `${el.prefix}:${el.name}` : el.name;
      const here = [...trail, segment];
      const branches = el.children.filter((c) => c.name !== 'MessageDescription');
      if (branches.length === 0 || Object.entries(el.attrs).some(([k, v]) => k.endsWith(':topic') && v === 'true')) {
        topics.push(normaliseTopic(here.join('/'), ns));
      }
      branches.forEach((c) => walk(c, here));
    };
    set.children.forEach((c) => walk(c, []));
    return [...new Set(topics)];
  }

  /** The first network interface's MAC address: the stable identity of a camera that reports no serial number. */
  async getMacAddress(signal?: AbortSignal): Promise<string | undefined> {
    const r = await soapRequest(this.urls.device, '<tds:GetNetworkInterfaces/>', { signal, auth: this.credentials });
    const mac = textAt(path(r, 'NetworkInterfaces', 'Info'), 'HwAddress');
    return mac?.trim().toLowerCase() || undefined;
  }
}
