// The combinations the session suites run every flow in: drafts 14, 16, 18 over raw QUIC and
// over WebTransport.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "moqt/wire/draft.h"

namespace moqt::session::test {

struct DraftTransport {
  wire::Draft draft;
  bool wt;
};

inline std::string draft_transport_name(const ::testing::TestParamInfo<DraftTransport>& i) {
  return std::string(i.param.wt ? "WebTransport" : "Quic") + "Draft" + std::to_string(int(i.param.draft));
}

inline auto all_draft_transports() {
  using wire::Draft;
  return ::testing::Values(DraftTransport{Draft::k14, false}, DraftTransport{Draft::k16, false},
                           DraftTransport{Draft::k18, false}, DraftTransport{Draft::k14, true},
                           DraftTransport{Draft::k16, true}, DraftTransport{Draft::k18, true});
}

}  // namespace moqt::session::test
