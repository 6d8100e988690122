import assert from 'node:assert/strict';
import { CameraSim, SimCamera } from '../../tools/camera-sim';
import { OnvifDevice } from '../../src/onvif/device';
import { PullPointEvents } from '../../src/onvif/events';
import { SoapError } from '../../src/onvif/soap';
import { interpret, kindsOffered } from '../../src/onvif/topics';
import { PULL_HTTP_MARGIN_MS, PULL_TIMEOUT_S, SOURCE_STALL_MS } from '../../src/settings';
import { CameraLink } from '../../bench/camera-link';
import { nextNotification, quiet, subscribedEvents } from './wait-for';

describe('OnvifDevice against the simulator', function () {
  this.timeout(30_000);
  let sim: CameraSim;
  before(async () => {
    sim = await CameraSim.start({
      media: false,
      cameras: [
        { name: 'Hik', vendor: 'hikvision' },
        { name: 'Dahua', vendor: 'dahua', clockSkewMs: 2 * 3600_000 },
        { name: 'Axis', vendor: 'axis' },
        { name: 'Reolink', vendor: 'reolink' },
        { name: 'Generic', vendor: 'generic' },
        { name: 'DigestOnly', vendor: 'generic', soapAuth: 'digest', password: 'digest-pass' },
      ],
    });
  });
  after(() => sim.stop());

  const deviceFor = (i: number, password?: string): OnvifDevice => {
    const c = sim.cameras[i];
    return new OnvifDevice({ host: c.host, port: c.port, username: c.username, password: password ?? c.password });
  };
  /** Logging in and reading the identity fails as an auth error. */
  const refusesLogin = (d: OnvifDevice): Promise<void> => assert.rejects(async () => {
    await d.connect();
    await d.getDeviceInformation();
  }, (err: unknown) => err instanceof SoapError && err.kind === 'auth');

  it('reads device information from every vendor personality', async () => {
    for (let i = 0; i < 5; i++) {
      const d = deviceFor(i);
      await d.connect();
      const info = await d.getDeviceInformation();
      const want = sim.cameras[i].info;
      assert.deepEqual([info.manufacturer, info.model, info.serial, info.firmware], [want.manufacturer, want.model, want.serial, want.firmware]);
    }
  });

  it('authenticates a camera whose clock is two hours ahead, using the measured offset', async () => {
    const d = deviceFor(1);
    await d.connect();
    assert.ok(Math.abs(d.clockOffsetMs - 2 * 3600_000) < 5_000, `offset ${d.clockOffsetMs}`);
    assert.equal((await d.getDeviceInformation()).serial, sim.cameras[1].info.serial);
  });

  it('sets the clock of a camera on manual time when asked, and measures it again', async () => {
    sim.cameras[4].setClockSkew(-3 * 3600_000);
    const d = deviceFor(4);
    await d.connect();
    assert.equal(d.dateTimeType, 'Manual');
    assert.ok(d.clockOffsetMs < -3 * 3600_000 + 5_000);
    await d.setClockToOurs();
    assert.ok(Math.abs(d.clockOffsetMs) < 3_000, `offset after setting: ${d.clockOffsetMs}`);
    assert.ok(Math.abs(sim.cameras[4].now() - Date.now()) < 3_000);
  });

  it('authenticates with HTTP Digest on a digest-only camera, and rejects a wrong password there too', async () => {
    const d = deviceFor(5);
    await d.connect();
    assert.equal((await d.getDeviceInformation()).serial, sim.cameras[5].info.serial);
    assert.equal((await d.getDeviceInformation()).serial, sim.cameras[5].info.serial, 'the cached challenge keeps working');
    await refusesLogin(deviceFor(5, 'nope-nope'));
  });

  it('fails a wrong password as an auth error', async () => {
    await refusesLogin(deviceFor(0, 'wrong-password'));
  });

  it('reads the event topics each camera offers and knows what they mean', async () => {
    const want: Record<string, string[]> = {
      hikvision: ['motion', 'input', 'line', 'field', 'tamper'], dahua: ['motion', 'input', 'line', 'field', 'tamper'],
      axis: ['motion', 'input', 'line', 'person', 'tamper'], reolink: ['motion', 'visitor', 'line', 'person'],
      generic: ['motion', 'input', 'line', 'field', 'tamper'],
    };
    for (let i = 0; i < 5; i++) {
      const d = deviceFor(i);
      await d.connect();
      const offered = kindsOffered(await d.getEventTopics());
      for (const kind of want[sim.cameras[i].vendor]) {
        assert.ok(offered.has(kind as 'motion'), `${sim.cameras[i].vendor} should offer ${kind}: ${[...offered]}`);
      }
    }
  });

  it('lists a main and a sub H.264 profile with stream and snapshot URIs', async () => {
    for (let i = 0; i < sim.cameras.length; i++) {
      const d = deviceFor(i);
      await d.connect();
      const profiles = await d.getProfiles();
      const sizes = profiles.map((p) => `${p.encoding} ${p.width}x${p.height}`);
      assert.ok(sizes.includes('H264 1920x1080') && sizes.includes('H264 640x360'), `${sim.cameras[i].vendor}: ${sizes}`);
      assert.match(await d.getStreamUri(profiles[0].token), /^rtsp:\/\//);
      assert.match(await d.getSnapshotUri(profiles[0].token), /^http:\/\//);
    }
  });

  it('delivers an injected motion event through the long-poll and normalises it', async () => {
    const events = await subscribedEvents(deviceFor(0));
    try {
      const arrived = nextNotification(events, (n) => n.operation === 'Changed' && interpret(n).some((e) => e.kind === 'motion' && e.active));
      sim.cameras[0].motion(true);
      const n = await arrived;
      assert.equal(n.topic, 'tns1:RuleEngine/CellMotionDetector/Motion');
    } finally {
      await events.stop();
      sim.cameras[0].motion(false);
    }
    assert.equal(sim.cameras[0].stats().subscriptions, 0, 'stop() must release the subscription');
  });

  /** A started PullPoint loop on camera `index` (no jitter: shortest waits), once subscribed, counting its subscriptions. */
  async function countingSubscriptions(index: number): Promise<{ cam: SimCamera; events: PullPointEvents; subscriptions: () => number }> {
    const d = deviceFor(index);
    await d.connect();
    const events = new PullPointEvents(d, quiet, () => 0);
    let count = 0;
    events.on('subscribed', () => count++);
    const firstSub = new Promise((r) => events.once('subscribed', r));
    events.start();
    await firstSub;
    return { cam: sim.cameras[index], events, subscriptions: () => count };
  }

  /** Cameras report changes only: toggles motion until `arrived` settles (bounded by its own timeout). */
  async function motionUntil<T>(cam: SimCamera, arrived: Promise<T>): Promise<T> {
    let on = false;
    const pump = setInterval(() => cam.motion((on = !on)), 300);
    return arrived.finally(() => clearInterval(pump));
  }

  it('keeps its subscription through a short network outage: events resume on it, the camera never holds two', async () => {
    const { cam, events, subscriptions } = await countingSubscriptions(2);
    try {
      const offline = new Promise((r) => events.once('offline', r));
      const online = new Promise((r) => events.once('online', r));
      cam.offlineFor(3_000);
      await offline;
      await online;
      await motionUntil(cam, nextNotification(events, (n) => n.operation === 'Changed', 10_000));
      assert.equal(subscriptions(), 1, 'no new subscription after the outage');
      assert.equal(cam.stats().subscriptions, 1, 'the camera holds one subscription');
    } finally {
      await events.stop();
      cam.motion(false);
    }
  });

  it('a camera back from a reboot (subscriptions forgotten) is subscribed again at once, not after the outage\'s backoff', async () => {
    const { cam, events, subscriptions } = await countingSubscriptions(1);
    try {
      const offline = new Promise((r) => events.once('offline', r));
      cam.offlineFor(4_000); // the retries back off while it is away: 2 s, then 4 s
      await offline;
      await new Promise((r) => setTimeout(r, 3_900));
      cam.dropSubscriptions(); // it comes back having forgotten them, as after a reboot
      await cam.whenOnline();
      const back = Date.now();
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no new subscription within 6 s of the camera being back')), 6_000);
        events.once('subscribed', () => {
          clearTimeout(timer);
          resolve();
        });
      });
      assert.ok(Date.now() - back <= 6_000, `subscribed ${Date.now() - back} ms after it was back`);
      assert.equal(subscriptions(), 2);
    } finally {
      await events.stop();
    }
  });

  it('shows a camera that stops answering without closing (black-holed) as offline within one pull and its margin', async () => {
    // An unplugged camera behind a switch: connections hang, nothing is refused. Only an overdue pull reply tells, so the
    // pull's length bounds how long Home shows it responding: about when its stream read notices, not 40 s later.
    assert.ok(PULL_TIMEOUT_S * 1000 + PULL_HTTP_MARGIN_MS <= SOURCE_STALL_MS + 5_000,
      `a black hole is noticed after ${PULL_TIMEOUT_S} s + ${PULL_HTTP_MARGIN_MS / 1000} s, the stream read after ${SOURCE_STALL_MS / 1000} s`);
    const link = new CameraLink(sim.cameras[4].port);
    await link.start();
    const c = sim.cameras[4];
    const d = new OnvifDevice({ host: '127.0.0.1', port: link.onvifPort, username: c.username, password: c.password });
    await d.connect();
    const events = new PullPointEvents(d, quiet, () => 0, { timeoutS: 1, marginMs: 1_000 });
    try {
      const subscribed = new Promise((r) => events.once('subscribed', r));
      events.start();
      await subscribed;
      await new Promise((r) => setTimeout(r, 300)); // past the subscription's SetSynchronizationPoint: a pull is waiting
      const offline = new Promise<number>((r) => events.once('offline', () => r(Date.now())));
      const holed = Date.now();
      await link.setMode('blackhole');
      const after = await offline - holed;
      assert.ok(after <= 2_000 + 500, `offline ${after} ms into the black hole (pull 1 s + margin 1 s)`);
      const online = new Promise((r) => events.once('online', r));
      await link.setMode('up');
      await online;
    } finally {
      await events.stop();
      await link.stop();
    }
  });

  it('subscribes again after the camera drops its subscriptions, and after a restart', async () => {
    const { cam, events, subscriptions } = await countingSubscriptions(3);
    try {
      const seenAfter = async (fault: () => Promise<void> | void): Promise<void> => {
        const before = subscriptions();
        await fault();
        await motionUntil(cam, nextNotification(events, (n) => n.operation === 'Changed' && subscriptions() > before, 20_000));
      };
      await seenAfter(() => cam.dropSubscriptions());
      await seenAfter(() => cam.restart());
      assert.ok(subscriptions() >= 3, `subscribed ${subscriptions()} times`);
      assert.ok(cam.stats().subscriptions <= 1, 'never more than one live subscription');
    } finally {
      await events.stop();
    }
  });
});

describe('every event class of every vendor personality, end to end through PullPoint and the topic table', function () {
  this.timeout(60_000);
  // What each simulated action means per vendor: Hikvision/Dahua/generic "person" is their intrusion (field) rule,
  // the Reolink bell is its Visitor event, Axis' input is an I/O port.
  const expected: Record<string, Record<string, string | undefined>> = {
    hikvision: { motion: 'motion', doorbell: 'input', line: 'line', person: 'field', tamper: 'tamper' },
    dahua: { motion: 'motion', doorbell: 'input', line: 'line', person: 'field', tamper: 'tamper' },
    axis: { motion: 'motion', doorbell: 'input', line: 'line', person: 'person', tamper: 'tamper' },
    reolink: { motion: 'motion', doorbell: 'visitor', line: 'line', person: 'person', tamper: undefined },
    generic: { motion: 'motion', doorbell: 'input', line: 'line', person: 'field', tamper: 'tamper' },
  };
  let sim: CameraSim;
  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: Object.keys(expected).map((vendor) => ({ vendor: vendor as 'axis' })) });
  });
  after(() => sim.stop());

  for (const vendor of Object.keys(expected)) {
    it(`${vendor}: motion, doorbell, line crossing, person/intrusion and tamper arrive with their meaning`, async () => {
      const cam = sim.cameras.find((c) => c.vendor === vendor)!;
      const events = await subscribedEvents(new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password }));
      try {
        const actions: [string, () => unknown][] = [
          ['motion', () => cam.motion(true)], ['doorbell', () => cam.doorbell()], ['line', () => cam.lineCrossing()],
          ['person', () => cam.person(true)], ['tamper', () => cam.tamper(true)],
        ];
        for (const [action, inject] of actions) {
          const kind = expected[vendor][action];
          if (!kind) {
            continue;
          }
          const arrived = nextNotification(events, (n) => n.operation !== 'Initialized' && interpret(n).some((e) => e.kind === kind && e.active));
          inject();
          const n = await arrived;
          assert.ok(n.topic, `${vendor} ${action}`);
        }
      } finally {
        await events.stop();
      }
    });
  }
});
