// Live view, snapshots and HomeKit Secure Video in every way a home's Homebridge listens and a controller reaches it:
//   1. HAP on 0.0.0.0 (`bind` names an IPv4 address), the controller on 127.0.0.1: HAP sees plain IPv4;
//   2. HAP on `::` (Homebridge's default, and any interface name in `bind`), the controller on 127.0.0.1: HAP sees the
//      IPv4-mapped ::ffff:127.0.0.1, as it sees an iPhone on the home Wi-Fi over IPv4 (live view failed here:
//      "bind EINVAL ::ffff:127.0.0.1", every tile black);
//   3. HAP on `::`, the controller on ::1: an IPv6 controller, SetupEndpoints with address version IPv6.
// One Homebridge, restarted between setups with a new `bind` (same pairing). For each: the listening mode is checked
// from outside, the viewer's stream is negotiated, decoded by ffmpeg and kept alive by our RTCP reaching the address
// the plugin announced (a wrong one ends the stream after 5 s without RTCP), a snapshot is taken, and a motion-
// triggered HKSV clip arrives over HDS on the same address family. The camera is configured by host name
// ("localhost"), as a camera with a DHCP name would be: ONVIF calls, the stream and the snapshot go through name lookup.
import assert from 'node:assert/strict';
import {
  AudioCodec,
  CameraStreamClient,
  CharacteristicRef,
  CharacteristicType,
  ControllerHost,
  currentHbLine,
  HapClient,
  HapEvent,
  HapNetwork,
  HomebridgeProcess,
  pairWith,
  platformConfigFor,
  ServiceType,
  SetupStatus,
  sleep,
  startHomebridge,
  startRecordingHub,
  startSim,
  stopAll,
  streamNow,
  withTimeout,
} from './rig';
import { decodeSrtp, jpegFrameHeader, mp4Boxes, mp4Fragment, mp4InitTracks, probe } from './rig/media-probe';
import { tryConnect } from './rig/net';
import type { CameraSim } from '../../tools/camera-sim';

const line = currentHbLine();
const CAMERA_NAME = 'Porch';
const MAIN = { width: 1920, height: 1080 } as const;
const PUBLISH_TIMEOUT_MS = 45_000;
const KEYFRAME_TIMEOUT_MS = 15_000;
const FRAMES = 20;
/** The plugin ends a stream after 5 s without RTCP: a stream still sending past this heard ours. */
const RTCP_PROOF_MS = 7_000;
const EVENT_TIMEOUT_MS = 10_000;
/** The init segment and one fragment: a 4 s GOP closes the first fragment within about 4 s of the request. */
const FRAGMENTS_TIMEOUT_MS = 15_000;

interface Setup {
  network: HapNetwork;
  controller: ControllerHost;
  /** What HAP-NodeJS reports as the connection's local address (the plugin's `sourceAddress`). */
  hapSees: string;
}

const SETUPS: Setup[] = [
  { network: 'ipv4-only', controller: '127.0.0.1', hapSees: '127.0.0.1' },
  { network: 'dual-stack', controller: '127.0.0.1', hapSees: '::ffff:127.0.0.1' },
  { network: 'dual-stack', controller: '::1', hapSees: '::1' },
];

describe(`[HB ${line}] the network setups homes run: live view, snapshots and HKSV over IPv4, IPv4-mapped and IPv6`, function () {
  let sim: CameraSim;
  let hb: HomebridgeProcess;
  /** The paired controller on 127.0.0.1; forks of it reach the bridge on ::1. */
  let paired: HapClient;
  let aid: number;
  let motion: CharacteristicRef;

  before(async function () {
    this.timeout(90_000);
    sim = await startSim({ cameras: [{ name: CAMERA_NAME, vendor: 'hikvision' }] });
    hb = await startHomebridge({ platforms: [platformConfigFor(sim, { cameras: [{ motionHoldSeconds: 1, host: 'localhost' }] })], network: SETUPS[0].network });
    paired = await pairWith(hb);
    const list = await paired.waitForAccessories((l) => l.byName(CAMERA_NAME)?.service(ServiceType.CameraRecordingManagement) !== undefined,
      { timeoutMs: PUBLISH_TIMEOUT_MS, what: `${CAMERA_NAME} with live view and recording` });
    const accessory = list.requireByName(CAMERA_NAME);
    aid = accessory.aid;
    const sensor = accessory.servicesOfType(ServiceType.MotionSensor).find((s) => s.value(CharacteristicType.Name) === `${CAMERA_NAME} Motion`);
    assert.ok(sensor, 'the camera has its motion sensor');
    const c = sensor.requireCharacteristic(CharacteristicType.MotionDetected);
    motion = { aid: c.aid, iid: c.iid };
  });

  after(async function () {
    this.timeout(60_000);
    await stopAll();
  });

  for (const setup of SETUPS) {
    const label = `HAP ${setup.network === 'dual-stack' ? 'on :: (dual-stack)' : 'on 0.0.0.0 (IPv4 only)'}, controller on ${setup.controller}`;

    it(`${label}: live view negotiated, decoded and kept alive by our RTCP; a snapshot; a motion clip over HDS`, async function () {
      this.timeout(120_000);
      if (hb.network !== setup.network) {
        hb.setNetwork(setup.network);
        await hb.restart();
        // Until the camera has reconnected, the cached accessory has no camera delegates behind its services.
        await hb.waitForLog(new RegExp(`${CAMERA_NAME}: connected .* published in Home`), PUBLISH_TIMEOUT_MS);
      }
      // How HAP listens, seen from outside: on `::` it also answers on ::1; on 0.0.0.0 it does not.
      assert.equal(await tryConnect(hb.port, 2_000, '::1'), setup.network === 'dual-stack', `HAP answers on [::1]:${hb.port} only when dual-stack`);
      const hap = paired.fork({ host: setup.controller });
      const mark = hb.log.mark();
      try {
        await hap.subscribe([motion]);
        // The hub configures recording first, so the prebuffer fills while live view runs.
        const hub = await startRecordingHub(hap, aid);

        // Live view.
        const client = await CameraStreamClient.open(hap, aid);
        const session = await client.setup();
        assert.equal(session.answer.status, SetupStatus.Success, `SetupEndpoints answered ${session.answer.status}`
          + `\n${hb.log.lines(mark).filter((l) => /live view/.test(l)).join('\n')}`);
        const v6 = setup.controller.includes(':');
        assert.equal(session.answer.addressVersion, v6 ? 1 : 0, 'the accessory answers in the controller\'s address family');
        assert.equal(session.answer.address, setup.controller, 'the accessory announces the address the controller reached it on');
        // The setup is the one named: HAP handed the plugin the connection's address in this form (debug log, -D).
        const seen = setup.hapSees.replace(/[.:]/g, (c) => `\\${c}`);
        await hb.waitForLog(new RegExp(`live view prepared: .*\\(HomeKit connection on ${seen}\\)`), 5_000, mark);
        const startedAt = streamNow();
        await session.start({ video: { width: 1280, height: 720, fps: 15 }, audio: { codec: AudioCodec.Opus, sampleRateKhz: 24 } });
        await session.waitForKeyframe(KEYFRAME_TIMEOUT_MS);
        await session.video.waitFor(() => (session.video.snapshot().frames >= FRAMES ? true : undefined), KEYFRAME_TIMEOUT_MS, `${FRAMES} frames`);
        await sleep(Math.max(0, startedAt + RTCP_PROOF_MS - streamNow()));
        const stats = session.stats();
        assert.ok(stats.video.rtcpSent > 0 && stats.video.rtcpSendErrors === 0, `our RTCP went out: ${stats.video.rtcpSent} sent`);
        assert.ok(streamNow() - (stats.video.lastPacketAt ?? 0) < 1_000, `video still arriving ${RTCP_PROOF_MS} ms after START (the plugin hears our RTCP)`);
        assert.equal(hb.log.find(/stopped answering/, mark), null, 'the plugin did not give the viewer up for lack of RTCP');
        const srtp = session.answer.videoSrtp;
        assert.ok(srtp);
        const decoded = await decodeSrtp({ datagrams: session.video.capture().datagrams, keys: { key: srtp.key, salt: srtp.salt }, payloadType: 99 });
        assert.deepEqual([decoded.video?.codec, decoded.video?.width, decoded.video?.height], ['h264', MAIN.width, MAIN.height]);
        assert.ok((decoded.video?.frames ?? 0) >= FRAMES - 5, `ffmpeg decoded the viewer's video: ${JSON.stringify(decoded.video)}`);
        await session.end();

        // Snapshot over the same connection.
        const jpeg = await withTimeout(hap.httpClient.getImage(640, 360, aid), 10_000, 'snapshot 640x360');
        assert.equal(jpegFrameHeader(jpeg)?.width, 640, 'a JPEG 640 wide');

        // HKSV: motion at the camera → the MotionDetected event on this connection → the hub opens a recording.
        const seq = hap.lastEventSeq();
        sim.cameras[0].motion(true);
        await hap.waitForEvent((e: HapEvent) => e.aid === motion.aid && e.iid === motion.iid && (e.value === true || e.value === 1), EVENT_TIMEOUT_MS, seq);
        const stream = await hub.openRecording();
        await stream.waitForFragments(1, FRAGMENTS_TIMEOUT_MS);
        const packets = stream.packets();
        stream.close();
        sim.cameras[0].motion(false);
        assert.deepEqual(stream.violations(), [], 'HDS rules');
        const [init, first] = packets;
        assert.deepEqual(mp4Boxes(init.data).map((b) => b.type).slice(0, 2), ['ftyp', 'moov'], 'the init segment');
        const tracks = mp4InitTracks(init.data);
        const video = tracks.find((t) => t.handler === 'vide');
        assert.ok(video, 'a video track');
        const run = mp4Fragment(first.data, tracks).tracks.find((t) => t.trackId === video.id);
        assert.ok(run?.firstSampleSync, 'the first fragment starts on a keyframe');
        const probed = await probe(Buffer.concat([init.data, first.data]), { frames: false });
        const vs = probed.streams.find((s) => s.codec_type === 'video');
        assert.deepEqual([vs?.codec_name, vs?.width, vs?.height], ['h264', MAIN.width, MAIN.height], 'ffprobe reads the clip');
        await hub.close();
        assert.equal(hb.log.find(/live view \(prepare\)|EINVAL|no stream for the viewer/, mark), null, 'no live view error in the log');
      } finally {
        await hap.close();
      }
    });
  }
});
