// The HKSV hub rig proven against HAP-NodeJS itself (no plugin, no Homebridge): an in-process HAP-NodeJS camera with a
// scripted recording delegate is paired, configured like a hub does it, and recordings are pulled over a real HomeKit
// Data Stream. What the delegate yielded must arrive byte for byte; closes must travel both ways with their reasons.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import * as hap from 'hap-nodejs';
import {
  HapClient,
  HdsCloseReason,
  HdsRequestError,
  Hksv,
  pairWith,
  pollUntil,
  RecordingHub,
  SETUP_PIN,
  sleep,
  startRecordingHub,
  stopAll,
  track,
} from './rig';
import { freePort, waitForTcp } from './rig/net';
import { makeTempDir } from './rig/paths';
import { currentHbLine } from './rig/hb-line';

const WAIT_MS = 10_000;
const FRAGMENT_PERIOD_MS = 100;
const MAX_ENDLESS_FRAGMENTS = 300; // 30 s at FRAGMENT_PERIOD_MS: far beyond any wait below
const CONTROLLER_SAVE_DELAY_MS = 300;
const CAMERA_NAME = 'HDS Rig Camera';

type Script = (streamId: number, isClosed: () => boolean) => AsyncGenerator<hap.RecordingPacket>;

/** A recording delegate that plays a script per stream and records every call HAP-NodeJS makes. */
class ScriptedRecordingDelegate implements hap.CameraRecordingDelegate {
  script: Script = async function* () {
    // no script: nothing to send
  };
  configuration: hap.CameraRecordingConfiguration | undefined;
  active = false;
  readonly requests: number[] = [];
  readonly acks: number[] = [];
  readonly closes: { streamId: number; reason: number | undefined }[] = [];
  /** Streams whose generator has returned. */
  readonly finished: number[] = [];
  private readonly closed = new Set<number>();

  updateRecordingActive(active: boolean): void {
    this.active = active;
  }

  updateRecordingConfiguration(configuration: hap.CameraRecordingConfiguration | undefined): void {
    this.configuration = configuration;
  }

  handleRecordingStreamRequest(streamId: number): AsyncGenerator<hap.RecordingPacket> {
    this.requests.push(streamId);
    return this.play(streamId);
  }

  acknowledgeStream(streamId: number): void {
    this.acks.push(streamId);
  }

  closeRecordingStream(streamId: number, reason: number | undefined): void {
    this.closes.push({ streamId, reason });
    this.closed.add(streamId);
  }

  private async *play(streamId: number): AsyncGenerator<hap.RecordingPacket> {
    try {
      yield* this.script(streamId, () => this.closed.has(streamId));
    } finally {
      this.finished.push(streamId);
    }
  }
}

const streamingDelegate: hap.CameraStreamingDelegate = {
  handleSnapshotRequest: (_request, callback) => callback(new Error('no snapshots in this test')),
  prepareStream: (_request, callback) => callback(new Error('no live view in this test')),
  handleStreamRequest: (_request, callback) => callback(),
};

const RESOLUTIONS: [number, number, number][] = [[1920, 1080, 30], [1920, 1080, 15], [1280, 720, 30], [1280, 720, 15]];

function recordingOptions(): hap.CameraRecordingOptions {
  return {
    prebufferLength: 4000,
    mediaContainerConfiguration: { type: hap.MediaContainerType.FRAGMENTED_MP4, fragmentLength: 4000 },
    video: {
      type: hap.VideoCodecType.H264,
      parameters: {
        profiles: [hap.H264Profile.BASELINE, hap.H264Profile.MAIN, hap.H264Profile.HIGH],
        levels: [hap.H264Level.LEVEL3_1, hap.H264Level.LEVEL3_2, hap.H264Level.LEVEL4_0],
      },
      resolutions: RESOLUTIONS,
    },
    audio: {
      codecs: [{ type: hap.AudioRecordingCodecType.AAC_LC, samplerate: [hap.AudioRecordingSamplerate.KHZ_16, hap.AudioRecordingSamplerate.KHZ_32] }],
    },
  };
}

function randomUsername(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02; // locally administered
  return [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

// The rig's self-test does not involve Homebridge: once per run (with the Homebridge 2 line) is enough.
(currentHbLine() === 2 ? describe : describe.skip)('HDS rig against HAP-NodeJS (HKSV hub side)', function () {
  const delegate = new ScriptedRecordingDelegate();
  let storageDir: string;
  let bridge: hap.Bridge;
  let controller: hap.CameraController;
  let client: HapClient;
  let hub: RecordingHub;

  before(async function () {
    this.timeout(60_000);
    storageDir = makeTempDir('hds-rig');
    try {
      hap.HAPStorage.setCustomStoragePath(storageDir);
    } catch {
      // another test in this process opened HAP-NodeJS's storage first; destroy() below removes our entries from it
    }
    const username = randomUsername();
    // Bridged, as the plugin's cameras are: the camera gets an aid other than 1 and its own data stream server.
    bridge = new hap.Bridge('HDS Rig Bridge', hap.uuid.generate(`hds-rig-bridge-${username}`));
    const camera = new hap.Accessory(CAMERA_NAME, hap.uuid.generate(`hds-rig-camera-${username}`));
    controller = new hap.CameraController({
      cameraStreamCount: 1,
      delegate: streamingDelegate,
      streamingOptions: {
        supportedCryptoSuites: [hap.SRTPCryptoSuites.AES_CM_128_HMAC_SHA1_80],
        video: { codec: { profiles: [hap.H264Profile.MAIN], levels: [hap.H264Level.LEVEL3_1] }, resolutions: [[1280, 720, 30]] },
      },
      recording: { options: recordingOptions(), delegate },
      sensors: { motion: true },
    });
    camera.configureController(controller);
    bridge.addBridgedAccessory(camera);
    track({
      label: `HAP-NodeJS camera ${username} (${storageDir})`,
      stop: async () => {
        await bridge.destroy();
        // destroy() leaves HAP-NodeJS's queued controller-state save (100 ms) running; let it land before removing.
        await sleep(CONTROLLER_SAVE_DELAY_MS);
        rmSync(storageDir, { recursive: true, force: true });
      },
    });
    const port = await freePort();
    await bridge.publish({
      username,
      pincode: SETUP_PIN,
      port,
      category: hap.Categories.BRIDGE,
      bind: '127.0.0.1', // mDNS on loopback only
      advertiser: hap.MDNSAdvertiser.CIAO,
    });
    await waitForTcp(port, 10_000);
    client = await pairWith({ port, username, pin: SETUP_PIN });
    const aid = (await client.accessories()).requireByName(CAMERA_NAME).aid;
    assert.notEqual(aid, 1, 'the camera is bridged');
    hub = await startRecordingHub(client, aid, { preferences: { resolution: { width: 1920, height: 1080, fps: 30 }, profile: Hksv.profile.HIGH, level: Hksv.level.L4_0 } });
  });

  after(async function () {
    this.timeout(30_000);
    await stopAll();
  });

  it('decodes the supported configuration the camera advertises', function () {
    assert.equal(hub.supported.camera.prebufferLengthMs, 4000);
    assert.equal(hub.supported.camera.eventTriggers & Hksv.trigger.MOTION, Hksv.trigger.MOTION, 'MOTION trigger offered');
    assert.deepEqual(hub.supported.camera.containers, [{ type: Hksv.container.FRAGMENTED_MP4, fragmentLengthMs: 4000 }]);
    assert.deepEqual(hub.supported.video, [{
      codec: Hksv.videoCodec.H264,
      profiles: [Hksv.profile.BASELINE, Hksv.profile.MAIN, Hksv.profile.HIGH],
      levels: [Hksv.level.L3_1, Hksv.level.L3_2, Hksv.level.L4_0],
      resolutions: RESOLUTIONS.map(([width, height, fps]) => ({ width, height, fps })),
    }]);
    assert.deepEqual(hub.supported.audio, [{
      codec: Hksv.audioCodec.AAC_LC,
      channels: 1,
      bitrateModes: [Hksv.audioBitrateMode.VARIABLE],
      sampleRates: [Hksv.sampleRate.KHZ_16, Hksv.sampleRate.KHZ_32],
    }]);
  });

  it('configures recording as a hub: HAP-NodeJS parses the selected configuration it was sent', async function () {
    assert.equal(delegate.active, true, 'updateRecordingActive(true)');
    assert.deepEqual(delegate.configuration, {
      prebufferLength: 4000,
      eventTriggerTypes: [hap.EventTriggerOption.MOTION],
      mediaContainerConfiguration: { type: hap.MediaContainerType.FRAGMENTED_MP4, fragmentLength: 4000 },
      videoCodec: {
        type: hap.VideoCodecType.H264,
        parameters: { profile: hap.H264Profile.HIGH, level: hap.H264Level.LEVEL4_0, bitRate: 2000, iFrameInterval: 4000 },
        resolution: [1920, 1080, 30],
      },
      audioCodec: { audioChannels: 1, type: hap.AudioRecordingCodecType.AAC_LC, samplerate: hap.AudioRecordingSamplerate.KHZ_32, bitrateMode: 0, bitrate: 64 },
    });
    assert.deepEqual(await hub.readSelectedConfiguration(), hub.selected, 'SelectedCameraRecordingConfiguration reads back as written');
    const recording = controller.recordingManagement;
    assert.ok(recording, 'the controller has recording management');
    const C = hap.Characteristic;
    // Bools arrive as written (1), so compare as numbers.
    const on = (service: hap.Service, type: typeof C.RecordingAudioActive | typeof C.HomeKitCameraActive | typeof C.EventSnapshotsActive): number =>
      Number(service.getCharacteristic(type).value);
    assert.equal(on(recording.recordingManagementService, C.RecordingAudioActive), 1, 'RecordingAudioActive (timed write)');
    assert.equal(on(recording.operatingModeService, C.HomeKitCameraActive), 1, 'HomeKitCameraActive');
    assert.equal(on(recording.operatingModeService, C.EventSnapshotsActive), 1, 'EventSnapshotsActive');
  });

  it('receives a whole recording: init segment, three fragments (one chunked), isLast, then acknowledges it', async function () {
    const init = randomBytes(1_200);
    const fragments = [randomBytes(300_000), randomBytes(5_000), randomBytes(7_000)];
    delegate.script = async function* () {
      yield { data: init, isLast: false };
      for (const [i, data] of fragments.entries()) {
        yield { data, isLast: i === fragments.length - 1 };
      }
    };
    const stream = await hub.openRecording(1);
    const packets = await stream.waitForEnd(WAIT_MS);
    assert.deepEqual(stream.violations(), []);
    assert.equal(packets.length, 4);
    assert.equal(packets[0].kind, 'init');
    assert.ok(packets[0].data.equals(init), 'init segment byte for byte');
    assert.deepEqual(packets.map((p) => p.sequence), [1, 2, 3, 4]);
    for (const [i, data] of fragments.entries()) {
      assert.equal(packets[i + 1].kind, 'fragment');
      assert.ok(packets[i + 1].data.equals(data), `fragment ${i + 1} byte for byte`);
    }
    assert.deepEqual(packets[1].chunkSizes, [262_144, 300_000 - 262_144], 'the large fragment came in two chunks');
    await pollUntil(async () => (delegate.acks.includes(1) ? true : undefined), { timeoutMs: WAIT_MS, what: 'acknowledgeStream(1)' });
    assert.equal(stream.closedByAccessory, undefined, 'no close from the camera after a clean end');
  });

  it('a hub-side close with reason 0 reaches closeRecordingStream, and the generator ends', async function () {
    delegate.script = async function* (_streamId, isClosed) {
      yield { data: randomBytes(800), isLast: false };
      for (let i = 0; i < MAX_ENDLESS_FRAGMENTS && !isClosed(); i++) {
        await sleep(FRAGMENT_PERIOD_MS);
        if (!isClosed()) {
          yield { data: randomBytes(2_000), isLast: false };
        }
      }
    };
    const stream = await hub.openRecording(2);
    await stream.waitForPackets(3, WAIT_MS);
    stream.close(HdsCloseReason.NORMAL);
    const closed = await pollUntil(async () => delegate.closes.find((c) => c.streamId === 2), { timeoutMs: WAIT_MS, intervalMs: 50, what: 'closeRecordingStream(2)' });
    assert.equal(closed.reason, HdsCloseReason.NORMAL);
    await pollUntil(async () => (delegate.finished.includes(2) ? true : undefined), { timeoutMs: WAIT_MS, intervalMs: 50, what: 'the generator of stream 2 to return' });
    assert.deepEqual(stream.violations(), []);
    assert.equal(stream.ended, false, 'no isLast on a stream the hub closed');
  });

  it('a close from the camera arrives with its reason', async function () {
    delegate.script = async function* () {
      yield { data: randomBytes(500), isLast: false };
      throw new hap.HDSProtocolError(hap.HDSProtocolSpecificErrorReason.UNEXPECTED_FAILURE);
    };
    const stream = await hub.openRecording(3);
    const reason = await stream.waitForAccessoryClose(WAIT_MS);
    assert.equal(reason, HdsCloseReason.UNEXPECTED_FAILURE);
    assert.equal(stream.packets().length, 1, 'the init segment came before the close');
    assert.ok(delegate.closes.some((c) => c.streamId === 3 && c.reason === HdsCloseReason.UNEXPECTED_FAILURE));
  });

  it('an open while recording is off is refused with NOT_ALLOWED', async function () {
    await hub.setRecordingActive(false);
    try {
      await assert.rejects(hub.openRecording(4), (err: unknown) => err instanceof HdsRequestError && err.reason === HdsCloseReason.NOT_ALLOWED);
    } finally {
      await hub.setRecordingActive(true);
    }
    assert.equal(delegate.requests.includes(4), false, 'the delegate was never asked for stream 4');
  });
});
