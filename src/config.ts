import { DEFAULT_ONVIF_PORT } from './settings';

/** One camera as the rest of the plugin sees it: validated, defaults applied. */
export interface CameraConfig {
  name: string;
  host: string;
  port: number;
  username: string;
  password: string;
  /** An entrance camera: published as a video doorbell. */
  doorbell: boolean;
}

export interface CourtyardConfig {
  name: string;
  cameras: CameraConfig[];
  /** Path of the ffmpeg binary to use instead of the bundled or system one. */
  videoProcessor?: string;
}

export interface ConfigResult {
  config: CourtyardConfig;
  /** One line each, naming the camera and the field: shown to the user as errors; those cameras are skipped. */
  errors: string[];
  /** Lines worth a warning that did not stop a camera (unknown options, trimmed values). */
  warnings: string[];
}

const CAMERA_KEYS = new Set(['name', 'host', 'port', 'username', 'password', 'doorbell']);

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How a camera is called in messages before we know its name is valid. */
function label(raw: Raw, index: number): string {
  return typeof raw.name === 'string' && raw.name.trim() ? `Camera "${raw.name.trim()}"` : `Camera #${index + 1}`;
}

// Host names and IP literals only: a URL or a path here is the most common copy-paste slip, and we say so.
const HOST = /^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$|^\[?[0-9a-f:.]+\]?$/i;

function parseCamera(raw: unknown, index: number, errors: string[], warnings: string[]): CameraConfig | undefined {
  if (!isObject(raw)) {
    errors.push(`Camera #${index + 1}: each entry of "cameras" must be an object with "name" and "host"`);
    return undefined;
  }
  const who = label(raw, index);
  const fail = (field: string, problem: string): undefined => {
    errors.push(`${who}: "${field}" ${problem}`);
    return undefined;
  };

  if (typeof raw.name !== 'string' || !raw.name.trim()) {
    return fail('name', raw.name === undefined ? 'is missing' : 'must be a non-empty text');
  }
  if (raw.host === undefined || raw.host === null || raw.host === '') {
    return fail('host', 'is missing');
  }
  if (typeof raw.host !== 'string') {
    return fail('host', 'must be a host name or IP address');
  }
  const host = raw.host.trim();
  if (host.includes('://') || host.includes('/')) {
    return fail('host', `must be only the camera's address, e.g. 192.168.1.20, not a URL ("${host.replace(/\/\/[^@/]*@/, '//')}")`);
  }
  if (!HOST.test(host)) {
    return fail('host', `"${host}" is not a valid host name or IP address`);
  }
  let port = DEFAULT_ONVIF_PORT;
  if (raw.port !== undefined && raw.port !== null && raw.port !== '') {
    const n = typeof raw.port === 'string' ? Number(raw.port) : raw.port;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) {
      return fail('port', `must be a whole number from 1 to 65535 (the camera's ONVIF HTTP port), not ${JSON.stringify(raw.port)}`);
    }
    port = n;
  }
  for (const field of ['username', 'password'] as const) {
    if (raw[field] !== undefined && typeof raw[field] !== 'string') {
      return fail(field, 'must be text');
    }
  }
  if (raw.doorbell !== undefined && typeof raw.doorbell !== 'boolean') {
    return fail('doorbell', 'must be true or false');
  }
  for (const key of Object.keys(raw)) {
    if (!CAMERA_KEYS.has(key)) {
      warnings.push(`${who}: unknown option "${key}" is ignored`);
    }
  }
  return {
    name: raw.name.trim(),
    host,
    port,
    username: (raw.username as string | undefined) ?? '',
    password: (raw.password as string | undefined) ?? '',
    doorbell: raw.doorbell === true,
  };
}

/** Validates the platform block. Never throws: every problem becomes one line naming the camera and the field. */
export function parseConfig(raw: unknown): ConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const block: Raw = isObject(raw) ? raw : {};
  const config: CourtyardConfig = {
    name: typeof block.name === 'string' && block.name.trim() ? block.name.trim() : 'Courtyard',
    cameras: [],
  };

  if (block.videoProcessor !== undefined && block.videoProcessor !== '') {
    if (typeof block.videoProcessor === 'string') {
      config.videoProcessor = block.videoProcessor.trim();
    } else {
      errors.push('"videoProcessor" must be the path of an ffmpeg binary; using the default ffmpeg instead');
    }
  }

  if (block.cameras === undefined) {
    warnings.push('no "cameras" configured yet: add your cameras in the plugin settings');
  } else if (!Array.isArray(block.cameras)) {
    errors.push('"cameras" must be a list of cameras');
  } else {
    const byName = new Map<string, number>();
    const byAddress = new Map<string, number>();
    block.cameras.forEach((entry, i) => {
      const cam = parseCamera(entry, i, errors, warnings);
      if (!cam) {
        return;
      }
      const nameKey = cam.name.toLowerCase();
      const addressKey = `${cam.host.toLowerCase()}:${cam.port}`;
      if (byName.has(nameKey)) {
        errors.push(`Camera "${cam.name}": "name" is used by camera #${byName.get(nameKey)! + 1} too; give each camera its own name`);
      } else if (byAddress.has(addressKey)) {
        errors.push(`Camera "${cam.name}": "host" ${addressKey} is the same camera as #${byAddress.get(addressKey)! + 1}; it is added once`);
      } else {
        byName.set(nameKey, i);
        byAddress.set(addressKey, i);
        config.cameras.push(cam);
      }
    });
  }
  return { config, errors, warnings };
}
