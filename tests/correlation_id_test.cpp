// The Correlation-Id a step's calls carry: what the manual-fence probe
// matches the engine's events on (ovirt-engine-api.md: at most 36
// characters are kept), so it must fit and be distinct per step.
#include <doctest/doctest.h>

#include "orchestrator/iteration_runner.h"

using namespace she;

TEST_CASE("correlation ids: at most 36 characters - distinct for steps whose long ids share a prefix") {
  const std::string run = "0001-20261130T170000Z-829e8c";
  CHECK(correlation_id(run, "fence") == "she-829e8c-fence");
  const std::string a = correlation_id(run, "fence-the-dead-hosted-engine-hosts-first");
  const std::string b = correlation_id(run, "fence-the-dead-hosted-engine-hosts-again");
  CHECK(a.size() <= 36);
  CHECK(b.size() <= 36);
  CHECK(a != b);
  CHECK(a == correlation_id(run, "fence-the-dead-hosted-engine-hosts-first"));  // the same on resume
  CHECK(a.rfind("she-829e8c-fence-the-dead", 0) == 0);
}
