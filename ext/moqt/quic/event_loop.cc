#include "moqt/quic/event_loop.h"

#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <stdexcept>

namespace moqt::quic {

EventLoop::EventLoop() {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  eventfd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || eventfd_ < 0)
    throw std::runtime_error(std::string("event loop: cannot create epoll/eventfd: ") + strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = eventfd_;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, eventfd_, &ev);
}

EventLoop::~EventLoop() {
  stop();
  if (thread_.joinable()) thread_.join();
  close(epfd_);
  close(eventfd_);
}

uint64_t EventLoop::now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return uint64_t(ts.tv_sec) * 1000000000u + uint64_t(ts.tv_nsec);
}

void EventLoop::start(const std::string& name) {
  if (thread_.joinable()) return;
  running_ = true;  // accept posts before the thread runs
  thread_ = std::thread([this, name] {
    pthread_setname_np(pthread_self(), name.substr(0, 15).c_str());
    run();
  });
}

void EventLoop::run() {
  loop_thread_ = std::this_thread::get_id();
  running_ = true;
  std::vector<epoll_event> events(64);
  while (!stop_requested_.load()) {
    const int n = wait(events.data(), int(events.size()));
    if (n < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "moqt event loop: epoll_wait failed: %s\n", strerror(errno));
      break;
    }
    for (int i = 0; i < n && !stop_requested_.load(); ++i) {
      const int fd = events[i].data.fd;
      if (fd == eventfd_) {
        uint64_t v;
        while (read(eventfd_, &v, sizeof v) > 0) {
        }
        run_tasks();
      } else {
        auto it = fds_.find(fd);
        if (it == fds_.end()) continue;
        std::shared_ptr<FdCallback> cb = it->second.cb;
        (*cb)(events[i].events);
      }
    }
    run_timers();
  }
  run_tasks();  // do not lose work posted just before stop
  running_ = false;
  loop_thread_ = std::thread::id();
}

// Timers are not kept in a timerfd: connections move theirs after nearly every write pass (to
// ngtcp2's next expiry, often the pacing deadline microseconds ahead), and each move cost a
// timerfd_settime -- in a VM a trap to the hypervisor to program the timer -- which was 8% of
// each thread's time at loopback speed. Timers are added on this thread only, so the earliest
// deadline cannot change while the thread sleeps: it is simply the sleep's timeout.
int EventLoop::wait(epoll_event* events, int max) {
  if (timers_.empty()) return epoll_wait(epfd_, events, max, -1);
  const int64_t ns = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(timers_.begin()->first.first - now()).count());
  if (have_pwait2_) {
    timespec ts{time_t(ns / 1000000000), long(ns % 1000000000)};
    const int n = epoll_pwait2(epfd_, events, max, &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n;
    have_pwait2_ = false;  // kernel older than 5.11: millisecond timeouts, rounded up
  }
  return epoll_wait(epfd_, events, max, int(std::min<int64_t>((ns + 999999) / 1000000, INT32_MAX)));
}

void EventLoop::stop() {
  stop_requested_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(eventfd_, &one, sizeof one);
  if (thread_.joinable() && std::this_thread::get_id() != thread_.get_id()) thread_.join();
}

void EventLoop::post(Task task) {
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    tasks_.push_back(std::move(task));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t r = write(eventfd_, &one, sizeof one);
}

bool EventLoop::run_sync(Task task, std::chrono::milliseconds timeout) {
  if (in_loop_thread()) {
    task();
    return true;
  }
  if (!running_.load()) return false;
  // The task usually refers to the caller's stack: once we give up waiting it must never run, and
  // once it has started we must wait for it to finish.
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool started = false, done = false, cancelled = false;
  };
  auto st = std::make_shared<State>();
  post([st, task = std::move(task)] {
    {
      std::lock_guard<std::mutex> lock(st->mu);
      if (st->cancelled) return;
      st->started = true;
    }
    task();
    std::lock_guard<std::mutex> lock(st->mu);
    st->done = true;
    st->cv.notify_all();
  });
  std::unique_lock<std::mutex> lock(st->mu);
  if (st->cv.wait_for(lock, timeout, [&] { return st->done; })) return true;
  if (!st->started) {
    st->cancelled = true;
    std::fprintf(stderr, "moqt event loop: task not run within %lld ms (loop thread blocked?)\n",
                 static_cast<long long>(timeout.count()));
    return false;
  }
  st->cv.wait(lock, [&] { return st->done; });  // running now; it refers to our stack
  return true;
}

void EventLoop::run_tasks() {
  std::vector<Task> batch;
  {
    std::lock_guard<std::mutex> lock(tasks_mu_);
    batch.swap(tasks_);
  }
  for (Task& t : batch) t();
}

void EventLoop::add_fd(int fd, uint32_t events, FdCallback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::runtime_error(std::string("epoll_ctl add: ") + strerror(errno));
  fds_[fd] = FdEntry{std::make_shared<FdCallback>(std::move(cb))};
}

void EventLoop::modify_fd(int fd, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev);
}

void EventLoop::remove_fd(int fd) {
  epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

EventLoop::TimerId EventLoop::add_timer(TimePoint when, Task task) {
  const TimerId id = next_timer_++;
  timers_.emplace(std::make_pair(when, id), std::move(task));
  timer_index_[id] = when;
  return id;
}

void EventLoop::cancel_timer(TimerId id) {
  auto it = timer_index_.find(id);
  if (it == timer_index_.end()) return;
  timers_.erase({it->second, id});
  timer_index_.erase(it);
}

void EventLoop::run_timers() {
  const TimePoint t = now();
  // Timers added by this pass's callbacks (ids from `first_new` on) wait for the next pass, even
  // when already due: a callback that re-arms itself with a zero delay cannot starve the sockets.
  const TimerId first_new = next_timer_;
  while (!timers_.empty() && timers_.begin()->first.first <= t && timers_.begin()->first.second < first_new) {
    auto node = timers_.extract(timers_.begin());
    timer_index_.erase(node.key().second);
    node.mapped()();
  }
}

}  // namespace moqt::quic
