// Self-test of the rig's live-stream client, without our plugin: a HAP-NodeJS camera in this process (CameraController
// with two stream services; its delegate spawns ffmpeg encoding a lavfi test pattern with libx264 and libopus to SRTP
// at the address, ports and keys HAP hands it, as homebridge-camera-ffmpeg does) is paired with and streamed from
// exactly as the Home app would. Proves: TLV decoding, SetupEndpoints both ways, START/RECONFIGURE/END, SRTP decrypted
// by the rig and independently by ffmpeg, our SRTCP reports accepted by the accessory, and the stream ending on END and
// when reports stop.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createSocket, Socket } from 'node:dgram';
import { existsSync, rmdirSync, rmSync } from 'node:fs';
import * as hap from 'hap-nodejs';
import { FfmpegProcess } from '../../src/media/ffmpeg';
import {
  AudioCodec,
  CameraStreamClient,
  decodeSrtp,
  deriveSrtpKey,
  encodeTlv,
  H264Level,
  H264Profile,
  HapClient,
  pairWith,
  pollUntil,
  probeVideo,
  SETUP_PIN,
  SetupStatus,
  sleep,
  SrtcpSender,
  SrtpKeys,
  SrtpReceiveContext,
  StreamingStatus,
  streamNow,
  StreamSession,
  Tlv,
  track,
  withTimeout,
} from './rig';
import { freePort } from './rig/net';
import { makeTempDir } from './rig/paths';
import { currentHbLine } from './rig/hb-line';

const RESOLUTIONS: [number, number, number][] = [[1280, 720, 30], [640, 360, 15], [320, 240, 15]];
const KEYFRAME_TIMEOUT_MS = 15_000;
const PACKETS_TIMEOUT_MS = 20_000;
/** After END or a watchdog stop, the ports must be quiet this long. */
const QUIET_MS = 1_000;
const STOP_BOUND_MS = 3_000;
/** homebridge-camera-ffmpeg's rule: no RTCP for 5 × rtcp_interval ends the stream. */
const RTCP_MISSES = 5;
/** HAP-NodeJS saves controller state 100 ms after a change, even after destroy(): let it land before removing storage. */
const HAP_SAVE_DELAY_MS = 300;

function randomUsername(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02; // locally administered unicast
  return [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

function bindLoopback(): Promise<Socket> {
  const socket = createSocket('udp4');
  return new Promise((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => resolve(socket));
  });
}

/** A positive 32-bit SSRC (ffmpeg's -ssrc is a signed int), like CameraController.generateSynchronisationSource. */
function positiveSsrc(): number {
  return randomBytes(4).readUInt32BE(0) & 0x7fffffff;
}

interface DelegateSession {
  request: hap.PrepareStreamRequest;
  videoReturn: Socket;
  audioReturn: Socket;
  keys: { video: SrtpKeys; audio: SrtpKeys };
  ssrc: { video: number; audio: number };
  ffmpeg?: FfmpegProcess;
  untrackFfmpeg?: () => void;
  watchdog?: NodeJS.Timeout;
  /** RTCP from the controller that authenticated with its key, and the RR sender SSRCs seen. */
  rtcpOk: { video: number; audio: number };
  rtcpBad: number;
  reportSenders: Set<number>;
}

/** A minimal homebridge-camera-ffmpeg: ffmpeg test pattern to SRTP, RTCP watchdog on the return ports. */
class TestCameraDelegate implements hap.CameraStreamingDelegate {
  controller: hap.CameraController | undefined;
  readonly requests: hap.StreamingRequest[] = [];
  readonly sessions = new Map<string, DelegateSession>();
  readonly ffmpegPids: number[] = [];
  watchdogStops = 0;

  handleSnapshotRequest(_request: hap.SnapshotRequest, callback: hap.SnapshotRequestCallback): void {
    callback(new Error('no snapshots in the stream rig self-test'));
  }

  prepareStream(request: hap.PrepareStreamRequest, callback: hap.PrepareStreamCallback): void {
    void (async () => {
      const videoReturn = await bindLoopback();
      const audioReturn = await bindLoopback();
      // Our own keys, not an echo of the controller's: the client must use what the answer says.
      const keys = { video: { key: randomBytes(16), salt: randomBytes(14) }, audio: { key: randomBytes(16), salt: randomBytes(14) } };
      const ssrc = { video: positiveSsrc(), audio: positiveSsrc() };
      const session: DelegateSession = { request, videoReturn, audioReturn, keys, ssrc, rtcpOk: { video: 0, audio: 0 }, rtcpBad: 0, reportSenders: new Set() };
      this.sessions.set(request.sessionID, session);
      const controllerRtcp = {
        video: new SrtpReceiveContext({ key: request.video.srtp_key, salt: request.video.srtp_salt }),
        audio: new SrtpReceiveContext({ key: request.audio.srtp_key, salt: request.audio.srtp_salt }),
      };
      for (const kind of ['video', 'audio'] as const) {
        const socket = kind === 'video' ? videoReturn : audioReturn;
        socket.on('message', (msg: Buffer) => {
          const plain = controllerRtcp[kind].unprotectRtcp(msg);
          if (!plain || plain[1] !== 201) {
            session.rtcpBad++;
            return;
          }
          session.rtcpOk[kind]++;
          session.reportSenders.add(plain.readUInt32BE(4));
          if (kind === 'video') {
            this.armWatchdog(request.sessionID);
          }
        });
      }
      callback(undefined, {
        video: { port: videoReturn.address().port, ssrc: ssrc.video, srtp_key: keys.video.key, srtp_salt: keys.video.salt },
        audio: { port: audioReturn.address().port, ssrc: ssrc.audio, srtp_key: keys.audio.key, srtp_salt: keys.audio.salt },
      });
    })().catch((err: Error) => callback(err));
  }

  handleStreamRequest(request: hap.StreamingRequest, callback: hap.StreamRequestCallback): void {
    this.requests.push(request);
    const session = this.sessions.get(request.sessionID);
    if (request.type === hap.StreamRequestTypes.START && session) {
      this.startFfmpeg(session, request);
      this.armWatchdog(request.sessionID);
    } else if (request.type === hap.StreamRequestTypes.STOP) {
      void this.stopSession(request.sessionID);
    }
    callback();
  }

  async stopAll(): Promise<void> {
    await Promise.all([...this.sessions.keys()].map((id) => this.stopSession(id)));
  }

  async stopSession(sessionId: string): Promise<void> {
    const session = this.sessions.get(sessionId);
    if (!session) {
      return;
    }
    this.sessions.delete(sessionId);
    clearTimeout(session.watchdog);
    session.videoReturn.close();
    session.audioReturn.close();
    if (session.ffmpeg) {
      await session.ffmpeg.stop();
      session.untrackFfmpeg?.();
    }
  }

  sessionFor(id: string): DelegateSession | undefined {
    return this.sessions.get(id);
  }

  private armWatchdog(sessionId: string): void {
    const session = this.sessions.get(sessionId);
    const start = this.requests.find((r): r is hap.StartStreamRequest => r.type === hap.StreamRequestTypes.START && r.sessionID === sessionId);
    if (!session || !start) {
      return;
    }
    clearTimeout(session.watchdog);
    session.watchdog = setTimeout(() => {
      this.watchdogStops++;
      this.controller?.forceStopStreamingSession(sessionId);
      void this.stopSession(sessionId);
    }, start.video.rtcp_interval * RTCP_MISSES * 1000);
  }

  private startFfmpeg(session: DelegateSession, request: hap.StartStreamRequest): void {
    const { video, audio } = request;
    const target = session.request.targetAddress;
    const srtp = (keys: SrtpKeys): string[] => ['-srtp_out_suite', 'AES_CM_128_HMAC_SHA1_80', '-srtp_out_params', Buffer.concat([keys.key, keys.salt]).toString('base64')];
    const videoPort = session.request.video.port;
    const audioPort = session.request.audio.port;
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostats',
      '-re', '-f', 'lavfi', '-i', `testsrc=size=${video.width}x${video.height}:rate=${video.fps}`,
      '-re', '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=48000',
      '-map', '0:v', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
      '-g', String(video.fps), '-b:v', `${video.max_bit_rate}k`,
      '-payload_type', String(video.pt), '-ssrc', String(session.ssrc.video), '-f', 'rtp', ...srtp(session.keys.video),
      `srtp://${target}:${videoPort}?rtcpport=${videoPort}&pkt_size=${video.mtu}`,
      '-map', '1:a', '-c:a', 'libopus', '-application', 'lowdelay', '-ar', `${audio.sample_rate * 1000}`, '-ac', String(audio.channel),
      '-b:a', `${audio.max_bit_rate}k`,
      '-payload_type', String(audio.pt), '-ssrc', String(session.ssrc.audio), '-f', 'rtp', ...srtp(session.keys.audio),
      `srtp://${target}:${audioPort}?rtcpport=${audioPort}&pkt_size=188`,
    ];
    const log = { debug: () => undefined, error: (m: string) => console.log(`  [stream-rig camera] ${m}`) };
    const ffmpeg = new FfmpegProcess('ffmpeg', args, log, 'stream-rig camera');
    session.ffmpeg = ffmpeg;
    if (ffmpeg.process.pid !== undefined) {
      this.ffmpegPids.push(ffmpeg.process.pid);
    }
    session.untrackFfmpeg = track({ label: `stream-rig camera ffmpeg ${ffmpeg.process.pid}`, stop: async () => void (await ffmpeg.stop()), killNow: () => void ffmpeg.process.kill('SIGKILL') });
  }
}

/** A HAP-NodeJS camera published on 127.0.0.1 (mDNS on loopback only), storage in a temp dir. */
async function startCamera(delegate: TestCameraDelegate): Promise<{ port: number; username: string }> {
  const dir = makeTempDir('stream-rig-hap');
  try {
    hap.HAPStorage.setCustomStoragePath(dir);
  } catch {
    // already initialised by an earlier test in this process: that path is just as private
  }
  const accessory = new hap.Accessory('Stream Rig Camera', hap.uuid.generate(`stream-rig-${dir}`));
  const controller = new hap.CameraController({
    cameraStreamCount: 2,
    delegate,
    streamingOptions: {
      supportedCryptoSuites: [hap.SRTPCryptoSuites.AES_CM_128_HMAC_SHA1_80],
      video: {
        resolutions: RESOLUTIONS,
        codec: { profiles: [hap.H264Profile.BASELINE, hap.H264Profile.MAIN, hap.H264Profile.HIGH], levels: [hap.H264Level.LEVEL3_1, hap.H264Level.LEVEL3_2, hap.H264Level.LEVEL4_0] },
      },
      audio: {
        codecs: [
          { type: hap.AudioStreamingCodecType.OPUS, samplerate: [hap.AudioStreamingSamplerate.KHZ_16, hap.AudioStreamingSamplerate.KHZ_24] },
          { type: hap.AudioStreamingCodecType.AAC_ELD, samplerate: hap.AudioStreamingSamplerate.KHZ_16 },
        ],
      },
    },
  });
  delegate.controller = controller;
  accessory.configureController(controller);
  const username = randomUsername();
  const port = await freePort();
  track({
    label: `HAP-NodeJS camera 127.0.0.1:${port}`,
    stop: async () => {
      await delegate.stopAll();
      await withTimeout(accessory.destroy(), 10_000, 'HAP-NodeJS accessory destroy').catch(() => undefined);
      await sleep(HAP_SAVE_DELAY_MS);
      rmSync(dir, { recursive: true, force: true });
      // If another test opened HAP-NodeJS's storage first (and removed its dir), our writes re-created that dir:
      // destroy() emptied it again, so take it away (rmdir only removes an empty dir).
      const storageDir = (hap.HAPStorage.storage() as unknown as { options?: { dir?: string } }).options?.dir;
      if (storageDir && storageDir !== dir) {
        try {
          rmdirSync(storageDir);
        } catch {
          // not empty (in use) or already gone
        }
      }
    },
  });
  await accessory.publish({ username, pincode: SETUP_PIN, port, category: hap.Categories.CAMERA, bind: '127.0.0.1', advertiser: hap.MDNSAdvertiser.CIAO });
  return { port, username };
}

// The rig's self-test does not involve Homebridge: once per run (with the Homebridge 2 line) is enough.
(currentHbLine() === 2 ? describe : describe.skip)('stream rig: live-stream client against HAP-NodeJS itself', function () {
  this.timeout(120_000);
  const delegate = new TestCameraDelegate();
  let client: HapClient;

  before(async () => {
    const camera = await startCamera(delegate);
    client = await pairWith({ port: camera.port, username: camera.username, pin: SETUP_PIN });
  });

  it('derives SRTP keys as RFC 3711 B.3 and round-trips SRTCP and TLV lists', () => {
    const master = { key: Buffer.from('E1F97A0D3E018BE0D64FA32C06DE4139', 'hex'), salt: Buffer.from('0EC675AD498AFEEBB6960B3AABE6', 'hex') };
    assert.equal(deriveSrtpKey(master, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(deriveSrtpKey(master, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(deriveSrtpKey(master, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
    const rr = Buffer.from('80c90001deadbeef', 'hex');
    const protectedRr = new SrtcpSender(master).protect(rr);
    assert.notDeepEqual(protectedRr.subarray(0, rr.length), Buffer.alloc(0));
    assert.deepEqual(new SrtpReceiveContext(master).unprotectRtcp(protectedRr), rr);
    protectedRr[protectedRr.length - 1] ^= 1;
    assert.equal(new SrtpReceiveContext(master).unprotectRtcp(protectedRr), undefined, 'a damaged tag must not authenticate');
    const long = randomBytes(300);
    const tlv = Tlv.decode(encodeTlv([[1, [0, 1, 2]], [2, long], [3, [Buffer.from([7])]]]));
    assert.deepEqual(tlv.all(1).map((b) => b[0]), [0, 1, 2]);
    assert.deepEqual(tlv.get(2), long);
    assert.equal(tlv.uint(3, 'x'), 7);
  });

  it('decodes what each stream service offers', async () => {
    for (const streamIndex of [0, 1]) {
      const camera = await CameraStreamClient.open(client, 1, { streamIndex });
      const caps = await camera.capabilities();
      assert.equal(caps.video.length, 1);
      assert.equal(caps.video[0].codecType, 0);
      assert.deepEqual(caps.video[0].profiles, [H264Profile.Baseline, H264Profile.Main, H264Profile.High]);
      assert.deepEqual(caps.video[0].levels, [H264Level.Level3_1, H264Level.Level3_2, H264Level.Level4_0]);
      assert.deepEqual(caps.video[0].packetizationModes, [0]);
      assert.deepEqual(caps.video[0].resolutions, RESOLUTIONS.map(([width, height, fps]) => ({ width, height, fps })));
      assert.deepEqual(caps.audio.map((a) => [a.codecType, a.sampleRatesKhz]), [[AudioCodec.Opus, [16, 24]], [AudioCodec.AacEld, [16]]]);
      assert.deepEqual(caps.cryptoSuites, [0]);
      assert.equal(await camera.streamingStatus(), StreamingStatus.Available);
    }
    await assert.rejects(CameraStreamClient.open(client, 1, { streamIndex: 2 }), /2 CameraRTPStreamManagement service\(s\), no index 2/);
  });

  it('streams decodable H.264 and Opus over SRTP, reconfigures, and stops on END', async () => {
    const camera = await CameraStreamClient.open(client, 1);
    const session: StreamSession = await camera.setup();
    try {
      // The answer is the accessory's own: its ports, SSRCs and keys, for our session.
      const answer = session.answer;
      assert.equal(answer.status, SetupStatus.Success);
      assert.equal(answer.address, '127.0.0.1');
      const prepared = delegate.sessionFor([...delegate.sessions.keys()].pop() ?? '');
      assert.ok(prepared, 'the delegate saw prepareStream');
      assert.equal(prepared.request.video.port, session.video.port);
      assert.equal(prepared.request.audio.port, session.audio.port);
      assert.equal(answer.videoPort, prepared.videoReturn.address().port);
      assert.equal(answer.audioPort, prepared.audioReturn.address().port);
      assert.equal(answer.videoSsrc, prepared.ssrc.video);
      assert.deepEqual(answer.videoSrtp?.key, prepared.keys.video.key);
      assert.deepEqual(answer.audioSrtp?.salt, prepared.keys.audio.salt);
      assert.equal(await camera.streamingStatus(), StreamingStatus.InUse);

      const start = await session.start({ video: { width: 640, height: 360, fps: 15, maxBitrateKbps: 400 }, audio: { codec: AudioCodec.Opus, sampleRateKhz: 24 } });
      assert.equal(start.status, 0);
      const startRequest = delegate.requests.find((r): r is hap.StartStreamRequest => r.type === hap.StreamRequestTypes.START);
      assert.ok(startRequest);
      assert.deepEqual([startRequest.video.width, startRequest.video.height, startRequest.video.fps, startRequest.video.max_bit_rate], [640, 360, 15, 400]);
      assert.deepEqual([startRequest.video.profile, startRequest.video.level, startRequest.video.packetizationMode], [H264Profile.Main, H264Level.Level4_0, 0]);
      assert.deepEqual([startRequest.video.pt, startRequest.video.mtu, startRequest.video.rtcp_interval, startRequest.video.ssrc], [99, 1378, 0.5, session.controllerVideoSsrc]);
      const a = startRequest.audio;
      assert.deepEqual([a.codec, a.channel, a.bit_rate, a.sample_rate, a.packet_time, a.pt, a.ssrc, a.max_bit_rate, a.rtcp_interval, a.comfort_pt, a.comfortNoiseEnabled],
        ['OPUS', 1, 0, 24, 20, 110, session.controllerAudioSsrc, 24, 5, 13, false]);

      const keyframe = await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
      await session.waitForPackets(100, PACKETS_TIMEOUT_MS, 'video');
      await session.waitForPackets(100, PACKETS_TIMEOUT_MS, 'audio');
      const stats = session.stats();
      const timing = session.timing();
      console.log(`      START→first packet ${timing.toFirstPacketMs?.toFixed(0)} ms, →first keyframe ${timing.toFirstKeyframeMs?.toFixed(0)} ms`
        + ` (keyframe AU ${keyframe.accessUnitIndex}, ${keyframe.bytes} B); video ${stats.video.rtpPackets} pkts, audio ${stats.audio.rtpPackets} pkts`);
      for (const s of [stats.video, stats.audio]) {
        assert.equal(s.keySource, 'accessory', `${s.kind} decrypted with the key from the answer`);
        assert.equal(s.authFailures, 0, `${s.kind}: every packet authenticated`);
        assert.ok(s.senderReports > 0, `${s.kind}: the accessory's SRTCP sender reports decrypted`);
        assert.ok(s.rtcpSent >= 2, `${s.kind}: we sent receiver reports`);
      }
      assert.deepEqual(stats.video.ssrcs, [prepared.ssrc.video]);
      assert.deepEqual(Object.keys(stats.video.payloadTypes), ['99']);
      assert.deepEqual(Object.keys(stats.audio.payloadTypes), ['110']);
      assert.equal(stats.video.incompleteFrames, 0);
      assert.ok(timing.toFirstKeyframeMs !== undefined && timing.toFirstKeyframeMs > 0);
      // The accessory authenticated our reports with the controller keys we sent, from our SSRCs.
      assert.ok(prepared.rtcpOk.video >= 2 && prepared.rtcpOk.audio >= 2, `RTCP accepted: ${JSON.stringify(prepared.rtcpOk)}`);
      assert.equal(prepared.rtcpBad, 0);
      assert.deepEqual([...prepared.reportSenders].sort(), [session.controllerVideoSsrc, session.controllerAudioSsrc].sort());

      // A second controller gets "busy" while the stream runs.
      const second = await camera.setup();
      assert.equal(second.answer.status, SetupStatus.Busy);
      assert.equal(second.ok, false);
      await second.close();

      // Decodable: the rig's own depacketized stream, and ffmpeg decrypting the captured SRTP itself.
      const own = await probeVideo(session.video.elementaryStream(), { format: 'h264' });
      assert.deepEqual([own.codec, own.width, own.height, own.firstFrameIsKey], ['h264', 640, 360, true]);
      assert.ok(own.frames >= 20, `decoded ${own.frames} frames`);
      const byFfmpeg = await decodeSrtp({ datagrams: session.video.capture().datagrams, keys: prepared.keys.video, payloadType: 99 });
      assert.ok(byFfmpeg.video);
      assert.deepEqual([byFfmpeg.video.codec, byFfmpeg.video.width, byFfmpeg.video.height], ['h264', 640, 360]);
      assert.ok(byFfmpeg.video.frames >= 20 && byFfmpeg.video.keyframes >= 1, JSON.stringify(byFfmpeg.video));
      const audio = await decodeSrtp({ datagrams: session.audio.capture().datagrams, keys: prepared.keys.audio, payloadType: 110, codec: 'opus' });
      assert.equal(audio.audio?.codec, 'opus');
      assert.ok((audio.audio?.frames ?? 0) >= 50, JSON.stringify(audio.audio));

      const reconfigure = await session.reconfigure({ video: { width: 320, height: 240, fps: 15, maxBitrateKbps: 150 } });
      assert.equal(reconfigure.status, 0);
      const re = delegate.requests.find((r): r is hap.ReconfigureStreamRequest => r.type === hap.StreamRequestTypes.RECONFIGURE);
      assert.deepEqual(re && [re.video.width, re.video.height, re.video.fps, re.video.max_bit_rate], [320, 240, 15, 150]);

      const ffmpegPid = delegate.ffmpegPids[delegate.ffmpegPids.length - 1];
      const end = await session.end();
      assert.equal(end.status, 0);
      const quietSince = await session.waitForSilence(QUIET_MS, STOP_BOUND_MS + QUIET_MS * 3);
      const last = session.stats();
      const lastArrival = Math.max(last.video.lastDatagramAt ?? 0, last.audio.lastDatagramAt ?? 0);
      assert.ok(lastArrival - end.answeredAt < STOP_BOUND_MS, `packets went on ${(lastArrival - end.answeredAt).toFixed(0)} ms after END`);
      assert.ok(quietSince >= lastArrival);
      await pollUntil(async () => (existsSync(`/proc/${ffmpegPid}`) ? undefined : true), { timeoutMs: STOP_BOUND_MS, what: `ffmpeg ${ffmpegPid} to exit after END` });
      assert.equal(await camera.streamingStatus(), StreamingStatus.Available);
      // A command for a session that is over is refused, and the refusal reaches the caller.
      const late = await session.reconfigure({ video: { width: 640, height: 360, fps: 15 }, allowFailure: true });
      assert.equal(late.status, -70410);
      await assert.rejects(session.reconfigure({ video: { width: 640, height: 360, fps: 15 } }), /refused with HAP status -70410/);
    } finally {
      await session.close();
    }
  });

  it('loses the stream when its RTCP reports stop (second stream service)', async () => {
    const camera = await CameraStreamClient.open(client, 1, { streamIndex: 1 });
    const session = await camera.setup();
    try {
      const stopsBefore = delegate.watchdogStops;
      await session.start({ video: { width: 320, height: 240, fps: 15 } });
      await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
      // Reports keep it alive well past the watchdog's 2.5 s...
      const aliveFrom = session.stats().video.rtpPackets;
      await sleep(3_500);
      assert.equal(delegate.watchdogStops, stopsBefore, 'the watchdog fired although RTCP was flowing');
      assert.ok(session.stats().video.rtpPackets > aliveFrom + 20);
      // ...and without them the accessory gives up.
      session.pauseRtcp();
      const pausedAt = streamNow();
      await session.waitForSilence(QUIET_MS, RTCP_MISSES * 500 + STOP_BOUND_MS + QUIET_MS * 3);
      assert.equal(delegate.watchdogStops, stopsBefore + 1);
      // The watchdog fires 2.0–2.5 s after the pause (the last report went out up to 0.5 s before it).
      const stats = session.stats();
      const lastArrival = Math.max(stats.video.lastDatagramAt ?? 0, stats.audio.lastDatagramAt ?? 0) - pausedAt;
      assert.ok(lastArrival >= 1_500 && lastArrival < RTCP_MISSES * 500 + STOP_BOUND_MS, `stream ended ${lastArrival.toFixed(0)} ms after the pause`);
      assert.equal(await camera.streamingStatus(), StreamingStatus.Available);
      session.resumeRtcp(); // nothing to keep alive any more: must not throw
    } finally {
      await session.close();
    }
  });
});
