// Runs the gateway as users do (`node src/main.ts`), in a child process, with its logs captured.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

export interface GatewayProcess {
  url: string;
  child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals): Promise<number | string>;
}

/**
 * `npmStart`: through `npm start` (its start script, without the build before it), in a process group of its own, so
 * that whatever npm started can be found and killed even if npm is gone.
 */
export async function startGatewayProcess(env: Record<string, string>, options: { cwd?: string; timeoutMs?: number; entry?: string; npmStart?: boolean; ready?: RegExp } = {}): Promise<GatewayProcess> {
  // Under `npm test`, npm says where it is; otherwise the npm on the PATH.
  const npm = process.env.npm_execpath ? [process.execPath, process.env.npm_execpath] : ['npm'];
  const [command = '', ...args] = options.npmStart ? [...npm, 'start', '--ignore-scripts'] : [process.execPath, `${root}${options.entry ?? 'src/main.ts'}`];
  const child = spawn(command, args, {
    cwd: options.cwd ?? root,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.npmStart === true,
  });
  let output = '';
  child.stdout?.setEncoding('utf8').on('data', (text: string) => { output += text; });
  child.stderr?.setEncoding('utf8').on('data', (text: string) => { output += text; });
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  const deadline = Date.now() + (options.timeoutMs ?? 15_000);
  for (;;) {
    // `ready`: another line to wait for (when the listening line is below LOG_LEVEL); the url is then unknown.
    const match = (options.ready ?? /gateway listening on (http:\/\/[^\s"]+)/).exec(output);
    if (match) {
      return {
        url: match[1] ?? '', child, output: () => output, exited,
        async stop(signal = 'SIGTERM') {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          return exited;
        },
      };
    }
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`gateway did not start:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
