#include "orchestrator/dry_run.h"

#include <fmt/format.h>
#include <mutex>
#include <ostream>
#include <regex>

#include "base/interrupted.h"
#include "engine_api/client.h"
#include "engine_api/restored_engine.h"
#include "hosts/ssh_session.h"
#include "orchestrator/redactor.h"
#include "orchestrator/run_connections.h"
#include "workflows/secret_store.h"
#include "workflows/step_expansion.h"

namespace she {

namespace {

constexpr const char* kIndent = "       ";

std::string step_header(const Step& s) {
  std::string h = fmt::format("{} ({})", s.uses, kind_name(s.type->kind()));
  h += " · timeout " + format_duration(s.timeout);
  if (s.retry.attempts > 1)
    h += fmt::format(" · retry {}x from {}{}", s.retry.attempts, format_duration(s.retry.backoff),
                     s.retry.on.empty() ? "" : " on " + fmt::format("{}", fmt::join(s.retry.on, ", ")));
  h += fmt::format(" · on failure {}", on_failure_name(s.on_failure));
  if (s.foreach.kind != Foreach::Kind::None && s.concurrency > 1)
    h += fmt::format(" · concurrency {}", s.concurrency);
  return h;
}

/// What the rehearsal did with one operation of a step.
struct Shown {
  enum class How { Write, Read, Predicted, NotRead, Wait, Ask } how;
  Operation op;
  std::string why;  // NotRead: why it was not made
};

/// The dry run's runner (ninja's DryRunCommandRunner): reads are made live,
/// unless the dry run is offline, the step has already "written" (the world
/// it would read is not the one the run will see), or the read names a value
/// only the run will know; writes are recorded and their expected outcome
/// laid over later reads, so the rehearsal follows the path of a run whose
/// writes all succeed. A write can replace a whole world: after a deploy
/// from a backup, the engine a run reads is the restored one, so the live
/// engine is no longer read; its hosts and VMs are answered from the
/// deploy's prediction and shown as predicted.
class DryRunRunner : public OperationRunner {
 public:
  explicit DryRunRunner(bool live) : live_(live) {}

  void begin_step() {
    std::lock_guard<std::mutex> lock(mutex_);
    shown_.clear();
    wrote_ = false;
    unsure_ = false;
    predicted_ = false;
  }
  std::vector<Shown> take() {
    std::lock_guard<std::mutex> lock(mutex_);
    return std::move(shown_);
  }
  /// Whether what the step captured is what the run will capture: it made
  /// no write, skipped no read and assumed no wait.
  bool outputs_real() const { return !wrote_ && !unsure_; }
  /// Whether they rest on a prediction rather than on reads alone.
  bool outputs_predicted() const { return predicted_; }
  /// Whether the step's rehearsal ended at a read it did not make.
  bool stopped_at_read() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return !shown_.empty() && shown_.back().how == Shown::How::NotRead;
  }
  void asked(const std::string& question) {
    std::lock_guard<std::mutex> lock(mutex_);
    shown_.push_back({Shown::How::Ask, Operation(Operation::Kind::Local, false, "operator", question), ""});
    unsure_ = true;
  }

  bool run(const Operation& op, const std::function<void()>& perform) override {
    std::unique_lock<std::mutex> lock(mutex_);
    if (op.writes) {
      if (waiting_) return false;  // a look of a wait never writes
      shown_.push_back({Shown::How::Write, op, ""});
      for (auto& [key, value] : op.expects) expected_[key] = value;
      wrote_ = true;
      return false;
    }
    if (op.kind == Operation::Kind::Wait) {
      shown_.push_back({Shown::How::Wait, op, ""});
      unsure_ = true;
      waiting_ = true;
      lock.unlock();
      struct Done {
        DryRunRunner& r;
        ~Done() {
          std::lock_guard<std::mutex> relock(r.mutex_);
          r.waiting_ = false;
        }
      } done{*this};
      perform();  // one look; its reads follow the rules below, unshown
      return true;
    }
    if (!op.predicted_from.empty() && live_ && !wrote_ && !names_run_value(op)) {
      if (!waiting_) shown_.push_back({Shown::How::Predicted, op, ""});
      predicted_ = true;
      lock.unlock();
      perform();
      return true;
    }
    std::string why = !live_                  ? "offline"
                      : wrote_                ? "it follows this step's own writes"
                      : names_run_value(op)   ? "it names a value known only when the run gets there"
                      : reads_restored_engine(op)
                          ? "the engine a run reads here is the one the deploy restores; a dry run predicts only its "
                            "hosts and VMs"
                          : "";
    if (!why.empty()) {
      if (!waiting_) shown_.push_back({Shown::How::NotRead, op, why});
      unsure_ = true;
      return false;
    }
    if (!waiting_) shown_.push_back({Shown::How::Read, op, ""});
    lock.unlock();
    perform();
    return true;
  }
  bool rehearsal() const override { return true; }
  /// A read of the engine once a deploy has replaced it.
  bool reads_restored_engine(const Operation& op) const {
    return op.kind == Operation::Kind::Http && op.where == "engine" && expected_.count(engine_api::kRestoredEngineKey);
  }
  const std::string* expectation(const std::string& key) const override {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = expected_.find(key);
    return it == expected_.end() ? nullptr : &it->second;
  }

 private:
  // Deferred values render as <path> (workflows/expression.h).
  static bool names_run_value(const Operation& op) {
    static const std::regex placeholder(R"((<|%3C)[A-Za-z_][-\w.\[\]' ]*(>|%3E))", std::regex::icase);
    return std::regex_search(op.line, placeholder);
  }

  bool live_;
  mutable std::mutex mutex_;
  std::vector<Shown> shown_;
  std::map<std::string, std::string> expected_;
  bool wrote_ = false, unsure_ = false, waiting_ = false, predicted_ = false;
};

/// The operator as a rehearsal meets them: each question is shown, none is
/// answered (a run asks it there).
class RehearsalOperator : public OperatorChannel {
 public:
  explicit RehearsalOperator(DryRunRunner& runner) : runner_(runner) {}
  std::optional<std::string> ask(const std::string&, const std::string& question,
                                 const std::vector<std::string>& choices) override {
    runner_.asked(fmt::format("{} [{}]", question, fmt::join(choices, "/")));
    return std::nullopt;
  }
  std::string who() const override { return "dry run"; }
  std::string source() const override { return "dry run"; }

 private:
  DryRunRunner& runner_;
};

/// Connections for an offline dry run: objects that never connect (the
/// runner makes no operation), so steps can be rehearsed without a
/// network, a password or a host key.
class UnconnectedLinks {
 public:
  explicit UnconnectedLinks(const Environment& env) {
    engine_api::ClientConfig c;
    c.api_url = env.engine.api_url;
    c.user = env.engine.user;
    client_ = std::make_unique<engine_api::EngineClient>(c);
  }
  void provide(RunServices& s) {
    s.engine = [this](const SshEndpoint*) -> engine_api::EngineClient& { return *client_; };
    s.ssh = [this](const SshEndpoint& ep, int lane) -> SshSession& {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& slot = sessions_[ep.name + "#" + std::to_string(lane)];
      if (!slot) {
        SshTarget t;
        t.name = ep.name;
        t.address = ep.address;
        t.port = ep.port;
        t.user = ep.user;
        slot = std::make_unique<SshSession>(t);
      }
      return *slot;
    };
  }

 private:
  std::unique_ptr<engine_api::EngineClient> client_;
  std::mutex mutex_;
  std::map<std::string, std::unique_ptr<SshSession>> sessions_;
};

/// A captured value, short: host items by name, long text cut.
std::string brief(const Value& v) {
  if (v.is_array() && !v.empty() && v[0].is_object() && v[0].contains("name")) {
    std::vector<std::string> names;
    for (auto& item : v) names.push_back(to_text(item["name"]));
    return "[" + fmt::format("{}", fmt::join(names, ", ")) + "]";
  }
  std::string t = to_text(v);
  return t.size() > 160 ? t.substr(0, 157) + "..." : t;
}

std::string op_text(const Operation& op) {
  switch (op.kind) {
    case Operation::Kind::Command: return "ssh " + op.where + ": " + op.line;
    case Operation::Kind::Local: return "local: " + op.line;
    case Operation::Kind::Wait: return op.where + ": " + op.line;
    case Operation::Kind::Http:
    case Operation::Kind::Transfer: break;
  }
  return op.line;
}

void print_block(const std::string& block, const std::string& indent, std::ostream& out) {
  for (size_t start = 0; start < block.size();) {
    size_t end = block.find('\n', start);
    if (end == std::string::npos) end = block.size();
    out << indent << "         " << block.substr(start, end - start) << "\n";
    start = end + 1;
  }
}

void print_shown(const std::vector<Shown>& shown, const std::string& indent, const Redactor& redactor,
                 std::ostream& out, DryRunSummary& sum) {
  for (auto& s : shown) {
    const Operation& op = s.op;
    switch (s.how) {
      case Shown::How::Write:
        out << indent << "write  " << redactor.scrub(op_text(op)) << "\n";
        for (auto& block : op.detail) print_block(redactor.scrub(block), indent, out);
        for (auto& part : op.parts) out << indent << "  write  " << redactor.scrub(op_text(part)) << "\n";
        sum.writes += op.parts.empty() ? 1 : static_cast<int>(op.parts.size());
        break;
      case Shown::How::Read:
        ++sum.live_reads;
        out << indent << "read   " << redactor.scrub(op_text(op)) << "\n";
        break;
      case Shown::How::Predicted:
        ++sum.predicted_reads;
        out << indent << "read   " << redactor.scrub(op_text(op)) << "\n"
            << indent << "       (predicted from " << redactor.scrub(op.predicted_from) << ", not read)\n";
        break;
      case Shown::How::NotRead:
        out << indent << "read   " << redactor.scrub(op_text(op)) << "\n"
            << indent << "       (not made: " << s.why << "; what follows in this step is decided by it at run time)\n";
        break;
      case Shown::How::Wait:
        out << indent << "wait   " << redactor.scrub(op_text(op)) << " (a run polls until then)\n";
        break;
      case Shown::How::Ask:
        out << indent << "ask    " << redactor.scrub(op.line) << "\n";
        break;
    }
  }
}

std::string params_line(const Plan& plan) {
  std::vector<std::string> parts;
  for (auto& d : plan.param_decls) parts.push_back(d.name + "=" + dump_json(plan.params[d.name]));
  return fmt::format("{}", fmt::join(parts, ", "));
}

/// Rehearses one step or loop item: the step's own code runs with the dry
/// run's runner; prints what it did and found. Returns its outputs when
/// they are what the run will capture, else null.
Value rehearse(const Plan& plan, const Step& s, const Value& params, DryRunRunner& runner,
               const std::function<void(RunServices&)>& connect, const SecretStore& secrets,
               std::chrono::milliseconds wait_limit, const Redactor& redactor, const std::string& indent,
               std::ostream& out, DryRunSummary& sum) {
  runner.begin_step();
  RehearsalOperator op(runner);
  RunServices services;
  services.runner = &runner;
  services.secrets = &secrets;
  services.operator_channel = &op;
  services.iteration_key = s.id;
  services.correlation_id = "dry-run-" + s.id;
  auto deadline = std::chrono::steady_clock::now() + wait_limit;
  services.should_stop = [deadline] { return std::chrono::steady_clock::now() > deadline; };
  connect(services);
  StepContext ctx(plan.env, s.id, params, &services);
  Value outputs;
  std::string stop, stop_note;
  try {
    s.type->check_values(ctx);
    outputs = s.type->apply(ctx).outputs;
    s.type->verify(ctx);
  } catch (const RehearsalUnknown& e) {
    outputs = nullptr;  // an unmade read is shown with why; anything else says so
    if (!runner.stopped_at_read()) stop_note = e.what();
  } catch (const AwaitingOperator&) {
    outputs = nullptr;  // the question is shown
  } catch (const StepRuleError& e) {
    stop = std::string("the step's parameters break a rule: ") + e.what();
  } catch (const Interrupted&) {
    stop = fmt::format("not reached within {} (a run waits)", format_duration(wait_limit));
  } catch (const StepError& e) {
    const std::string& c = e.error_class();
    stop = s.uses == "assert" ? std::string("the condition does not hold: a run stops here: ") + e.what()
           : c == "transport" || c == "timeout"
               ? std::string("could not read (the run reads it when it gets there): ") + e.what()
               : std::string(runner.outputs_predicted() ? "a run would fail here, as predicted: "
                                                         : "a run would fail here, as things are now: ") +
                     e.what();
  } catch (const std::exception& e) {
    stop = std::string("could not read: ") + e.what();
  }
  print_shown(runner.take(), indent, redactor, out, sum);
  if (!stop_note.empty()) out << indent << "       " << redactor.scrub(stop_note) << "\n";
  if (!stop.empty()) {
    if (s.uses != "assert") ++sum.live_failed;
    out << indent << "live   " << redactor.scrub(stop) << "\n";
    return nullptr;
  }
  if (outputs.is_null() || !runner.outputs_real()) return nullptr;
  const char* label = runner.outputs_predicted() ? "expect " : "live   ";
  if (outputs.empty()) out << indent << label << "ok\n";
  for (auto it = outputs.begin(); it != outputs.end(); ++it)
    out << indent << label << redactor.scrub(it.key() + " = " + brief(it.value())) << "\n";
  return outputs;
}

/// The dry run's walk over the plan: steps one after the other, a block
/// item by item through its steps, as the executor walks them.
struct DryRunWalk {
  const Plan& plan;
  std::ostream& out;
  DryRunSummary& sum;
  RunConnections* live;
  DryRunRunner& runner;
  const std::function<void(RunServices&)>& connect;
  const SecretStore& secrets;
  std::chrono::milliseconds wait_limit;
  const Redactor& redactor;
  Value roots;

  std::string position(size_t i) const { return fmt::format("[{}/{}]", i + 1, plan.steps.size()); }

  /// The live items of a loop over a host query, when the dry run reads live.
  bool read_live_items(const Step& s, Value* items) {
    if (!live || s.foreach.kind != Foreach::Kind::HostQuery) return false;
    ++sum.live_reads;
    try {
      *items = live->live_hosts(s.foreach, roots, [] { return false; });
      return true;
    } catch (const std::exception& e) {
      ++sum.live_failed;
      out << kIndent << "live   cannot list the engine's hosts: " << redactor.scrub(std::string(e.what())) << "\n";
      return false;
    }
  }

  /// "query ..." / "for each ..." lines of a loop.
  void show_loop(const Step& s, const StepExpansion& x, size_t count, const char* noun) {
    if (s.foreach.kind == Foreach::Kind::HostQuery && !x.loop_deferred) {
      out << kIndent << "query  " << describe_host_query(s.foreach, roots) << " (read live)\n";
      out << kIndent << "for each " << s.foreach.as << " in [" << x.loop_text << "]: " << count << " " << noun
          << (count == 1 ? "" : "s") << "\n";
    } else if (s.foreach.kind == Foreach::Kind::HostQuery) {
      out << kIndent << "query  " << x.loop_text << "\n";
      out << kIndent << "for each " << s.foreach.as << " of the query (live: resolved when the step runs):\n";
    } else if (x.loop_deferred) {
      out << kIndent << "for each " << s.foreach.as << " in " << x.loop_text << ":\n";
    } else if (s.foreach.kind == Foreach::Kind::Items) {
      out << kIndent << "for each " << s.foreach.as << " in [" << x.loop_text << "]: " << count << " " << noun
          << (count == 1 ? "" : "s") << "\n";
    }
  }

  Value rehearse_one(const Step& s, const Value& params, const std::string& indent) {
    return rehearse(plan, s, params, runner, connect, secrets, wait_limit, redactor, indent, out, sum);
  }

  void step(size_t i) {
    const Step& s = plan.steps[i];
    ++sum.steps;
    out << "\n" << position(i) << " " << s.id << ": " << s.name << "\n";
    out << kIndent << step_header(s) << "\n";
    Value live_items;
    bool have_items = read_live_items(s, &live_items);
    StepExpansion x = expand_step(plan, s, roots, have_items ? &live_items : nullptr);
    if (x.decision == StepExpansion::Decision::SkipMode) {
      out << kIndent << "SKIPPED: " << mode_restriction(s) << "; this environment is " << plan.env.mode << "\n";
      ++sum.skipped;
      return;
    }
    if (s.when_expr) out << kIndent << "when   " << s.when << " -> " << x.when_result << "\n";
    if (x.decision == StepExpansion::Decision::SkipWhen) {
      out << kIndent << "SKIPPED: " << (s.foreach.kind == Foreach::Kind::None ? "its condition is false" : "nothing to loop over") << "\n";
      ++sum.skipped;
      return;
    }
    if (x.decision == StepExpansion::Decision::Deferred) ++sum.deferred;
    show_loop(s, x, x.iterations.size(), "iteration");
    bool looping = s.foreach.kind != Foreach::Kind::None && !x.loop_deferred;
    std::string indent = s.foreach.kind != Foreach::Kind::None ? std::string(kIndent) + "  " : kIndent;
    // A loop's results as the run publishes them (executor), each item
    // assumed to succeed: later loops over them then rehearse per item.
    Value results = Value::array();
    for (auto& it : x.iterations) {
      if (looping) out << kIndent << "  " << s.foreach.as << " = " << it.label << ":\n";
      Value outputs = rehearse_one(s, it.params, looping ? indent + "  " : indent);
      bool resolved = x.decision == StepExpansion::Decision::Run && !x.loop_deferred;
      if (resolved && s.foreach.kind == Foreach::Kind::None && !outputs.is_null()) roots["steps"][s.id] = outputs;
      Value r = outputs.is_object() ? outputs : Value::object();
      r["item"] = it.item;
      r["outcome"] = "succeeded";
      results.push_back(r);
    }
    if (looping && !contains_deferred(results)) roots["steps"][s.id] = {{"results", results}};
  }

  /// A group: its steps side by side in the run, shown here in plan order
  /// (none uses another's outputs: validation refuses it).
  void group(const Block& g) {
    std::vector<std::string> ids;
    for (size_t j = g.first; j < g.first + g.count; ++j) ids.push_back(plan.steps[j].id);
    out << "\n" << fmt::format("[{}-{}/{}]", g.first + 1, g.first + g.count, plan.steps.size()) << " " << g.id
        << ": " << g.name << "\n";
    out << kIndent << fmt::format("group  {} run side by side (those on one host one after the other); the run goes on "
                                 "when all have ended",
                                 fmt::join(ids, ", "))
        << "\n";
    for (size_t j = g.first; j < g.first + g.count; ++j) step(j);
  }

  /// A block: its steps once, then each item through them in order, each
  /// step seeing this item's outputs of the steps before it.
  void block(const Block& b) {
    size_t end = b.first + b.count;
    const Step& head = plan.steps[b.first];
    sum.steps += static_cast<int>(b.count);
    out << "\n" << fmt::format("[{}-{}/{}]", b.first + 1, end, plan.steps.size()) << " " << b.id << ": " << b.name
        << "\n";
    std::vector<std::string> ids;
    std::vector<const Step*> steps;
    for (size_t j = b.first; j < end; ++j) ids.push_back(plan.steps[j].id);
    out << kIndent
        << fmt::format("block  each item goes through {} on its own, {} at a time", fmt::join(ids, " -> "),
                       head.concurrency)
        << "\n";
    for (size_t j = b.first; j < end; ++j) {
      const Step& s = plan.steps[j];
      out << kIndent << "  " << position(j) << " " << s.id << ": " << s.name << "\n";
      Step shown = s;  // the block says how many items at a time
      shown.foreach.kind = Foreach::Kind::None;  // (yaml-cpp: assigning a Node would change the plan's)
      out << kIndent << "    " << step_header(shown) << "\n";
      if (!runs_in_mode(plan, s)) {
        out << kIndent << "    SKIPPED: " << mode_restriction(s) << "; this environment is " << plan.env.mode << "\n";
        ++sum.skipped;
        continue;
      }
      steps.push_back(&s);
    }
    // The loop as the block's first step sees it; `when` is each step's own.
    Step loop = head;
    loop.when.clear();
    loop.when_expr.reset();
    loop.in_rehearsal = loop.in_real = true;
    Value live_items;
    bool have_items = read_live_items(head, &live_items);
    StepExpansion x = expand_step(plan, loop, roots, have_items ? &live_items : nullptr);
    show_loop(head, x, x.items.size(), "item");
    std::vector<Value> items = x.items;
    if (x.loop_deferred) items = {deferred(head.foreach.as)};
    std::map<std::string, Value> results;
    for (const Value& item : items) {
      std::string indent = std::string(kIndent) + "  ";
      if (!x.loop_deferred) {
        out << indent << head.foreach.as << " = " << item_label(item) << ":\n";
        indent += "  ";
      }
      Value item_values = Value::object();  // over the roots, not in a copy of them
      for (const Step* s : steps) {
        Step one = *s;  // this item's instance of the step
        one.foreach.kind = Foreach::Kind::None;
        item_values[s->foreach.as] = item;
        StepExpansion xi = expand_step(plan, one, Scope(roots, item_values));
        out << indent << s->id << "\n";
        if (s->when_expr) out << indent << "  when   " << s->when << " -> " << xi.when_result << "\n";
        Value r = Value::object();
        if (xi.decision == StepExpansion::Decision::SkipWhen) {
          out << indent << "  SKIPPED: its condition is false for this item\n";
          r["outcome"] = "skipped";
        } else {
          if (xi.decision == StepExpansion::Decision::Deferred) ++sum.deferred;
          Value outputs = rehearse_one(*s, xi.iterations.front().params, indent + "  ");
          if (outputs.is_object()) {
            r = outputs;
            item_values["steps"][s->id] = outputs;
          }
          r["outcome"] = "succeeded";
        }
        r["item"] = item;
        results[s->id].push_back(r);
      }
    }
    if (!x.loop_deferred)
      for (auto& [id, list] : results) roots["steps"][id] = {{"results", list}};
  }
};

}  // namespace

DryRunSummary print_dry_run(const Plan& plan, std::ostream& out, RunConnections* live,
                            const Redactor* redactor_in, std::chrono::milliseconds wait_limit) {
  DryRunSummary sum;
  const Environment& env = plan.env;
  out << "Dry run of plan " << plan.name << "\n";
  out << "  procedure    " << plan.procedure_name << " (" << plan.procedure_file << ")\n";
  out << "  environment  " << (env.name.empty() ? "(unnamed)" : env.name) << " (" << env.file << "), mode "
      << env.mode << "\n";
  std::string trust = !env.engine.ca_file.empty()          ? "CA file " + env.engine.ca_file
                      : !env.engine.ca_fingerprint.empty() ? "CA pinned " + env.engine.ca_fingerprint
                                                           : "CA trusted on first use";
  if (env.engine.fqdn.empty())
    out << "  engine       none (an Oracle VM environment: its manager's CLI over SSH)\n";
  else
    out << "  engine       " << env.engine.api_url << " as " << env.engine.user << ", password "
        << env.engine.password << ", " << trust << "\n";
  if (!plan.param_decls.empty()) out << "  params       " << params_line(plan) << "\n";
  out << (live ? "Each step's own code runs with a runner that makes its reads live and shows its writes without "
                 "making them. No run directory, no journal.\n"
               : "Offline: each step's own code runs with a runner that makes nothing: writes are shown, reads "
                 "are not made. No run directory, no journal.\n");

  DryRunRunner runner(live != nullptr);
  UnconnectedLinks offline(env);
  std::function<void(RunServices&)> connect = [&](RunServices& s) {
    if (live) live->provide(s);
    else offline.provide(s);
  };
  const SecretStore secrets(SecretStore::Mode::StandIn);
  const Redactor none;
  DryRunWalk walk{plan, out, sum, live, runner, connect, secrets, wait_limit, redactor_in ? *redactor_in : none,
                  plan.roots(true)};
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    if (const Block* b = plan.block_of(plan.steps[i])) {
      if (b->kind == Block::Kind::Parallel) walk.group(*b);
      else walk.block(*b);
      i = b->first + b->count - 1;
    } else {
      walk.step(i);
    }
  }
  out << fmt::format("\nSummary: {} steps; {} skipped; {} decided at run time; {} write operations shown, none made.\n",
                     sum.steps, sum.skipped, sum.deferred, sum.writes);
  if (live)
    out << fmt::format("Live reads: {} made, {} could not read or would fail (their values stay decided at run time).\n",
                       sum.live_reads, sum.live_failed);
  if (sum.predicted_reads > 0)
    out << fmt::format("Predicted reads: {} of an engine a deploy restores, answered from the backup's manifest "
                       "(a run reads them from that engine and may find otherwise).\n",
                       sum.predicted_reads);
  return sum;
}

}  // namespace she
