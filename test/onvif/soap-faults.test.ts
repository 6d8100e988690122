// A SOAP fault in answer to each call the plugin makes: each is either worked around (the call is optional) or becomes
// one SoapError saying which call the camera refused; event loops retry with backoff instead of spinning, and stop.
import assert from 'node:assert/strict';
import { CameraSim, SimCamera } from '../../tools/camera-sim';
import { OnvifDevice } from '../../src/onvif/device';
import { PullPointEvents } from '../../src/onvif/events';
import { NotificationReceiver, PushEvents } from '../../src/onvif/push';
import { interpret } from '../../src/onvif/topics';
import { failure, fakeCamera, SOAP } from './fake-camera';
import { nextEvent, nextNotification, quiet, watchOffline } from './wait-for';

/** An events log that keeps its lines, for counting attempts. */
function recordingLog(): { lines: string[]; info: (m: string) => void; warn: (m: string) => void; debug: (m: string) => void } {
  const lines: string[] = [];
  return { lines, info: (m) => lines.push(`info ${m}`), warn: (m) => lines.push(`warn ${m}`), debug: (m) => lines.push(`debug ${m}`) };
}

describe('SOAP faults in answer to every call', function () {
  this.timeout(20_000);
  let sim: CameraSim;
  let cam: SimCamera;
  let receiver: NotificationReceiver;
  const stoppers: (() => Promise<void>)[] = [];

  before(async () => {
    sim = await CameraSim.start({ media: false, cameras: [{ name: 'Hik', vendor: 'hikvision' }] });
    cam = sim.cameras[0];
    receiver = new NotificationReceiver(quiet);
    await receiver.listen(0, '127.0.0.1');
  });
  afterEach(async () => {
    await Promise.all(stoppers.splice(0).map((stop) => stop()));
    cam.setFaults([]);
    cam.motion(false);
  });
  after(async () => {
    await receiver.close();
    await sim.stop();
  });

  const device = (): OnvifDevice => new OnvifDevice({ host: cam.host, port: cam.port, username: cam.username, password: cam.password });
  const connected = async (): Promise<OnvifDevice> => {
    const d = device();
    await d.connect();
    return d;
  };
  const refused = async (p: Promise<unknown>, operation: string): Promise<void> => {
    const err = await failure(p);
    assert.equal(err.kind, 'fault', err.message);
    assert.match(err.message, new RegExp(`camera refused the request: .*simulated fault in ${operation}`));
  };

  it('GetSystemDateAndTime: connects anyway, signing with our clock', async () => {
    cam.setFaults(['GetSystemDateAndTime']);
    const d = await connected();
    assert.equal(d.clockKnown, false);
    assert.equal((await d.getDeviceInformation()).serial, cam.info.serial);
  });

  it('GetCapabilities: connect fails, naming the refusal', async () => {
    cam.setFaults(['GetCapabilities']);
    await refused(device().connect(), 'GetCapabilities');
  });

  it('GetServices: connects without Media2 (it only lists Media2)', async () => {
    cam.setFaults(['GetServices']);
    const d = await connected();
    assert.equal(d.urls.media2, undefined);
    assert.ok((await d.getProfiles()).length > 0);
  });

  it('GetDeviceInformation, GetProfiles, GetStreamUri, GetSnapshotUri, GetEventProperties: each call fails, naming the refusal', async () => {
    const d = await connected();
    const token = (await d.getProfiles())[0].token;
    const calls: [string, () => Promise<unknown>][] = [
      ['GetDeviceInformation', () => d.getDeviceInformation()],
      ['GetProfiles', () => d.getProfiles()],
      ['GetStreamUri', () => d.getStreamUri(token)],
      // A fault here is how camera-media.ts knows the camera has no snapshot URL (it then uses a frame of the stream).
      ['GetSnapshotUri', () => d.getSnapshotUri(token)],
      ['GetEventProperties', () => d.getEventTopics()],
    ];
    for (const [operation, call] of calls) {
      cam.setFaults([operation]);
      await refused(call(), operation);
    }
  });

  it('CreatePullPointSubscription: retried after a backoff, not in a loop, never "offline"; subscribes once it is allowed', async () => {
    cam.setFaults(['CreatePullPointSubscription']);
    const log = recordingLog();
    const events = new PullPointEvents(await connected(), log, () => 0);
    stoppers.push(() => events.stop());
    const offline = watchOffline(events);
    const subscribed = nextEvent(events, 'subscribed');
    events.start();
    await new Promise((r) => setTimeout(r, 1_000));
    const refusals = log.lines.filter((l) => /simulated fault in CreatePullPointSubscription.*subscribing again/.test(l));
    assert.equal(refusals.length, 1, log.lines.join('\n'));
    assert.equal(offline.seen, false, 'a camera that answers is not offline');
    cam.setFaults([]);
    await subscribed; // after the first backoff (1.6 s with this jitter)
    const motion = nextNotification(events, (n) => n.operation !== 'Initialized' && interpret(n).some((e) => e.kind === 'motion' && e.active));
    cam.motion(true);
    await motion;
  });

  it('PullMessages: the subscription is given back and made again after a backoff; events flow once pulls work', async () => {
    const log = recordingLog();
    const events = new PullPointEvents(await connected(), log, () => 0);
    stoppers.push(() => events.stop());
    const before = cam.stats();
    const offline = watchOffline(events);
    cam.setFaults(['PullMessages']);
    events.start();
    await nextEvent(events, 'subscribed');
    await new Promise((r) => setTimeout(r, 1_000));
    const after = cam.stats();
    assert.equal(after.created - before.created, 1, 'one subscription in the first second: no spin');
    assert.equal(after.unsubscribes - before.unsubscribes, 1, 'the refused subscription was released');
    assert.equal(offline.seen, false, 'a camera that answers is not offline');
    cam.setFaults([]);
    const motion = nextNotification(events, (n) => n.operation !== 'Initialized' && interpret(n).some((e) => e.kind === 'motion' && e.active));
    await nextEvent(events, 'subscribed');
    cam.motion(true);
    await motion;
  });

  it('SetSynchronizationPoint: events flow without it', async () => {
    cam.setFaults(['SetSynchronizationPoint']);
    const log = recordingLog();
    const events = new PullPointEvents(await connected(), log, () => 0);
    stoppers.push(() => events.stop());
    events.start();
    await nextEvent(events, 'subscribed');
    const motion = nextNotification(events, (n) => interpret(n).some((e) => e.kind === 'motion' && e.active));
    cam.motion(true);
    await motion;
    assert.ok(log.lines.some((l) => /SetSynchronizationPoint refused .*; continuing/.test(l)));
  });

  it('Unsubscribe: stop() still ends promptly, for PullPoint and for push', async () => {
    cam.setFaults(['Unsubscribe']);
    const pull = new PullPointEvents(await connected(), quiet, () => 0);
    pull.start();
    await nextEvent(pull, 'subscribed');
    const push = new PushEvents(await connected(), receiver, quiet, { random: () => 0.5 });
    push.start();
    await nextEvent(push, 'subscribed');
    const started = Date.now();
    await Promise.all([pull.stop(), push.stop()]);
    assert.ok(Date.now() - started < 3_000, `stop took ${Date.now() - started} ms`);
  });

  it('Subscribe (push): falls back to PullPoint at once', async () => {
    cam.setFaults(['Subscribe']);
    const push = new PushEvents(await connected(), receiver, quiet, { random: () => 0.5 });
    stoppers.push(() => push.stop());
    const fallback = nextEvent<string>(push, 'fallback');
    push.start();
    assert.match(await fallback, /the camera refused Subscribe: .*simulated fault in Subscribe/);
  });

  it('Renew (push): the subscription is released and made again, and Notify keeps arriving', async () => {
    const push = new PushEvents(await connected(), receiver, quiet, { random: () => 0.5, renewIntervalMs: 300, retryMinMs: 200, retryMaxMs: 400 });
    stoppers.push(() => push.stop());
    push.start();
    await nextEvent(push, 'subscribed');
    const created = cam.pushStats().subscribed;
    cam.setFaults(['Renew']);
    // The failed renewal leads to a fresh subscription, which proves itself with a Notify ('subscribed' again).
    const again = nextEvent(push, 'subscribed');
    await new Promise((r) => setTimeout(r, 500));
    cam.setFaults([]);
    await again;
    assert.ok(cam.pushStats().subscribed > created);
    const motion = nextNotification(push, (n) => n.operation !== 'Initialized' && interpret(n).some((e) => e.kind === 'motion' && e.active));
    cam.motion(true);
    await motion;
  });
});

describe('SOAP faults from Media2', () => {
  const fake = fakeCamera();
  after(() => fake.close());

  it('GetProfiles (Media2): falls back to Media (ver10) profiles', async () => {
    const media2 = `http://127.0.0.1:${fake.port()}/onvif/media2_service`;
    fake.reply((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const op = /<(?:\w+:)?(Get\w+)/.exec(body.replace(/<s:Header>.*<\/s:Header>/, ''))?.[1];
        if (op === 'GetSystemDateAndTime' || op === 'GetCapabilities') {
          res.end(SOAP(`<tds:${op}Response xmlns:tds="http://www.onvif.org/ver10/device/wsdl"/>`));
        } else if (op === 'GetServices') {
          res.end(SOAP('<tds:GetServicesResponse xmlns:tds="http://www.onvif.org/ver10/device/wsdl"><tds:Service>' +
            `<tds:Namespace>http://www.onvif.org/ver20/media/wsdl</tds:Namespace><tds:XAddr>${media2}</tds:XAddr></tds:Service></tds:GetServicesResponse>`));
        } else if (op === 'GetProfiles' && req.url === '/onvif/media2_service') {
          res.statusCode = 500;
          res.end(SOAP('<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text>no</env:Text></env:Reason></env:Fault>'));
        } else if (op === 'GetProfiles') {
          res.end(SOAP('<trt:GetProfilesResponse xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema">' +
            '<trt:Profiles token="P1"><tt:Name>main</tt:Name><tt:VideoEncoderConfiguration><tt:Encoding>H264</tt:Encoding>' +
            '<tt:Resolution><tt:Width>1280</tt:Width><tt:Height>720</tt:Height></tt:Resolution></tt:VideoEncoderConfiguration>' +
            '</trt:Profiles></trt:GetProfilesResponse>'));
        } else {
          res.statusCode = 400;
          res.end();
        }
      });
    });
    const d = new OnvifDevice({ host: '127.0.0.1', port: fake.port(), username: 'u', password: 'p' });
    await d.connect();
    assert.equal(d.urls.media2, media2);
    const profiles = await d.getProfiles();
    assert.deepEqual(profiles.map((p) => [p.token, p.width]), [['P1', 1280]]);
  });
});
