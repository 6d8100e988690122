import assert from 'node:assert/strict';
import { chooseStream } from '../../src/media/live';
import type { CameraStream } from '../../src/media/live';
import { encoderArgs } from '../../src/media/live-audio';
import { reportIntervalMs, sessionArgs } from '../../src/media/live-session';
import type { MediaSource } from '../../src/media/source';

const stream = (name: string, width: number, height: number): CameraStream => ({
  name, source: {} as MediaSource, profile: { token: name, name, encoding: 'H264', width, height, isH265: false },
});

describe('live view choices', () => {
  const streams = [stream('main', 1920, 1080), stream('sub', 640, 360)];

  it('picks the smallest stream at least as wide as asked, else the widest', () => {
    assert.equal(chooseStream(streams, 1920).name, 'main');
    assert.equal(chooseStream(streams, 1280).name, 'main');
    assert.equal(chooseStream(streams, 640).name, 'sub');
    assert.equal(chooseStream(streams, 320).name, 'sub');
    assert.equal(chooseStream(streams, 2560).name, 'main');
  });

  it('builds SRTP arguments as an array, with keys only in the srtp parameters', () => {
    const key = Buffer.alloc(30, 7);
    const args = sessionArgs({
      source: {} as MediaSource, profileName: 'main', copy: true, facts: {}, encoder: 'libx264',
      video: { width: 1280, height: 720, fps: 30, max_bit_rate: 299, profile: 1, level: 2, pt: 99, ssrc: 1234, mtu: 1378 },
      audio: { codec: 'opus', pt: 110, ssrc: 99, sample_rate: 24, bit_rate: 24, packet_time: 20 },
    }, { family: 4, target: '127.0.0.1', videoPort: 5000, videoKey: key, audioPort: 5002, audioKey: key });
    assert.deepEqual(args.slice(args.indexOf('-c:v'), args.indexOf('-c:v') + 2), ['-c:v', 'copy']);
    assert.ok(args.includes('srtp://127.0.0.1:5000?rtcpport=5000&pkt_size=1378'));
    assert.ok(args.includes('srtp://127.0.0.1:5002?rtcpport=5002&pkt_size=188'));
    assert.ok(args.includes('libopus'));
    assert.equal(args.filter((a) => a === key.toString('base64')).length, 2);
  });

  it('the shared audio encoder reads ADTS as it comes, probes nothing ahead, plain RTP to the plugin\'s loopback port', () => {
    const url = 'rtp://127.0.0.1:40000?rtcpport=40000&pkt_size=178';
    const args = encoderArgs({ codec: 'opus', sample_rate: 24, bit_rate: 24, packet_time: 20 }, url, 1234);
    assert.deepEqual(args.filter((_, i) => args[i - 1] === '-map'), ['0:a:0']);
    assert.deepEqual(args.slice(args.indexOf('-i') - 2, args.indexOf('-i') + 2), ['-f', 'aac', '-i', 'pipe:0']);
    assert.ok(!args.includes('-readrate'), 'the frames come live: ffmpeg must not pace them');
    assert.deepEqual(args.slice(args.indexOf('-probesize'), args.indexOf('-probesize') + 2), ['-probesize', '32']);
    assert.deepEqual(args.slice(-7), ['-payload_type', '97', '-ssrc', '1234', '-f', 'rtp', url]);
    assert.ok(!args.some((a) => a.startsWith('srtp') || a.includes('srtp_out')), 'no keys: each viewer is encrypted by the plugin');
    const eld = encoderArgs({ codec: 'aac-eld', sample_rate: 16, bit_rate: 0, packet_time: 30 }, url, 1);
    assert.deepEqual(eld.slice(eld.indexOf('-c:a'), eld.indexOf('-c:a') + 4), ['-c:a', 'libfdk_aac', '-profile:a', 'aac_eld']);
    assert.deepEqual(eld.slice(eld.indexOf('-ar'), eld.indexOf('-ar') + 4), ['-ar', '16000', '-b:a', '24k']);
  });

  it('sends its RTCP sender reports at the interval HomeKit selects, within 0.5–5 s, 1 s without one', () => {
    assert.equal(reportIntervalMs(0.5), 500);
    assert.equal(reportIntervalMs(2), 2000);
    assert.equal(reportIntervalMs(0.1), 500);
    assert.equal(reportIntervalMs(30), 5000);
    assert.equal(reportIntervalMs(0), 1000);
    assert.equal(reportIntervalMs(Number.NaN), 1000);
  });
});
