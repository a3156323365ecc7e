#include "relayhost.h"

#include <map>
#include <mutex>

namespace moqgst {

namespace {
std::mutex g_mu;
std::map<std::string, std::weak_ptr<RelayHost>>& registry() {
  static auto* r = new std::map<std::string, std::weak_ptr<RelayHost>>;  // never destroyed: no exit-order race
  return *r;
}
}  // namespace

std::shared_ptr<RelayHost> RelayHost::find(const std::string& name) {
  std::lock_guard<std::mutex> l(g_mu);
  auto it = registry().find(name);
  return it == registry().end() ? nullptr : it->second.lock();
}

bool RelayHost::add(const std::shared_ptr<RelayHost>& host) {
  std::lock_guard<std::mutex> l(g_mu);
  auto& slot = registry()[host->name];
  if (slot.lock()) return false;
  slot = host;
  return true;
}

void RelayHost::remove(const RelayHost* host) {
  std::lock_guard<std::mutex> l(g_mu);
  auto it = registry().find(host->name);
  if (it == registry().end()) return;
  auto cur = it->second.lock();
  if (!cur || cur.get() == host) registry().erase(it);
}

}  // namespace moqgst
