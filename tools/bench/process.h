// What the benchmark reads about processes and the machine: /proc CPU and memory of a relay's
// pid, this process's CPU, the whole machine's busy time (to tell a run disturbed by other work),
// and starting moqt-relay daemons and worker processes with pipes to talk to them.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moqt::bench {

double proc_cpu_s(pid_t pid, double* sys_s = nullptr);  // utime + stime from /proc/PID/stat (and stime)
long proc_status_kb(pid_t pid, const std::string& key);  // VmRSS, VmHWM, ... (-1 if unknown)
double self_cpu_s();                                  // getrusage(RUSAGE_SELF) user + sys
double self_children_cpu_s();                         // reaped children (worker processes)
void raise_fd_limit(uint64_t want);

// Busy and total jiffies of the whole machine (/proc/stat "cpu" line), in seconds.
struct MachineCpu {
  double busy_s = 0, total_s = 0;
  static MachineCpu now();
};
// Waits (at most max_wait_s) until the machine was >= 97% idle for a whole second; returns the
// busy share of the last second measured.
double wait_for_idle(double max_wait_s);

// A child process with its stdin and stdout as pipes (stderr to `log`, or inherited if empty).
struct Child {
  pid_t pid = -1;
  int in = -1, out = -1;  // write to its stdin / read its stdout
  std::string buffered;

  bool spawn(const std::vector<std::string>& argv, const std::string& log);
  // One line from its stdout without the newline; false at EOF or after timeout_ms.
  bool read_line(std::string* line, int timeout_ms);
  bool write_line(const std::string& line);
  // SIGTERM, wait up to grace_ms, then SIGKILL; reaps it.
  void stop(int grace_ms);
};

// moqt-relay daemons started by the benchmark.
struct RelayProcess {
  Child child;
  uint16_t port = 0;
  std::string url(bool webtransport) const;
};
bool start_relay(const std::string& binary, const std::vector<std::string>& extra_args, const std::string& log,
                 RelayProcess* out, std::string* error);

// A number from a one-line JSON object: the first "key": value (nested objects included).
bool json_number(const std::string& json, const std::string& key, double* out);

}  // namespace moqt::bench
