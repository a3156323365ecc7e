#include "moqt/relay/loop_link.h"

namespace moqt::relay {

LoopLink::LoopLink(quic::EventLoop& consumer_loop, wire::FullTrackName name, size_t capacity)
    : consumer_loop_(consumer_loop), name_(std::move(name)), ring_(capacity) {}

bool LoopLink::try_push(LinkEvent& e) {
  const size_t t = tail_.load(std::memory_order_relaxed);
  if (t - head_.load(std::memory_order_acquire) == ring_.size()) return false;
  ring_[t % ring_.size()] = std::move(e);
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

void LoopLink::push(LinkEvent e) {
  if (closed()) return;
  // Once a control event waits in the overflow, later events wait behind it (order holds).
  if (!have_overflow_.load(std::memory_order_acquire) && try_push(e)) return wake();
  if (e.kind == LinkEvent::Kind::kObject) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  {
    std::lock_guard<std::mutex> l(overflow_mu_);
    overflow_.push_back(std::move(e));
    have_overflow_.store(true, std::memory_order_release);
  }
  wake();
}

void LoopLink::wake() {
  if (drain_pending_.exchange(true, std::memory_order_acq_rel)) return;
  consumer_loop_.post([weak = std::weak_ptr<LoopLink>(shared_from_this())] {
    if (auto self = weak.lock()) self->drain();
  });
}

void LoopLink::drain() {
  // Cleared first: an event pushed while we drain schedules the next drain.
  drain_pending_.store(false, std::memory_order_release);
  auto self = shared_from_this();  // the consumer may drop its reference from a callback
  constexpr size_t kBatch = 1024;  // then yield to the loop's sockets
  size_t n = 0;
  for (;;) {
    const size_t h = head_.load(std::memory_order_relaxed);
    if (h == tail_.load(std::memory_order_acquire)) break;
    if (n++ == kBatch) return wake();
    LinkEvent e = std::move(ring_[h % ring_.size()]);
    ring_[h % ring_.size()] = LinkEvent{};  // release the payload now, not when the slot is reused
    head_.store(h + 1, std::memory_order_release);
    if (consumer_ && !closed()) consumer_(e);
  }
  if (have_overflow_.load(std::memory_order_acquire)) {
    std::vector<LinkEvent> late;
    {
      std::lock_guard<std::mutex> l(overflow_mu_);
      late = std::move(overflow_);
      overflow_.clear();
      have_overflow_.store(false, std::memory_order_release);
    }
    for (LinkEvent& e : late)
      if (consumer_ && !closed()) consumer_(e);
  }
}

}  // namespace moqt::relay
