// Step types for testing the executor for real: each records its side
// effects in a file (one line per effect, named by step and loop item), so
// tests can count them across crashes and resumes.
#pragma once

namespace she::test {

/// Adds test.effect, test.ensure, test.value, test.fail, test.wait,
/// test.leak, test.sneaky, test.gate and test.unbuilt to the built-in catalog.
void register_test_steps();

}  // namespace she::test
