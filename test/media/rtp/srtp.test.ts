// SRTP and SRTCP of the plugin's live sender: RFC 3711's own test vectors (B.2 AES-CM keystream, B.3 key derivation),
// then packets protected here and opened by the e2e rig's SRTP receiver (test/e2e/rig/srtp.ts), a separate
// implementation that also decrypts what ffmpeg sends in the e2e tests.
import assert from 'node:assert/strict';
import { AesCm, deriveSessionKey, SRTP_TAG_BYTES, SrtpSender } from '../../../src/media/rtp/srtp';
import { SrtpReceiveContext } from '../../e2e/rig/srtp';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** An RTP packet with a recognisable payload. */
function rtp(sequence: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const header = Buffer.alloc(12);
  header[0] = 0x80;
  header[1] = (marker ? 0x80 : 0) | 99;
  header.writeUInt16BE(sequence & 0xffff, 2);
  header.writeUInt32BE(123456, 4);
  header.writeUInt32BE(ssrc, 8);
  return Buffer.concat([header, payload]);
}

describe('SRTP (RFC 3711, AES_CM_128_HMAC_SHA1_80)', () => {
  it('AES-CM keystream matches Appendix B.2', () => {
    const cm = new AesCm(hex('2B7E151628AED2A6ABF7158809CF4F3C'));
    const iv = hex('F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000');
    const stream = cm.keystream(iv, 16 * 0xff02);
    assert.equal(stream.subarray(0, 48).toString('hex').toUpperCase(),
      'E03EAD0935C95E80E166B16DD92B4EB4D23513162B02D0F72A43A2FE4A5F97AB41E95B3BB0A2E8DD477901E4FCA894C0');
    assert.equal(stream.subarray(16 * 0xfeff, 16 * 0xff02).toString('hex').toUpperCase(),
      'EC8CDF7398607CB0F2D21675EA9EA1E4362B7C3C6773516318A077D7FC5073AE6A2CC3787889374FBEB4C81B17BA6C44');
  });

  it('key derivation matches Appendix B.3 (cipher key, salt, auth key)', () => {
    const key = hex('E1F97A0D3E018BE0D64FA32C06DE4139');
    const salt = hex('0EC675AD498AFEEBB6960B3AABE6');
    assert.equal(deriveSessionKey(key, salt, 0, 16).toString('hex').toUpperCase(), 'C61E7A93744F39EE10734AFE3FF7A087');
    assert.equal(deriveSessionKey(key, salt, 2, 14).toString('hex').toUpperCase(), '30CBBC08863D8C85D49DB34A9AE1');
    assert.equal(deriveSessionKey(key, salt, 1, 20).toString('hex').toUpperCase(), 'CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4');
  });

  it('RTP protected here opens with the rig receiver, across a sequence number wrap (rollover counter)', () => {
    const master = hex('E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6');
    const sender = new SrtpSender(master);
    const receiver = new SrtpReceiveContext({ key: master.subarray(0, 16), salt: master.subarray(16) });
    const ssrc = 0xdeadbeef;
    for (let index = 65530; index < 65545; index++) {
      const payload = Buffer.from(`frame ${index} `.repeat(1 + (index % 97)));
      const plain = rtp(index, ssrc, payload, index % 5 === 0);
      const protectedPacket = sender.protectRtp(plain, index);
      assert.equal(protectedPacket.length, plain.length + SRTP_TAG_BYTES);
      assert.deepEqual(protectedPacket.subarray(0, 12), plain.subarray(0, 12), 'the header stays in the clear');
      assert.notDeepEqual(protectedPacket.subarray(12, plain.length), payload, 'the payload is encrypted');
      const opened = receiver.unprotectRtp(protectedPacket);
      assert.ok(opened, `packet index ${index} authenticates`);
      assert.equal(opened.index, index);
      assert.deepEqual(opened.payload, payload);
    }
  });

  it('a tag over the wrong rollover counter does not authenticate', () => {
    const master = Buffer.alloc(30, 3);
    const receiver = new SrtpReceiveContext({ key: master.subarray(0, 16), salt: master.subarray(16) });
    const packet = new SrtpSender(master).protectRtp(rtp(7, 1, Buffer.from('x')), 65536 + 7);
    assert.equal(receiver.unprotectRtp(packet), undefined, 'index 65543 sent, index 7 expected by a fresh receiver');
  });

  it('SRTCP protected here opens with the rig receiver: E flag set, index counting from 0', () => {
    const master = Buffer.from(Array.from({ length: 30 }, (_, i) => i * 7));
    const sender = new SrtpSender(master);
    const receiver = new SrtpReceiveContext({ key: master.subarray(0, 16), salt: master.subarray(16) });
    for (let n = 0; n < 3; n++) {
      const sr = Buffer.alloc(28);
      sr[0] = 0x80;
      sr[1] = 200;
      sr.writeUInt16BE(6, 2);
      sr.writeUInt32BE(0xcafe, 4);
      sr.writeUInt32BE(n + 1, 20);
      const protectedPacket = sender.protectRtcp(sr);
      assert.equal(protectedPacket.readUInt32BE(28), (0x80000000 | n) >>> 0, 'E flag and index');
      assert.notDeepEqual(protectedPacket.subarray(8, 28), sr.subarray(8), 'the body is encrypted');
      assert.deepEqual(receiver.unprotectRtcp(protectedPacket), sr);
    }
  });
});
