// "Discover" on the settings page: the plugin's WS-Discovery, each camera marked when it is already configured, and a
// typed user and password tried on every camera found.
import { DiscoveredCamera, discover } from '../onvif/discovery';
import { hostKey, hostPort, parseHost } from '../util/address';
import { redact, registerSecret } from '../util/redact';
import { UiError } from './bounded';
import { UI_DISCOVER_LISTEN_MS } from '../settings';

export interface FoundCamera {
  name?: string;
  hardware?: string;
  host: string;
  port: number;
  /** host:port as written in messages. */
  address: string;
  endpoint: string;
  /** The configured camera with this address, if any (so the page says "already added" instead of offering Add). */
  configured?: string;
  login: 'ok' | 'refused' | 'no answer' | 'not tried';
  /** One sentence about the login, e.g. "accepts this user: HIKVISION DS-2CD2347G2-LU, serial …". */
  loginText: string;
  info?: { manufacturer: string; model: string; serial: string; firmware: string };
}

export interface DiscoverAnswer {
  cameras: FoundCamera[];
  /** Shown when nothing answered: why that may be, and what to try. */
  hint?: string;
}

/** Where to send the probe: the multicast group by default; COURTYARD_DISCOVERY_TARGET="host:port" sends it unicast. */
export function discoveryTarget(spec: string | undefined): { address: string; port: number } | undefined {
  if (!spec?.trim()) {
    return undefined;
  }
  const m = /^(.+):(\d{1,5})$/.exec(spec.trim());
  const parsed = m ? parseHost(m[1]) : undefined;
  const port = m ? Number(m[2]) : 0;
  if (!m || !parsed || 'problem' in parsed || port < 1 || port > 65535) {
    throw new UiError(`COURTYARD_DISCOVERY_TARGET must be an address and port like 192.168.1.255:3702, not "${spec}".`);
  }
  return { address: parsed.host, port };
}

function loginOf(cam: DiscoveredCamera): Pick<FoundCamera, 'login' | 'loginText'> {
  switch (cam.auth) {
    case 'ok': {
      const who = cam.info ? [`${cam.info.manufacturer} ${cam.info.model}`.trim(), cam.info.serial && `serial ${cam.info.serial}`]
        .filter(Boolean).join(', ') : '';
      return { login: 'ok', loginText: `accepts this user and password${who ? ` (${who})` : ''}` };
    }
    case 'failed':
      return { login: 'refused', loginText: 'refuses this user and password: the camera needs its own ONVIF user, or a different password' };
    case 'unreachable':
      return { login: 'no answer', loginText: `did not answer the login (${redact(cam.authError ?? 'no answer')})` };
    default:
      return { login: 'not tried', loginText: 'type a user and password above to try them on every camera' };
  }
}

/** Same camera: same address and ONVIF port, however the host is spelled. */
function configuredName(cam: { host: string; port: number }, configured: unknown): string | undefined {
  if (!Array.isArray(configured)) {
    return undefined;
  }
  for (const c of configured as Array<Record<string, unknown>>) {
    if (typeof c?.host !== 'string') {
      continue;
    }
    const parsed = parseHost(c.host.trim());
    const port = c.port === undefined || c.port === '' ? 80 : Number(c.port);
    if ('host' in parsed && hostKey(parsed.host) === hostKey(cam.host) && port === cam.port) {
      return typeof c.name === 'string' && c.name.trim() ? c.name.trim() : hostPort(cam.host, cam.port);
    }
  }
  return undefined;
}

/** One scan; with a username, every camera found is logged into (a few at a time, each bounded by discover()). */
export async function discoverCameras(body: Record<string, unknown>, target: { address: string; port: number } | undefined,
  signal: AbortSignal): Promise<DiscoverAnswer> {
  const username = typeof body.username === 'string' ? body.username.trim() : '';
  const password = typeof body.password === 'string' ? body.password : '';
  registerSecret(password);
  let found: DiscoveredCamera[];
  try {
    found = await discover({ timeoutMs: UI_DISCOVER_LISTEN_MS, target, signal, credentials: username ? { username, password } : undefined });
  } catch (err) {
    if (signal.aborted && signal.reason instanceof UiError) {
      throw signal.reason;
    }
    throw new UiError(`The search for cameras could not run (${redact((err as Error).message)}): check the Homebridge server's network.`);
  }
  const cameras = found
    .sort((a, b) => a.host.localeCompare(b.host, 'en', { numeric: true }) || a.port - b.port)
    .map((c): FoundCamera => ({
      name: c.name, hardware: c.hardware, host: c.host, port: c.port, address: hostPort(c.host, c.port), endpoint: c.endpoint,
      configured: configuredName(c, body.configured), ...loginOf(c), info: c.info,
    }));
  return {
    cameras,
    hint: cameras.length ? undefined : `No ONVIF camera answered within ${UI_DISCOVER_LISTEN_MS / 1000} s. Cameras answer only on the ` +
      'Homebridge server\'s own network segment and only with ONVIF turned on; a camera elsewhere can still be added by its address.',
  };
}
