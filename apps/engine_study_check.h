#pragma once
// Checks a study for the engine before its first trial, so that a misspelt parameter
// (`learning_rate` for `lr`), a bad training value (`optimizer: adamm`) or a metric and
// direction that disagree is one error naming the file, line and problem, not a study whose
// every trial fails.
#include "apps/engine_objective.h"
#include "search/study_config.h"

namespace gpu_tune::app {

// Builds a trial's training configuration, through the same code the trials use, from
// every training default and from every parameter at each of its representative values:
// every option of a choice, both bounds of a bounded distribution, mu of an unbounded one
// (the other parameters at their first such value, the parameter's enclosing choices at the
// option that holds it). Throws search::StudyConfigError "FILE:LINE: key 'PATH': problem"
// at the first one the engine refuses.
void check_engine_study(const search::StudyConfig& study, const EngineObjectiveOptions& options);

}  // namespace gpu_tune::app
