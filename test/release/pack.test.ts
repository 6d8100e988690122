// What `npm install homebridge-courtyard` gets: the file list of `npm pack --dry-run --json` (nothing is written). The
// plugin, its settings page, its schema and the papers; no tests, build cache, demo storage, benchmark results, sources
// or screenshots.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..', '..');

interface PackResult {
  files: { path: string; size: number }[];
  unpackedSize: number;
}

/** npm's own CLI, run by the Node running us (npm test may run on a Node without npm on PATH). */
function npmCli(): string {
  const candidates = [process.env.npm_execpath, join(process.execPath, '..', '..', 'lib', 'node_modules', 'npm', 'bin', 'npm-cli.js')];
  const found = candidates.find((c) => c && c.endsWith('.js') && existsSync(c));
  return found ?? 'npm';
}

describe('npm pack contents', function () {
  this.timeout(30_000);
  let files: string[] = [];
  let unpackedSize = 0;

  before(() => {
    const cli = npmCli();
    const args = ['pack', '--dry-run', '--json', '--ignore-scripts'];
    const out = cli === 'npm'
      ? execFileSync('npm', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      : execFileSync(process.execPath, [cli, ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const [result] = JSON.parse(out) as PackResult[];
    files = result.files.map((f) => f.path).sort();
    unpackedSize = result.unpackedSize;
  });

  it('holds the plugin, its CLI, the settings page, the schema, README, CHANGELOG and LICENSE', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { main: string; bin: Record<string, string> };
    const wanted = ['package.json', pkg.main, ...Object.values(pkg.bin), 'dist/platform.js', 'homebridge-ui/server.js',
      'homebridge-ui/public/index.html', 'config.schema.json', 'README.md', 'CHANGELOG.md', 'LICENSE'];
    assert.deepEqual(wanted.filter((f) => !files.includes(f)), [], 'missing from the package');
    // homebridge-ui/server.js loads the compiled UI handlers from dist/.
    assert.ok(files.includes('dist/ui/handlers.js'), 'dist/ui/handlers.js (the settings page server needs it)');
  });

  it('holds nothing else: no tests, sources, build cache, demo, benchmarks, tools, CI or screenshots', () => {
    const allowed = [/^package\.json$/, /^README\.md$/, /^CHANGELOG\.md$/, /^LICENSE$/, /^config\.schema\.json$/,
      /^dist\/.+\.js(\.map)?$/, /^homebridge-ui\/server\.js$/, /^homebridge-ui\/public\/[^/]+\.(html|js|css)$/];
    assert.deepEqual(files.filter((f) => !allowed.some((re) => re.test(f))), [], 'unexpected files in the package');
    const forbidden = /(^|\/)(test|\.build|\.demo|\.test-tmp|bench|docs|tools|src|\.ci|node_modules)\/|\.test\.js$|\.ts$|\.png$/;
    assert.deepEqual(files.filter((f) => forbidden.test(f)), []);
  });

  it('ships every compiled module of src/ and no stale one', () => {
    // dist/ is never cleaned by tsc: a module whose source was removed would still ship and could still be loaded.
    const stale = files.filter((f) => /^dist\/.+\.js$/.test(f) && !existsSync(join(ROOT, f.replace(/^dist\//, 'src/').replace(/\.js$/, '.ts'))));
    assert.deepEqual(stale, [], 'dist/ files without a source in src/ (rebuild dist/ from scratch)');
    assert.ok(unpackedSize < 2 * 1024 * 1024, `unpacked ${unpackedSize} bytes`);
  });
});
