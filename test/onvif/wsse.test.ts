import assert from 'node:assert/strict';
import { passwordDigest, securityHeader } from '../../src/onvif/wsse';
import { child, find, parseXml } from '../../src/onvif/xml';
import { expectedPasswordDigest, UsernameTokenVerifier } from '../../tools/camera-sim/auth';

/**
 * Published UsernameToken PasswordDigest examples (nonce as sent, Base64; Created; password; digest), computed by
 * others: the plugin signs with one function and the simulated camera checks with its own, and both must match these.
 */
const KNOWN_ANSWERS = [
  {
    // ONVIF Application Programmer's Guide (ONVIF_WG-APG-Application_Programmers_Guide-1.pdf, "Authentication"),
    // https://www.onvif.org/wp-content/uploads/2016/12/ONVIF_WG-APG-Application_Programmers_Guide-1.pdf; the same
    // example is a unit test in CA-IRIS/ca-iris (WSUsernameTokenTest.java) and jimm98y/SharpOnvif (TestWsUsernamePassword.cs).
    source: 'ONVIF Application Programmer\'s Guide',
    nonce: 'LKqI6G/AikKCQrN0zqZFlg==',
    created: '2010-09-16T07:50:45Z',
    password: 'userpassword',
    digest: 'tuOSpGlFlIXsozq4HFNeeGeFLEI=',
  },
  {
    // vpulim/node-soap, test/security/PasswordDigest.js: a Created with milliseconds, a password with mixed case.
    source: 'node-soap',
    nonce: '2FW1CIo2ZUOJmSjVRcJZlQ==',
    created: '2019-02-12T12:34:12.110Z',
    password: 'vM3s1hKVMy6zBOn',
    digest: 'wM9xjA92wCw+QcQI1urjZ6B8+LQ=',
  },
];

const token = (v: typeof KNOWN_ANSWERS[number], digest: string): string =>
  '<s:Header xmlns:s="http://www.w3.org/2003/05/soap-envelope" ' +
  'xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" ' +
  'xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">' +
  '<wsse:Security><wsse:UsernameToken><wsse:Username>user</wsse:Username>' +
  '<wsse:Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">' +
  `${digest}</wsse:Password><wsse:Nonce>${v.nonce}</wsse:Nonce><wsu:Created>${v.created}</wsu:Created>` +
  '</wsse:UsernameToken></wsse:Security></s:Header>';

describe('WS-Security PasswordDigest known answers', () => {
  for (const v of KNOWN_ANSWERS) {
    it(`the plugin signs the ${v.source} example as published`, () => {
      assert.equal(passwordDigest(Buffer.from(v.nonce, 'base64'), v.created, v.password), v.digest);
    });

    it(`the simulated camera computes the ${v.source} example itself and accepts it`, () => {
      assert.equal(expectedPasswordDigest(v.nonce, v.created, v.password), v.digest);
      const verifier = new UsernameTokenVerifier('user', v.password);
      assert.deepEqual(verifier.verify(parseXml(token(v, v.digest)), Date.parse(v.created)), { ok: true });
    });

    it(`the simulated camera refuses the ${v.source} example with another password`, () => {
      const verifier = new UsernameTokenVerifier('user', `${v.password}x`);
      assert.deepEqual(verifier.verify(parseXml(token(v, v.digest)), Date.parse(v.created)), { ok: false, reason: 'wrong digest' });
    });
  }

  it('a header the plugin builds carries the digest of its own nonce and Created', () => {
    const header = parseXml(`<s:Header xmlns:s="http://www.w3.org/2003/05/soap-envelope">${securityHeader('user', 'pw', 0)}</s:Header>`);
    const usernameToken = find(header, 'UsernameToken');
    const text = (name: string): string => child(usernameToken, name)?.text ?? '';
    assert.equal(text('Password'), expectedPasswordDigest(text('Nonce'), text('Created'), 'pw'));
  });
});
