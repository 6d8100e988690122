// The Homebridge verified-plugin checklist (https://github.com/homebridge/homebridge/wiki/verified-Plugins and
// homebridge/verified's plugin checks), point by point, on the files a release ships: package.json, config.schema.json,
// the plugin's entry point and its sources. What needs the plugin running (files only under the storage path, nothing
// thrown, everything ended at shut-down) is in runtime.test.ts; what `npm pack` ships is in pack.test.ts; the plugin in
// a child bridge is test/e2e/child-bridge.e2e.test.ts.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseConfig } from '../../src/config';
import { PLATFORM_NAME, PLUGIN_NAME } from '../../src/settings';

const ROOT = join(__dirname, '..', '..', '..');
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string; main: string; keywords?: string[]; scripts?: Record<string, string>; engines?: Record<string, string>;
  dependencies?: Record<string, string>; devDependencies?: Record<string, string>; peerDependencies?: Record<string, string>;
};
const schema = JSON.parse(readFileSync(join(ROOT, 'config.schema.json'), 'utf8'));

/** Every .ts file under src/, as [path relative to the repo, text]. */
function sources(): [string, string][] {
  const found: [string, string][] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (entry.isDirectory()) {
        walk(full);
      } else if (entry.name.endsWith('.ts')) {
        found.push([relative(ROOT, full), readFileSync(full, 'utf8')]);
      }
    }
  };
  walk(join(ROOT, 'src'));
  return found;
}

/** Source text without comments, so a word in a comment neither passes nor fails a check. */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

/** The command-line tool is not Homebridge: it prints to the terminal. */
const isCli = (file: string): boolean => file === join('src', 'cli.ts') || file.startsWith(join('src', 'cli') + '/');

/** version satisfies a range written as caret ranges joined by ||, e.g. "^1.8.0 || ^2.0.0" (all this project uses). */
function satisfiesCaret(version: string, range: string): boolean {
  const [major, minor, patch] = version.replace(/^v/, '').split(/[.-]/).map(Number);
  return range.split('||').map((r) => r.trim()).some((part) => {
    const m = /^\^(\d+)\.(\d+)\.(\d+)$/.exec(part);
    assert.ok(m, `range part "${part}" of "${range}" is a caret range`);
    const [want, wantMinor, wantPatch] = m.slice(1).map(Number);
    return major === want && (minor > wantMinor || (minor === wantMinor && patch >= wantPatch));
  });
}

function installedVersion(packageDir: string): string {
  return (JSON.parse(readFileSync(join(ROOT, 'node_modules', packageDir, 'package.json'), 'utf8')) as { version: string }).version;
}

describe('Homebridge verified-plugin checklist', () => {
  it('is a dynamic platform, registered under the schema\'s alias by the package\'s name', () => {
    // Load the entry point as Homebridge does (package.json "main") with a stand-in API that records the registration.
    const registered: { kind: string; args: unknown[] }[] = [];
    const api = {
      registerPlatform: (...args: unknown[]) => registered.push({ kind: 'platform', args }),
      registerAccessory: (...args: unknown[]) => registered.push({ kind: 'accessory', args }),
    };
    assert.equal(pkg.main, 'dist/index.js', 'main is the compiled entry point');
    const entry = join(ROOT, pkg.main);
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    (require(entry) as (a: unknown) => void)(api);
    assert.deepEqual(registered.map((r) => [r.kind, r.args[0], r.args[1]]), [['platform', PLUGIN_NAME, PLATFORM_NAME]], 'one platform, no accessory plugin');
    assert.equal(pkg.name, PLUGIN_NAME);
    assert.equal(schema.pluginAlias, PLATFORM_NAME);
    assert.equal(schema.pluginType, 'platform');
    const Platform = registered[0].args[2] as { prototype: Record<string, unknown> };
    // DynamicPlatformPlugin: Homebridge hands cached accessories back through configureAccessory; a static platform has accessories().
    assert.equal(typeof Platform.prototype.configureAccessory, 'function', 'configureAccessory (dynamic platform)');
    assert.equal(Platform.prototype.accessories, undefined, 'no accessories() (that is a static platform)');
    assert.ok(pkg.keywords?.includes('homebridge-plugin'), 'keyword homebridge-plugin');
  });

  it('config.schema.json: a named platform form, the custom UI declared, every option the config parser reads', () => {
    assert.equal(schema.schema.properties.name?.type, 'string', 'a "name" property');
    assert.equal(schema.customUi, existsSync(join(ROOT, 'homebridge-ui', 'public', 'index.html')), 'customUi exactly when homebridge-ui/ exists');
    assert.equal(schema.singular, true, 'singular: one platform block (the custom UI edits the first)');

    // Every key parseConfig looks up is recorded by proxies around a block that sets every option, so a new option read
    // by the parser fails here until the settings form offers it.
    const read = new Map<string, Set<string>>();
    const watch = <T extends object>(level: string, value: T): T => new Proxy(value, {
      get(target, key, receiver) {
        if (typeof key === 'string') {
          (read.get(level) ?? read.set(level, new Set()).get(level)!).add(key);
        }
        return Reflect.get(target, key, receiver) as unknown;
      },
    });
    const mapping = watch('cameras[].events[]', { topic: 'tns1:VideoSource/Alarm', item: 'State', value: 'true', means: 'visitor' });
    const camera = watch('cameras[]', {
      name: 'Gate', host: '192.168.1.20', port: 80, username: 'u', password: 'p', doorbell: true, events: [mapping],
      motionHoldSeconds: 10, sensors: ['person'], doorbellEvents: ['input'], doorbellCooldownSeconds: 10, doorbellSwitch: true,
      setClock: false, audio: true, maxStreams: 2, recording: true, prebufferSeconds: 4, maxRecordingSeconds: 300,
    });
    const block = watch('', {
      platform: PLATFORM_NAME, name: 'Courtyard', videoProcessor: '/usr/bin/ffmpeg', videoEncoder: 'libx264',
      triggers: watch('triggers', { port: 8089, bind: '127.0.0.1' }), push: watch('push', { port: 8090, advertiseHost: '192.168.1.5' }),
      cameras: [camera],
    });
    const { errors } = parseConfig(block);
    assert.deepEqual(errors, [], 'the full block is valid');

    const offered = (level: string): Set<string> => {
      let props = schema.schema.properties as Record<string, { properties?: object; items?: { properties?: object } }>;
      for (const part of level ? level.split('.') : []) {
        const name = part.replace(/\[\]$/, '');
        const prop = props[name];
        props = (part.endsWith('[]') ? prop.items?.properties : prop.properties) as typeof props;
      }
      return new Set(Object.keys(props));
    };
    // Homebridge's own keys of a platform block, which a plugin's form does not offer.
    const homebridgeKeys = new Set(['platform', '_bridge']);
    // Array, Object and Proxy plumbing is not an option.
    const plumbing = new Set(['length', 'constructor', 'toJSON', 'entries', 'every', 'map', 'filter', 'forEach', 'some', 'includes']);
    assert.deepEqual([...read.keys()].sort(), ['', 'cameras[]', 'cameras[].events[]', 'push', 'triggers'], 'levels the parser reads');
    for (const [level, keys] of read) {
      const missing = [...keys].filter((k) => !homebridgeKeys.has(k) && !plumbing.has(k) && !offered(level).has(k));
      assert.deepEqual(missing, [], `options read at "${level || 'platform'}" but not in config.schema.json`);
      // And the other way: the form offers nothing the plugin would ignore.
      const ignored = [...offered(level)].filter((k) => !keys.has(k));
      assert.deepEqual(ignored, [], `options in config.schema.json at "${level || 'platform'}" that the parser never reads`);
    }
  });

  it('depends at run time on exactly the packages its shipped code loads', () => {
    // The compiled plugin and the settings page server, as installed: type-only imports (homebridge) are gone there.
    const shipped: string[] = [join(ROOT, 'homebridge-ui', 'server.js')];
    const walk = (dir: string): void => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) {
          walk(full);
        } else if (entry.name.endsWith('.js')) {
          shipped.push(full);
        }
      }
    };
    walk(join(ROOT, 'dist'));
    const loaded = new Set<string>();
    for (const file of shipped) {
      for (const m of readFileSync(file, 'utf8').matchAll(/\b(?:require|import)\(\s*["']([^"'.][^"']*)["']\s*\)/g)) {
        const name = m[1].startsWith('@') ? m[1].split('/').slice(0, 2).join('/') : m[1].split('/')[0];
        if (!name.startsWith('node:')) {
          loaded.add(name);
        }
      }
    }
    assert.deepEqual([...loaded].sort(), Object.keys(pkg.dependencies ?? {}).sort(),
      'packages loaded by dist/ and homebridge-ui/server.js = "dependencies" (a missing one breaks installs, an extra one is dead weight)');
  });

  it('runs no install script of its own (preinstall, install, postinstall)', () => {
    for (const hook of ['preinstall', 'install', 'postinstall']) {
      assert.equal(pkg.scripts?.[hook], undefined, `scripts.${hook}`);
    }
    assert.ok(!existsSync(join(ROOT, 'binding.gyp')), 'no binding.gyp (npm would run node-gyp as an install script)');
  });

  // Node 26 (LTS since October 2026, allowed by Homebridge 2.4) is not listed until the suite runs on it.
  it('engines: Node 20, 22 and 24 and both Homebridge lines, including the versions the tests run on', () => {
    const node = pkg.engines?.node ?? '';
    const homebridge = pkg.engines?.homebridge ?? '';
    for (const version of ['20.9.0', '22.0.0', '24.0.0', process.version, installedVersion('node22')]) {
      assert.ok(satisfiesCaret(version, node), `engines.node "${node}" allows Node ${version}`);
    }
    for (const version of ['18.20.0', '21.0.0', '23.0.0']) {
      assert.ok(!satisfiesCaret(version, node), `engines.node "${node}" leaves out Node ${version} (not LTS, or ended)`);
    }
    for (const version of ['1.8.0', installedVersion('homebridge1'), installedVersion('homebridge'), '2.0.0']) {
      assert.ok(satisfiesCaret(version, homebridge), `engines.homebridge "${homebridge}" allows Homebridge ${version}`);
    }
    // Homebridge and HAP-NodeJS are the host's: as dependencies they would install a second copy beside the plugin.
    for (const name of ['homebridge', 'hap-nodejs', '@homebridge/hap-nodejs']) {
      assert.equal(pkg.dependencies?.[name], undefined, `${name} is not a runtime dependency`);
    }
  });

  it('contains no analytics: the only fixed URLs in src/ are XML namespaces; every request goes to a camera or this machine', () => {
    // Namespace identifiers are names, never fetched; the rest are built from a camera's or our own address (${...}).
    const namespaces = new Set(['www.w3.org', 'schemas.xmlsoap.org', 'docs.oasis-open.org', 'www.onvif.org', 'www.axis.com']);
    const placeholders = new Set(['localhost', 'x']); // a base for parsing a request target; a dummy XAddr default
    const fixed: string[] = [];
    for (const [file, text] of sources()) {
      for (const m of code(text).matchAll(/['"`]https?:\/\/([^/'"`\s:]*)/g)) {
        const host = m[1];
        if (host !== '' && !host.startsWith('${') && !host.startsWith('[') && !namespaces.has(host) && !placeholders.has(host)) {
          fixed.push(`${file}: ${m[0].slice(1)}`);
        }
      }
    }
    assert.deepEqual(fixed, [], 'fixed hosts the plugin could call');
  });

  it('logs only through the Homebridge logger: no console.* in src/, terminal output only in the CLI', () => {
    const found: string[] = [];
    for (const [file, text] of sources()) {
      const body = code(text);
      if (/\bconsole\s*\.\s*\w+/.test(body)) {
        found.push(`${file}: console`);
      }
      if (!isCli(file) && /\bprocess\s*\.\s*(stdout|stderr)\s*\.\s*write\b/.test(body)) {
        found.push(`${file}: process.stdout/stderr.write`);
      }
    }
    assert.deepEqual(found, []);
  });

  it('writes files only through the store modules, which take their folder from the caller (the storage path)', () => {
    // Writing is node-persist (src/store/) and nothing else; runtime.test.ts checks that a running platform writes only
    // under api.user.storagePath(). ffmpeg writes only to pipes and SRTP (checked there too: its outputs are pipe:1 or srtp://).
    const writeCalls = /\b(writeFile|writeFileSync|appendFile|appendFileSync|createWriteStream|mkdir|mkdirSync|mkdtemp|mkdtempSync|rename|renameSync|copyFile|copyFileSync|cp|cpSync|symlink|symlinkSync|truncate|truncateSync|unlink|unlinkSync|rm|rmSync|rmdir|rmdirSync|chmod|chmodSync|utimes|utimesSync|openSync)\s*\(/;
    const offenders: string[] = [];
    const persistUsers: string[] = [];
    for (const [file, text] of sources()) {
      const body = code(text);
      const fsImport = /from\s+'(node:)?fs(\/promises)?'|require\('(node:)?fs(\/promises)?'\)/.test(body);
      if (fsImport && writeCalls.test(body)) {
        offenders.push(`${file}: ${writeCalls.exec(body)![1]}`);
      }
      if (/from\s+'node-persist'/.test(body)) {
        persistUsers.push(file);
      }
    }
    assert.deepEqual(offenders, [], 'fs writes outside node-persist');
    assert.deepEqual(persistUsers.sort(), [join('src', 'store', 'history.ts'), join('src', 'store', 'trigger-token.ts')]);
    // The store modules never pick a folder themselves: storage.create gets the caller's dir, nothing else.
    for (const file of persistUsers) {
      const body = code(readFileSync(join(ROOT, file), 'utf8'));
      const dirs = [...body.matchAll(/storage\.create\(\{\s*dir\b([^,}]*)/g)].map((m) => m[1].trim());
      assert.ok(dirs.length > 0 && dirs.every((d) => d === ''), `${file}: storage.create({ dir, ... }) with the dir it was given`);
    }
    // Every caller inside Homebridge (the platform, the settings page server) hands it <storage path>/courtyard.
    for (const file of ['platform.ts', join('ui', 'handlers.ts'), join('ui', 'history.ts')]) {
      const body = code(readFileSync(join(ROOT, 'src', file), 'utf8'));
      assert.match(body, /join\((this\.api\.user\.storagePath\(\)|host\.storagePath|storagePath), 'courtyard'\)/, `src/${file} roots its folder at the storage path`);
    }
  });

  it('never lets an exception escape to Homebridge: error listeners, guarded Homebridge events, a constructor that cannot throw', () => {
    // Every file that spawns a process or opens a server, socket or request with Node's I/O modules listens for its
    // 'error' (an 'error' event without a listener throws, and takes Homebridge down); execFile reports through its callback.
    const nodeIo = /^import\s+(?!type\b)[^;]*from\s+'node:(http|https|net|dgram|child_process|tls)'/m;
    const emitters = /\b(spawn|fork|createServer|createSocket|createConnection)\s*\(|\b(http|https|net|tls)\.(request|get|connect)\s*\(/;
    const unguarded: string[] = [];
    for (const [file, text] of sources()) {
      const body = code(text);
      if (!nodeIo.test(body)) {
        continue;
      }
      const m = emitters.exec(body);
      if (m && !/\.(on|once)\(\s*'error'/.test(body)) {
        unguarded.push(`${file}: ${m[0]} with no 'error' listener in the file`);
      }
      for (const call of body.matchAll(/\bexecFile\s*\(([^;]*)/g)) {
        if (!/\(\s*err\b/.test(call[1])) {
          unguarded.push(`${file}: execFile without a callback`);
        }
      }
    }
    assert.deepEqual(unguarded, []);

    // The platform wraps what Homebridge calls: its two lifecycle events go through guarded() and the async start-up
    // has a catch (an exception in a Homebridge event handler is an uncaught exception in Homebridge).
    const platform = code(readFileSync(join(ROOT, 'src', 'platform.ts'), 'utf8'));
    const handlers = [...platform.matchAll(/api\.on\('(\w+)',\s*\(\)\s*=>\s*this\.guarded\(/g)].map((m) => m[1]);
    assert.deepEqual(handlers.sort(), ['didFinishLaunching', 'shutdown'], 'api.on handlers wrapped in guarded()');
    assert.match(platform, /this\.launch\(\)\.catch\(/, 'the async start-up has a catch');

    // Whatever the config holds, parsing it never throws (the platform's constructor also catches, belt and braces).
    const garbage: unknown[] = [undefined, null, 0, 'x', [], [1], { cameras: 'x' }, { cameras: [null, 1, 'x', [], {}] },
      { cameras: [{ name: {}, host: [] }, { name: 'a', host: 'b', port: {}, events: [null, { topic: 1 }], sensors: 'x' }] },
      { triggers: 1, push: 'x', videoProcessor: 5, videoEncoder: {} }, { triggers: { port: '99999', bind: {} }, push: { port: [] } },
      { cameras: [{ name: 'a', host: 'http://u:p@h/' }, { name: 'b', host: '[' }, { name: 'c', host: '0.0.0.0' }] }];
    for (const raw of garbage) {
      assert.doesNotThrow(() => parseConfig(raw), JSON.stringify(raw));
    }
  });
});
