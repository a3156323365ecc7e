#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace moqt::bench {

double proc_cpu_s(pid_t pid, double* sys_s) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(f, line) || line.rfind(')') == std::string::npos) return 0;
  // After the ")" that ends the command name: field 3 is the state, 14 utime, 15 stime.
  std::istringstream in(line.substr(line.rfind(')') + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (sys_s) *sys_s = double(stime) / double(sysconf(_SC_CLK_TCK));
  return double(utime + stime) / double(sysconf(_SC_CLK_TCK));
}

long proc_status_kb(pid_t pid, const std::string& key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

static double seconds(const rusage& ru) {
  return double(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + double(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}
double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return seconds(ru);
}
double self_children_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return seconds(ru);
}

void raise_fd_limit(uint64_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
  rl.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
  setrlimit(RLIMIT_NOFILE, &rl);
}

MachineCpu MachineCpu::now() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long v[10] = {};
  f >> cpu;
  for (auto& x : v) f >> x;
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is in user.
  const double tick = double(sysconf(_SC_CLK_TCK));
  const unsigned long long idle = v[3] + v[4], total = v[0] + v[1] + v[2] + v[3] + v[4] + v[5] + v[6] + v[7];
  return {double(total - idle) / tick, double(total) / tick};
}

double wait_for_idle(double max_wait_s) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(max_wait_s);
  double busy = 1;
  do {
    const MachineCpu a = MachineCpu::now();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    const MachineCpu b = MachineCpu::now();
    busy = b.total_s > a.total_s ? (b.busy_s - a.busy_s) / (b.total_s - a.total_s) : 1;
    if (busy <= 0.03) break;
  } while (std::chrono::steady_clock::now() < end);
  return busy;
}

bool Child::spawn(const std::vector<std::string>& argv, const std::string& log) {
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0) return false;
  if (pipe2(from, O_CLOEXEC) != 0) {
    close(to[0]), close(to[1]);
    return false;
  }
  const pid_t p = fork();
  if (p < 0) return false;
  if (p == 0) {
    dup2(to[0], 0);
    dup2(from[1], 1);
    if (!log.empty()) {
      const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (fd >= 0) dup2(fd, 2);
    }
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
    _exit(127);
  }
  close(to[0]);
  close(from[1]);
  pid = p;
  in = to[1];
  out = from[0];
  return true;
}

bool Child::read_line(std::string* line, int timeout_ms) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const size_t nl = buffered.find('\n');
    if (nl != std::string::npos) {
      *line = buffered.substr(0, nl);
      buffered.erase(0, nl + 1);
      return true;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
    if (left.count() <= 0 || out < 0) return false;
    pollfd p{out, POLLIN, 0};
    if (poll(&p, 1, int(left.count())) <= 0) continue;
    char buf[4096];
    const ssize_t n = read(out, buf, sizeof buf);
    if (n <= 0) return false;
    buffered.append(buf, size_t(n));
  }
}

bool Child::write_line(const std::string& line) {
  const std::string s = line + "\n";
  return in >= 0 && write(in, s.data(), s.size()) == ssize_t(s.size());
}

void Child::stop(int grace_ms) {
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  bool gone = false;
  for (int i = 0; i < grace_ms / 10 && !gone; ++i) {
    gone = waitpid(pid, nullptr, WNOHANG) == pid;
    if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  if (!gone) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
  pid = -1, in = out = -1;
}

std::string RelayProcess::url(bool webtransport) const {
  return std::string(webtransport ? "https" : "moqt") + "://127.0.0.1:" + std::to_string(port) + "/moq";
}

bool start_relay(const std::string& binary, const std::vector<std::string>& extra_args, const std::string& log,
                 RelayProcess* out, std::string* error) {
  std::vector<std::string> argv = {binary, "--listen", "127.0.0.1:0"};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (!out->child.spawn(argv, log)) {
    *error = "cannot start " + binary;
    return false;
  }
  // The daemon's first stdout line: {"listening":"ADDR:PORT","port":PORT,"sha256":"HEX"}.
  std::string line;
  double port = 0;
  if (!out->child.read_line(&line, 10000) || !json_number(line, "port", &port) || port <= 0) {
    *error = binary + " did not report its port (see its log)";
    out->child.stop(500);
    return false;
  }
  out->port = uint16_t(port);
  return true;
}

bool json_number(const std::string& json, const std::string& key, double* out) {
  const std::string k = "\"" + key + "\":";
  const size_t p = json.find(k);
  if (p == std::string::npos) return false;
  const char* s = json.c_str() + p + k.size();
  while (*s == ' ') ++s;
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (end == s) return false;
  *out = v;
  return true;
}

}  // namespace moqt::bench
