// Hostile and broken XML from a camera (or anyone who can answer in its place): every case must end in an XmlError or a
// SoapError that says what happened, quickly, and never in another exception, a hang or a parse that eats memory.
import assert from 'node:assert/strict';
import http from 'node:http';
import { soapRequest } from '../../src/onvif/soap';
import { parseXml, XmlError } from '../../src/onvif/xml';
import { failure, fakeCamera, SOAP } from './fake-camera';

/** A GetProfiles reply as cameras write it: prefixes on the envelope, attributes, nesting a few levels deep. */
const PROFILES = '<?xml version="1.0" encoding="UTF-8"?><env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:trt="http://www.onvif.org/ver10/media/wsdl" xmlns:tt="http://www.onvif.org/ver10/schema"><env:Body><trt:GetProfilesResponse>' +
  '<trt:Profiles token="Profile_1" fixed="true"><tt:Name>mainStream</tt:Name><tt:VideoEncoderConfiguration token="VE_1">' +
  '<tt:Name>VE_1</tt:Name><tt:Encoding>H264</tt:Encoding><tt:Resolution><tt:Width>1920</tt:Width><tt:Height>1080</tt:Height>' +
  '</tt:Resolution><tt:RateControl><tt:FrameRateLimit>15</tt:FrameRateLimit><tt:BitrateLimit>2048</tt:BitrateLimit></tt:RateControl>' +
  '<tt:H264><tt:GovLength>60</tt:GovLength><tt:H264Profile>Main</tt:H264Profile></tt:H264></tt:VideoEncoderConfiguration>' +
  '</trt:Profiles></trt:GetProfilesResponse></env:Body></env:Envelope>';

const xmlError = (text: string): XmlError => {
  try {
    parseXml(text);
  } catch (err) {
    assert.ok(err instanceof XmlError, `expected XmlError, got ${String(err)}`);
    return err;
  }
  throw new Error(`accepted: ${text.slice(0, 60)}`);
};

describe('hostile XML: malformed and truncated', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  it('refuses malformed documents with an XmlError, never another exception', () => {
    for (const bad of ['', '   ', '<?xml version="1.0"?>', 'just text', '<a><b></a></b>', '<a attr="x>', '<a attr=x/>', '<a></A>',
      '<1a/>', '<a><!-- unterminated</a>', '<a><![CDATA[ unterminated</a>', '</a>', '<a b="1" b="2"/>', '\u0000<a/>']) {
      xmlError(bad);
    }
  });

  it('turns a reply cut off anywhere into a "bad-reply" SoapError, and reads the whole one', async () => {
    let text = PROFILES;
    cam.reply((_q, res) => res.end(text));
    assert.equal((await soapRequest(cam.url(), '<trt:GetProfiles/>')).name, 'GetProfilesResponse');
    // Every 13th cut: each lands somewhere else (in a tag, an attribute, a text, between elements).
    for (let cut = 1; cut < PROFILES.length - 1; cut += 13) {
      text = PROFILES.slice(0, cut);
      const err = await failure(soapRequest(cam.url(), '<trt:GetProfiles/>'));
      assert.equal(err.kind, 'bad-reply', `cut at ${cut}: ${err.message}`);
    }
  });

  it('reports a connection dropped before the declared length arrived', async () => {
    cam.reply((_q, res) => {
      res.writeHead(200, { 'Content-Length': String(PROFILES.length) });
      res.write(PROFILES.slice(0, 200));
      setTimeout(() => res.destroy(), 20);
    });
    const err = await failure(soapRequest(cam.url(), '<trt:GetProfiles/>'));
    assert.equal(err.kind, 'unreachable');
    assert.match(err.message, /connection dropped/);
  });
});

describe('hostile XML: oversized', () => {
  it('refuses a document of more tags than any camera sends before parsing it, and still reads a large real one', () => {
    // Half a million empty elements fit under the 2 MiB reply cap and take over a second and ~150 MB to parse.
    const wide = `<r>${'<x/>'.repeat(500_000)}</r>`;
    const started = performance.now();
    assert.match(xmlError(wide).message, /more than \d+ tags/);
    assert.ok(performance.now() - started < 500, `refusing took ${performance.now() - started} ms`);
    // An Axis GetEventProperties is a few thousand elements: well inside the limit.
    const large = parseXml(`<r>${'<tt:SimpleItemDescription Name="State" Type="xs:boolean"/>'.repeat(20_000)}</r>`);
    assert.equal(large.children.length, 20_000);
  });
});

describe('hostile XML: deeply nested', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  it('refuses nesting deeper than about 100 levels at once, and reads what real replies nest', async () => {
    for (const depth of [102, 10_000, 45_000]) {
      const started = performance.now();
      assert.match(xmlError(`${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}`).message, /nested/, `depth ${depth}`);
      assert.ok(performance.now() - started < 1_000, `depth ${depth} took ${performance.now() - started} ms`);
    }
    let el = parseXml(`${'<a>'.repeat(90)}x${'</a>'.repeat(90)}`);
    for (let i = 1; i < 90; i++) {
      el = el.children[0];
    }
    assert.equal(el.text, 'x');
  });

  it('turns a deep reply into a "bad-reply" SoapError', async () => {
    cam.reply((_q, res) => res.end(SOAP(`${'<a>'.repeat(5_000)}${'</a>'.repeat(5_000)}`)));
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'bad-reply');
    assert.match(err.message, /unreadable XML/);
  });
});

describe('hostile XML: entity expansion', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  it('refuses every spelling of a DTD: internal and external entities, parameter entities, lower case, after a comment', () => {
    for (const bad of [
      '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]><x>&b;</x>',
      '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><x>&xxe;</x>',
      '<!DOCTYPE x [<!ENTITY % p SYSTEM "http://127.0.0.1:1/evil.dtd"> %p;]><x/>',
      '<!doctype x [<!entity a "b">]><x>&a;</x>',
      '<!-- hello --><!DOCTYPE x SYSTEM "http://127.0.0.1:1/x.dtd"><x/>',
      '<x><!ENTITY a "b"></x>',
    ]) {
      assert.match(xmlError(bad).message, /DOCTYPE or ENTITY/);
    }
  });

  it('leaves an undeclared entity as the text it is, expanding nothing', () => {
    assert.equal(parseXml('<x>&lol9;&amp;</x>').text, '&lol9;&');
  });

  it('refuses a billion-laughs reply from a camera as "bad-reply", within milliseconds', async () => {
    const levels = Array.from({ length: 9 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('');
    cam.reply((_q, res) => res.end(`<?xml version="1.0"?><!DOCTYPE e [<!ENTITY l0 "lol">${levels}]>${SOAP('<x>&l9;</x>')}`));
    const started = performance.now();
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'bad-reply');
    assert.ok(performance.now() - started < 1_000);
  });
});

describe('hostile XML: a camera that answers byte by byte', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  /** Writes `text` one byte every `everyMs`, then ends the reply; resolves when the connection is gone or the reply ended. */
  const trickle = (res: http.ServerResponse, text: string, everyMs: number): Promise<void> => new Promise((resolve) => {
    let i = 0;
    const timer = setInterval(() => {
      if (res.destroyed) {
        return;
      }
      if (i < text.length) {
        res.write(text[i++]);
      } else {
        clearInterval(timer);
        res.end();
      }
    }, everyMs);
    res.on('close', () => {
      clearInterval(timer);
      resolve();
    });
  });

  it('gives up on a reply that trickles in after the whole-call bound, and closes the connection', async () => {
    let gone: Promise<void> | undefined;
    cam.reply((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
      gone = trickle(res, PROFILES, 10);
    });
    const started = performance.now();
    const err = await failure(soapRequest(cam.url(), '<x/>', { timeoutMs: 500 }));
    const took = performance.now() - started;
    assert.equal(err.kind, 'timeout');
    // The bound is on the whole call, not on the silence between bytes (which is never more than 10 ms here).
    assert.ok(took >= 450 && took < 1_500, `gave up after ${took} ms`);
    await gone; // the client closed its end: the camera is not left writing into a socket nobody reads
  });

  it('bounds a camera that sends even its status line and headers byte by byte', async () => {
    let gone: Promise<void> | undefined;
    cam.reply((req, res) => {
      // Below HTTP: the raw socket, one byte at a time.
      const socket = req.socket;
      const raw = `HTTP/1.1 200 OK\r\nContent-Type: application/soap+xml\r\nContent-Length: ${PROFILES.length}\r\n\r\n${PROFILES}`;
      gone = new Promise((resolve) => {
        let i = 0;
        const timer = setInterval(() => (i < raw.length && !socket.destroyed ? socket.write(raw[i++]) : undefined), 10);
        socket.on('close', () => {
          clearInterval(timer);
          resolve();
        });
      });
      void res;
    });
    const started = performance.now();
    const err = await failure(soapRequest(cam.url(), '<x/>', { timeoutMs: 400 }));
    assert.equal(err.kind, 'timeout');
    assert.ok(performance.now() - started < 1_500);
    await gone;
  });

  it('still reads a slow camera that finishes within the bound', async () => {
    cam.reply((_q, res) => {
      res.writeHead(200, { 'Content-Type': 'application/soap+xml' });
      void trickle(res, SOAP('<Ok/>'), 1);
    });
    const el = await soapRequest(cam.url(), '<x/>', { timeoutMs: 5_000 });
    assert.equal(el.name, 'Ok');
  });
});
