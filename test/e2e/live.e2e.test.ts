// Live view and snapshots end to end, with the test acting as the Home app: a real Homebridge with the plugin and one
// simulated camera ("maxStreams": 2) is paired; streams are negotiated exactly as iOS does (SetupEndpoints with our
// SRTP keys, SelectedRTPStreamConfiguration START/END), the SRTP arriving on our own UDP ports is decrypted and decoded
// (by the rig and, independently, by ffmpeg), and checked for the camera profile the request should get: 1280x720 →
// the 1920x1080 main stream copied, 320x240 → the 640x360 sub stream. Copied video is sent by the plugin itself: a
// viewer without audio has no ffmpeg at all, one with Opus audio exactly one audio-only ffmpeg. Then what must hold
// around it: two viewers sharing ONE RTSP read of the camera, END and a viewer that stops sending RTCP both stop the
// packets and their ffmpeg, every ffmpeg and RTSP session gone once nobody watches, snapshots of the width asked for,
// and a clean log.
import assert from 'node:assert/strict';
import {
  AudioCodec,
  CameraStreamClient,
  currentHbLine,
  describeProcess,
  H264Profile,
  HapClient,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  pollUntil,
  ProcessInfo,
  ServiceType,
  SetupStatus,
  sleep,
  startHomebridge,
  startSim,
  stopAll,
  StreamingStatus,
  streamNow,
  StreamSession,
  withTimeout,
} from './rig';
import { decodeSrtp, jpegFrameHeader, probe } from './rig/media-probe';
import type { SrtpKeys } from './rig/stream-client';
import { ffmpegsOf, untilGone } from './rig/ffmpeg-procs';
import type { CameraSim, SimCamera } from '../../tools/camera-sim';
import { SOURCE_IDLE_STOP_MS } from '../../src/settings';

const line = currentHbLine();

const CAMERA_NAME = 'Terrace';
/** The simulator's profiles: main 1920x1080 15 fps H.264 Main with AAC 16 kHz, sub 640x360. */
const MAIN = { width: 1920, height: 1080 } as const;
const SUB = { width: 640, height: 360 } as const;

const PUBLISH_TIMEOUT_MS = 45_000;
/** START → first decodable keyframe; a cold start waits for the camera's next keyframe (the sim sends one every 4 s). */
const KEYFRAME_TIMEOUT_MS = 15_000;
const PACKETS_TIMEOUT_MS = 10_000;
/** Video worth decoding: 2 s at 15 fps (a 1080p frame takes a dozen RTP packets or more). */
const VIDEO_FRAMES = 30;
/** Opus at 20 ms per packet: 2 s. */
const AUDIO_PACKETS = 100;
/** After END, packets stop within this (ffmpeg gets `q`; the last datagrams in flight still land). */
const STOP_BOUND_MS = 2_000;
/** No datagram for this long counts as stopped. */
const QUIET_MS = 1_000;
/** The bound for a viewer that went silent: the plugin waits 5 s without RTCP, the stream ends by 8 s. */
const RTCP_SILENCE_MIN_MS = 4_000;
const RTCP_SILENCE_MAX_MS = 8_000;
/** An ffmpeg the plugin stops is gone by then: `q`, 1 s, SIGTERM, 2 s, SIGKILL, plus reaping. */
const FFMPEG_GONE_MS = 6_000;
/** The camera's stream is read on for SOURCE_IDLE_STOP_MS after its last viewer, then its read stops (bounded as above). */
const SOURCE_GONE_MS = SOURCE_IDLE_STOP_MS + FFMPEG_GONE_MS + 2_000;
const SNAPSHOT_TIMEOUT_MS = 10_000;

/** The camera's shared live sound encoders (live-audio.ts): the camera's AAC on stdin, plain RTP to the plugin on loopback. */
function soundEncoders(hb: HomebridgeProcess): ProcessInfo[] {
  return ffmpegsOf(hb).filter((p) => p.cmdline.includes('-f aac -i pipe:0') && / rtp:\/\/(127\.0\.0\.1|\[::1\]):/.test(p.cmdline));
}

/**
 * The plugin's ffmpegs serving this viewer: one sending SRTP to its ports (a transcoded view), or, when it receives
 * sound, the camera's shared sound encoder (the plugin relays its packets to each listener with the listener's keys).
 */
function sessionFfmpegs(hb: HomebridgeProcess, session: StreamSession): ProcessInfo[] {
  const own = ffmpegsOf(hb).filter((p) => [session.video.port, session.audio.port].some((port) => p.cmdline.includes(`srtp://127.0.0.1:${port}?`)));
  return [...own, ...(session.stats().audio.rtpPackets > 0 ? soundEncoders(hb) : [])];
}

/** Every ffmpeg of Homebridge that neither reads the camera nor is one of `allowed`: a viewer's, of whatever kind. */
function otherFfmpegs(hb: HomebridgeProcess, allowed: ProcessInfo[]): ProcessInfo[] {
  return ffmpegsOf(hb).filter((p) => !/rtsp:\/\//.test(p.cmdline) && !allowed.some((a) => a.pid === p.pid));
}

/** The one ffmpeg a copied view with sound has: the camera's sound encoder, audio only, to the plugin (not to the viewer:
 *  the plugin encrypts and sends each listener's copy from the viewer's audio port). */
function assertAudioOnly(procs: ProcessInfo[], session: StreamSession): void {
  assert.equal(procs.length, 1, `one ffmpeg for this viewer: ${procs.map(describeProcess).join('; ')}`);
  assert.match(procs[0].cmdline, /-map 0:a:0/, 'it maps the audio');
  assert.doesNotMatch(procs[0].cmdline, /-map 0:v|-c:v/, 'and no video: the plugin sends that');
  assert.doesNotMatch(procs[0].cmdline, /srtp/, 'plain RTP to the plugin, which keeps the viewers\' keys');
  assert.ok(session.stats().audio.rtpPackets > 0 && session.stats().audio.authFailures === 0, 'the viewer gets sound under its own key');
}

/** The plugin's ffmpeg reading the camera's RTSP path (`/main` or `/sub`). */
function sourceFfmpegs(hb: HomebridgeProcess, path: 'main' | 'sub'): ProcessInfo[] {
  return ffmpegsOf(hb).filter((p) => /rtsp:\/\//.test(p.cmdline) && p.cmdline.includes(`/${path} `));
}

/** RTSP sessions the simulator counts on the camera's main and sub paths. */
async function rtspSessions(cam: SimCamera): Promise<{ main: number; sub: number }> {
  const sessions = (await cam.fullStats()).rtspSessions ?? {};
  const count = (suffix: string): number => Object.entries(sessions).find(([path]) => path.endsWith(suffix))?.[1] ?? 0;
  return { main: count('/main'), sub: count('/sub') };
}

/** The keys the accessory encrypts with (from its SetupEndpoints answer). */
function accessoryKeys(session: StreamSession, kind: 'video' | 'audio'): SrtpKeys {
  const srtp = kind === 'video' ? session.answer.videoSrtp : session.answer.audioSrtp;
  assert.ok(srtp, `the SetupEndpoints answer has ${kind} SRTP parameters`);
  return { key: srtp.key, salt: srtp.salt };
}

/** Until the rig has reassembled `n` whole H.264 access units on this session (bounded). */
function waitForFrames(session: StreamSession, n: number, timeoutMs: number): Promise<number> {
  return session.video.waitFor(() => {
    const frames = session.video.snapshot().frames;
    return frames >= n ? frames : undefined;
  }, timeoutMs, `${n} H.264 frames`);
}

/** Time of the last datagram of either kind (streamNow() ms), or 0. */
function lastArrival(session: StreamSession): number {
  const s = session.stats();
  return Math.max(s.video.lastDatagramAt ?? 0, s.audio.lastDatagramAt ?? 0);
}

function ms(value: number | undefined): string {
  return value === undefined ? '?' : `${Math.round(value)} ms`;
}

describe(`[HB ${line}] live view and snapshots, as the Home app sees them`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  let hap: HapClient;
  /** A second controller connection (a second iPhone) with the same pairing. */
  let phone2: HapClient;
  let aid: number;
  let cam: SimCamera;
  let viewerA: StreamSession | undefined;
  let viewerB: StreamSession | undefined;
  let clientA: CameraStreamClient;
  let clientB: CameraStreamClient;

  before(async function () {
    this.timeout(90_000);
    sim = await startSim({ cameras: [{ name: CAMERA_NAME, vendor: 'hikvision' }] });
    cam = sim.cameras[0];
    hb = await startHomebridge({ platforms: [platformConfigFor(sim, { cameras: [{ maxStreams: 2 }] })] });
    hap = await pairWith(hb);
    const list = await hap.waitForAccessories(
      (l) => (l.byName(CAMERA_NAME)?.servicesOfType(ServiceType.CameraRTPStreamManagement).length ?? 0) >= 2,
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: `${CAMERA_NAME} with its two stream services` });
    aid = list.requireByName(CAMERA_NAME).aid;
    phone2 = hap.fork();
    clientA = await CameraStreamClient.open(hap, aid, { streamIndex: 0 });
    clientB = await CameraStreamClient.open(phone2, aid, { streamIndex: 1 });
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  it('publishes "maxStreams" (2) stream services offering H.264 up to the camera size and Opus, both available', async function () {
    const services = (await hap.accessories()).requireByName(CAMERA_NAME).servicesOfType(ServiceType.CameraRTPStreamManagement);
    assert.equal(services.length, 2, 'one CameraRTPStreamManagement service per allowed viewer');
    for (const client of [clientA, clientB]) {
      const caps = await client.capabilities();
      assert.equal(caps.video[0]?.codecType, 0, 'H.264');
      assert.ok(caps.video[0].profiles.includes(H264Profile.Main));
      const sizes = caps.video[0].resolutions.map((r) => `${r.width}x${r.height}`);
      assert.ok(sizes.includes('1920x1080') && sizes.includes('1280x720') && sizes.includes('320x240'), sizes.join(' '));
      assert.ok(caps.video[0].resolutions.every((r) => r.width <= MAIN.width && r.height <= MAIN.height), 'nothing above the camera size');
      assert.deepEqual(caps.audio.map((a) => a.codecType), [AudioCodec.Opus], 'Opus (this ffmpeg has libopus, no libfdk_aac)');
      assert.deepEqual(caps.cryptoSuites, [0], 'AES_CM_128_HMAC_SHA1_80');
      assert.equal(await client.streamingStatus(), StreamingStatus.Available);
    }
  });

  it('answers snapshots (POST /resource) with a JPEG of the width asked for: 640 and 1280', async function () {
    this.timeout(30_000);
    for (const [width, height] of [[640, 360], [1280, 720]]) {
      const started = Date.now();
      const jpeg = await withTimeout(hap.httpClient.getImage(width, height, aid), SNAPSHOT_TIMEOUT_MS, `snapshot ${width}x${height}`);
      const took = Date.now() - started;
      const sof = jpegFrameHeader(jpeg);
      assert.ok(sof, `a JPEG with a frame header (got ${jpeg.length} bytes starting ${jpeg.subarray(0, 4).toString('hex')})`);
      assert.deepEqual([sof.width, sof.height], [width, Math.round(width * MAIN.height / MAIN.width)], 'SOF size: the width asked for, the camera aspect');
      const decoded = await probe(jpeg, { frames: false, format: 'jpeg_pipe' });
      assert.equal(decoded.streams[0]?.width, width, 'ffprobe decodes it at that width');
      assert.ok(took < 5_000, `answered in ${took} ms (HAP warns after 5 s)`);
    }
  });

  it('a 1280x720 request gets the 1920x1080 main stream copied: H.264 Main and Opus decode from our UDP ports', async function () {
    this.timeout(60_000);
    const session = await clientA.setup();
    viewerA = session;
    assert.equal(session.answer.status, SetupStatus.Success);
    assert.equal(session.answer.address, '127.0.0.1');
    assert.equal(await clientA.streamingStatus(), StreamingStatus.InUse, 'in use once set up');
    const logMark = hb.log.mark();
    await session.start({ video: { width: 1280, height: 720, fps: 15 }, audio: { codec: AudioCodec.Opus, sampleRateKhz: 24 } });
    const keyframe = await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    await waitForFrames(session, VIDEO_FRAMES, PACKETS_TIMEOUT_MS);
    await session.waitForPackets(AUDIO_PACKETS, PACKETS_TIMEOUT_MS, 'audio');
    const timing = session.timing();
    const stats = session.stats();
    console.log(`      [HB ${line}] 1280x720: START answered in ${ms(timing.startWriteMs)}, →first packet ${ms(timing.toFirstPacketMs)}, →first keyframe ${ms(timing.toFirstKeyframeMs)}`
      + ` (AU ${keyframe.accessUnitIndex}, ${keyframe.bytes} B); video ${stats.video.rtpPackets} pkts, audio ${stats.audio.rtpPackets} pkts`);
    for (const s of [stats.video, stats.audio]) {
      assert.equal(s.authFailures, 0, `${s.kind}: every packet authenticated`);
      assert.equal(s.keySource, 'accessory', `${s.kind}: encrypted with the key of the SetupEndpoints answer`);
      assert.ok(s.senderReports > 0, `${s.kind}: SRTCP sender reports from the plugin decrypt`);
    }
    assert.deepEqual(Object.keys(stats.video.payloadTypes), ['99'], 'video payload type as selected');
    assert.deepEqual(Object.keys(stats.audio.payloadTypes), ['110'], 'audio payload type as selected');
    assert.deepEqual(stats.video.ssrcs, [session.answer.videoSsrc], 'video SSRC as answered');
    assert.deepEqual(stats.audio.ssrcs, [session.answer.audioSsrc], 'audio SSRC as answered');

    // ffmpeg's own SRTP code decrypts what we captured: H.264 of the main profile at its own size (copied, not scaled).
    const video = await decodeSrtp({ datagrams: session.video.capture().datagrams, keys: accessoryKeys(session, 'video'), payloadType: 99 });
    assert.ok(video.video);
    assert.deepEqual([video.video.codec, video.video.profile, video.video.width, video.video.height], ['h264', 'Main', MAIN.width, MAIN.height]);
    assert.ok(video.video.frames >= VIDEO_FRAMES - 5 && video.video.keyframes >= 1, `decoded ${JSON.stringify(video.video)}`);
    const audio = await decodeSrtp({ datagrams: session.audio.capture().datagrams, keys: accessoryKeys(session, 'audio'), payloadType: 110, codec: 'opus' });
    assert.equal(audio.audio?.codec, 'opus');
    assert.ok((audio.audio?.frames ?? 0) >= 50, `decoded audio ${JSON.stringify(audio.audio)}`);

    // The video is copied and sent by the plugin; the audio (Opus from the camera's AAC) by one audio-only ffmpeg.
    const mine = sessionFfmpegs(hb, session);
    assertAudioOnly(mine, session);
    assert.deepEqual(otherFfmpegs(hb, mine).map(describeProcess), [], 'no other ffmpeg for a viewer');
    assert.ok(sourceFfmpegs(hb, 'main').length <= 1, 'at most one ffmpeg reads the main stream (none when the plugin reads it)');
    assert.deepEqual(await rtspSessions(cam), { main: 1, sub: 0 });
    await hb.waitForLog(/live view started: main stream 1920x1080, copied as the camera sends it, audio opus/, 5_000, logMark);
  });

  it('a second viewer (second stream service, second connection) shares the ONE RTSP read; a third setup is told busy', async function () {
    this.timeout(40_000);
    assert.ok(viewerA, 'the first viewer runs');
    const session = await clientB.setup();
    viewerB = session;
    assert.equal(session.answer.status, SetupStatus.Success);
    // AAC-ELD, which this plugin (an ffmpeg without libfdk_aac) does not offer: the view goes on without audio.
    await session.start({ video: { width: 1280, height: 720, fps: 15 }, audio: { codec: AudioCodec.AacEld, sampleRateKhz: 16 } });
    const keyframe = await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
    await waitForFrames(session, VIDEO_FRAMES, PACKETS_TIMEOUT_MS);
    const t = session.timing();
    console.log(`      [HB ${line}] second viewer: START answered in ${ms(t.startWriteMs)}, →first packet ${ms(t.toFirstPacketMs)},`
      + ` →first keyframe ${ms(t.toFirstKeyframeMs)} (AU ${keyframe.accessUnitIndex})`);
    assert.ok(keyframe.bytes > 0);
    const own = session.stats().video;
    assert.equal(own.authFailures, 0);
    assert.equal(own.incompleteFrames, 0, 'no damaged frames');
    const sinceB = streamNow();
    await viewerA.waitForPackets(30, PACKETS_TIMEOUT_MS, 'video', sinceB);
    assert.deepEqual(await rtspSessions(cam), { main: 1, sub: 0 }, 'two viewers, one RTSP session on the camera');
    assert.ok(sourceFfmpegs(hb, 'main').length <= 1, 'at most one ffmpeg reading the camera');
    assert.deepEqual(sessionFfmpegs(hb, session).map(describeProcess), [], 'a copied view without audio runs no ffmpeg');
    assert.deepEqual(otherFfmpegs(hb, sessionFfmpegs(hb, viewerA)).map(describeProcess), [],
      'every ffmpeg of Homebridge reads the camera or is the first viewer\'s audio');
    assert.equal(session.stats().audio.rtpPackets, 0, 'no audio for a codec not offered');
    await hb.waitForLog(/live view started: main stream 1920x1080, copied as the camera sends it, no audio/, 5_000);

    // Both services are in use: a third phone on the first service is refused, and that changes nothing.
    const third = await CameraStreamClient.open(phone2, aid, { streamIndex: 0 });
    const refused = await third.setup();
    try {
      assert.equal(refused.answer.status, SetupStatus.Busy, 'SetupEndpoints answers busy while the service streams');
    } finally {
      await refused.close();
    }
  });

  it('END stops that viewer\'s packets (it has no ffmpeg); the other viewer keeps streaming', async function () {
    this.timeout(30_000);
    assert.ok(viewerA && viewerB, 'both viewers run');
    const procs = sessionFfmpegs(hb, viewerB);
    assert.equal(procs.length, 0);
    const end = await viewerB.end();
    assert.equal(end.status, 0);
    await viewerB.waitForSilence(QUIET_MS, STOP_BOUND_MS + QUIET_MS * 3);
    const after = lastArrival(viewerB) - end.answeredAt;
    assert.ok(after < STOP_BOUND_MS, `packets went on ${ms(after)} after END`);
    await untilGone(procs, FFMPEG_GONE_MS, 'the second viewer\'s ffmpeg to exit after END');
    assert.equal(await clientB.streamingStatus(), StreamingStatus.Available, 'the second service is free again');
    const since = streamNow();
    await viewerA.waitForPackets(30, PACKETS_TIMEOUT_MS, 'video', since);
    assertAudioOnly(sessionFfmpegs(hb, viewerA), viewerA);
    await viewerB.close();
    viewerB = undefined;
  });

  it('a viewer that stops sending RTCP has its stream stopped within 5–8 s and the service is available again', async function () {
    this.timeout(30_000);
    assert.ok(viewerA, 'the first viewer runs');
    const procs = sessionFfmpegs(hb, viewerA);
    assertAudioOnly(procs, viewerA);
    const logMark = hb.log.mark();
    viewerA.pauseRtcp();
    const pausedAt = streamNow();
    await viewerA.waitForSilence(QUIET_MS, RTCP_SILENCE_MAX_MS + QUIET_MS * 3);
    const stoppedAfter = lastArrival(viewerA) - pausedAt;
    console.log(`      [HB ${line}] RTCP paused: last packet ${ms(stoppedAfter)} later`);
    assert.ok(stoppedAfter >= RTCP_SILENCE_MIN_MS, `stopped only ${ms(stoppedAfter)} after the last report: too early`);
    assert.ok(stoppedAfter <= RTCP_SILENCE_MAX_MS, `packets went on ${ms(stoppedAfter)} after the reports stopped`);
    await untilGone(procs, FFMPEG_GONE_MS, 'the silent viewer\'s ffmpeg to exit');
    await pollUntil(async () => (await clientA.streamingStatus() === StreamingStatus.Available ? true : undefined),
      { timeoutMs: 3_000, intervalMs: 200, what: 'StreamingStatus back to available (HAP told of the stop)' });
    await hb.waitForLog(/live view stopped: the viewer stopped answering/, 2_000, logMark);
    await viewerA.close();
    viewerA = undefined;
  });

  it('a 320x240 request (Apple Watch) gets the 640x360 sub stream copied', async function () {
    this.timeout(40_000);
    const session = await clientA.setup();
    const logMark = hb.log.mark();
    try {
      assert.equal(session.answer.status, SetupStatus.Success);
      await session.start({ video: { width: 320, height: 240, fps: 15 } });
      await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
      await waitForFrames(session, VIDEO_FRAMES, PACKETS_TIMEOUT_MS);
      console.log(`      [HB ${line}] 320x240: START→first keyframe ${ms(session.timing().toFirstKeyframeMs)}`);
      const video = await decodeSrtp({ datagrams: session.video.capture().datagrams, keys: accessoryKeys(session, 'video'), payloadType: 99 });
      assert.ok(video.video);
      assert.deepEqual([video.video.codec, video.video.width, video.video.height], ['h264', SUB.width, SUB.height]);
      assert.ok(video.video.frames >= VIDEO_FRAMES - 5 && video.video.keyframes >= 1, `decoded ${JSON.stringify(video.video)}`);
      assert.equal((await rtspSessions(cam)).sub, 1, 'the sub stream is read once');
      await hb.waitForLog(/live view started: sub stream 640x360, copied as the camera sends it/, 5_000, logMark);
      const procs = sessionFfmpegs(hb, session);
      assertAudioOnly(procs, session);
      const end = await session.end();
      assert.equal(end.status, 0);
      await session.waitForSilence(QUIET_MS, STOP_BOUND_MS + QUIET_MS * 3);
      await untilGone(procs, FFMPEG_GONE_MS, 'the 320x240 viewer\'s ffmpeg to exit after END');
    } finally {
      await session.close();
    }
  });

  it('once nobody watches, every ffmpeg of Homebridge exits and the camera has no RTSP session left', async function () {
    this.timeout(SOURCE_GONE_MS + 10_000);
    const started = Date.now();
    await pollUntil(async () => {
      const s = await rtspSessions(cam);
      return ffmpegsOf(hb).length === 0 && s.main === 0 && s.sub === 0 ? true : undefined;
    }, { timeoutMs: SOURCE_GONE_MS, intervalMs: 250, what: 'no ffmpeg under homebridge and no RTSP session on the camera' })
      .catch(async (err: Error) => {
        throw new Error(`${err.message}; ffmpegs: ${ffmpegsOf(hb).map(describeProcess).join('; ') || 'none'};`
          + ` RTSP sessions: ${JSON.stringify(await rtspSessions(cam))}`);
      });
    console.log(`      [HB ${line}] all ffmpeg gone and 0 RTSP sessions ${ms(Date.now() - started)} after the last viewer`);
    // Nothing starts again by itself.
    await sleep(1_000);
    assert.deepEqual(ffmpegsOf(hb).map(describeProcess), []);
  });

  it('the log names what was streamed and never shows the camera password', function () {
    const text = hb.log.textSince(0);
    assert.ok(text.includes('live view started: main stream 1920x1080, copied as the camera sends it'));
    for (const secret of new Set([cam.password, encodeURIComponent(cam.password)])) {
      assert.equal(text.includes(secret), false, 'the camera password appears in the Homebridge log');
    }
    assert.deepEqual(hb.log.matchingLines(/uncaught|unhandled/i), [], 'no uncaught error in the log');
  });
});
