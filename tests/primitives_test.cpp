// Durations, secret references and did-you-mean hints.
#include <doctest/doctest.h>

#include "base/backoff.h"
#include "base/diagnostics.h"
#include "base/duration.h"
#include "base/poller.h"
#include "workflows/secret_ref.h"

using namespace she;
using namespace std::chrono;

TEST_CASE("durations parse the forms operators write") {
  CHECK(parse_duration("90s") == seconds(90));
  CHECK(parse_duration("5m") == minutes(5));
  CHECK(parse_duration("1h30m") == minutes(90));
  CHECK(parse_duration("250ms") == milliseconds(250));
  CHECK(parse_duration("2d") == hours(48));
  CHECK(parse_duration("45") == seconds(45));
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("10 minutes"));
  CHECK_FALSE(parse_duration("5x"));
  CHECK_FALSE(parse_duration("m5"));
  CHECK_FALSE(parse_duration("1h30"));  // a bare number only alone
  CHECK(format_duration(minutes(90)) == "1h30m");
  CHECK(format_duration(milliseconds(1500)) == "1s500ms");
  CHECK(format_duration(milliseconds(0)) == "0s");
}

TEST_CASE("backoff: doubles from first up to max - each wait within 20% either side") {
  const Backoff b{milliseconds(100), milliseconds(1000)};
  for (int i = 0; i < 50; ++i) {
    auto in = [](milliseconds d, long long nominal) {
      return d.count() >= nominal * 8 / 10 && d.count() <= nominal * 12 / 10;
    };
    CHECK(in(b.next(1), 100));
    CHECK(in(b.next(2), 200));
    CHECK(in(b.next(4), 800));
    CHECK(in(b.next(5), 1000));     // capped
    CHECK(in(b.next(1000), 1000));  // no overflow on a long series
  }
  CHECK(Backoff{milliseconds(0), milliseconds(1000)}.next(3).count() == 0);
}

TEST_CASE("poller: looks grow apart while nothing moves - output that moved is looked at again after the first pause") {
  const PollPolicy p{milliseconds(100), milliseconds(1000)};
  using L = Poller::Look;
  milliseconds w = Poller::next_wait(p, milliseconds(0), L::Still);
  CHECK(w.count() == 100);  // after the first look
  w = Poller::next_wait(p, w, L::Still);
  CHECK(w.count() == 151);
  w = Poller::next_wait(p, w, L::Still);
  CHECK(w.count() == 227);
  for (int i = 0; i < 20; ++i) w = Poller::next_wait(p, w, L::Still);
  CHECK(w.count() == 1000);  // capped
  // A deploy's log that grew: more usually follows at once.
  w = Poller::next_wait(p, w, L::Moving);
  CHECK(w.count() == 100);
  CHECK(Poller::next_wait(p, w, L::Still).count() == 151);
}

TEST_CASE("secret references: env:NAME and file:PATH only") {
  auto e = parse_secret_ref("env:ENGINE_PASSWORD");
  REQUIRE(e);
  CHECK(e->scheme == SecretRef::Scheme::Env);
  CHECK(e->str() == "env:ENGINE_PASSWORD");
  auto f = parse_secret_ref("file:/etc/she/pw");
  REQUIRE(f);
  CHECK(f->name == "/etc/she/pw");
  CHECK_FALSE(parse_secret_ref("hunter2"));
  CHECK_FALSE(parse_secret_ref("env:"));
  CHECK_FALSE(parse_secret_ref("env:1ABC"));
  CHECK_FALSE(parse_secret_ref("env:A-B"));
  CHECK_FALSE(parse_secret_ref("file:"));
  CHECK(secret_ref_hint().find("not shown") != std::string::npos);
}

TEST_CASE("did you mean: close names only") {
  CHECK(did_you_mean("forach", {"foreach", "when", "with"}) == "did you mean 'foreach'?");
  CHECK(did_you_mean("engine.host.maintenence", {"engine.host.maintenance", "engine.host.remove"}) ==
        "did you mean 'engine.host.maintenance'?");
  CHECK(did_you_mean("zzz", {"foreach", "when"}).empty());
  CHECK(did_you_mean("id", {"if"}).empty());  // too short to guess
}

TEST_CASE("diagnostics print file:line:column / kind / message and hint / sorted") {
  Diagnostics d;
  d.error(ErrorKind::UnknownKey, {"plan.yaml", 7, 5}, "unknown key 'forach'", "did you mean 'foreach'?");
  d.error(ErrorKind::YamlSyntax, {"plan.yaml", 2, 1}, "bad");
  std::string s = d.str();
  CHECK(s.find("plan.yaml:2:1: error[yaml-syntax]: bad\nplan.yaml:7:5: error[unknown-key]: unknown key 'forach'\n"
               "  hint: did you mean 'foreach'?\n2 errors\n") == 0);
}
