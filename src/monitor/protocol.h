// monitor/protocol.h — what berth-monitor leaves in a container's directory for the engine to
// read: the only interface between them (no sockets, no daemon).
#pragma once

namespace berth::monitor {

// One JSON object per line: {"stream":"stdout"|"stderr","time":RFC3339Nano,"log":"text\n"}.
// Rotated by size to log.jsonl.1, .2, ...
inline constexpr const char* kLogFile = "log.jsonl";
// {"pid":N} while the container runs (written atomically once it started).
inline constexpr const char* kPidFile = "monitor.json";
// {"exitCode":N,"oomKilled":bool,"startedAt":T,"finishedAt":T,"restartCount":N} after each exit.
inline constexpr const char* kExitFile = "exit.json";
// {"Status":"starting|healthy|unhealthy","FailingStreak":N,"Log":[...]} while a container with
// a health check runs (written atomically after each probe).
inline constexpr const char* kHealthFile = "health.json";
// Held (flock, exclusive) by the monitor for as long as it lives: the engine tells a live
// monitor from a dead one by trying to lock it, which no pid reuse can fool.
inline constexpr const char* kLockFile = "monitor.lock";
// Held (flock, shared) by each process that waits for the container's end and records it (an
// API server's wait, `berth wait`). When one holds it as the monitor ends, the monitor does not
// run its exit command (`berth container cleanup`): that process would only find the work done,
// and spends the CPU the waiter needs. A waiter that dies in between leaves the exit to the next
// command that looks, as when a monitor is killed.
inline constexpr const char* kWaiterLockFile = "waiter.lock";
// Created by the engine before it stops a container on purpose: no restart follows.
inline constexpr const char* kStopRequestFile = "stop-requested";

// The restart policy (docker's spelling), written by the engine when it changes while the monitor
// runs (docker update --restart); read at each exit.
inline constexpr const char* kRestartPolicyFile = "restart-policy";
// SOCK_SEQPACKET, while a container started with stdin open or a terminal runs (conmon's attach
// socket): each packet is one kind byte and its data. Client to monitor: kAttachHello first
// ('1': replay the output this run has kept, at most kAttachReplayBytes; '0': from now on),
// kAttachInput (bytes for the container's stdin), kAttachCloseInput (end of the stdin; ignored
// with a terminal), kAttachResize ("ROWS COLS", with a terminal). Monitor to client:
// kAttachStdout/kAttachStderr packets; the monitor closes the connection once the container
// exited and its output is drained.
inline constexpr const char* kAttachSocket = "attach.sock";
inline constexpr char kAttachHello = 'H', kAttachInput = 'I', kAttachCloseInput = 'E', kAttachResize = 'W';
inline constexpr char kAttachStdout = '1', kAttachStderr = '2';
inline constexpr unsigned kAttachReplayBytes = 64 << 10;
inline constexpr unsigned kAttachPacketBytes = 32 << 10;
// Where the runtime sends the terminal of a container with process.terminal (--console-socket).
inline constexpr const char* kConsoleSocket = "console.sock";

}  // namespace berth::monitor
