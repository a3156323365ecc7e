// Test state written by loop-thread callbacks and awaited by the test thread: `set` changes it
// under the lock and wakes waiters; `wait` blocks until a predicate holds or the time is up.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace moqt::test {

struct Waitable {
  std::mutex mu;
  std::condition_variable cv;
  template <typename F>
  void set(F f) {
    std::lock_guard<std::mutex> l(mu);
    f();
    cv.notify_all();
  }
  template <typename P>
  bool wait(P p, std::chrono::milliseconds t = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> l(mu);
    return cv.wait_for(l, t, p);
  }
};

// Polls `p` (which does its own synchronisation) until it holds or the time is up.
template <typename P>
bool eventually(P p, std::chrono::milliseconds t = std::chrono::seconds(10)) {
  const auto deadline = std::chrono::steady_clock::now() + t;
  while (!p()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace moqt::test
