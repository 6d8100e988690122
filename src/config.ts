import { EVENT_KINDS, EventKind, TopicMapping } from './onvif/topics';
import {
  DEFAULT_DOORBELL_COOLDOWN_S, DEFAULT_DOORBELL_EVENTS, DEFAULT_MAX_RECORDING_S, DEFAULT_MAX_STREAMS, DEFAULT_MOTION_HOLD_S,
  DEFAULT_ONVIF_PORT, DEFAULT_TRIGGERS_BIND, DEFAULT_VIDEO_ENCODER, MAX_PREBUFFER_S, MAX_STREAMS_LIMIT, MIN_PREBUFFER_S,
} from './settings';
import { hostKey, hostPort, isUnspecified, parseHost } from './util/address';

/** One camera as the rest of the plugin sees it: validated, defaults applied. */
export interface CameraConfig {
  name: string;
  host: string;
  port: number;
  username: string;
  password: string;
  /** An entrance camera: published as a video doorbell. */
  doorbell: boolean;
  /** The user's own meanings for ONVIF topics the table does not know, or knows differently. */
  events: TopicMapping[];
  /** Seconds motion stays detected after the last motion event. */
  motionHoldSeconds: number;
  /** Extra sensors, one per event kind (person, vehicle, line, field, ...), beside the camera's motion sensor. */
  sensors: EventKind[];
  /** Which event kinds ring the doorbell. */
  doorbellEvents: EventKind[];
  doorbellCooldownSeconds: number;
  /** A separate stateless switch that fires with each ring, for doorbell automations. */
  doorbellSwitch: boolean;
  /** Opt-in: set the clock of a camera on manual time when it is off by more than CLOCK_OFFSET_REPORT_MS. */
  setClock: boolean;
  /** Camera audio in live view and recordings. */
  audio: boolean;
  /** HomeKit live streams at once (each viewer is one). */
  maxStreams: number;
  /** Offer HomeKit Secure Video recording (the home hub records on motion). */
  recording: boolean;
  /** Seconds before the motion that a recording starts with. */
  prebufferSeconds: number;
  /** Longest recording of one event (s): a camera that never reports motion ending must not record forever. */
  maxRecordingSeconds: number;
  /** Who reads the camera's RTSP stream: 'plugin' (in Node, no process; streams it cannot read still go to ffmpeg), or
   *  'ffmpeg' always (for a camera whose RTSP server the plugin's reader fails with where ffmpeg works). */
  streamReader: StreamReader;
  /** How the camera sends its RTP: 'tcp' inside the RTSP connection (the default: one connection, through any firewall),
   *  or 'udp' (for a camera that streams badly over TCP; a camera refusing UDP is read over TCP). */
  rtspTransport: RtspTransport;
}

export const STREAM_READERS = ['plugin', 'ffmpeg'] as const;
export type StreamReader = typeof STREAM_READERS[number];
export const RTSP_TRANSPORTS = ['tcp', 'udp'] as const;
export type RtspTransport = typeof RTSP_TRANSPORTS[number];

export interface CourtyardConfig {
  name: string;
  cameras: CameraConfig[];
  /** The local manual trigger endpoint, when enabled. */
  triggers?: { port: number; bind: string };
  /** Opt-in ONVIF push: cameras call this port with their events (PullPoint stays the fallback per camera). */
  push?: { port: number; advertiseHost?: string };
  /** Path of the ffmpeg binary to use instead of the bundled or system one. */
  videoProcessor?: string;
  /** ffmpeg H.264 encoder for the cases the camera's video cannot be copied (libx264, h264_vaapi, h264_qsv, ...). */
  videoEncoder: string;
}

export interface ConfigResult {
  config: CourtyardConfig;
  /** One line each, naming the camera and the field: shown to the user as errors; those cameras are skipped. */
  errors: string[];
  /** Lines worth a warning that did not stop a camera (unknown options, trimmed values). */
  warnings: string[];
}

export const CAMERA_KEYS = new Set(['name', 'host', 'port', 'username', 'password', 'doorbell', 'events', 'motionHoldSeconds', 'sensors',
  'doorbellEvents', 'doorbellCooldownSeconds', 'doorbellSwitch', 'setClock', 'audio', 'maxStreams', 'recording', 'prebufferSeconds',
  'maxRecordingSeconds', 'streamReader', 'rtspTransport']);

/** A whole number of seconds in range, or the default when absent; a string of digits is accepted (UI forms save them). */
function seconds(raw: unknown, min: number, max: number): number | undefined | 'bad' {
  if (raw === undefined || raw === null || raw === '') {
    return undefined;
  }
  const n = typeof raw === 'string' ? Number(raw) : raw;
  return typeof n === 'number' && Number.isInteger(n) && n >= min && n <= max ? n : 'bad';
}

/** A list of event kinds, or 'bad'. */
function kinds(raw: unknown): EventKind[] | undefined | 'bad' {
  if (raw === undefined) {
    return undefined;
  }
  return Array.isArray(raw) && raw.every((k) => EVENT_KINDS.includes(k as EventKind)) ? [...new Set(raw as EventKind[])] : 'bad';
}

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How a camera is called in messages before we know its name is valid. */
function label(raw: Raw, index: number): string {
  return typeof raw.name === 'string' && raw.name.trim() ? `Camera "${raw.name.trim()}"` : `Camera #${index + 1}`;
}

/**
 * A URL (or user:password@host) pasted into "host", without its user info: everything up to the last '@' goes, since a
 * password may hold '@', '/' and ':' typed raw. So the error line that quotes it cannot show the password.
 */
function withoutUserInfo(text: string): string {
  const at = text.lastIndexOf('@');
  if (at < 0) {
    return text;
  }
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(text)?.[0] ?? '';
  return `${scheme}${text.slice(at + 1)}`;
}

/** An address option (bind, advertiseHost): written one way, or undefined when it is not a host at all. */
function addressOption(raw: unknown): string | undefined {
  if (typeof raw !== 'string') {
    return undefined;
  }
  const parsed = parseHost(raw);
  return 'host' in parsed ? parsed.host : undefined;
}

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
  const typed = raw.host.trim();
  if (typed.includes('://') || typed.includes('/')) {
    return fail('host', `must be only the camera's address, e.g. 192.168.1.20, not a URL ("${withoutUserInfo(typed)}")`);
  }
  // One spelling per address ([fd00::20] and fd00:0::20 are fd00::20): URLs, log lines and the duplicate check rely on it.
  const parsed = parseHost(typed);
  if ('problem' in parsed) {
    return fail('host', parsed.problem);
  }
  const { host } = parsed;
  if (isUnspecified(host)) {
    return fail('host', `"${typed}" means "any address" to a server; give the camera's own address`);
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
  const events: TopicMapping[] = [];
  if (raw.events !== undefined) {
    if (!Array.isArray(raw.events)) {
      return fail('events', 'must be a list of {"topic", "means"} entries');
    }
    for (const [i, e] of raw.events.entries()) {
      const where = `events[${i}]`;
      if (!isObject(e) || typeof e.topic !== 'string' || !e.topic.trim()) {
        return fail(where, 'needs a "topic", e.g. "tns1:VideoSource/Alarm"');
      }
      if (typeof e.means !== 'string' || !EVENT_KINDS.includes(e.means as EventKind)) {
        return fail(`${where}.means`, `must be one of ${EVENT_KINDS.join(', ')}`);
      }
      if ((e.item !== undefined && typeof e.item !== 'string') || (e.value !== undefined && typeof e.value !== 'string')) {
        return fail(where, '"item" and "value" must be text');
      }
      events.push({ topic: e.topic.trim(), item: e.item as string | undefined, value: e.value as string | undefined, kind: e.means as EventKind });
    }
  }
  const hold = seconds(raw.motionHoldSeconds, 1, 3600);
  if (hold === 'bad') {
    return fail('motionHoldSeconds', 'must be a whole number of seconds from 1 to 3600');
  }
  const cooldown = seconds(raw.doorbellCooldownSeconds, 0, 3600);
  if (cooldown === 'bad') {
    return fail('doorbellCooldownSeconds', 'must be a whole number of seconds from 0 to 3600');
  }
  const sensors = kinds(raw.sensors);
  if (sensors === 'bad') {
    return fail('sensors', `must be a list of event kinds: ${EVENT_KINDS.join(', ')}`);
  }
  const doorbellEvents = kinds(raw.doorbellEvents);
  if (doorbellEvents === 'bad') {
    return fail('doorbellEvents', `must be a list of event kinds: ${EVENT_KINDS.join(', ')}`);
  }
  const maxStreams = seconds(raw.maxStreams, 1, MAX_STREAMS_LIMIT);
  if (maxStreams === 'bad') {
    return fail('maxStreams', `must be a whole number of viewers from 1 to ${MAX_STREAMS_LIMIT}`);
  }
  const prebuffer = seconds(raw.prebufferSeconds, MIN_PREBUFFER_S, MAX_PREBUFFER_S);
  if (prebuffer === 'bad') {
    return fail('prebufferSeconds', `must be a whole number of seconds from ${MIN_PREBUFFER_S} (what home hubs ask for) to ${MAX_PREBUFFER_S}`);
  }
  const maxRecording = seconds(raw.maxRecordingSeconds, 10, 3600);
  if (maxRecording === 'bad') {
    return fail('maxRecordingSeconds', 'must be a whole number of seconds from 10 to 3600');
  }
  const reader = raw.streamReader ?? '';
  if (reader !== '' && !STREAM_READERS.includes(reader as StreamReader)) {
    return fail('streamReader', `must be "plugin" (the default) or "ffmpeg", not ${JSON.stringify(reader)}`);
  }
  const transport = raw.rtspTransport ?? '';
  if (transport !== '' && !RTSP_TRANSPORTS.includes(transport as RtspTransport)) {
    return fail('rtspTransport', `must be "tcp" (the default) or "udp", not ${JSON.stringify(transport)}`);
  }
  for (const field of ['doorbellSwitch', 'setClock', 'audio', 'recording'] as const) {
    if (raw[field] !== undefined && typeof raw[field] !== 'boolean') {
      return fail(field, 'must be true or false');
    }
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
    events,
    motionHoldSeconds: hold ?? DEFAULT_MOTION_HOLD_S,
    // The main motion sensor already shows motion; a second one for it would only duplicate notifications.
    sensors: (sensors ?? []).filter((k) => k !== 'motion'),
    doorbellEvents: doorbellEvents ?? [...DEFAULT_DOORBELL_EVENTS],
    doorbellCooldownSeconds: cooldown ?? DEFAULT_DOORBELL_COOLDOWN_S,
    doorbellSwitch: raw.doorbellSwitch === true,
    setClock: raw.setClock === true,
    audio: raw.audio !== false,
    maxStreams: maxStreams ?? DEFAULT_MAX_STREAMS,
    recording: raw.recording !== false,
    prebufferSeconds: prebuffer ?? MIN_PREBUFFER_S,
    maxRecordingSeconds: maxRecording ?? DEFAULT_MAX_RECORDING_S,
    streamReader: reader === '' ? 'plugin' : reader as StreamReader,
    rtspTransport: transport === '' ? 'tcp' : transport as RtspTransport,
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
    videoEncoder: DEFAULT_VIDEO_ENCODER,
  };
  if (block.videoEncoder !== undefined && block.videoEncoder !== '') {
    if (typeof block.videoEncoder === 'string' && /^[\w-]+$/.test(block.videoEncoder.trim())) {
      config.videoEncoder = block.videoEncoder.trim();
    } else {
      errors.push(`"videoEncoder" must be the name of an ffmpeg H.264 encoder, e.g. libx264 or h264_vaapi; using ${DEFAULT_VIDEO_ENCODER}`);
    }
  }

  if (block.videoProcessor !== undefined && block.videoProcessor !== '') {
    if (typeof block.videoProcessor === 'string') {
      config.videoProcessor = block.videoProcessor.trim();
    } else {
      errors.push('"videoProcessor" must be the path of an ffmpeg binary; using the default ffmpeg instead');
    }
  }

  if (block.triggers !== undefined && block.triggers !== null) {
    const t = block.triggers;
    const port = isObject(t) ? (typeof t.port === 'string' ? Number(t.port) : t.port) : undefined;
    if (!isObject(t) || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push('"triggers"."port" must be a whole number from 1 to 65535; manual triggers stay off');
    } else if (t.bind !== undefined && addressOption(t.bind) === undefined) {
      errors.push('"triggers"."bind" must be an IP address of this machine, e.g. 127.0.0.1; manual triggers stay off');
    } else {
      // Brackets off: listen() takes ::1, and fails to resolve [::1] as a host name.
      config.triggers = { port, bind: t.bind === undefined ? DEFAULT_TRIGGERS_BIND : addressOption(t.bind)! };
    }
  }

  if (block.push !== undefined && block.push !== null) {
    const p = block.push;
    const port = isObject(p) ? (typeof p.port === 'string' ? Number(p.port) : p.port) : undefined;
    if (!isObject(p) || typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push('"push"."port" must be a whole number from 1 to 65535; cameras use PullPoint instead');
    } else if (p.advertiseHost !== undefined && p.advertiseHost !== ''
      && (addressOption(p.advertiseHost) === undefined || isUnspecified(addressOption(p.advertiseHost)!))) {
      errors.push('"push"."advertiseHost" must be this machine\'s address as the cameras reach it; cameras use PullPoint instead');
    } else {
      config.push = { port, advertiseHost: p.advertiseHost ? addressOption(p.advertiseHost) : undefined };
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
      const addressKey = `${hostKey(cam.host)}:${cam.port}`;
      if (byName.has(nameKey)) {
        errors.push(`Camera "${cam.name}": "name" is used by camera #${byName.get(nameKey)! + 1} too; give each camera its own name`);
      } else if (byAddress.has(addressKey)) {
        errors.push(`Camera "${cam.name}": "host" ${hostPort(cam.host, cam.port)} is the same camera as #${byAddress.get(addressKey)! + 1}; ` +
          'it is added once');
      } else {
        byName.set(nameKey, i);
        byAddress.set(addressKey, i);
        config.cameras.push(cam);
      }
    });
  }
  return { config, errors, warnings };
}
