// The engine's event loop: one thread, epoll (its timeout is the earliest timer), an eventfd for
// tasks posted from other threads.
//
// Threading model (the whole engine follows it): every endpoint, connection, stream and MoQT
// session object belongs to exactly one EventLoop and is touched only on that loop's thread.
// Other threads (GStreamer streaming threads, the application) never block on the network: they
// post() work to the loop. A relay scales across cores with one loop (and one SO_REUSEPORT
// socket) per core.
#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace moqt::quic {

class EventLoop {
 public:
  using Task = std::function<void()>;
  using FdCallback = std::function<void(uint32_t events)>;
  using TimePoint = std::chrono::steady_clock::time_point;
  using TimerId = uint64_t;

  EventLoop();
  ~EventLoop();  // stops and joins the thread if start() was used
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs the loop on a new thread named `name` (at most 15 characters are kept).
  void start(const std::string& name = "moqt-loop");
  // Runs the loop on the calling thread until stop().
  void run();
  // Thread-safe. Makes run() return; joins the thread when start() made one (not from the loop).
  void stop();

  // Thread-safe: runs `task` on the loop thread, in post order.
  void post(Task task);
  // Thread-safe: runs `task` on the loop thread and waits for it, at most `timeout`.
  // Returns false on timeout (the task may still run later) or if the loop is not running.
  bool run_sync(Task task, std::chrono::milliseconds timeout = std::chrono::milliseconds(5000));

  bool in_loop_thread() const { return std::this_thread::get_id() == loop_thread_.load(); }
  bool running() const { return running_.load(); }

  // Loop thread only.
  void add_fd(int fd, uint32_t events, FdCallback cb);
  void modify_fd(int fd, uint32_t events);
  void remove_fd(int fd);
  // Timers (loop thread only, and that matters: the loop sleeps until the earliest timer it
  // knows of, so a timer added from another thread could wait for the next wakeup). A timer
  // added by a timer callback never runs in that same pass, even when due: the loop polls its
  // sockets first, so a zero-delay timer is a cheap "continue after the next poll".
  TimerId add_timer(TimePoint when, Task task);
  TimerId add_timer(std::chrono::nanoseconds after, Task task) { return add_timer(now() + after, std::move(task)); }
  void cancel_timer(TimerId id);

  static TimePoint now() { return std::chrono::steady_clock::now(); }
  // Nanoseconds on the monotonic clock (what ngtcp2 wants).
  static uint64_t now_ns();

 private:
  void run_tasks();
  void run_timers();
  int wait(epoll_event* events, int max);  // epoll until an event or the earliest timer

  int epfd_ = -1;
  int eventfd_ = -1;
  bool have_pwait2_ = true;  // epoll_pwait2 (Linux 5.11): nanosecond timeouts
  std::atomic<bool> running_{false};
  std::atomic<bool> stop_requested_{false};
  std::atomic<std::thread::id> loop_thread_{};
  std::thread thread_;

  std::mutex tasks_mu_;
  std::vector<Task> tasks_;  // guarded by tasks_mu_

  // Loop-thread state.
  struct FdEntry {
    std::shared_ptr<FdCallback> cb;  // shared: a callback may remove itself while running
  };
  std::unordered_map<int, FdEntry> fds_;
  std::map<std::pair<TimePoint, TimerId>, Task> timers_;
  std::unordered_map<TimerId, TimePoint> timer_index_;
  TimerId next_timer_ = 1;
};

}  // namespace moqt::quic
