// The OVM CLI's command lines (quoting of hostile values, read back the way
// the CLI reads them) and its answers (real-format Success and Failure),
// and the ovm.cli step's rules.
#include <doctest/doctest.h>

#include "hosts/ovm_cli_answer.h"
#include "hosts/ovm_cli_command.h"
#include "workflows/step_type.h"

using namespace she;
using namespace she::ovm;

TEST_CASE("ovm cli_quote: hostile values come back as one attribute value") {
  const std::vector<std::string> hostile = {
      "slot011", "two words", "x\" on Vm name=other", "it's", "a/b", "/OVS/Repositories/x", "name=evil",
      "00:21:f6:01:00:0b", "trailing/", "\"", "'", "//", "日本語", "a;rm -rf /", "$(id)"};
  for (auto& value : hostile) {
    CAPTURE(value);
    CliCommand c{"create", "Vm", {{"name", value}, {"description", value}}, "on", {"ServerPool", "name", value}};
    CliCommand back = parse_cli_line(c.line());
    CHECK(back.verb == "create");
    CHECK(back.object == "Vm");
    REQUIRE(back.attributes.size() == 2);
    CHECK(back.attributes[0].second == value);
    CHECK(back.attributes[1].second == value);
    CHECK(back.relation == "on");
    CHECK(back.related.type == "ServerPool");
    CHECK(back.related.value == value);
  }
}

TEST_CASE("ovm cli_quote: plain values stay bare and the rest is quoted with / escapes") {
  CHECK(cli_quote("slot011") == "slot011");
  CHECK(cli_quote("00:21:f6:01:00:0b") == "00:21:f6:01:00:0b");
  CHECK(cli_quote("HR's VMs") == "\"HR/'s VMs\"");
  CHECK(cli_quote("rw, async") == "\"rw, async\"");
  CHECK_THROWS_AS(cli_quote("line\nbreak"), CliCommandError);
  CHECK_THROWS_AS(cli_quote(""), CliCommandError);
  CHECK_THROWS_AS((CliCommand{"create", "Vm name=x", {}, "", {}}.line()), CliCommandError);
  CHECK_THROWS_AS((CliCommand{"add", "Vnic", {{"name", "m"}}, "into", {"Vm", "name", "a"}}.line()), CliCommandError);
  CHECK_THROWS_AS((CliCommand{"add", "Vnic", {{"na me", "m"}}, "", {}}.line()), CliCommandError);
}

TEST_CASE("ovm command lines read like the CLI's own examples") {
  CliCommand vm{"create", "Vm",
                {{"name", "slot011"}, {"repository", "slotreposan01"}, {"domainType", "XEN_PVM"}, {"memory", "2048"}},
                "on", {"ServerPool", "name", "slot"}};
  CHECK(vm.line() == "create Vm name=slot011 repository=slotreposan01 domainType=XEN_PVM memory=2048 on ServerPool name=slot");
  CHECK_FALSE(vm.reads());
  CliCommand add{"add", "Vnic", {{"name", "00:21:f6:01:00:0b"}}, "to", {"Vm", "name", "slot011"}};
  CHECK(add.line() == "add Vnic name=00:21:f6:01:00:0b to Vm name=slot011");
  CHECK(cli_verb_reads("show"));
  CHECK(cli_verb_reads("list"));
  CHECK(cli_verb_reads("getVmOsTypes"));
  CHECK_FALSE(cli_verb_reads("getaway"));
  CHECK_FALSE(cli_verb_reads("delete"));
  CHECK_FALSE(cli_verb_reads("refresh"));
  CHECK_THROWS_AS(parse_cli_line("show Vm name=\"open"), CliCommandError);
  CHECK_THROWS_AS(parse_cli_line("add Vnic name=a to Vm"), CliCommandError);
}

TEST_CASE("ovm answer: a show's fields - labels and numbered lists") {
  const char* text =
      "Command: show Vm name=slot021\n"
      "Status: Success\n"
      "Time: 2016-11-06 12:30:32,638 CET\n"
      "Data: \n"
      "  Id = 0004fb000006000049b9f5f2e1ceab01  [slot021]\n"
      "  Name = slot021\n"
      "  Status = Running\n"
      "  Memory (MB) = 2048\n"
      "  Vnic 1 = 0004fb00000700002a1f0b8e4c9d0001  [00:21:f6:01:00:15]\n"
      "  VmDiskMapping 1 = 0004fb000013000049b9f5f2e1ceab17  [xvda]\n"
      "  VmDiskMapping 2 = 0004fb000013000049b9f5f2e1ceab18  [xvdc]\n";
  CliAnswer a = parse_cli_answer(text);
  REQUIRE(a.parsed);
  CHECK(a.success);
  CHECK(a.command == "show Vm name=slot021");
  CHECK(a.time == "2016-11-06 12:30:32,638 CET");
  CHECK(a.id() == "0004fb000006000049b9f5f2e1ceab01");
  CHECK(a.field("Memory (MB)") == "2048");
  CHECK(a.labels.at("Id") == "slot021");
  REQUIRE(a.lists.at("VmDiskMapping").size() == 2);
  CHECK(a.lists.at("VmDiskMapping")[1].id == "0004fb000013000049b9f5f2e1ceab18");
  CHECK(a.lists.at("VmDiskMapping")[1].name == "xvdc");
  Value v = a.to_value();
  CHECK(v["name"] == "slot021");
  CHECK(v["fields"]["Status"] == "Running");
  CHECK(v["lists"]["Vnic"][0]["name"] == "00:21:f6:01:00:15");
}

TEST_CASE("ovm answer: a listing and a create's new object") {
  CliAnswer list = parse_cli_answer(
      "Command: list Vm\nStatus: Success\nTime: 2016-11-06 12:31:00,001 CET\nData: \n"
      "  id:0004fb0000060000aaaa  name:slot011\n  id:0004fb0000060000bbbb  name:db server 2\n");
  REQUIRE(list.items.size() == 2);
  CHECK(list.items[1].id == "0004fb0000060000bbbb");
  CHECK(list.items[1].name == "db server 2");
  CliAnswer made = parse_cli_answer(
      "Command: create Vnic name=00:21:f6:01:00:0b network=vlanpublic\nStatus: Success\n"
      "Time: 2016-11-06 12:32:00,001 CET\nJobId: 1478431920001\nData: \n"
      "  id:0004fb00000700001234  name:00:21:f6:01:00:0b\n");
  CHECK(made.job_id == "1478431920001");
  CHECK(made.id() == "0004fb00000700001234");
  CHECK(made.to_value()["name"] == "00:21:f6:01:00:0b");
}

TEST_CASE("ovm answer: a Failure keeps the CLI's own message and is typed") {
  CliAnswer a = parse_cli_answer(
      "Command: delete VmDiskMapping id=0004fb000013000049b9f5f2e1ceab18\n"
      "Status: Failure\n"
      "Time: 2016-11-06 12:40:00,001 CET\n"
      "JobId: 1478432400001\n"
      "Error Msg: Job failed on Core: OVMRU_002035E Cannot delete the disk mapping of running Vm: slot021; the\n"
      "  disk is in use\n");
  REQUIRE(a.parsed);
  CHECK_FALSE(a.success);
  CHECK(a.error == "Job failed on Core: OVMRU_002035E Cannot delete the disk mapping of running Vm: slot021; the\n"
                   "disk is in use");
  CHECK(a.failure == CliFailure::InUse);
  CHECK(parse_cli_answer("Command: show Vm name=x\nStatus: Failure\nTime: t\nError Msg: No such object (name): x\n")
            .failure == CliFailure::NotFound);
  CHECK(parse_cli_answer("Command: create Vm name=x\nStatus: Failure\nTime: t\nError Msg: Object with name x already "
                         "exists\n")
            .failure == CliFailure::Exists);
  CHECK_FALSE(parse_cli_answer("bash: ovm: command not found\n").parsed);
}

TEST_CASE("ovm.cli step: verbs decide reads and rules refuse a misread command") {
  const StepType* t = StepCatalog::builtin().find("ovm.cli");
  REQUIRE(t);
  Environment env;
  auto rules = [&](Value p) { t->check_rules(StepContext(env, "x", std::move(p))); };
  CHECK_NOTHROW(rules({{"manager", "ovm_manager"}, {"verb", "show"}, {"object", "Vm"}, {"attributes", {{"name", "a b"}}},
                       {"missing_ok", true}}));
  CHECK_THROWS_AS(rules({{"manager", "m"}, {"verb", "delete"}, {"object", "Vm"}, {"missing_ok", true}}), StepRuleError);
  CHECK_THROWS_AS(rules({{"manager", "m"}, {"verb", "add"}, {"object", "Vnic"}, {"to", {{"object", "Vm"}}}}),
                  StepRuleError);
  CHECK_THROWS_AS(rules({{"manager", "m"}, {"verb", "add"}, {"object", "Vnic"}, {"to", {{"object", "Vm"}, {"name", "a"}}},
                         {"from", {{"object", "Vm"}, {"name", "b"}}}}),
                  StepRuleError);
  CHECK_THROWS_AS(rules({{"manager", "m"}, {"verb", "create"}, {"object", "Vm"}, {"attributes", {{"name", "a\nb"}}}}),
                  StepRuleError);
}
