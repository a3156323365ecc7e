// A moqrelay element's running relay, found by element name so that moqsink and moqsrc of the
// same process can attach to it (relay=NAME) without a network hop.
//
// Threads: `relay` lives on `loop` and is only touched there (it is null once the element has
// stopped); the registry is guarded by its own lock. Attached connections hold the host so that
// its loop outlives them.
#pragma once

#include <memory>
#include <string>

#include "moqt/quic/event_loop.h"
#include "moqt/relay/relay.h"

namespace moqgst {

struct RelayHost {
  std::string name;
  moqt::quic::EventLoop loop;
  std::unique_ptr<moqt::relay::Relay> relay;  // loop thread only

  // The running moqrelay called `name`, or null.
  static std::shared_ptr<RelayHost> find(const std::string& name);
  // False if another running moqrelay already has the name.
  static bool add(const std::shared_ptr<RelayHost>& host);
  static void remove(const RelayHost* host);
};

}  // namespace moqgst
