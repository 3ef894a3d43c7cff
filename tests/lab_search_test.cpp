// The lab's search language against the engine's (searchbackend): a table of
// queries and the hosts each selects, the precedence of and/or, sortby and
// page, status values by the engine enums' names, and the two refusals (the
// engine's silent empty answer, the lab's 400 for what it does not model).
#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "lab/scenario.h"
#include "lab/search_filter.h"
#include "lab/search_query.h"
#include "lab/statuses.h"
#include "lab/world.h"

using namespace she::lab;

namespace {

const char* kScenario = R"(scenario: search-test
engine: {fqdn: engine.example.com, version: 4.5.6}
data_centers: [{name: Default, status: up}]
clusters: [{name: Default, data_center: Default}, {name: Edge, data_center: Default}]
hosts:
  - {name: hosted_engine_1, address: host1.example.com, hosted_engine: {host_id: 1, score: 3400}}
  - {name: hosted_engine_2, address: host2.example.com, status: non_responsive, hosted_engine: {host_id: 2, score: 3400}}
  - {name: hosted_engine_3, address: host3.example.com, status: preparing_for_maintenance, hosted_engine: {host_id: 3, score: 3400}}
  - {name: host_4, address: host4.example.com, cluster: Edge, status: non_responsive}
  - {name: Host_5, address: host5.lab.test, status: maintenance}
vms:
  - {name: HostedEngine, host: hosted_engine_1, hosted_engine_vm: true}
  - {name: db01, host: hosted_engine_1}
  - {name: web01, host: host_4}
  - {name: build01, status: down}
time_scale: 0
)";

// The hosts' search as the lab serves it (lab/api_handlers.cpp).
const SearchObject& hosts_object() {
  static const SearchObject o{
      "Hosts",
      {{"name", FieldKind::Text, {}, false},
       {"address", FieldKind::Text, {}, false},
       {"status", FieldKind::Enum, engine_host_status_names(), false},
       {"cluster", FieldKind::Text, {}, false},
       {"active_vms", FieldKind::Number, {}, true}},
      {"cpus", "tag", "datacenter"}};
  return o;
}

struct Selection {
  SearchVerdict verdict;
  std::vector<std::string> names;
};

Selection select_hosts(const std::string& query, bool case_sensitive = false, int max = -1) {
  World w;
  w.reset(parse_scenario(kScenario, "search-test.yaml"));
  const auto hosts = w.hosts();
  const auto clusters = w.clusters();
  auto value = [&](std::size_t i, const std::string& f) -> std::string {
    const Host& h = hosts[i];
    if (f == "name") return h.name;
    if (f == "address") return h.address;
    if (f == "status") return engine_name(h.status);
    if (f == "active_vms") return std::to_string(h.vm_count);
    for (const auto& c : clusters)
      if (c.id == h.cluster_id) return c.name;
    return "";
  };
  SearchOutcome r = run_search(hosts_object(), query, hosts.size(), value, case_sensitive, max);
  Selection s{r.verdict, {}};
  for (std::size_t i : r.selected) s.names.push_back(hosts[i].name);
  return s;
}

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("lab search: a table of host queries and the hosts each selects") {
  struct Row {
    const char* query;
    Names hosts;
  };
  const Names all = {"hosted_engine_1", "hosted_engine_2", "hosted_engine_3", "host_4", "Host_5"};
  const std::vector<Row> table = {
      {"", all},
      {"Hosts:", all},
      {"name=host_4", {"host_4"}},
      {"name=\"HOST_4\"", {"host_4"}},
      {"Hosts: name = host_4", {"host_4"}},
      {"name=hosted*", {"hosted_engine_1", "hosted_engine_2", "hosted_engine_3"}},
      {"name=*_5", {"Host_5"}},
      {"name!=hosted*", {"host_4", "Host_5"}},
      {"address=*.lab.test", {"Host_5"}},
      {"status=nonresponsive", {"hosted_engine_2", "host_4"}},
      {"status=NonResponsive", {"hosted_engine_2", "host_4"}},
      {"status=NONRESPONSIVE", {"hosted_engine_2", "host_4"}},
      {"status=preparingformaintenance", {"hosted_engine_3"}},
      {"status!=up", {"hosted_engine_2", "hosted_engine_3", "host_4", "Host_5"}},
      {"status=up or status=maintenance", {"hosted_engine_1", "Host_5"}},
      {"status=nonresponsive and cluster=Edge", {"host_4"}},
      {"status=nonresponsive AND cluster=Default", {"hosted_engine_2"}},
      {"cluster=Default status=nonresponsive", {"hosted_engine_2"}},
      // `and` binds tighter than `or`; side by side is the outermost `and`.
      {"name=host_4 and status=up or name=Host_5", {"Host_5"}},
      {"cluster=Edge name=host_4 or name=Host_5", {"host_4"}},
      {"active_vms>0", {"hosted_engine_1", "host_4"}},
      {"active_vms>=2", {"hosted_engine_1"}},
      {"active_vms<1", {"hosted_engine_2", "hosted_engine_3", "Host_5"}},
      {"active_vms=1", {"host_4"}},
      {"status=up or status=nonresponsive sortby name desc", {"hosted_engine_2", "hosted_engine_1", "host_4"}},
      {"sortby active_vms desc", {"hosted_engine_1", "host_4", "hosted_engine_2", "hosted_engine_3", "Host_5"}},
      {"name=*host* sortby status", {"Host_5", "hosted_engine_1", "hosted_engine_2", "host_4", "hosted_engine_3"}},
      {"name=nobody", {}},
  };
  for (const auto& row : table) {
    CAPTURE(row.query);
    Selection s = select_hosts(row.query);
    CHECK(s.verdict == SearchVerdict::Selected);
    CHECK(s.names == row.hosts);
  }
}

TEST_CASE("lab search: what the engine's checker rejects answers an empty collection") {
  // SearchQuery logs the syntax error and returns no rows; the REST API
  // answers 200 with nothing. The XML spelling of a status is one of them.
  for (const char* q : {"status=non_responsive", "status=NON_RESPONSIVE", "status=nonresp*", "status=bogus",
                        "status>up", "name<host_4", "active_vms>many", "colour=blue", "name=", "name host_4",
                        "name=host_4 and", "name=host_4 or or name=x", "sortby colour", "page x", "page 0",
                        "name=host_4 page 1 sortby name", "name=\"host_4"}) {
    CAPTURE(q);
    Selection s = select_hosts(q);
    CHECK(s.verdict == SearchVerdict::EngineRejects);
    CHECK(s.names.empty());
  }
}

TEST_CASE("lab search: an engine field the lab does not model is refused - never guessed") {
  for (const char* q : {"cpus>4", "tag=prod", "status=up and datacenter=Default", "vms.name=db01", "sortby tag"}) {
    CAPTURE(q);
    CHECK(select_hosts(q).verdict == SearchVerdict::LabUnsupported);
  }
}

TEST_CASE("lab search: case_sensitive applies to text - never to status names") {
  CHECK(select_hosts("name=HOST_5", true).names.empty());
  CHECK(select_hosts("name=Host_5", true).names == Names{"Host_5"});
  CHECK(select_hosts("status=maintenance", true).names == Names{"Host_5"});
}

TEST_CASE("lab search: page N takes the Nth run of max items") {
  CHECK(select_hosts("sortby name page 1", false, 2).names == Names{"host_4", "Host_5"});
  CHECK(select_hosts("sortby name page 2", false, 2).names == Names{"hosted_engine_1", "hosted_engine_2"});
  CHECK(select_hosts("sortby name page 3", false, 2).names == Names{"hosted_engine_3"});
  CHECK(select_hosts("sortby name page 4", false, 2).names.empty());
  // Without max the page is unbounded: everything is on page 1.
  CHECK(select_hosts("page 1").names.size() == 5);
  CHECK(select_hosts("page 2").names.empty());
}

TEST_CASE("lab search: the parser's shape of a query") {
  SearchQuery q = parse_search("Hosts: a=1 b=2 and c!=\"x y\" or d>=4 SortBy name DESC Page 3");
  REQUIRE(q.ok());
  REQUIRE(q.clauses.size() == 2);
  CHECK(q.clauses[0].size() == 1);
  REQUIRE(q.clauses[1].size() == 2);
  REQUIRE(q.clauses[1][0].size() == 2);
  CHECK(q.clauses[1][0][1].field == "c");
  CHECK(q.clauses[1][0][1].op == "!=");
  CHECK(q.clauses[1][0][1].value == "x y");
  CHECK(q.clauses[1][1][0].op == ">=");
  CHECK(q.sort_field == "name");
  CHECK(q.sort_descending);
  CHECK(q.page == 3);
  // A field may be named like a keyword when an operator follows it.
  SearchQuery p = parse_search("page=2");
  REQUIRE(p.ok());
  CHECK(p.terms().at(0)->field == "page");
}

TEST_CASE("lab search: every lab status has an engine enum name a search accepts") {
  const auto hosts = engine_host_status_names();
  for (const auto& n : host_status_names()) {
    const std::string e = engine_name(*parse_host_status(n));
    CHECK(std::find(hosts.begin(), hosts.end(), e) != hosts.end());
  }
  const auto vms = engine_vm_status_names();
  for (const auto& n : vm_status_names()) {
    const std::string e = engine_name(*parse_vm_status(n));
    CHECK(std::find(vms.begin(), vms.end(), e) != vms.end());
  }
  CHECK(std::string(engine_name(HostStatus::NonResponsive)) == "NonResponsive");
  CHECK(std::string(engine_name(DataCenterStatus::Problematic)) == "NonResponsive");
}
