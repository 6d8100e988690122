// An RTSP connection's bytes split into responses, server requests and interleaved frames (RFC 2326 §10.12), however
// TCP cuts them; garbage and oversized messages end the read with a sentence, a little garbage among media is skipped.
import assert from 'node:assert/strict';
import { MAX_BODY_BYTES, MAX_HEADER_BYTES, RtspWireReader, WireError } from '../../../src/media/rtsp/wire';

type Seen = string;

function reader(): { wire: RtspWireReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const wire = new RtspWireReader({
    frame: (channel, data) => seen.push(`frame ${channel} ${data.toString('hex')}`),
    response: (r) => seen.push(`response ${r.status} ${r.reason} cseq=${r.headers.get('cseq')} body=${r.body.toString('latin1')}`),
    request: (r) => seen.push(`request ${r.method} ${r.uri} cseq=${r.headers.get('CSeq')}`),
  });
  return { wire, seen };
}

/** An interleaved RTP frame on `channel`: version 2 and `n` more bytes. */
function frame(channel: number, n: number, fill = 0xab): Buffer {
  const body = Buffer.alloc(12 + n, fill);
  body[0] = 0x80;
  return Buffer.concat([Buffer.from([0x24, channel, body.length >> 8, body.length & 0xff]), body]);
}

const OK = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 3\r\nSession: 1234\r\n\r\n', 'latin1');
const SDP = Buffer.from('RTSP/1.0 200 OK\r\nCSeq: 2\r\nContent-Length: 5\r\n\r\nv=0\r\n', 'latin1');
const SERVER_REQUEST = Buffer.from('SET_PARAMETER rtsp://cam/ RTSP/1.0\r\nCSeq: 9\r\n\r\n', 'latin1');

describe('RTSP wire reader', () => {
  const stream = Buffer.concat([SDP, frame(0, 4), OK, frame(1, 0), SERVER_REQUEST, frame(2, 1400), frame(0, 2)]);
  const expected = (() => {
    const { wire, seen } = reader();
    wire.push(stream);
    return seen;
  })();

  it('reads responses, bodies, server requests and frames mixed on one connection', () => {
    assert.deepEqual(expected.map((s) => s.slice(0, 40)), [
      'response 200 OK cseq=2 body=v=0\r\n', `frame 0 80${'ab'.repeat(15)}`.slice(0, 40), 'response 200 OK cseq=3 body=',
      `frame 1 80${'ab'.repeat(11)}`, 'request SET_PARAMETER rtsp://cam/ cseq=9', `frame 2 80${'ab'.repeat(15)}`.slice(0, 40),
      `frame 0 80${'ab'.repeat(13)}`,
    ]);
  });

  it('reads the same however TCP cuts the bytes: at every byte, and in two pieces at every place', () => {
    const bytewise = reader();
    for (let i = 0; i < stream.length; i++) {
      bytewise.wire.push(stream.subarray(i, i + 1));
    }
    assert.deepEqual(bytewise.seen, expected);
    for (let cut = 1; cut < stream.length; cut += 7) {
      const two = reader();
      two.wire.push(stream.subarray(0, cut));
      two.wire.push(stream.subarray(cut));
      assert.deepEqual(two.seen, expected, `cut at ${cut}`);
    }
    assert.equal(bytewise.wire.buffered, 0);
  });

  it('reads headers ended by bare LF', () => {
    const { wire, seen } = reader();
    wire.push(Buffer.from('RTSP/1.0 401 Unauthorized\nCSeq: 1\nWWW-Authenticate: Basic realm="x"\n\n', 'latin1'));
    assert.deepEqual(seen, ['response 401 Unauthorized cseq=1 body=']);
  });

  it('ends the read on what is not RTSP before media flows', () => {
    for (const junk of ['HTTP/1.1 200 OK\r\n\r\n', '<html>', '\x00\x01\x02', 'RTSP/1.0 abc\r\n\r\n', 'R\x00']) {
      const { wire } = reader();
      assert.throws(() => wire.push(Buffer.from(junk, 'latin1')), (e: unknown) => e instanceof WireError && e.kind === 'not-rtsp' &&
        e.message === 'the camera sends something that is not RTSP', JSON.stringify(junk));
    }
  });

  it('skips a little garbage among media, and ends the read when it goes on', () => {
    const { wire, seen } = reader();
    wire.channels.add(0);
    wire.garbageBudget = 1000;
    // Garbage holding a '$' on a channel not set up and one with a bad RTP version: neither is taken for a frame.
    const junk = Buffer.concat([Buffer.alloc(500, 0x11), Buffer.from([0x24, 5, 0, 20, 0x80, 0x24, 0, 0, 20, 0x40, 7])]);
    wire.push(Buffer.concat([frame(0, 1), junk, frame(0, 1, 0xcd)]));
    assert.deepEqual(seen.map((s) => s.slice(0, 12)), ['frame 0 80ab', 'frame 0 80cd']);
    // 16 good frames in a row after garbage start the count again: the budget is per incident, not per connection.
    for (let i = 0; i < 16; i++) {
      wire.push(frame(0, 1));
    }
    wire.push(Buffer.concat([Buffer.alloc(600, 0x11), frame(0, 1)]));
    assert.throws(() => wire.push(Buffer.alloc(500, 0x11)), /not RTSP/, 'over the budget within one incident');
  });

  it('takes capitals and a space in garbage for garbage, not for a request whose header never ends', () => {
    // Random bytes hold "ABC " every few hundred KiB: the garbage stream of a broken camera was said as a header over
    // 64 KiB instead of not RTSP.
    const { wire, seen } = reader();
    wire.channels.add(0);
    wire.garbageBudget = 100_000;
    const junk = Buffer.concat([Buffer.from('XQZ \x93\x01', 'latin1'), Buffer.alloc(70_000, 0x11)]);
    wire.push(Buffer.concat([frame(0, 1), junk]));
    assert.throws(() => wire.push(Buffer.alloc(40_000, 0x11)), (e: unknown) => e instanceof WireError && e.kind === 'not-rtsp');
    // A real request from the camera is still read, whole or cut anywhere.
    const ok = reader();
    const request = 'GET_PARAMETER rtsp://cam/stream RTSP/1.0\r\nCSeq: 7\r\n\r\n';
    ok.wire.push(Buffer.from(request.slice(0, 20), 'latin1'));
    ok.wire.push(Buffer.from(request.slice(20), 'latin1'));
    assert.equal(ok.seen.length, 1, ok.seen.join());
    assert.match(ok.seen[0], /GET_PARAMETER/);
    assert.equal(seen.length, 1, 'only the frame before the garbage');
  });

  it('bounds a header and a body', () => {
    const long = reader();
    assert.throws(() => long.wire.push(Buffer.from(`RTSP/1.0 200 OK\r\nX: ${'a'.repeat(MAX_HEADER_BYTES)}`, 'latin1')),
      (e: unknown) => e instanceof WireError && e.kind === 'too-large' && /header over 64 KiB/.test(e.message));
    const body = reader();
    assert.throws(() => body.wire.push(Buffer.from(`RTSP/1.0 200 OK\r\nContent-Length: ${MAX_BODY_BYTES + 1}\r\n\r\n`, 'latin1')),
      /body over 64 KiB/);
    const bad = reader();
    assert.throws(() => bad.wire.push(Buffer.from('RTSP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n', 'latin1')), /not RTSP/);
  });
});
