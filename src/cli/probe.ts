// `homebridge-courtyard probe`: everything the plugin will learn from one camera, printed for a human (or as JSON),
// so a user can check a camera before adding it and paste the result into a bug report without their password.
import { DeviceInfo, OnvifDevice } from '../onvif/device';
import { MediaProfile } from '../onvif/profiles';
import { SoapError } from '../onvif/soap';
import { CHECK_SNAPSHOT_TIMEOUT_MS, CLOCK_OFFSET_REPORT_MS, SNAPSHOT_MAX_BYTES } from '../settings';
import { hostPort } from '../util/address';
import { humanDuration } from '../util/backoff';
import { httpGet } from '../util/http-get';
import { registerSecret } from '../util/redact';
import type { ProbeArgs } from './args';
import { jpegSize } from '../util/jpeg';
import { EXIT_AUTH, EXIT_FAILED, EXIT_OK, Output, isAuthError, jsonText, messageOf, redacting } from './output';
import { EventsReport, listenForEvents } from './probe-events';
import { probeVideo, VideoReport } from './probe-video';

export interface ProfileReport extends MediaProfile {
  streamUri?: string;
  streamUriError?: string;
  snapshotUri?: string;
  snapshotUriError?: string;
  /** HomeKit shows H.264 only: the plugin would transcode this profile. */
  transcode: boolean;
}

export interface SnapshotReport {
  profile: string;
  uri: string;
  bytes?: number;
  width?: number;
  height?: number;
  contentType?: string;
  auth?: 'none' | 'basic' | 'digest';
  ms?: number;
  error?: string;
}

export interface ProbeReport {
  camera: { host: string; port: number };
  device?: DeviceInfo;
  clock?: { known: boolean; offsetMs: number; warning?: string };
  services?: { media: boolean; media2: boolean; events: boolean };
  profiles?: ProfileReport[];
  snapshot?: SnapshotReport;
  events?: EventsReport;
  /** How live view and recording would treat each stream the plugin reads: copy, or transcode and why. */
  video?: VideoReport[];
  /** Non-fatal failures (one snapshot, one URI, the events); any of them makes the exit code non-zero. */
  problems: string[];
  error?: { kind: string; message: string };
}

/** "2 h 0 min ahead": the clock difference as people read it. */
function clockText(offsetMs: number): string {
  if (Math.abs(offsetMs) < 1_000) {
    return `${(Math.abs(offsetMs) / 1000).toFixed(1)} s ${offsetMs < 0 ? 'behind' : 'ahead of'} this computer`;
  }
  return `${humanDuration(offsetMs)} ${offsetMs < 0 ? 'behind' : 'ahead of'} this computer`;
}

const fpsText = (fps: number): string => (Number.isInteger(fps) ? String(fps) : fps.toFixed(2));

/** One line per profile, e.g. `H264 1920x1080 @ 25 fps, 4096 kbps, keyframe every 50 frames (2.0 s), H.264 Main, audio G711 8 kHz`. */
export function profileSummary(p: MediaProfile): string {
  const parts = [`${p.encoding} ${p.width}x${p.height}${p.fps ? ` @ ${fpsText(p.fps)} fps` : ''}`];
  if (p.bitrateKbps) {
    parts.push(`${p.bitrateKbps} kbps`);
  }
  if (p.govLength) {
    parts.push(`keyframe every ${p.govLength} frames${p.fps ? ` (${(p.govLength / p.fps).toFixed(1)} s)` : ''}`);
  }
  if (p.h264Profile) {
    parts.push(`${p.isH265 ? 'H.265' : /MPEG4/i.test(p.encoding) ? 'MPEG-4' : 'H.264'} ${p.h264Profile}`);
  }
  if (p.audio) {
    const rate = p.audio.sampleRateHz ? ` ${p.audio.sampleRateHz / 1000} kHz` : '';
    const kbps = p.audio.bitrateKbps ? ` ${p.audio.bitrateKbps} kbps` : '';
    parts.push(`audio ${p.audio.encoding}${rate}${kbps}`);
  } else {
    parts.push('no audio');
  }
  return parts.join(', ');
}

/** The one line that says what stopped the probe; a refused login mentions the camera's clock when it is far off. */
function fatalLine(err: unknown, step: string, where: string, device: OnvifDevice): string {
  const off = device.clockKnown && Math.abs(device.clockOffsetMs) >= CLOCK_OFFSET_REPORT_MS
    ? ` (camera clock ${humanDuration(device.clockOffsetMs)} off)` : '';
  if (isAuthError(err)) {
    return `${messageOf(err)}${off}`;
  }
  if (err instanceof SoapError && (err.kind === 'unreachable' || err.kind === 'timeout')) {
    return `camera at ${where} ${err.kind === 'timeout' ? 'did not answer' : 'unreachable'}: ${err.message}`;
  }
  return `${step} failed: ${messageOf(err)}`;
}

/**
 * Probes one camera and prints the result on `output` (text as it goes, or one JSON document at the end). Returns
 * the exit code: 0, EXIT_AUTH when the camera refused the credentials, EXIT_FAILED for anything else. The signal
 * ends the event listening early (Ctrl-C) and cancels any call in flight.
 */
export async function runProbe(args: ProbeArgs, output: Output, signal?: AbortSignal): Promise<number> {
  registerSecret(args.password);
  const out = redacting(output);
  const print = args.json ? null : (text: string): void => out.line(text);
  const where = hostPort(args.host, args.port);
  const report: ProbeReport = { camera: { host: args.host, port: args.port }, problems: [] };
  const device = new OnvifDevice({ host: args.host, port: args.port, username: args.username, password: args.password });
  let authProblem = false;
  const problem = (text: string, err?: unknown): void => {
    report.problems.push(text);
    authProblem ||= isAuthError(err);
  };
  const finish = (code: number): number => {
    if (args.json) {
      out.line(jsonText(report));
    }
    return code;
  };

  let step = 'GetSystemDateAndTime / GetCapabilities';
  try {
    await device.connect(signal);
    step = 'GetDeviceInformation';
    report.device = await device.getDeviceInformation(signal);
    report.clock = { known: device.clockKnown, offsetMs: Math.round(device.clockOffsetMs) };
    report.services = { media: Boolean(device.urls.media), media2: Boolean(device.urls.media2), events: Boolean(device.urls.events) };
    printDevice(report, where, print);
    step = 'GetProfiles';
    const profiles = await device.getProfiles(signal);
    report.profiles = [];
    print?.(`Profiles    ${profiles.length}`);
    for (const p of profiles) {
      report.profiles.push(await describeProfile(device, p, print, problem, signal));
    }
  } catch (err) {
    const line = signal?.aborted ? 'cancelled' : fatalLine(err, step, where, device);
    report.error = { kind: err instanceof SoapError ? err.kind : 'error', message: line };
    out.error(line);
    return finish(isAuthError(err) ? EXIT_AUTH : EXIT_FAILED);
  }
  if (report.profiles.length === 0) {
    problem('the camera lists no video profile: nothing to stream');
    print?.('            no video profile: nothing to stream');
  }

  report.snapshot = await snapshot(report.profiles, args, print, problem, signal);

  if (args.video && !signal?.aborted) {
    report.video = await probeVideo(report.profiles, args.username, args.password, print, signal);
    report.video.filter((v) => v.error).forEach((v) => problem(`video ${v.stream}: ${v.error}`));
  }

  if (args.eventsS > 0 && !signal?.aborted) {
    report.events = await listenForEvents(device, args.eventsS, print, signal);
    if (!report.events.subscribed) {
      problem(`events: could not subscribe${report.events.problems.length ? ` (${report.events.problems.at(-1)})` : ''}`);
    }
  }

  for (const p of report.problems) {
    out.error(`problem: ${p}`);
  }
  return finish(report.problems.length === 0 ? EXIT_OK : authProblem ? EXIT_AUTH : EXIT_FAILED);
}

function printDevice(report: ProbeReport, where: string, print: ((text: string) => void) | null): void {
  const d = report.device!;
  const clock = report.clock!;
  print?.(`Camera      ${d.manufacturer} ${d.model} at ${where}`);
  print?.(`Firmware    ${d.firmware || '(not given)'}`);
  print?.(`Serial      ${d.serial || '(not given)'}${d.hardwareId ? `, hardware ${d.hardwareId}` : ''}`);
  if (!clock.known) {
    print?.('Clock       the camera does not tell its time; requests are signed with this computer\'s');
  } else {
    print?.(`Clock       camera ${clockText(clock.offsetMs)}`);
    if (Math.abs(clock.offsetMs) >= CLOCK_OFFSET_REPORT_MS) {
      clock.warning = `camera clock is ${clockText(clock.offsetMs)}: the plugin compensates when signing, but event ` +
        'and recording times will be off; turn on NTP in the camera';
      print?.(`            WARNING: ${clock.warning}`);
    }
  }
  const s = report.services!;
  const names = [s.media && 'media', s.media2 && 'media2 (H.265 aware)', s.events && 'events'].filter(Boolean).join(', ');
  print?.(`Services    ${names || '(none listed)'}`);
  if (!s.events) {
    print?.('            WARNING: no event service listed: motion and doorbell events will not work');
  }
}

async function describeProfile(device: OnvifDevice, p: MediaProfile, print: ((text: string) => void) | null,
  problem: (text: string, err?: unknown) => void, signal?: AbortSignal): Promise<ProfileReport> {
  const r: ProfileReport = { ...p, transcode: p.isH265 || !/^H264$/i.test(p.encoding) };
  print?.(`  ${p.token} "${p.name}": ${profileSummary(p)}`);
  if (p.isH265) {
    print?.('    HomeKit needs H.264: this profile would be transcoded');
  } else if (r.transcode) {
    print?.(`    HomeKit needs H.264: this ${p.encoding} profile would be transcoded`);
  }
  try {
    r.streamUri = await device.getStreamUri(p.token, signal);
    print?.(`    stream    ${r.streamUri}`);
  } catch (err) {
    r.streamUriError = messageOf(err);
    print?.(`    stream    not available: ${r.streamUriError}`);
    problem(`GetStreamUri ${p.token}: ${r.streamUriError}`, err);
  }
  try {
    r.snapshotUri = await device.getSnapshotUri(p.token, signal);
    print?.(`    snapshot  ${r.snapshotUri}`);
  } catch (err) {
    // Many cameras have no snapshot on some profiles; the plugin then takes a frame from the stream.
    r.snapshotUriError = messageOf(err);
    print?.(`    snapshot  not available: ${r.snapshotUriError}`);
  }
  return r;
}

/** Fetches the first profile's snapshot (the main stream's, on every camera we know) and reads its dimensions. */
async function snapshot(profiles: ProfileReport[], args: ProbeArgs, print: ((text: string) => void) | null,
  problem: (text: string, err?: unknown) => void, signal?: AbortSignal): Promise<SnapshotReport | undefined> {
  const from = profiles.find((p) => p.snapshotUri);
  if (!from?.snapshotUri) {
    print?.('Snapshot    no profile has a snapshot URI: the plugin will take frames from the stream');
    return undefined;
  }
  const r: SnapshotReport = { profile: from.token, uri: from.snapshotUri };
  const started = Date.now();
  try {
    const reply = await httpGet(from.snapshotUri, {
      username: args.username, password: args.password, timeoutMs: CHECK_SNAPSHOT_TIMEOUT_MS, maxBytes: SNAPSHOT_MAX_BYTES, signal,
    });
    r.ms = Date.now() - started;
    r.bytes = reply.body.length;
    r.contentType = reply.contentType;
    r.auth = reply.auth;
    const size = jpegSize(reply.body);
    if (size) {
      r.width = size.width;
      r.height = size.height;
    }
    const what = size ? `JPEG ${size.width}x${size.height}` : `not a readable JPEG (${reply.contentType ?? 'no content type'})`;
    const auth = reply.auth === 'none' ? 'no auth' : `${reply.auth === 'digest' ? 'Digest' : 'Basic'} auth`;
    print?.(`Snapshot    ${r.bytes} bytes, ${what}, from ${from.token} (${auth}, ${r.ms} ms)`);
    if (!size) {
      problem(`snapshot from ${from.token} is not a readable JPEG`);
    }
  } catch (err) {
    r.error = messageOf(err);
    print?.(`Snapshot    failed: ${r.error}`);
    problem(`snapshot from ${from.token}: ${r.error}`, err);
  }
  return r;
}
