// A search query applied to one of the lab's collections, with the engine's
// rules for what each field allows (searchbackend's *ConditionFieldAutoCompleter
// per object type): text fields take = and != with `*` wildcards; status
// fields take = and != and a value among the engine enum's own names
// (NonResponsive, any case), never the XML spelling; numbers and severities
// also take < <= > >=.
//
// Three outcomes, as the engine answers them:
//  - the query selects items: sorted, paged and cut to `max`;
//  - the engine's syntax checker rejects it (an unknown field, a value not
//    in the enum, an operator the field does not take, broken syntax): the
//    engine answers 200 with an empty collection (SearchQuery logs the error
//    and returns nothing), so the lab does the same;
//  - the engine would understand it but the lab does not model the field:
//    refused with a 400 fault naming the field, so a rehearsal never passes
//    on an answer the lab made up.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "lab/search_query.h"

namespace she::lab {

enum class FieldKind {
  Text,     // = != with wildcards, case as the request says
  Enum,     // = != against `values`, always case-insensitive
  Number,   // integers; ordered comparisons when `ordered`
  Ordinal,  // a name among `values`, compared by its position (severity)
};

struct SearchField {
  std::string name;  // lowercased, as a query spells it
  FieldKind kind = FieldKind::Text;
  std::vector<std::string> values;  // Enum and Ordinal: the engine's names in value order
  bool ordered = false;             // takes < <= > >=
};

struct SearchObject {
  std::string title;  // "Hosts": for the lab's refusal
  std::vector<SearchField> fields;
  std::vector<std::string> unmodeled;  // the engine's fields the lab keeps no data for
};

enum class SearchVerdict { Selected, EngineRejects, LabUnsupported };

struct SearchOutcome {
  SearchVerdict verdict = SearchVerdict::Selected;
  std::string why;                   // for EngineRejects and LabUnsupported
  std::vector<std::size_t> selected;  // indexes into the collection, in answer order
};

/// The value of `field` for item `index`: the text a Text field compares, the
/// engine enum name for Enum and Ordinal, the decimal number for Number.
using FieldValue = std::function<std::string(std::size_t index, const std::string& field)>;

/// `max` < 0: no limit. `page N` takes the Nth run of `max` items, as the
/// engine pages by the request's max.
SearchOutcome run_search(const SearchObject& object, const std::string& text, std::size_t count,
                         const FieldValue& value, bool case_sensitive, int max);

}  // namespace she::lab
