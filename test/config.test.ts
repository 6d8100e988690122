import assert from 'node:assert/strict';
import { parseConfig } from '../src/config';

describe('config', () => {
  const good = { name: 'Entrance 1', host: '192.168.1.20', username: 'admin', password: 'pw' };

  it('applies defaults: ONVIF port 80, doorbell off, platform name', () => {
    const { config, errors } = parseConfig({ platform: 'Courtyard', cameras: [good] });
    assert.deepEqual(errors, []);
    assert.equal(config.name, 'Courtyard');
    assert.deepEqual(config.cameras, [{
      ...good, port: 80, doorbell: false, events: [], motionHoldSeconds: 10, sensors: [], doorbellEvents: ['input', 'visitor'],
      doorbellCooldownSeconds: 10, doorbellSwitch: false, setClock: false, audio: true, maxStreams: 2, recording: true,
      prebufferSeconds: 4, maxRecordingSeconds: 300, streamReader: 'plugin', rtspTransport: 'tcp',
    }]);
    assert.equal(config.videoEncoder, 'libx264');
  });

  it('reads the video options and names the field of a bad one', () => {
    const ok = parseConfig({ videoEncoder: 'h264_vaapi', cameras: [{ ...good, audio: false, maxStreams: '4', recording: false,
      prebufferSeconds: 8, maxRecordingSeconds: 60 }] });
    assert.deepEqual(ok.errors, []);
    assert.equal(ok.config.videoEncoder, 'h264_vaapi');
    assert.deepEqual([ok.config.cameras[0].audio, ok.config.cameras[0].maxStreams, ok.config.cameras[0].recording,
      ok.config.cameras[0].prebufferSeconds, ok.config.cameras[0].maxRecordingSeconds], [false, 4, false, 8, 60]);
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ maxStreams: 0 }, /^Camera "Entrance 1": "maxStreams" must be a whole number of viewers from 1 to 6$/],
      [{ prebufferSeconds: 2 }, /^Camera "Entrance 1": "prebufferSeconds" must be a whole number of seconds from 4/],
      [{ maxRecordingSeconds: 5 }, /^Camera "Entrance 1": "maxRecordingSeconds" must be/],
      [{ audio: 'yes' }, /^Camera "Entrance 1": "audio" must be true or false$/],
    ];
    for (const [bad, message] of cases) {
      const { errors, config } = parseConfig({ cameras: [{ ...good, ...bad }] });
      assert.equal(config.cameras.length, 0);
      assert.match(errors[0], message);
    }
    const encoder = parseConfig({ videoEncoder: 'x; rm -rf /', cameras: [good] });
    assert.match(encoder.errors[0], /^"videoEncoder" must be the name of an ffmpeg H.264 encoder/);
    assert.equal(encoder.config.videoEncoder, 'libx264');
  });

  it('reads "streamReader": the plugin by default, ffmpeg when asked; another value names the camera and the field', () => {
    const readers = parseConfig({ cameras: [good, { ...good, name: 'B', host: 'b', streamReader: 'ffmpeg' },
      { ...good, name: 'C', host: 'c', streamReader: 'plugin' }, { ...good, name: 'D', host: 'd', streamReader: '' }] });
    assert.deepEqual(readers.errors, []);
    assert.deepEqual(readers.config.cameras.map((c) => c.streamReader), ['plugin', 'ffmpeg', 'plugin', 'plugin']);
    // Like the other options with a fixed set of values (events[].means): the camera is skipped, the others stay.
    for (const bad of ['FFmpeg', 'gstreamer', true]) {
      const { errors, config } = parseConfig({ cameras: [{ ...good, streamReader: bad }, { ...good, name: 'B', host: 'b' }] });
      assert.deepEqual(errors, [`Camera "Entrance 1": "streamReader" must be "plugin" (the default) or "ffmpeg", not ${JSON.stringify(bad)}`]);
      assert.deepEqual(config.cameras.map((c) => c.name), ['B']);
    }
  });

  it('reads "rtspTransport": TCP by default, UDP when asked; another value names the camera and the field', () => {
    const r = parseConfig({ cameras: [good, { ...good, name: 'B', host: 'b', rtspTransport: 'udp' }, { ...good, name: 'C', host: 'c', rtspTransport: '' }] });
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.warnings, []);
    assert.deepEqual(r.config.cameras.map((c) => c.rtspTransport), ['tcp', 'udp', 'tcp']);
    for (const bad of ['UDP', 'http', 1]) {
      const { errors, config } = parseConfig({ cameras: [{ ...good, rtspTransport: bad }, { ...good, name: 'B', host: 'b' }] });
      assert.deepEqual(errors, [`Camera "Entrance 1": "rtspTransport" must be "tcp" (the default) or "udp", not ${JSON.stringify(bad)}`]);
      assert.deepEqual(config.cameras.map((c) => c.name), ['B']);
    }
  });

  it('names the camera and the field, skips only the broken camera', () => {
    const { config, errors } = parseConfig({ cameras: [{ name: 'Entrance 2', port: 80 }, good] });
    assert.deepEqual(errors, ['Camera "Entrance 2": "host" is missing']);
    assert.deepEqual(config.cameras.map((c) => c.name), ['Entrance 1']);
  });

  it('refers to a camera without a name by its position', () => {
    const { errors } = parseConfig({ cameras: [good, { host: '10.0.0.2' }] });
    assert.deepEqual(errors, ['Camera #2: "name" is missing']);
  });

  it('explains a URL pasted into host without echoing its credentials', () => {
    const { errors } = parseConfig({ cameras: [{ ...good, host: 'http://admin:secret@10.0.0.9/onvif' }] });
    assert.equal(errors.length, 1);
    assert.match(errors[0], /^Camera "Entrance 1": "host" must be only the camera's address/);
    assert.doesNotMatch(errors[0], /secret/);
  });

  for (const [value, pattern] of [[0, /1 to 65535/], [70000, /1 to 65535/], ['eighty', /"eighty"/], [80.5, /whole number/]] as const) {
    it(`rejects port ${JSON.stringify(value)}`, () => {
      const { errors, config } = parseConfig({ cameras: [{ ...good, port: value }] });
      assert.equal(config.cameras.length, 0);
      assert.match(errors[0], /^Camera "Entrance 1": "port" /);
      assert.match(errors[0], pattern);
    });
  }

  it('accepts a port written as text, as the UI form may save it', () => {
    assert.equal(parseConfig({ cameras: [{ ...good, port: '8000' }] }).config.cameras[0].port, 8000);
  });

  it('rejects wrong types for username, password and doorbell', () => {
    const { errors } = parseConfig({
      cameras: [{ ...good, name: 'A', username: 5 }, { ...good, name: 'B', host: 'b', password: true }, { ...good, name: 'C', host: 'c', doorbell: 'yes' }],
    });
    assert.deepEqual(errors, ['Camera "A": "username" must be text', 'Camera "B": "password" must be text', 'Camera "C": "doorbell" must be true or false']);
  });

  it('refuses a second camera with the same name or address', () => {
    const { errors, config } = parseConfig({
      cameras: [good, { ...good, host: '10.1.1.1' }, { ...good, name: 'Other' }],
    });
    assert.equal(config.cameras.length, 1);
    assert.match(errors[0], /^Camera "Entrance 1": "name" is used by camera #1 too/);
    assert.match(errors[1], /^Camera "Other": "host" 192\.168\.1\.20:80 is the same camera as #1/);
  });

  it('takes an IPv6 host bracketed or not, and writes every address one way', () => {
    const hosts = parseConfig({ cameras: ['[fd00::20]', 'FD00:0::21', '::1', '::ffff:192.168.1.22', 'Cam1.local']
      .map((host, i) => ({ ...good, name: `C${i}`, host })) });
    assert.deepEqual(hosts.errors, []);
    assert.deepEqual(hosts.config.cameras.map((c) => c.host), ['fd00::20', 'fd00::21', '::1', '192.168.1.22', 'Cam1.local']);
  });

  it('sees one IPv6 camera written two ways as one camera, and names it as host:port does', () => {
    const { errors, config } = parseConfig({ cameras: [{ ...good, host: 'fd00::20' }, { ...good, name: 'Other', host: '[FD00:0::20]' }] });
    assert.equal(config.cameras.length, 1);
    assert.deepEqual(errors, ['Camera "Other": "host" [fd00::20]:80 is the same camera as #1; it is added once']);
  });

  it('refuses hosts that cannot be a camera\'s address, saying why', () => {
    const errorFor = (host: string): string => parseConfig({ cameras: [{ ...good, host }] }).errors[0] ?? '(accepted)';
    assert.match(errorFor('fe80::1%eth0'), /^Camera "Entrance 1": "host" "fe80::1%eth0" is a link-local IPv6 address with a zone/);
    // URL reads 1.2.3 as 1.2.0.3: the plugin would call another address than the one written.
    assert.match(errorFor('1.2.3'), /"1\.2\.3" is not a valid IPv4 address/);
    assert.match(errorFor('[fd00::1'), /"\[fd00::1" is not a valid host name or IP address/);
    assert.match(errorFor('0.0.0.0'), /"0\.0\.0\.0" means "any address"/);
    assert.match(errorFor('[::]'), /means "any address"/);
  });

  it('takes [::1] as a manual-trigger bind address and an IPv6 advertiseHost, without the brackets', () => {
    assert.deepEqual(parseConfig({ triggers: { port: 8089, bind: '[::1]' } }).config.triggers, { port: 8089, bind: '::1' });
    assert.deepEqual(parseConfig({ push: { port: 8090, advertiseHost: '[fd00::9]' } }).config.push, { port: 8090, advertiseHost: 'fd00::9' });
    assert.match(parseConfig({ push: { port: 8090, advertiseHost: '0.0.0.0' } }).errors[0], /^"push"\."advertiseHost"/);
  });

  it('warns about unknown options but keeps the camera', () => {
    const { warnings, config } = parseConfig({ cameras: [{ ...good, motionTimeout: 3 }] });
    assert.equal(config.cameras.length, 1);
    assert.deepEqual(warnings, ['Camera "Entrance 1": unknown option "motionTimeout" is ignored']);
  });

  it('reads event mappings and names the bad entry', () => {
    const mapping = { topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', means: 'visitor' };
    assert.deepEqual(parseConfig({ cameras: [{ ...good, events: [mapping] }] }).config.cameras[0].events,
      [{ topic: 'tns1:VideoSource/Alarm', item: 'Alarm', value: 'Ring', kind: 'visitor' }]);
    const { errors } = parseConfig({ cameras: [{ ...good, events: [mapping, { topic: 'x', means: 'ring' }] }] });
    assert.match(errors[0], /^Camera "Entrance 1": "events\[1\]\.means" must be one of motion, person/);
  });

  it('checks motion and doorbell options', () => {
    const ok = parseConfig({ cameras: [{ ...good, motionHoldSeconds: '30', sensors: ['person', 'line', 'person'], doorbellEvents: ['line'] }] });
    assert.deepEqual([ok.config.cameras[0].motionHoldSeconds, ok.config.cameras[0].sensors, ok.config.cameras[0].doorbellEvents],
      [30, ['person', 'line'], ['line']]);
    const bad = parseConfig({ cameras: [{ ...good, motionHoldSeconds: 0 }, { ...good, name: 'B', host: 'b', sensors: ['people'] }] });
    assert.match(bad.errors[0], /^Camera "Entrance 1": "motionHoldSeconds" must be a whole number of seconds from 1 to 3600/);
    assert.match(bad.errors[1], /^Camera "B": "sensors" must be a list of event kinds/);
  });

  it('turns manual triggers on only with a valid port, on loopback unless told otherwise', () => {
    assert.equal(parseConfig({}).config.triggers, undefined);
    assert.deepEqual(parseConfig({ triggers: { port: 8089 } }).config.triggers, { port: 8089, bind: '127.0.0.1' });
    const bad = parseConfig({ triggers: { port: 'x' } });
    assert.equal(bad.config.triggers, undefined);
    assert.match(bad.errors[0], /^"triggers"\."port" must be a whole number/);
  });

  it('turns push on only with a valid port', () => {
    assert.deepEqual(parseConfig({ push: { port: '8090' } }).config.push, { port: 8090, advertiseHost: undefined });
    assert.match(parseConfig({ push: { port: 8090, advertiseHost: 'http://x' } }).errors[0], /^"push"\."advertiseHost"/);
  });

  describe('hostile strings', () => {
    const PASSWORD = '  -Zq9!@:/ %#-"\'$(id)`;&|<>\\\nü  ';

    it('keeps names and passwords as typed (never a command, never trimmed inside a password), shell metacharacters and all', () => {
      const names = ['"; rm -rf / #', '$(reboot)', '`id`', '-f lavfi -i x', 'Entrée 北门 🚪', 'a\'b"c'];
      const { config, errors } = parseConfig({ cameras: names.map((name, i) => ({ name, host: `10.0.0.${i + 1}`, password: PASSWORD })) });
      assert.deepEqual(errors, []);
      assert.deepEqual(config.cameras.map((c) => c.name), names);
      assert.ok(config.cameras.every((c) => c.password === PASSWORD));
    });

    it('refuses hosts with shell metacharacters, quotes, spaces, newlines, a leading "-" or non-ASCII, saying why', () => {
      for (const host of ['; rm -rf /', '$(reboot)', '`id`', '10.0.0.1;id', '"10.0.0.1"', 'cam one', 'cam\nevil', '-oProxyCommand=x',
        '-10.0.0.1', 'cam-', 'câmera.local', '10.0.0.1 -i x', '10.0.0.1\u0000', '&&', '|id']) {
        const { errors, config } = parseConfig({ cameras: [{ ...good, host }] });
        assert.equal(config.cameras.length, 0, `accepted ${JSON.stringify(host)}`);
        assert.match(errors[0], /^Camera "Entrance 1": "host" /, host);
      }
    });

    it('never quotes a password typed into "host", whatever it holds', () => {
      for (const host of ['http://admin:pa/ss@10.0.0.9/onvif', 'http://admin:p@ss@10.0.0.9/', 'admin:Zq9!%23-secret@10.0.0.9',
        'rtsp://admin:Zq9 secret@cam.local', 'admin@10.0.0.9', 'admin:Zq9/secret@10.0.0.9', 'admin:-Zq9!@:/ %#-secret@10.0.0.9']) {
        const { errors } = parseConfig({ cameras: [{ ...good, host }] });
        assert.equal(errors.length, 1, host);
        assert.doesNotMatch(errors[0], /pa\/ss|p@ss|Zq9|secret|admin/, errors[0]);
      }
    });

    it('keeps a videoProcessor path with spaces and metacharacters as one path (it is spawned, never run by a shell)', () => {
      const path = '/opt/my ffmpeg/$(id);ff"mpeg';
      assert.equal(parseConfig({ videoProcessor: ` ${path} ` }).config.videoProcessor, path);
    });
  });

  it('never throws on garbage', () => {
    for (const raw of [undefined, null, 42, 'x', [], { cameras: 'all' }, { cameras: [null, 3, 'x'] }, { videoProcessor: 7 }]) {
      const r = parseConfig(raw);
      assert.ok(Array.isArray(r.errors) && Array.isArray(r.config.cameras));
    }
    assert.deepEqual(parseConfig({ cameras: 'all' }).errors, ['"cameras" must be a list of cameras']);
  });
});
