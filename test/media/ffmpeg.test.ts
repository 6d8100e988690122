import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FfmpegProcess } from '../../src/media/ffmpeg';
import { registerSecret } from '../../src/util/redact';

function logger(): { lines: string[]; errors: string[]; debug: (m: string) => void; error: (m: string) => void } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, debug: (m) => lines.push(m), error: (m) => errors.push(m) };
}

const alive = (pid: number | undefined): boolean => {
  try {
    process.kill(pid!, 0);
    return true;
  } catch {
    return false;
  }
};

describe('FfmpegProcess (real ffmpeg)', function () {
  this.timeout(20_000);

  it('stops an endless ffmpeg with q, as a normal end, and leaves no process', async () => {
    const log = logger();
    const ff = new FfmpegProcess('ffmpeg', ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=5', '-f', 'null', '-'], log, 'test');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(ff.running, true);
    const exit = await ff.stop();
    assert.equal(exit.stopped, true);
    assert.equal(exit.signal, null, 'q should be enough: no signal needed');
    assert.equal(alive(ff.process.pid), false);
    assert.deepEqual(log.errors, []);
  });

  it('escalates to signals when ffmpeg ignores q (stdin not read)', async () => {
    const ff = new FfmpegProcess('ffmpeg', ['-hide_banner', '-nostdin', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=5', '-f', 'null', '-'], logger(), 'test');
    await new Promise((r) => setTimeout(r, 300));
    const exit = await ff.stop();
    assert.ok(exit.signal === 'SIGTERM' || exit.signal === 'SIGKILL' || exit.code !== null);
    assert.equal(alive(ff.process.pid), false);
  });

  it('explains a failure with the redacted stderr tail', async () => {
    registerSecret('Sup3rSecretPw');
    const log = logger();
    const ff = new FfmpegProcess('ffmpeg', ['-hide_banner', '-rw_timeout', '2000000', '-i', 'http://admin:Sup3rSecretPw@127.0.0.1:9/none', '-f', 'null', '-'], log, 'Entrance');
    const exit = await ff.wait();
    assert.notEqual(exit.code, 0);
    assert.equal(exit.stopped, false);
    assert.equal(log.errors.length, 1);
    assert.match(log.errors[0], /^Entrance: ffmpeg ended with code \d+: /);
    const everything = [...log.lines, ...log.errors, ...exit.tail].join('\n');
    assert.doesNotMatch(everything, /Sup3rSecretPw/);
    assert.match(everything, /admin:\*\*\*@/);
  });

  it('never logs SRTP session keys from its arguments', async () => {
    const log = logger();
    const key = Buffer.alloc(30, 9).toString('base64');
    await new FfmpegProcess('ffmpeg', ['-version', '-srtp_out_params', key], log, 'Cam').wait();
    assert.match(log.lines[0], /-srtp_out_params \*\*\*/);
    assert.doesNotMatch(log.lines.join('\n'), new RegExp(key.replace(/[+/=]/g, '.')));
  });

  it('reports a missing binary as one error instead of throwing', async () => {
    const log = logger();
    const exit = await new FfmpegProcess('/nonexistent/ffmpeg', ['-version'], log, 'Cam').wait();
    assert.equal(exit.code, null);
    assert.match(log.errors[0], /cannot run \/nonexistent\/ffmpeg: ENOENT/);
  });

  it('runs a videoProcessor path with spaces and metacharacters as that file, and passes every argument verbatim, no shell', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'courtyard-ffmpeg-argv-'));
    try {
      const folder = join(dir, 'my ffmpeg $(touch pwned-dir)');
      mkdirSync(folder);
      const binary = join(folder, 'ff;touch pwned-bin "x"');
      const argvFile = join(dir, 'argv');
      // Writes each argument on its own line, NUL-free: what ffmpeg would have received.
      writeFileSync(binary, `#!/bin/sh\nfor a in "$@"; do printf '%s\\n' "$a"; done > '${argvFile}'\n`);
      chmodSync(binary, 0o755);
      const args = ['-i', 'rtsp://u:-Zq9!%40%3A%2F%20%25%23-@10.0.0.5/x', '-password', '$(touch pwned-arg)', '`id`', '; rm -rf /', '-', 'ü "q"'];
      const exit = await new FfmpegProcess(binary, args, logger(), 'argv').wait();
      assert.equal(exit.code, 0);
      assert.deepEqual(readFileSync(argvFile, 'utf8').split('\n').slice(0, -1), args);
      for (const f of ['pwned-dir', 'pwned-bin', 'pwned-arg']) {
        assert.equal(existsSync(join(process.cwd(), f)) || existsSync(join(dir, f)), false, `${f} was created: a shell ran`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('stops when its AbortSignal fires', async () => {
    const ac = new AbortController();
    const ff = new FfmpegProcess('ffmpeg', ['-hide_banner', '-re', '-f', 'lavfi', '-i', 'testsrc2=size=160x120:rate=5', '-f', 'null', '-'], logger(), 'test', ac.signal);
    ac.abort();
    assert.equal((await ff.wait()).stopped, true);
  });
});
