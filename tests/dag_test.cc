// Graph algorithms: cycles, stages, critical path; and graphs big enough to break recursion.
#include "comfyrun/core/dag.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

using namespace comfyrun;

namespace {
using Stages = std::vector<std::vector<size_t>>;
using Path = std::vector<size_t>;

/// A cycle is reported from any of its nodes; rotate it to start at its smallest index so
/// tests can compare (the first node is repeated at the end).
Path Canonical(Path cycle) {
  if (cycle.empty()) return cycle;
  cycle.pop_back();
  std::rotate(cycle.begin(), std::min_element(cycle.begin(), cycle.end()), cycle.end());
  cycle.push_back(cycle.front());
  return cycle;
}

/// Checks that each step of a reported cycle is a real edge: b uses a for a -> b.
void CheckIsCycle(const DepLists& deps, const Path& cycle) {
  REQUIRE(cycle.size() >= 2);
  CHECK(cycle.front() == cycle.back());
  for (size_t k = 1; k < cycle.size(); ++k) {
    const auto& d = deps[cycle[k]];
    CHECK_MESSAGE(std::find(d.begin(), d.end(), cycle[k - 1]) != d.end(), "no edge ", cycle[k - 1], " -> ", cycle[k]);
  }
}
}  // namespace

TEST_SUITE("Dag") {
  TEST_CASE("an acyclic graph has no cycle") {
    CHECK(FindCycle({}).empty());
    CHECK(FindCycle({{}, {0}, {0}, {1, 2}}).empty());
  }

  TEST_CASE("a self loop is a cycle of one node") { CHECK(FindCycle({{}, {1}}) == Path{1, 1}); }

  TEST_CASE("a two-node cycle is named in data-flow order") {
    // 0 uses 1 and 1 uses 0.
    DepLists deps = {{1}, {0}};
    Path cycle = FindCycle(deps);
    CheckIsCycle(deps, cycle);
    CHECK(Canonical(cycle) == Path{0, 1, 0});
  }

  TEST_CASE("a long cycle is named whole") {
    // 0 uses 4, 1 uses 0, 2 uses 1, 3 uses 2, 4 uses 3: 0 -> 1 -> 2 -> 3 -> 4 -> 0.
    DepLists deps = {{4}, {0}, {1}, {2}, {3}};
    Path cycle = FindCycle(deps);
    CheckIsCycle(deps, cycle);
    CHECK(Canonical(cycle) == Path{0, 1, 2, 3, 4, 0});
  }

  TEST_CASE("a cycle reachable only from a later node is found, without the nodes leading to it") {
    // 0..2 are a clean chain; 3 depends on the cycle 4 <-> 5, which nothing earlier reaches.
    DepLists deps = {{}, {0}, {1}, {4}, {5}, {4}};
    Path cycle = FindCycle(deps);
    CheckIsCycle(deps, cycle);
    CHECK(Canonical(cycle) == Path{4, 5, 4});
  }

  TEST_CASE("the stages of a diamond are source, both sides, sink") {
    DepLists deps = {{}, {0}, {0}, {1, 2}};
    CHECK(TopologicalStages(deps) == Stages{{0}, {1, 2}, {3}});
  }

  TEST_CASE("a node's stage is its longest chain of dependencies") {
    // 0 -> 1 -> 2 -> 3 and 0 -> 3 directly; 4 stands alone; 5 uses 4 and 1.
    DepLists deps = {{}, {0}, {1}, {2, 0}, {}, {4, 1}};
    CHECK(TopologicalStages(deps) == Stages{{0, 4}, {1}, {2, 5}, {3}});
  }

  TEST_CASE("fan-out puts every consumer in one stage") {
    DepLists deps(6);
    for (size_t i = 1; i < 6; ++i) deps[i] = {0};
    CHECK(TopologicalStages(deps) == Stages{{0}, {1, 2, 3, 4, 5}});
    CHECK(TopologicalStages({}).empty());
  }

  TEST_CASE("the remaining critical path adds the heaviest way to the end") {
    // Diamond with a heavy left side: 0 (1) -> 1 (10) -> 3 (2); 0 -> 2 (3) -> 3.
    DepLists deps = {{}, {0}, {0}, {1, 2}};
    std::vector<double> weights = {1, 10, 3, 2};
    CHECK(RemainingCriticalPath(deps, weights) == std::vector<double>{13, 12, 5, 2});
    double total = 0;
    CHECK(CriticalPath(deps, weights, &total) == Path{0, 1, 3});
    CHECK(total == 13);
    weights[2] = 20;
    CHECK(CriticalPath(deps, weights, &total) == Path{0, 2, 3});
    CHECK(total == 23);
  }

  TEST_CASE("the critical path may start at any source") {
    // Two independent chains: 0 -> 1 (1 + 1) and 2 -> 3 (5 + 5).
    DepLists deps = {{}, {0}, {}, {2}};
    double total = 0;
    CHECK(CriticalPath(deps, {1, 1, 5, 5}, &total) == Path{2, 3});
    CHECK(total == 10);
    CHECK(CriticalPath({}, {}, &total).empty());
    CHECK(total == 0);
  }

  TEST_CASE("Dependents reverses the edges") { CHECK(Dependents({{}, {0}, {0, 1}}) == DepLists{{1, 2}, {2}, {}}); }

  TEST_CASE("a chain of 100,000 nodes needs no deep recursion") {
    const size_t n = 100000;
    DepLists deps(n);
    for (size_t i = 1; i < n; ++i) deps[i] = {i - 1};
    CHECK(FindCycle(deps).empty());
    CHECK(TopologicalStages(deps).size() == n);
    double total = 0;
    Path path = CriticalPath(deps, std::vector<double>(n, 1), &total);
    CHECK(path.size() == n);
    CHECK(total == n);
    // Closing the chain into one big cycle: the whole cycle is named.
    deps[0] = {n - 1};
    Path cycle = FindCycle(deps);
    CHECK(cycle.size() == n + 1);
    CheckIsCycle(deps, cycle);
  }

  TEST_CASE("a fan-out and fan-in of 100,000 nodes") {
    const size_t n = 100000;
    DepLists deps(n + 2);
    for (size_t i = 1; i <= n; ++i) deps[i] = {0};
    for (size_t i = 1; i <= n; ++i) deps[n + 1].push_back(i);
    CHECK(FindCycle(deps).empty());
    Stages stages = TopologicalStages(deps);
    REQUIRE(stages.size() == 3);
    CHECK(stages[1].size() == n);
    std::vector<double> weights(n + 2, 1);
    weights[77] = 5;
    double total = 0;
    CHECK(CriticalPath(deps, weights, &total) == Path{0, 77, n + 1});
    CHECK(total == 7);
  }
}
