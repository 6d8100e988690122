// A real `homebridge` child process loading this repo as its only plugin, in an isolated storage dir under .test-tmp,
// with mDNS on loopback only and HAP listening as homes run it (dual-stack `::`) unless a test asks for IPv4 only. Every instance is registered in the cleanup registry from the moment it spawns.
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { track } from './cleanup';
import { currentHbLine, HbLine, homebridgeLaunchFor, HomebridgeLaunch } from './hb-line';
import { LogBuffer } from './log-buffer';
import { freePort, waitForTcp } from './net';
import { makeTempDir, repoRoot } from './paths';
import { describeProcess, descendantsOf, isStillRunning, killLeftovers, ProcessInfo, processesWithEnv } from './procfs';
import { sleep, withTimeout } from './wait';

/** One entry of config.json "platforms". */
export interface PlatformBlock {
  platform: string;
  name?: string;
  [key: string]: unknown;
}

export interface HomebridgeOptions {
  platforms: PlatformBlock[];
  /** Defaults to COURTYARD_HB_LINE. */
  line?: HbLine;
  /**
   * The plugin to load (a dir with package.json); defaults to COURTYARD_PLUGIN_DIR, else the repo root (dist/index.js).
   * COURTYARD_PLUGIN_DIR runs the tests against another build, e.g. a worktree of an older commit, to show that a test
   * fails without the fix it covers.
   */
  pluginPath?: string;
  bridgeName?: string;
  /** Until the bridge's HAP port accepts connections. Default 60 s. */
  startupTimeoutMs?: number;
  /** Extra environment for the child. */
  env?: Record<string, string>;
  /** How HAP listens: 'dual-stack' (default, as homes run it) or 'ipv4-only'. See HapNetwork. */
  network?: HapNetwork;
  /**
   * Run the first platform block in a child bridge of its own, as the Homebridge UI sets up with "Bridge Settings →
   * Child Bridge": the rig adds `_bridge` (its own HAP port, username, pin and name) and waits for that bridge too; pair
   * with `hb.childBridge` to see the plugin's accessories. Default false (the plugin on the main bridge).
   */
  childBridge?: boolean;
}

/** A child bridge as a controller reaches it (HapTarget of the HAP client) and as config.json names it. */
export interface ChildBridge {
  port: number;
  username: string;
  pin: string;
  name: string;
}

/**
 * How HAP-NodeJS listens, set through the bridge's `bind`:
 * - 'dual-stack': `bind: ["lo"]`, an interface name. HAP listens on `::` exactly as with Homebridge's default (no
 *   `bind`, what homes run and what the Homebridge UI writes when an interface is picked): controllers over IPv4 arrive
 *   as ::ffff:a.b.c.d, over IPv6 as themselves. The default itself is not used here because with no `bind` the ciao
 *   advertiser announces on every interface, and this machine's tests send nothing beyond loopback; the interface name
 *   keeps mDNS on lo and changes nothing else.
 * - 'ipv4-only': `bind: ["127.0.0.1"]`, an IPv4 address: HAP listens on 0.0.0.0 and sees plain IPv4 (few homes run this).
 */
export type HapNetwork = 'dual-stack' | 'ipv4-only';

export interface StopReport {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** SIGTERM was not enough within the bound: SIGKILL was needed. */
  forced: boolean;
  /** Processes Homebridge started that were still alive after it exited (they have been SIGKILLed). */
  leftovers: ProcessInfo[];
}

export interface ExitInfo {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
}

/** Environment variable tagging every process spawned from one rig instance (children inherit it). */
export const RIG_INSTANCE_ENV = 'COURTYARD_RIG_INSTANCE';
export const SETUP_PIN = '031-45-154';
/** The child bridge's own setup code: not the main bridge's, so pairing proves which bridge answered. */
export const CHILD_SETUP_PIN = '031-45-155';

const STOP_TERM_TIMEOUT_MS = 10_000; // Homebridge force-exits 5 s after SIGTERM itself
const STOP_KILL_TIMEOUT_MS = 5_000;
const LEFTOVER_GRACE_MS = 2_000; // children being killed at shutdown may need a moment to be reaped
const PORT_RETRIES = 3;

let instanceCounter = 0;

function randomBridgeUsername(): string {
  const bytes = randomBytes(6);
  bytes[0] = (bytes[0] & 0xfc) | 0x02; // locally administered, unicast: cannot collide with a real device
  return [...bytes].map((b) => b.toString(16).padStart(2, '0').toUpperCase()).join(':');
}

export class HomebridgeProcess {
  readonly line: HbLine;
  readonly launch: HomebridgeLaunch;
  readonly storageDir: string;
  readonly logFile: string;
  readonly username = randomBridgeUsername();
  readonly pin = SETUP_PIN;
  readonly bridgeName: string;
  readonly log: LogBuffer;
  readonly instanceId: string;
  private platforms: PlatformBlock[];
  private hapNetwork: HapNetwork;
  private readonly pluginPath: string;
  private readonly startupTimeoutMs: number;
  private readonly extraEnv: Record<string, string>;
  private hapPort = 0;
  private readonly wantsChildBridge: boolean;
  private child_: ChildBridge | undefined;
  private child: ChildProcess | undefined;
  private exitInfo: ExitInfo | undefined;
  private exitPromise: Promise<ExitInfo> = Promise.resolve({ exitCode: null, signal: null });
  private starts = 0;
  /** Log position where the current run's output begins. */
  private lastStartMark = 0;
  /** Log position up to which a failing test already printed the log. */
  private printedUpTo = 0;
  private printedOnce = false;
  private keepStorage = process.env.COURTYARD_KEEP_TMP === '1';
  private disposed = false;
  private readonly untrack: () => void;

  private constructor(options: HomebridgeOptions) {
    this.line = options.line ?? currentHbLine();
    this.launch = homebridgeLaunchFor(this.line);
    this.platforms = options.platforms;
    this.hapNetwork = options.network ?? 'dual-stack';
    this.pluginPath = options.pluginPath ?? process.env.COURTYARD_PLUGIN_DIR ?? repoRoot();
    this.startupTimeoutMs = options.startupTimeoutMs ?? 60_000;
    this.extraEnv = options.env ?? {};
    this.wantsChildBridge = options.childBridge ?? false;
    this.instanceId = `${process.pid}-${++instanceCounter}-${randomBytes(3).toString('hex')}`;
    this.bridgeName = options.bridgeName ?? `Courtyard Test ${this.instanceId.slice(-6)}`;
    this.storageDir = makeTempDir(`hb${this.line}`);
    this.logFile = join(this.storageDir, 'homebridge.log');
    this.log = new LogBuffer(this.logFile);
    this.untrack = track({
      label: `homebridge [HB ${this.line}] ${this.storageDir}`,
      stop: () => this.dispose(),
      killNow: () => this.killNow(),
      onTestFailure: (title) => this.onTestFailure(title),
    });
  }

  /** Spawn Homebridge and wait until its HAP port accepts connections (bounded; the error carries the log tail). */
  static async start(options: HomebridgeOptions): Promise<HomebridgeProcess> {
    const hb = new HomebridgeProcess(options);
    try {
      for (let attempt = 1; ; attempt++) {
        hb.hapPort = await freePort();
        if (hb.wantsChildBridge) {
          hb.child_ = { port: await freePort(), username: randomBridgeUsername(), pin: CHILD_SETUP_PIN, name: `${hb.bridgeName} Child` };
        }
        try {
          await hb.spawnAndWait();
          return hb;
        } catch (err) {
          // Another process may grab the probed port before Homebridge binds it: retry with a new one (bounded).
          const portTaken = hb.log.find(/EADDRINUSE/, hb.lastStartMark) !== null;
          if (!portTaken || attempt >= PORT_RETRIES) {
            throw err;
          }
          await hb.stopProcess();
        }
      }
    } catch (err) {
      hb.keepStorage = true; // the error points at the log file: keep it
      await hb.dispose().catch(() => undefined);
      throw err;
    }
  }

  get port(): number {
    return this.hapPort;
  }

  /** The child bridge the first platform runs in (options.childBridge), or undefined. */
  get childBridge(): ChildBridge | undefined {
    return this.child_;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The child is running (spawned and not exited). */
  get alive(): boolean {
    return this.child !== undefined && this.exitInfo === undefined;
  }

  /** How the last run ended, if it did. */
  get exited(): ExitInfo | undefined {
    return this.exitInfo;
  }

  /** How HAP listens now. */
  get network(): HapNetwork {
    return this.hapNetwork;
  }

  /** Change how HAP listens; takes effect on the next restart() (same port, storage and pairing). */
  setNetwork(network: HapNetwork): void {
    this.hapNetwork = network;
  }

  /** Replace the platforms block; takes effect on the next restart(). */
  setPlatforms(platforms: PlatformBlock[]): void {
    this.platforms = platforms;
  }

  /** Wait for a log line matching pattern, written after `since` (default: since the current run started). */
  async waitForLog(pattern: RegExp, timeoutMs: number, since = this.lastStartMark): Promise<RegExpExecArray> {
    const already = this.log.find(pattern, since);
    if (already) {
      return already;
    }
    const waiter = this.log.whenFound(pattern, since);
    const exited = this.exitPromise.then((info) => {
      throw new Error(`homebridge exited (code ${info.exitCode}, signal ${info.signal}) while waiting for ${pattern}`);
    });
    try {
      return await withTimeout(Promise.race([waiter.promise, exited]), timeoutMs, `log line ${pattern}`
        + ` from homebridge [HB ${this.line}]`);
    } catch (err) {
      throw new Error(`${(err as Error).message}\n--- log tail (${this.logFile}) ---\n${this.log.tail()}`);
    } finally {
      waiter.cancel();
      exited.catch(() => undefined); // nobody else listens to this branch of the race
    }
  }

  /**
   * Wait until the bridge (and its child bridge, if any) announced its HAP port and the port accepts TCP connections;
   * returns the main bridge's port.
   */
  async waitForHapPort(timeoutMs = this.startupTimeoutMs): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (const port of [this.hapPort, ...(this.child_ ? [this.child_.port] : [])]) {
      await this.waitForLog(new RegExp(`is running on port ${port}\\b`), Math.max(1, deadline - Date.now()));
      await waitForTcp(port, Math.max(1, deadline - Date.now()), () => (this.alive ? undefined : 'homebridge exited'));
    }
    return this.hapPort;
  }

  /** Stop (SIGTERM, SIGKILL after a bound) and start again on the same storage, port and pairing. */
  async restart(): Promise<StopReport> {
    const report = await this.stopProcess();
    await this.spawnAndWait();
    return report;
  }

  /** Stop the process (bounded) and report whether anything it started outlived it. Storage is kept. */
  async stop(): Promise<StopReport> {
    return this.stopProcess();
  }

  /** Stop and remove the storage dir (kept when a test failed, or with COURTYARD_KEEP_TMP=1). Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    try {
      const report = await this.stopProcess();
      if (report.leftovers.length > 0) {
        console.log(`  [rig] homebridge [HB ${this.line}] left processes behind (killed): `
          + report.leftovers.map(describeProcess).join('; '));
      }
    } finally {
      this.untrack();
      if (this.keepStorage) {
        console.log(`  [rig] kept homebridge storage and log for post-mortem: ${this.storageDir}`);
      } else {
        rmSync(this.storageDir, { recursive: true, force: true });
      }
    }
  }

  private writeConfig(): void {
    const config = {
      bridge: {
        name: this.bridgeName,
        username: this.username,
        port: this.hapPort,
        pin: this.pin,
        // Both lines hand this to HAP-NodeJS: the ciao advertiser announces on loopback only ("Initial networks [lo]
        // ignoring [eth0]") either way; HAP itself listens on `::` for an interface name, 0.0.0.0 for an IPv4 address.
        // Avahi needs a D-Bus daemon; HAP-NodeJS creates bonjour-hap without an interface, so it would multicast on the
        // default (external) interface.
        bind: [this.hapNetwork === 'dual-stack' ? 'lo' : '127.0.0.1'],
        advertiser: 'ciao',
      },
      accessories: [],
      // A child bridge inherits the main bridge's bind and advertiser; it needs its own port, username and (here) pin.
      platforms: this.platforms.map((block, i) => (i === 0 && this.child_
        ? { ...block, _bridge: { username: this.child_.username, port: this.child_.port, pin: this.child_.pin, name: this.child_.name } }
        : block)),
    };
    // May contain camera passwords: readable by the owner only.
    writeFileSync(join(this.storageDir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  }

  private async spawnAndWait(): Promise<void> {
    this.writeConfig();
    this.starts++;
    this.lastStartMark = this.log.mark();
    this.log.note(`start #${this.starts}: homebridge ${this.launch.version} on node ${this.launch.node}, port ${this.hapPort}, HAP ${this.hapNetwork}`);
    this.exitInfo = undefined;
    // The guard stops Homebridge if this test process dies without stopping it (SIGKILL, a runner's timeout).
    // COURTYARD_RIG_NODE_ARGS: extra node flags for Homebridge, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile
    // it under a benchmark (NODE_OPTIONS refuses --cpu-prof). Split on spaces; no shell is involved.
    const nodeArgs = (process.env.COURTYARD_RIG_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');
    const args = [...nodeArgs, '-r', join(repoRoot(), 'tools', 'parent-guard.js'), this.launch.bin, '-D', '-Q', '-U', this.storageDir,
      '-P', this.pluginPath, '--strict-plugin-resolution'];
    const child = spawn(this.launch.node, args, {
      cwd: this.storageDir,
      env: { ...process.env, ...this.extraEnv, [RIG_INSTANCE_ENV]: this.instanceId, FORCE_COLOR: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exitPromise = new Promise<ExitInfo>((resolve) => {
      let settled = false;
      const finish = (info: ExitInfo) => {
        if (!settled) {
          settled = true;
          this.log.flush();
          this.exitInfo = info;
          this.log.note(`homebridge exited: code ${info.exitCode}, signal ${info.signal}`);
          resolve(info);
        }
      };
      child.once('error', (err) => {
        this.log.note(`spawn error: ${err.message}`);
        finish({ exitCode: null, signal: null });
      });
      child.once('exit', (exitCode, signal) => finish({ exitCode, signal }));
    });
    child.stdout?.on('data', (chunk: Buffer) => this.log.push('stdout', chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.log.push('stderr', chunk));
    try {
      await this.waitForHapPort(this.startupTimeoutMs);
    } catch (err) {
      await this.stopProcess();
      throw new Error(`homebridge [HB ${this.line}] did not start: ${(err as Error).message}`);
    }
  }

  /** Every process this instance started that is alive now: its process tree plus everything carrying its env tag. */
  private ownProcesses(): ProcessInfo[] {
    const found = new Map<number, ProcessInfo>();
    if (this.child?.pid !== undefined && this.alive) {
      for (const proc of descendantsOf(this.child.pid)) {
        found.set(proc.pid, proc);
      }
    }
    for (const proc of processesWithEnv(RIG_INSTANCE_ENV, this.instanceId)) {
      found.set(proc.pid, proc);
    }
    return [...found.values()];
  }

  private async stopProcess(): Promise<StopReport> {
    const child = this.child;
    if (!child) {
      return { exitCode: null, signal: null, forced: false, leftovers: [] };
    }
    const ownedBefore = this.ownProcesses().filter((proc) => proc.pid !== child.pid);
    let forced = false;
    if (this.alive) {
      this.log.note('stopping with SIGTERM');
      child.kill('SIGTERM');
      const exitedInTime = await withTimeout(this.exitPromise, STOP_TERM_TIMEOUT_MS, 'SIGTERM').then(() => true, () => false);
      if (!exitedInTime) {
        forced = true;
        this.log.note(`still running ${STOP_TERM_TIMEOUT_MS} ms after SIGTERM: SIGKILL`);
        child.kill('SIGKILL');
        await withTimeout(this.exitPromise, STOP_KILL_TIMEOUT_MS, `homebridge pid ${child.pid} to exit after SIGKILL`);
      }
    }
    const info = await this.exitPromise;
    // Children that are being shut down may need a moment; whatever is still there after the grace period leaked.
    const deadline = Date.now() + LEFTOVER_GRACE_MS;
    let leftovers = this.survivors(ownedBefore);
    while (leftovers.length > 0 && Date.now() < deadline) {
      await sleep(100);
      leftovers = this.survivors(ownedBefore);
    }
    if (leftovers.length > 0) {
      this.log.note(`left behind, killing: ${leftovers.map(describeProcess).join('; ')}`);
      killLeftovers(leftovers);
    }
    child.stdout?.removeAllListeners('data');
    child.stderr?.removeAllListeners('data');
    return { exitCode: info.exitCode, signal: info.signal, forced, leftovers };
  }

  private survivors(ownedBefore: ProcessInfo[]): ProcessInfo[] {
    const byPid = new Map<number, ProcessInfo>();
    for (const proc of [...ownedBefore.filter(isStillRunning), ...this.ownProcesses()]) {
      byPid.set(proc.pid, proc);
    }
    return [...byPid.values()];
  }

  private killNow(): void {
    if (this.alive && this.child?.pid !== undefined) {
      try {
        process.kill(this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    killLeftovers(processesWithEnv(RIG_INSTANCE_ENV, this.instanceId));
    if (!this.keepStorage) {
      try {
        rmSync(this.storageDir, { recursive: true, force: true });
      } catch {
        // a process dying right now may still hold files: leaving the dir behind is harmless (.test-tmp is ignored)
      }
    }
  }

  private onTestFailure(testTitle: string): void {
    this.keepStorage = true;
    // Print each part of the log once: the first failure shows the tail, later ones only what was written since.
    const fresh = this.log.lines(this.printedUpTo);
    const shown = fresh.slice(-60);
    const skipped = fresh.length - shown.length;
    this.printedUpTo = this.log.mark();
    console.log(`\n  [rig] "${testTitle}" failed; homebridge [HB ${this.line}] log (full: ${this.logFile}),`
      + (this.printedOnce ? ' new lines since the last failure:' : ' last lines:'));
    this.printedOnce = true;
    if (skipped > 0) {
      console.log(`    | ... ${skipped} earlier lines ...`);
    }
    console.log(shown.length > 0 ? shown.map((line) => `    | ${line}`).join('\n') : '    | (nothing new)');
  }
}

/** Start Homebridge for the current line with the given platform blocks (see HomebridgeOptions). */
export function startHomebridge(options: HomebridgeOptions): Promise<HomebridgeProcess> {
  return HomebridgeProcess.start(options);
}
