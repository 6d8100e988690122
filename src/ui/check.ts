// "Check a camera" on the settings page: what `probe` learns, turned into verdicts a committee member can act on.
// The probe itself is reused as it is (its JSON report, already redacted); this module only words the result.
import { parseConfig, CameraConfig } from '../config';
import { ProbeReport, profileSummary, runProbe } from '../cli/probe';
import type { VideoReport } from '../cli/probe-video';
import { OnvifDevice } from '../onvif/device';
import { kindsOffered, EventKind } from '../onvif/topics';
import { CHECK_SNAPSHOT_TIMEOUT_MS, CLOCK_OFFSET_REPORT_MS, UI_SNAPSHOT_MAX_BYTES } from '../settings';
import { hostPort } from '../util/address';
import { humanDuration } from '../util/backoff';
import { httpGet } from '../util/http-get';
import { jpegSize } from '../util/jpeg';
import { redact, registerSecret } from '../util/redact';
import { UiError } from './bounded';

/** One finding: what is wrong and what to change, each a sentence. `level` decides its colour on the page. */
export interface Finding {
  level: 'error' | 'warning' | 'info';
  text: string;
}

export interface StreamVerdict {
  stream: string;
  /** e.g. "h264 1920x1080 15 fps, keyframe every 4.0 s, 2010 kbps, audio aac". */
  summary?: string;
  live?: { copy: boolean; text: string };
  recording?: { copy: boolean; text: string };
  error?: string;
}

export interface CheckAnswer {
  /** ok: nothing to fix; warning: works, with something worth changing; the fatal case is a UiError instead. */
  verdict: 'ok' | 'warning';
  camera: { name: string; address: string };
  device: { manufacturer: string; model: string; firmware: string; serial: string };
  clock: { known: boolean; offsetMs: number; text: string; fix?: string; manualTime?: boolean };
  profiles: Array<{ token: string; name: string; summary: string; h265: boolean; transcode: boolean }>;
  streams: StreamVerdict[];
  events: { service: boolean; kinds: EventKind[]; topics: number; error?: string };
  snapshot?: { ok: boolean; width?: number; height?: number; ms?: number; auth?: string; error?: string };
  findings: Finding[];
}

/** A camera entry from the page (the form's values), validated by the plugin's own config rules. */
export function cameraFrom(raw: unknown): CameraConfig {
  const entry = typeof raw === 'object' && raw !== null && !Array.isArray(raw) ? { ...raw as Record<string, unknown> } : {};
  // A camera being set up may have no name yet; checking it should not wait for one.
  if (typeof entry.name !== 'string' || !entry.name.trim()) {
    entry.name = typeof entry.host === 'string' && entry.host.trim() ? entry.host.trim() : 'this camera';
  }
  const { config, errors } = parseConfig({ cameras: [entry] });
  if (errors.length > 0 || config.cameras.length !== 1) {
    throw new UiError(`${errors[0] ?? 'The camera entry is not valid'}.`, { field: true });
  }
  registerSecret(config.cameras[0].password);
  return config.cameras[0];
}

const PORT_HINT = 'the ONVIF port (80 on most cameras, 8000 on many Reolink, 2020 on TP-Link Tapo)';

/** The sentence for a probe that could not get through: what happened and what to change. */
export function fatalSentence(report: Pick<ProbeReport, 'error' | 'clock'>, cam: Pick<CameraConfig, 'host' | 'port' | 'username'>): string {
  const where = hostPort(cam.host, cam.port);
  const kind = report.error?.kind ?? 'error';
  const message = report.error?.message ?? 'unknown error';
  const clock = /camera clock ([^)]+) off/.exec(message)?.[1];
  switch (kind) {
    case 'auth':
      return `The camera at ${where} refused the user "${cam.username || '(none)'}" and its password: check the username and ` +
        'password of an ONVIF user (Hikvision, Tapo and Reolink keep ONVIF users apart from the web login)' +
        (clock ? `; the camera's clock is also ${clock} off, which makes some cameras refuse logins: turn on NTP in the camera.` : '.');
    case 'unreachable':
      return /refused/.test(message)
        ? `Nothing accepts connections on port ${cam.port} of ${cam.host}: check ${PORT_HINT}, and that ONVIF is turned on in the camera.`
        : `The camera at ${where} cannot be reached (${message.replace(/^.*unreachable: /, '')}): check its address and that it is ` +
          'on the same network as the Homebridge server.';
    case 'timeout':
      return `The camera at ${where} did not answer in time: check its address and ${PORT_HINT}.`;
    case 'http':
    case 'bad-reply':
      return `Something answers at ${where}, but not as an ONVIF camera: check ${PORT_HINT}, and turn on ONVIF in the camera's ` +
        'network settings (sometimes called "Integration protocol" or "Open Network Video Interface").';
    case 'fault':
      return `The camera at ${where} refused a basic ONVIF request (${message.replace(/^.*failed: /, '')}): turn on ONVIF in the ` +
        'camera and give the user ONVIF access; update its firmware if it still refuses.';
    default:
      return `The check of ${where} failed: ${message}.`;
  }
}

/** "2 h 0 min ahead of this server" / "0.3 s behind this server". */
function clockText(offsetMs: number): string {
  const size = Math.abs(offsetMs) < 1_000 ? `${(Math.abs(offsetMs) / 1000).toFixed(1)} s` : humanDuration(offsetMs);
  return `${size} ${offsetMs < 0 ? 'behind' : 'ahead of'} the Homebridge server`;
}

function facts(v: VideoReport): string | undefined {
  const f = v.facts;
  if (!f) {
    return undefined;
  }
  const gop = f.keyframeIntervalMs === undefined ? '?' : `${(f.keyframeIntervalMs / 1000).toFixed(1)} s`;
  return `${f.codec ?? '?'} ${f.width ?? '?'}x${f.height ?? '?'} ${f.fps ?? '?'} fps, keyframe every ${gop}, ${f.bitrateKbps ?? '?'} kbps` +
    `${f.audio ? `, audio ${f.audio}` : ', no audio'}`;
}

/** Live view and recording, each "copied" or "transcoded because …; <the camera setting to change>". */
export function streamVerdicts(video: VideoReport[]): StreamVerdict[] {
  return video.map((v) => ({
    stream: v.stream,
    summary: facts(v),
    live: v.live && {
      copy: v.live.copy,
      text: v.live.copy ? 'copied as the camera sends it' : `transcoded: ${v.live.reason ?? 'the stream cannot be copied'}`,
    },
    recording: v.recording && {
      copy: v.recording.copy,
      text: v.recording.copy ? 'copied as the camera sends it (no transcoding)' : `transcoded: ${v.recording.reason ?? 'the stream cannot be copied'}`,
    },
    error: v.error && redact(v.error),
  }));
}

/** Runs `probe` as the command line does, in JSON, and reads its report back. */
async function probeReport(cam: CameraConfig, video: boolean, signal: AbortSignal): Promise<ProbeReport> {
  const lines: string[] = [];
  await runProbe({ command: 'probe', host: cam.host, port: cam.port, username: cam.username, password: cam.password, eventsS: 0, video,
    json: true }, { line: (t) => lines.push(t), error: () => undefined }, signal);
  if (lines.length !== 1) {
    throw new UiError(`The check of ${hostPort(cam.host, cam.port)} ended without a report; try again.`);
  }
  return JSON.parse(lines[0]) as ProbeReport;
}

/** The event kinds the camera lists (GetEventProperties), judged with the plugin's topic table. */
async function offeredEvents(cam: CameraConfig, signal: AbortSignal): Promise<{ kinds: EventKind[]; topics: number; error?: string }> {
  try {
    const device = new OnvifDevice(cam);
    await device.connect(signal);
    const topics = await device.getEventTopics(signal);
    return { kinds: [...kindsOffered(topics)], topics: topics.length };
  } catch (err) {
    return { kinds: [], topics: 0, error: redact((err as Error).message) };
  }
}

/**
 * Checks one camera as the plugin would use it. Resolves with the findings when the camera answered at all; rejects
 * with one UiError sentence (what to fix) when it could not be reached or refused the login.
 */
export async function checkCamera(raw: unknown, opts: { video: boolean }, signal: AbortSignal): Promise<CheckAnswer> {
  const cam = cameraFrom(raw);
  // The topic list is read beside the probe: it is one more short SOAP call, and the probe's video part takes seconds.
  const [report, events] = await Promise.all([probeReport(cam, opts.video, signal), offeredEvents(cam, signal)]);
  if (signal.aborted) {
    throw signal.reason instanceof UiError ? signal.reason : new UiError('The check was cancelled.');
  }
  if (report.error || !report.device) {
    throw new UiError(fatalSentence(report, cam), { kind: report.error?.kind ?? 'error' });
  }
  const findings: Finding[] = [];
  const offset = report.clock?.offsetMs ?? 0;
  const clock: CheckAnswer['clock'] = {
    known: report.clock?.known ?? false, offsetMs: offset,
    text: report.clock?.known ? clockText(offset) : 'the camera does not tell its time',
  };
  if (clock.known && Math.abs(offset) >= CLOCK_OFFSET_REPORT_MS) {
    clock.fix = 'Turn on NTP (automatic time) in the camera\'s settings, or tick "Set the camera\'s clock" for this camera ' +
      'so the plugin sets it when the camera is on manual time.';
    findings.push({ level: 'warning', text: `The camera's clock is ${humanDuration(offset)} off. The plugin still logs in, but event ` +
      `times will be wrong. ${clock.fix}` });
  }
  const profiles = (report.profiles ?? []).map((p) => ({
    token: p.token, name: p.name, summary: profileSummary(p), h265: p.isH265, transcode: p.transcode,
  }));
  if (profiles.length === 0) {
    findings.push({ level: 'error', text: 'The camera lists no video profile, so there is nothing to show in Home: add a stream ' +
      '(H.264) in the camera\'s video settings.' });
  }
  const streams = streamVerdicts(report.video ?? []);
  for (const s of streams) {
    if (s.error) {
      findings.push({ level: 'error', text: `The ${s.stream} stream could not be read (${s.error}): check that RTSP is turned on in ` +
        'the camera and that this user may watch video.' });
    }
    if (s.live && !s.live.copy) {
      findings.push({ level: 'warning', text: `Live view of the ${s.stream} stream is ${s.live.text}.` });
    }
    if (s.recording && !s.recording.copy && s.stream === 'main') {
      findings.push({ level: 'warning', text: `HomeKit Secure Video recording is ${s.recording.text}; copying costs far less CPU.` });
    }
  }
  for (const p of profiles.filter((x) => x.transcode)) {
    findings.push({ level: 'info', text: `Profile "${p.name}" is not H.264, which HomeKit needs; set it to H.264 in the camera if ` +
      'the plugin uses it.' });
  }
  const service = report.services?.events ?? false;
  if (!service) {
    findings.push({ level: 'error', text: 'The camera lists no ONVIF event service, so motion and doorbell will not work: turn on ' +
      'ONVIF events in the camera, or use manual triggers.' });
  } else if (events.error) {
    findings.push({ level: 'warning', text: `The camera's event list could not be read (${events.error}); use "Learn an event" to ` +
      'see what it sends.' });
  }
  const snap = report.snapshot;
  if (!snap) {
    findings.push({ level: 'info', text: 'The camera has no snapshot address: the plugin takes snapshots from the video stream.' });
  } else if (snap.error) {
    findings.push({ level: 'warning', text: `The camera's snapshot could not be fetched (${redact(snap.error)}): the plugin takes ` +
      'snapshots from the video stream instead; check that this user may fetch snapshots.' });
  }
  return {
    verdict: findings.some((f) => f.level !== 'info') ? 'warning' : 'ok',
    camera: { name: cam.name, address: hostPort(cam.host, cam.port) },
    device: { manufacturer: report.device.manufacturer, model: report.device.model, firmware: report.device.firmware, serial: report.device.serial },
    clock,
    profiles,
    streams,
    events: { service, kinds: events.kinds, topics: events.topics, error: events.error },
    snapshot: snap && { ok: !snap.error, width: snap.width, height: snap.height, ms: snap.ms, auth: snap.auth, error: snap.error && redact(snap.error) },
    findings,
  };
}

/** One live snapshot from the camera's first profile with a snapshot address, as a data URL for an <img>. */
export async function snapshotOf(raw: unknown, signal: AbortSignal): Promise<{ dataUrl: string; width?: number; height?: number; at: number }> {
  const cam = cameraFrom(raw);
  const where = hostPort(cam.host, cam.port);
  const device = new OnvifDevice(cam);
  let uri: string | undefined;
  try {
    await device.connect(signal);
    for (const p of await device.getProfiles(signal)) {
      uri = await device.getSnapshotUri(p.token, signal).catch(() => undefined);
      if (uri) {
        break;
      }
    }
  } catch (err) {
    throw new UiError(fatalSentence({ error: { kind: (err as { kind?: string }).kind ?? 'error', message: redact((err as Error).message) } }, cam));
  }
  if (!uri) {
    throw new UiError(`The camera at ${where} has no snapshot address; the plugin takes snapshots from the video stream instead.`);
  }
  try {
    const reply = await httpGet(uri, { username: cam.username, password: cam.password, timeoutMs: CHECK_SNAPSHOT_TIMEOUT_MS,
      maxBytes: UI_SNAPSHOT_MAX_BYTES, signal });
    const size = jpegSize(reply.body);
    if (!size) {
      throw new UiError(`The camera's snapshot is not a JPEG picture (${reply.contentType ?? 'no content type'}).`);
    }
    return { dataUrl: `data:image/jpeg;base64,${reply.body.toString('base64')}`, width: size.width, height: size.height, at: Date.now() };
  } catch (err) {
    if (err instanceof UiError) {
      throw err;
    }
    throw new UiError(`The camera's snapshot could not be fetched (${redact((err as Error).message)}): check that this user may fetch ` +
      'snapshots.');
  }
}
