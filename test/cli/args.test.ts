import assert from 'node:assert/strict';
import { parseArgs, PASSWORD_ENV, UsageError } from '../../src/cli/args';

describe('cli args', () => {
  it('parses probe with defaults, --name=value and aliases', () => {
    assert.deepEqual(parseArgs(['probe', '--host', '10.0.0.5', '--user', 'admin', '--password=p w']), {
      command: 'probe', host: '10.0.0.5', port: 80, username: 'admin', password: 'p w', eventsS: 10, video: true, json: false,
    });
    assert.deepEqual(parseArgs(['probe', '--host=[fe80::1]', '--port', '8000', '--username', 'u', '--password', 'x',
      '--events', '0', '--no-video', '--json']), {
      command: 'probe', host: 'fe80::1', port: 8000, username: 'u', password: 'x', eventsS: 0, video: false, json: true,
    });
  });

  it('takes the password from the environment when --password is absent', () => {
    const args = parseArgs(['probe', '--host', 'h', '--user', 'u'], { [PASSWORD_ENV]: 'from-env' });
    assert.equal(args.command === 'probe' && args.password, 'from-env');
  });

  it('parses discover, with and without credentials', () => {
    assert.deepEqual(parseArgs(['discover']), { command: 'discover', timeoutS: 3, json: false });
    assert.deepEqual(parseArgs(['discover', '--timeout', '1.5', '--user', 'u', '--password', 'p', '--target', '127.0.0.1:3702']), {
      command: 'discover', timeoutS: 1.5, json: false, credentials: { username: 'u', password: 'p' },
      target: { address: '127.0.0.1', port: 3702 },
    });
  });

  it('shows help for no command, --help, -h and a command with --help', () => {
    for (const argv of [[], ['--help'], ['-h'], ['help'], ['probe', '--help'], ['discover', '-h']]) {
      assert.deepEqual(parseArgs(argv), { command: 'help' }, argv.join(' '));
    }
  });

  it('rejects what it cannot use, saying what', () => {
    const cases: Array<[string[], RegExp]> = [
      [['scan'], /unknown command "scan"/],
      [['probe', '--user', 'u', '--password', 'p'], /needs --host/],
      [['probe', '--host', 'h', '--password', 'p'], /needs --user/],
      [['probe', '--host', 'h', '--user', 'u'], /needs --password/],
      [['probe', '--host', 'h', '--user', 'u', '--password', 'p', '--port', '70000'], /--port must be a whole number from 1 to 65535/],
      [['probe', '--host', 'h', '--user', 'u', '--password', 'p', '--events', '-1'], /--events must be/],
      [['probe', '--host', 'h', '--user', 'u', '--password', 'p', '--timeout', '3'], /unknown option --timeout for probe/],
      [['probe', '--host'], /--host needs a value/],
      [['probe', '--host', 'a', '--host', 'b'], /--host given twice/],
      // A zone id cannot go into the camera's URLs; 1.2.3 would silently be 1.2.0.3.
      [['probe', '--host', 'fe80::1%eth0', '--user', 'u', '--password', 'p'], /--host "fe80::1%eth0" is a link-local IPv6 address with a zone/],
      [['probe', '--host', '1.2.3', '--user', 'u', '--password', 'p'], /--host "1\.2\.3" is not a valid IPv4 address/],
      [['probe', 'stray'], /unexpected argument "stray"/],
      // An unquoted password with a space: its second word is never echoed.
      [['probe', '--host', 'h', '--user', 'u', '--password', 'Sim-Pass', '4821'], /^unexpected argument after the password \(a password with spaces must be quoted/],
      [['probe', '--host', 'h', '--user', 'u', '--password=Sim-Pass', '4821'], /^((?!4821).)*$/],
      [['discover', '--password', 'p'], /--password needs --user/],
      [['discover', '--user', 'u'], /--user needs --password/],
      [['discover', '--target', 'nohost'], /--target must be ADDRESS:PORT/],
      [['discover', '--json=yes'], /--json takes no value/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(() => parseArgs(argv), (err: unknown) => err instanceof UsageError && message.test(err.message), argv.join(' '));
    }
  });
});
