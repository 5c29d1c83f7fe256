// The study file's values that once slipped through: a study name that leaves studies/,
// time limits that are no limit, and a file that is not text at all.
#include <gtest/gtest.h>

#include <string>

#include "search/study_config.h"

namespace gpu_tune::search {
namespace {

std::string study_named(const std::string& name) {
  return "study: " + name + "\nspace:\n  lr: {distribution: uniform, low: 0, high: 1}\n";
}

std::string study_with_budget(const std::string& budget) {
  return "study: limits\nbudget: " + budget + "\nspace:\n  lr: {distribution: uniform, low: 0, high: 1}\n";
}

// The error parse_study_config throws for `text`, or "" when it parses.
std::string error_of(const std::string& text) {
  try {
    parse_study_config(text, "limits.yaml");
  } catch (const StudyConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(StudyConfigLimits, NamesThatLeaveTheStudiesFolderAreRefused) {
  for (const std::string name : {"..", ".", "'../x'", "a/b", ".hidden", "-flag"}) {
    const std::string error = error_of(study_named(name));
    EXPECT_NE(error.find("limits.yaml:1: key 'study'"), std::string::npos) << name << ": " << error;
    EXPECT_NE(error.find("letters, digits, '_', '.' and '-'"), std::string::npos) << name << ": " << error;
  }
  EXPECT_NE(error_of(study_named("''")).find("limits.yaml:1: key 'study'"), std::string::npos);
  EXPECT_EQ(error_of(study_named("fashion-mnist_v1.2")), "");
  EXPECT_EQ(study_name_problem("fashion-mnist_v1.2"), std::nullopt);
  EXPECT_NE(study_name_problem(".."), std::nullopt);
}

TEST(StudyConfigLimits, TimeLimitMustBePositiveAndFinite) {
  for (const std::string bad : {"-1", "0", "0s", ".nan", ".inf", "-5m"}) {
    const std::string error = error_of(study_with_budget("{time_limit: " + bad + "}"));
    EXPECT_NE(error.find("key 'budget.time_limit'"), std::string::npos) << bad << ": " << error;
    EXPECT_NE(error.find("positive and finite"), std::string::npos) << bad << ": " << error;
  }
  EXPECT_EQ(*parse_study_config(study_with_budget("{time_limit: 90s}"), "ok.yaml").budget.time_limit_seconds, 90);
}

TEST(StudyConfigLimits, ABinaryFileIsNotEchoed) {
  const std::string binary("study: x\n\x7f" "ELF\x02\x01\x01\x00\xff\xfe", 18);
  const std::string error = error_of(binary);
  EXPECT_NE(error.find("limits.yaml: not a text file"), std::string::npos) << error;
  EXPECT_NE(error.find("line 2"), std::string::npos) << error;
  EXPECT_EQ(error.find("ELF"), std::string::npos) << "the file's bytes are echoed: " << error;
  EXPECT_EQ(error_of(std::string("study: x\n\xff\n", 11)).find("non-UTF-8 byte 0xff on line 2") == std::string::npos, false);
  // UTF-8 text (a name in a comment, here) is text.
  EXPECT_EQ(error_of("# Études\n" + study_named("utf8")), "");
}

}  // namespace
}  // namespace gpu_tune::search
