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
// Created by the engine before it stops a container on purpose: no restart follows.
inline constexpr const char* kStopRequestFile = "stop-requested";

}  // namespace berth::monitor
