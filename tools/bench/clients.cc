#include "clients.h"

#include <cstring>
#include <future>
#include <map>
#include <sstream>
#include <thread>

namespace moqt::bench {

using namespace std::chrono_literals;
using session::Client;
using session::ClientConfig;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ---- Tally ---------------------------------------------------------------------------------------

void Tally::merge(const Tally& o) {
  subscribers += o.subscribers, subscribed += o.subscribed, refused += o.refused, ended += o.ended;
  objects += o.objects, bytes += o.bytes, complete += o.complete, duplicates += o.duplicates;
  min_objects = std::min(min_objects, o.min_objects);
  latency.merge(o.latency), join_ok.merge(o.join_ok), first_obj.merge(o.first_obj), rtt.merge(o.rtt);
  first_from_group_start += o.first_from_group_start, first_within_rtt += o.first_within_rtt, joined += o.joined;
}

// One line of "key=value" fields (the worker -> parent report).
std::string Tally::encode() const {
  std::ostringstream s;
  s << "subscribers=" << subscribers << " subscribed=" << subscribed << " refused=" << refused << " ended=" << ended
    << " objects=" << objects << " bytes=" << bytes << " complete=" << complete << " min_objects=" << min_objects
    << " duplicates=" << duplicates << " group_start=" << first_from_group_start
    << " within_rtt=" << first_within_rtt << " joined=" << joined << " latency=" << latency.encode()
    << " join_ok=" << join_ok.encode() << " first_obj=" << first_obj.encode() << " rtt=" << rtt.encode();
  return s.str();
}

bool Tally::decode(const std::string& line, Tally* t) {
  std::istringstream in(line);
  std::string field;
  std::map<std::string, std::string> kv;
  while (in >> field) {
    const size_t eq = field.find('=');
    if (eq != std::string::npos) kv[field.substr(0, eq)] = field.substr(eq + 1);
  }
  try {
    auto num = [&](const char* k) { return std::stoull(kv.at(k)); };
    t->subscribers = num("subscribers"), t->subscribed = num("subscribed"), t->refused = num("refused");
    t->ended = num("ended"), t->objects = num("objects"), t->bytes = num("bytes"), t->complete = num("complete");
    t->min_objects = num("min_objects"), t->duplicates = num("duplicates");
    t->first_from_group_start = num("group_start"), t->first_within_rtt = num("within_rtt"), t->joined = num("joined");
    return Histogram::decode(kv.at("latency"), &t->latency) && Histogram::decode(kv.at("join_ok"), &t->join_ok) &&
           Histogram::decode(kv.at("first_obj"), &t->first_obj) && Histogram::decode(kv.at("rtt"), &t->rtt);
  } catch (const std::exception&) {
    return false;
  }
}

// ---- Subscriber ----------------------------------------------------------------------------------

void Subscriber::on_subscribe_ok(const session::SubscribeResult&) {
  ok = true;
  t_ok = now_ns();
}

void Subscriber::on_object(const session::ReceivedObject& o) {
  const int64_t now = now_ns();
  ++objects;
  bytes += o.payload.size();
  if (t_first == 0) {
    t_first = now;
    first_object_id = o.location.object;
    if (client) rtt_us = client->session().transport_stats().smoothed_rtt_us;
  }
  if (o.payload.size() < 16) return;
  int64_t sent = 0;
  uint64_t seq = 0;
  std::memcpy(&sent, o.payload.data(), 8);
  std::memcpy(&seq, o.payload.data() + 8, 8);
  latency_->add(uint64_t(std::max<int64_t>(0, now - sent) / 1000));
  if (seq < (1u << 24)) {  // a sane sequence number (the filler could be anything otherwise)
    if (seen_.size() <= seq) seen_.resize(seq + 1);
    if (seen_[seq]) ++duplicates;
    seen_[seq] = true;
  }
  if (arrivals_ && seq < arrivals_->size()) (*arrivals_)[seq] = now;
}

// ---- SubscriberGroup -----------------------------------------------------------------------------

SubscriberGroup::SubscriberGroup(ClientMix mix, std::vector<wire::FullTrackName> tracks, int loops,
                                 const char* thread_name)
    : mix_(std::move(mix)), tracks_(std::move(tracks)) {
  for (int i = 0; i < std::max(1, loops); ++i) {
    loops_.push_back(std::make_unique<quic::EventLoop>());
    loops_.back()->start(thread_name);
    latency_.push_back(std::make_unique<Histogram>());
  }
}

SubscriberGroup::~SubscriberGroup() {
  close_all();
  for (auto& l : loops_) l->stop();
}

size_t SubscriberGroup::add(size_t count, std::string* error, std::vector<int64_t>* arrivals) {
  size_t subscribed = 0;
  const size_t end = subs_.size() + count;
  while (subs_.size() < end) {
    const size_t first = subs_.size(), last = std::min(end, first + 50);
    for (size_t i = first; i < last; ++i) {
      Subscriber& s = subs_.emplace_back(latency_[i % loops_.size()].get(), arrivals);
      loop_of(i).run_sync(
          [&, i] {
            ClientConfig cc;
            cc.verify = quic::VerifyMode::kInsecure;
            cc.drafts = {mix_.draft(i)};
            std::string err;
            s.client = Client::connect(loop_of(i), mix_.webtransport(i) ? mix_.wt_url : mix_.quic_url, cc, nullptr,
                                       nullptr, &err);
            if (!s.client) {
              s.refused = true;
              *error = err;
              return;
            }
            s.t_subscribe = now_ns();
            s.client->subscribe(tracks_[i % tracks_.size()], session::SubscribeOptions{}, &s);
          },
          10s);
    }
    // Until each has its answer (at most 30 s a batch).
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    size_t answered = 0, ok = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      answered = ok = 0;
      for (size_t k = 0; k < loops_.size(); ++k)
        loops_[k]->run_sync([&] {
          for (size_t i = first; i < last; ++i)
            if (i % loops_.size() == k)
              answered += subs_[i].ok || subs_[i].refused || subs_[i].ended, ok += subs_[i].ok;
        });
      if (answered == last - first) break;
      std::this_thread::sleep_for(5ms);
    }
    subscribed += ok;
    if (ok < last - first && error->empty()) {
      // Why: no session (handshake or setup never finished), refused, or no answer on a session.
      size_t no_session = 0, refused = 0, ended = 0;
      std::string why;
      for (size_t k = 0; k < loops_.size(); ++k)
        loops_[k]->run_sync([&] {
          for (size_t i = first; i < last; ++i)
            if (i % loops_.size() == k && !subs_[i].ok) {
              refused += subs_[i].refused, ended += subs_[i].ended;
              if (why.empty()) why = subs_[i].end_reason;
              no_session += subs_[i].client && !subs_[i].client->session().ready();
            }
        });
      *error = std::to_string(last - first - ok) + " of subscribers " + std::to_string(first) + ".." +
               std::to_string(last - 1) + " not subscribed (" + std::to_string(no_session) + " without a session, " +
               std::to_string(refused) + " refused, " + std::to_string(ended) + " ended" + (why.empty() ? "" : ": " + why) + ")";
    }
  }
  return subscribed;
}

void SubscriberGroup::remove(size_t i) {
  Subscriber* s = &subs_[i];
  quic::EventLoop& loop = loop_of(i);
  loop.run_sync([s, &loop] {
    if (s->removed || !s->client) return;
    s->removed = true;
    s->client->close(0, "bench: leaving");
    // Destroyed a little later: the CONNECTION_CLOSE (or WT close capsule) must get out first.
    loop.add_timer(300ms, [s] { s->client.reset(); });
  });
}

Tally SubscriberGroup::tally(uint64_t expected) {
  Tally total;
  for (size_t k = 0; k < loops_.size(); ++k) {
    Tally t;
    loops_[k]->run_sync(
        [&] {
          t.latency.merge(*latency_[k]);
          for (size_t i = k; i < subs_.size(); i += loops_.size()) {
            const Subscriber& s = subs_[i];
            ++t.subscribers;
            t.subscribed += s.ok, t.refused += s.refused, t.ended += s.ended;
            t.objects += s.objects, t.bytes += s.bytes, t.duplicates += s.duplicates;
            t.complete += s.objects >= expected;
            t.min_objects = std::min(t.min_objects, s.objects);
            if (s.t_ok && s.t_first) {
              ++t.joined;
              t.join_ok.add(uint64_t(std::max<int64_t>(0, s.t_ok - s.t_subscribe)) / 1000);
              const uint64_t first_us = uint64_t(std::max<int64_t>(0, s.t_first - s.t_ok)) / 1000;
              t.first_obj.add(first_us);
              t.rtt.add(s.rtt_us);
              t.first_within_rtt += first_us <= s.rtt_us;
              t.first_from_group_start += s.first_object_id == 0;
            }
          }
        },
        30s);
    total.merge(t);
  }
  return total;
}

void SubscriberGroup::close_all() {
  for (size_t k = 0; k < loops_.size(); ++k)
    loops_[k]->run_sync(
        [&] {
          for (size_t i = k; i < subs_.size(); i += loops_.size())
            if (subs_[i].client && !subs_[i].removed) subs_[i].client->close(0, "bench done");
        },
        30s);
  std::this_thread::sleep_for(200ms);
  for (size_t k = 0; k < loops_.size(); ++k)
    loops_[k]->run_sync(
        [&] {
          for (size_t i = k; i < subs_.size(); i += loops_.size()) subs_[i].client.reset();
        },
        30s);
}

// ---- Publisher -----------------------------------------------------------------------------------

Publisher::Publisher(const std::string& url, std::vector<wire::FullTrackName> tracks, Shape shape)
    : url_(url), tracks_(std::move(tracks)), shape_(std::move(shape)) {
  loop_.start("publisher");
  loop_.run_sync([&] {
    for (auto& t : tracks_) {
      publishers_.push_back(std::make_shared<session::TrackPublisher>(t, session::TrackOptions{}));
      registry_.add(publishers_.back());
    }
  });
}

Publisher::~Publisher() { stop(); }

bool Publisher::announce(std::string* error) {
  std::vector<wire::TrackNamespace> namespaces;
  for (auto& t : tracks_)
    if (std::find(namespaces.begin(), namespaces.end(), t.ns) == namespaces.end()) namespaces.push_back(t.ns);
  std::vector<std::future<bool>> answers;
  loop_.run_sync([&] {
    for (auto& ns : namespaces) {
      ClientConfig cc;
      cc.verify = quic::VerifyMode::kInsecure;
      cc.drafts = {wire::Draft::k16};
      std::string err;
      auto c = Client::connect(loop_, url_, cc, nullptr, &registry_, &err);
      auto p = std::make_shared<std::promise<bool>>();
      answers.push_back(p->get_future());
      if (!c) {
        *error = err;
        p->set_value(false);
        continue;
      }
      c->publish_namespace(ns, [p](bool ok, uint64_t) { p->set_value(ok); });
      clients_.push_back(std::move(c));
    }
  });
  for (auto& a : answers)
    if (a.wait_for(10s) != std::future_status::ready || !a.get()) {
      if (error->empty()) *error = "PUBLISH_NAMESPACE not accepted";
      return false;
    }
  return true;
}

void Publisher::start(uint64_t objects) {
  total_ = objects;
  sent_ns_.assign(objects, 0);
  loop_.run_sync([&] {
    t0_ = std::chrono::steady_clock::now();
    tick();
  });
}

void Publisher::tick() {
  const uint64_t k = written_.load();
  if (k >= total_) return;
  const size_t size = std::max<size_t>(16, shape_.sizes[k % shape_.sizes.size()]);
  std::vector<uint8_t> bytes(size, uint8_t(k));
  const int64_t t = now_ns();
  std::memcpy(bytes.data(), &t, 8);
  std::memcpy(bytes.data() + 8, &k, 8);
  sent_ns_[k] = t;
  const quic::SendBuffer payload = quic::SendBuffer::take(std::move(bytes));
  const uint64_t gop = uint64_t(shape_.gop);
  for (auto& p : publishers_) {
    session::Object o;
    o.location = {k / gop, k % gop};
    o.subgroup = (k % gop) % uint64_t(shape_.subgroups);
    o.payload = payload;  // one buffer shared by every track
    p->write(std::move(o));
  }
  bytes_ += size;
  written_ = k + 1;
  if (k + 1 >= total_) {
    done_ = true;
    return;
  }
  loop_.add_timer(t0_ + std::chrono::nanoseconds(1'000'000'000LL * int64_t(k + 1) / shape_.fps), [this] { tick(); });
}

void Publisher::stop() {
  if (!loop_.running()) return;
  loop_.run_sync([&] {
    for (auto& c : clients_) c->close(0, "bench done");
  });
  std::this_thread::sleep_for(200ms);
  loop_.run_sync([&] {
    clients_.clear();
    publishers_.clear();
  });
  loop_.stop();
}

}  // namespace moqt::bench
