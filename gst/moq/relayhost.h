// A moqrelay element's running relay, found by element name so that moqsink and moqsrc of the
// same process can attach to it (relay=NAME) without a network hop.
//
// Threads: the relays live on the group's loops and are touched only there (relay() is null once
// the element has stopped); the registry is guarded by its own lock. Attached connections hold
// the host so that loop 0 outlives them; they attach to the relay of loop 0.
#pragma once

#include <memory>
#include <string>

#include "moqt/quic/event_loop.h"
#include "moqt/relay/relay_group.h"

namespace moqgst {

struct RelayHost {
  std::string name;
  std::unique_ptr<moqt::relay::RelayGroup> group;  // set before the host is registered
  moqt::quic::EventLoop& loop() { return group->loop(0); }
  moqt::relay::Relay* relay() { return group->relay(0); }  // loop() thread only

  // The running moqrelay called `name`, or null.
  static std::shared_ptr<RelayHost> find(const std::string& name);
  // False if another running moqrelay already has the name.
  static bool add(const std::shared_ptr<RelayHost>& host);
  static void remove(const RelayHost* host);
};

}  // namespace moqgst
