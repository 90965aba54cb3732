// Reading a process's CPU time and memory from /proc, and spawning pinned to a core.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

let clockTicks;
/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on every mainstream Linux). */
function ticksPerSecond() {
  if (clockTicks === undefined) {
    clockTicks = 100;
    try {
      // /proc/self/stat's starttime is in the same unit; getconf is the authority but costs a spawn.
      const out = readFileSync('/proc/self/auxv');
      // AT_CLKTCK (17) in the auxiliary vector, 64-bit little-endian pairs.
      for (let i = 0; i + 16 <= out.length; i += 16) {
        const key = Number(out.readBigUInt64LE(i));
        if (key === 0) break;
        if (key === 17) clockTicks = Number(out.readBigUInt64LE(i + 8));
      }
    } catch {
      // Keep 100.
    }
  }
  return clockTicks;
}

/** User + system CPU seconds consumed so far by `pid`, or undefined when /proc is unavailable. */
export function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name (which may contain spaces).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return undefined;
  }
}

/** Resident set size in bytes (VmRSS), or undefined. */
export function rssBytes(pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+) kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p));
export const canPin = TASKSET !== undefined;

const live = new Set();

/** Spawns `command args` pinned to `core` when taskset exists (taskset execs, so the pid is the command's). */
export function spawnPinned(core, command, args, options) {
  const child =
    TASKSET && core !== undefined
      ? spawn(TASKSET, ['-c', String(core), command, ...args], options)
      : spawn(command, args, options);
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** Kills every process spawnPinned started that is still running (on Ctrl-C of the harness). */
export function killSpawned() {
  for (const child of live) child.kill('SIGKILL');
}
