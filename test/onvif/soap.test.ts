import assert from 'node:assert/strict';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { soapRequest } from '../../src/onvif/soap';
import { parseXml, XmlError } from '../../src/onvif/xml';
import { failure, fakeCamera, SOAP } from './fake-camera';

describe('soapRequest', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  it('returns the first element of the body', async () => {
    cam.reply((_q, res) => res.end(SOAP('<tds:X xmlns:tds="urn:t"><tds:Y>1</tds:Y></tds:X>')));
    const el = await soapRequest(cam.url(), '<tds:X/>');
    assert.equal(el.name, 'X');
    assert.equal(el.children[0].text, '1');
  });

  it('signs with WS-Security when credentials are given, and never puts the password on the wire', async () => {
    let body = '';
    cam.reply((req, res) => {
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => res.end(SOAP('<Ok/>')));
    });
    await soapRequest(cam.url(), '<tds:X/>', { auth: { username: 'admin', password: 'TopSecret99', clockOffsetMs: 0 } });
    assert.match(body, /<wsse:Username>admin<\/wsse:Username>/);
    assert.match(body, /PasswordDigest/);
    assert.doesNotMatch(body, /TopSecret99/);
  });

  it('turns a NotAuthorized fault into an auth error', async () => {
    cam.reply((_q, res) => {
      res.statusCode = 400;
      res.end(SOAP('<env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value xmlns:ter="http://www.onvif.org/ver10/error">ter:NotAuthorized</env:Value></env:Subcode></env:Code><env:Reason><env:Text xml:lang="en">Sender not Authorized</env:Text></env:Reason></env:Fault>'));
    });
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'auth');
    assert.equal(err.faultCode, 'NotAuthorized');
  });

  it('reports other faults with their code and reason', async () => {
    cam.reply((_q, res) => {
      res.statusCode = 500;
      res.end(SOAP('<env:Fault><env:Code><env:Value>env:Receiver</env:Value><env:Subcode><env:Value>ter:ActionNotSupported</env:Value></env:Subcode></env:Code><env:Reason><env:Text>Optional Action Not Implemented</env:Text></env:Reason></env:Fault>'));
    });
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'fault');
    assert.equal(err.message, 'camera refused the request: ActionNotSupported (Optional Action Not Implemented)');
  });

  it('says an HTML page is not SOAP', async () => {
    cam.reply((_q, res) => {
      res.setHeader('Content-Type', 'text/html');
      res.end('<html><body>Welcome to the web interface</body></html>');
    });
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'bad-reply');
    assert.match(err.message, /not a SOAP envelope \(is this the ONVIF port\?\)/);
  });

  it('says HTTP 404 is not the ONVIF port', async () => {
    cam.reply((_q, res) => {
      res.statusCode = 404;
      res.end('not found');
    });
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'http');
    assert.match(err.message, /HTTP 404/);
  });

  it('refuses malformed XML', async () => {
    cam.reply((_q, res) => res.end('<env:Envelope><env:Body><a></b></env:Body>'));
    assert.equal((await failure(soapRequest(cam.url(), '<x/>'))).kind, 'bad-reply');
  });

  it('refuses an entity bomb without expanding it', async () => {
    const bomb = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">' +
      '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>' +
      '<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Body><x>&d;&d;&d;</x></env:Body></env:Envelope>';
    cam.reply((_q, res) => res.end(bomb));
    const err = await failure(soapRequest(cam.url(), '<x/>'));
    assert.equal(err.kind, 'bad-reply');
    assert.match(err.message, /DOCTYPE/);
  });

  it('stops reading a reply larger than the cap', async () => {
    cam.reply((_q, res) => {
      res.write('<env:Envelope>');
      const chunk = 'x'.repeat(64 * 1024);
      let sent = 0;
      const pump = (): void => {
        // Bounded: at most 64 chunks (4 MiB) even if the client keeps reading.
        while (sent < 64 && res.write(chunk)) {
          sent++;
        }
        if (sent < 64 && !res.destroyed) {
          res.once('drain', pump);
        } else {
          res.end();
        }
      };
      pump();
    });
    const err = await failure(soapRequest(cam.url(), '<x/>', { maxBytes: 256 * 1024 }));
    assert.match(err.message, /larger than 256 KiB/);
  });

  it('gives up on a camera that never answers, within the timeout', async () => {
    cam.reply(() => undefined);
    const err = await failure(soapRequest(cam.url(), '<x/>', { timeoutMs: 300 }));
    assert.equal(err.kind, 'timeout');
  });

  it('reports a closed port as connection refused', async () => {
    const closed = fakeCamera();
    const url = await new Promise<string>((r) => setTimeout(() => r(closed.url()), 20));
    await closed.close();
    const err = await failure(soapRequest(url, '<x/>'));
    assert.equal(err.kind, 'unreachable');
    assert.match(err.message, /connection refused/);
  });

  it('can be cancelled, and says so rather than calling it a timeout', async () => {
    cam.reply(() => undefined);
    const ac = new AbortController();
    const p = soapRequest(cam.url(), '<x/>', { signal: ac.signal, timeoutMs: 60_000 });
    ac.abort();
    const err = await failure(p);
    assert.equal(err.message, 'request cancelled');
    assert.equal(err.kind, 'cancelled');
  });
});

describe('parseXml', () => {
  it('drops namespace prefixes from names but keeps them apart', () => {
    const el = parseXml('<a:Root xmlns:a="u" Foo="1"><b:Item>x &amp; y</b:Item><Item>2</Item></a:Root>');
    assert.equal(el.name, 'Root');
    assert.equal(el.prefix, 'a');
    assert.equal(el.attrs.Foo, '1');
    assert.deepEqual(el.children.map((c) => c.text), ['x & y', '2']);
  });

  it('refuses DTDs', () => {
    assert.throws(() => parseXml('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>'), XmlError);
  });
});

describe('soapRequest namespaces', () => {
  const cam = fakeCamera();
  after(() => cam.close());

  it('keeps prefixes declared on the Envelope resolvable from the returned element', async () => {
    cam.reply((_q, res) => res.end('<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope" xmlns:t="http://www.onvif.org/ver10/topics">' +
      '<env:Body><r:Reply xmlns:r="urn:r"/></env:Body></env:Envelope>'));
    const el = await soapRequest(cam.url(), '<x/>');
    assert.equal(el.attrs['xmlns:t'], 'http://www.onvif.org/ver10/topics');
  });
});

describe('soapRequest with an already cancelled signal', () => {
  it('rejects at once without sending, and without an unhandled socket error', async () => {
    let requests = 0;
    const server = http.createServer((_q, res) => {
      requests++;
      res.end();
    }).listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const ac = new AbortController();
    ac.abort();
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      uncaught.push(err);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/onvif/device_service`;
      await assert.rejects(soapRequest(url, '<x/>', { signal: ac.signal }), /request cancelled/);
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(uncaught, []);
      assert.equal(requests, 0);
    } finally {
      process.off('uncaughtException', onUncaught);
      server.close();
    }
  });
});
