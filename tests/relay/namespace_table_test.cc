// The relay's namespace routing: longest prefix, newest source first with fallback, a closed
// source dropping everything at once, and SUBSCRIBE_NAMESPACE watchers.
#include <gtest/gtest.h>

#include "moqt/relay/namespace_table.h"

namespace moqt::relay {
namespace {

TEST(NamespaceTable, RoutesToTheLongestRegisteredPrefix) {
  NamespaceTable t;
  EXPECT_TRUE(t.add({"live"}, 1));
  EXPECT_TRUE(t.add({"live", "cam"}, 2));
  EXPECT_EQ(t.route({"live", "cam"}), 2u);
  EXPECT_EQ(t.route({"live", "cam", "hd"}), 2u);
  EXPECT_EQ(t.route({"live", "mic"}), 1u);
  EXPECT_EQ(t.route({"live"}), 1u);
  EXPECT_EQ(t.route({"vod"}), std::nullopt);
  EXPECT_EQ(t.route({"liv"}), std::nullopt) << "fields match whole, not as strings";
  EXPECT_EQ(t.route({}), std::nullopt);
}

TEST(NamespaceTable, NewestSourceServesAndTheOlderTakesOver) {
  NamespaceTable t;
  t.add({"live", "cam"}, 1);
  t.add({"live", "cam"}, 2);  // e.g. the publisher reconnected before its old session timed out
  EXPECT_FALSE(t.add({"live", "cam"}, 2));
  EXPECT_EQ(t.route({"live", "cam"}), 2u);
  EXPECT_TRUE(t.remove({"live", "cam"}, 2));
  EXPECT_EQ(t.route({"live", "cam"}), 1u);
  EXPECT_FALSE(t.remove({"live", "cam"}, 2));
}

TEST(NamespaceTable, AClosedSourceDropsEverythingAndANewOneIsServedAtOnce) {
  NamespaceTable t;
  t.add({"a"}, 1);
  t.add({"b", "c"}, 1);
  t.add({"b"}, 2);
  auto had = t.remove_source(1);
  EXPECT_EQ(had, (std::vector<TrackNamespace>{{"a"}, {"b", "c"}}));
  EXPECT_EQ(t.route({"a"}), std::nullopt);
  EXPECT_EQ(t.route({"b", "c"}), 2u);  // falls back to the shorter prefix
  EXPECT_EQ(t.size(), 1u);
  EXPECT_TRUE(t.add({"a"}, 3));
  EXPECT_EQ(t.route({"a"}), 3u);
}

TEST(NamespaceTable, WatchersHearNamespacesUnderTheirPrefixComeAndGo) {
  NamespaceTable t;
  t.add({"live", "old"}, 9);
  std::vector<std::pair<TrackNamespace, bool>> seen;
  auto id = t.watch({"live"}, [&](const TrackNamespace& ns, bool active) { seen.emplace_back(ns, active); });
  EXPECT_EQ(t.under({"live"}), (std::vector<TrackNamespace>{{"live", "old"}}));
  t.add({"live", "cam"}, 1);
  t.add({"live", "cam"}, 2);  // a second source: no news
  t.add({"vod", "x"}, 1);     // not under the prefix
  t.remove({"live", "cam"}, 1);
  t.remove_source(2);         // the last source of live/cam
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], std::make_pair(TrackNamespace{"live", "cam"}, true));
  EXPECT_EQ(seen[1], std::make_pair(TrackNamespace{"live", "cam"}, false));
  t.unwatch(id);
  t.add({"live", "new"}, 3);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(NamespaceTable, AWatcherMayUnwatchWhileCalled) {
  NamespaceTable t;
  NamespaceTable::WatchId a = 0, b = 0;
  int calls = 0;
  a = t.watch({}, [&](const TrackNamespace&, bool) {
    ++calls;
    t.unwatch(a);
    t.unwatch(b);
  });
  b = t.watch({}, [&](const TrackNamespace&, bool) { ++calls; });
  t.add({"x"}, 1);
  EXPECT_EQ(calls, 1);
  t.add({"y"}, 1);
  EXPECT_EQ(calls, 1);
}

TEST(NamespaceTable, UnderListsOnlyWholeFieldPrefixes) {
  NamespaceTable t;
  t.add({"live"}, 1);
  t.add({"live", "a"}, 1);
  t.add({"live", "a", "b"}, 1);
  t.add({"lively"}, 1);
  t.add({"m"}, 1);
  EXPECT_EQ(t.under({"live"}), (std::vector<TrackNamespace>{{"live"}, {"live", "a"}, {"live", "a", "b"}}));
  EXPECT_EQ(t.under({}).size(), 5u);
}

}  // namespace
}  // namespace moqt::relay
