#pragma once
// Who runs a trial. Every Storage object is one worker with an id "HOST:PID:RANDOM", kept
// with each trial it starts, so that several processes (on one node or many) can tell their
// trials apart, and a process can tell that a trial's worker on its own host has died.
#include <string>

namespace gpu_tune::search {

// "HOST:PID:RANDOM": the host name, this process's id and 32 random bits in hex (a pid can be
// reused after a reboot; the random part keeps two workers apart anyway).
std::string make_worker_id();

// True when `worker` names a process on this host that no longer exists. False for another
// host's worker, a live process, or an id not made by make_worker_id: those can only be
// judged by their heartbeats.
bool is_dead_local_worker(const std::string& worker);

}  // namespace gpu_tune::search
